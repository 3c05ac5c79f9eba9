"""Alerts over stored windows: the state machine with for, keep_firing_for, hysteresis and min rows;
state and transitions in the store under the monitor's lease, on every backend, so a restart or a
second process neither loses nor repeats an alert; notifications and actions handed on; quiet on
same-distribution traffic with the default rules and loud where drift was injected."""

from __future__ import annotations

import http.server
import json
import math
import threading

import numpy as np
import pytest

from modelcycle.monitoring import Monitor
from modelcycle.monitoring.alerts import (
    ALERT_EVENT, SKIP_EVENT, AlertEvaluator, Window, add_silence, alert_history, expire_silence, replay, silences,
)
from modelcycle.monitoring.rules import default_rules, load_rules
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import Metric, MonitorPoint
from tests.monitoring.conftest import HOUR, T0, log_traffic, probability, sample

END_OF_DAY = T0 + 25 * HOUR


def _windows(series: dict[str, list], rows=1000, size=HOUR, version=1) -> list[Window]:
    n = len(next(iter(series.values())))
    return [Window(version, T0 + i * size, T0 + (i + 1) * size, float(rows if not isinstance(rows, list) else rows[i]),
                   {k: v[i] for k, v in series.items() if v[i] is not None}) for i in range(n)]


def _states(result, rule):
    return [statuses[rule].state for _, statuses, _ in result]


def test_pending_then_firing_after_for_then_resolved():
    rules = load_rules({"rules": [{"name": "drift", "expr": "drift_share >= 0.3", "for": "2h"}]})
    result = replay(rules, _windows({"drift_share": [0.0, 0.5, 0.0, 0.5, 0.6, 0.7, 0.1, 0.0]}))
    assert _states(result, "drift") == ["inactive", "pending", "inactive", "pending", "firing", "firing",
                                        "resolved", "resolved"]
    moved = [t for _, _, ts in result for t in ts]
    assert [(t.old, t.new) for t in moved] == [("inactive", "pending"), ("pending", "inactive"),
                                               ("inactive", "pending"), ("pending", "firing"),
                                               ("firing", "resolved")]
    firing = result[4][1]["drift"]
    assert firing.active_at == T0 + 3 * HOUR and firing.fired_at == T0 + 5 * HOUR  # held 3h..5h: 2 hours
    assert firing.value == 0.6 and firing.threshold == 0.3
    assert result[6][1]["drift"].resolved_at == T0 + 7 * HOUR


def test_for_shorter_than_a_window_fires_in_the_first_window_and_a_new_episode_starts_after_resolving():
    rules = load_rules({"rules": [{"name": "errors", "expr": "error_rate > 0.01", "for": "5m"}]})
    result = replay(rules, _windows({"error_rate": [0.02, 0.0, 0.03]}))
    assert _states(result, "errors") == ["firing", "resolved", "firing"]
    assert result[2][1]["errors"].fired_at == T0 + 3 * HOUR


def test_keep_firing_for_and_hysteresis():
    rules = load_rules({"rules": [
        {"name": "keep", "expr": "drift_share >= 0.3", "keep_firing_for": "2h"},
        {"name": "hysteresis", "expr": "drift_share >= 0.3", "resolve_threshold": 0.2}]})
    series = [0.5, 0.1, 0.5, 0.1, 0.1, 0.25, 0.25, 0.5, 0.19]
    result = replay(rules, _windows({"drift_share": series}))
    assert _states(result, "keep") == ["firing", "firing", "firing", "firing", "resolved", "resolved", "resolved",
                                       "firing", "firing"]  # resolved after 2 hours below
    assert _states(result, "hysteresis") == ["firing", "resolved", "firing", "resolved", "resolved", "resolved",
                                             "resolved", "firing", "resolved"]
    # Between the thresholds a firing alert keeps firing; an inactive one does not start.
    result = replay(rules, _windows({"drift_share": [0.5, 0.25, 0.22, 0.19, 0.25]}))
    assert _states(result, "hysteresis") == ["firing", "firing", "firing", "resolved", "resolved"]


def test_a_window_with_too_few_rows_or_no_value_raises_nothing_and_says_why():
    rules = load_rules({"min_rows": 500, "rules": [
        {"name": "drift", "expr": "drift_share >= 0.3"},
        {"name": "auc", "expr": "roc_auc < reference.roc_auc - 0.05"}]})
    result = replay(rules, _windows({"drift_share": [0.9, 0.9, 0.9], "roc_auc": [None, 0.5, 0.5]},
                                    rows=[100, 1000, 1000]))
    assert _states(result, "drift") == ["inactive", "firing", "firing"]
    assert result[0][1]["drift"].reason == "the window has 100 rows, fewer than the 500 the rule needs (min_rows)"
    assert result[1][1]["auc"].reason == "no value of reference.roc_auc in the version's run"
    result = replay(rules, _windows({"roc_auc": [math.nan]}), reference={"roc_auc": 0.9})
    assert result[0][1]["auc"].reason == "no value of roc_auc in this window"
    assert _states(replay(rules, _windows({"roc_auc": [0.8]}), reference={"roc_auc": 0.9}), "auc") == ["firing"]


def test_labels_and_annotations_are_rendered_per_window():
    rules = load_rules({"rules": [{"name": "drift", "expr": "drift_share >= 0.3", "labels": {"team": "risk"},
                                   "annotations": {"summary": "{{ $labels.model }} v{{ $labels.version }} "
                                                              "{{ $value | humanizePercentage }} ({{ $labels.team }})"}}]})
    status = replay(rules, _windows({"drift_share": [0.5]}, version=3), model="fraud")[0][1]["drift"]
    assert status.labels == {"team": "risk"} and status.annotations == {"summary": "fraud v3 50% (risk)"}


# -------------------------------------------------------------- on the store
def _record(store, hours, drift, rows=1000, version=1, model="scoring"):
    points = []
    for h, share in zip(hours, drift):
        start, end = T0 + h * HOUR, T0 + (h + 1) * HOUR
        for metric, value in (("drift_share", share), ("error_rate", 0.0), ("latency_p99_ms", 20.0),
                              ("rows", rows)):
            points.append(MonitorPoint(model, version, start, end, metric, float(value)))
    store.record_monitor_results(model, points)


def _events(store, kind=ALERT_EVENT, model="scoring"):
    return [(e.data["rule"], e.data["version"], e.data["old"], e.data["new"], e.data["window_start"])
            for e in store.monitor_events(model, kind=kind)]


def test_state_and_transitions_in_the_store_under_one_lease_holder(store):
    rules = load_rules({"rules": [{"name": "drift", "expr": "drift_share >= 0.3", "resolve_threshold": 0.2,
                                   "annotations": {"summary": "{{ $value }}"}}]})
    _record(store, range(3), [0.0, 0.5, 0.6])
    first = AlertEvaluator("scoring", rules, store, owner="host-a:1", lease_ttl_s=30)
    done = first.evaluate(now=END_OF_DAY)
    assert done.evaluated and [(t.old, t.new, t.window_start) for t in done.transitions] == \
        [("inactive", "firing", T0 + HOUR)]
    assert [s.rule for s in done.firing] == ["drift"]
    second = AlertEvaluator("scoring", rules, store, owner="host-b:2", lease_ttl_s=30)
    waiting = second.evaluate(now=END_OF_DAY)
    assert not waiting.evaluated and "host-a:1" in waiting.reason
    # The first process restarts (same owner): nothing new, nothing repeated.
    assert AlertEvaluator("scoring", rules, store, owner="host-a:1").evaluate(now=END_OF_DAY).transitions == []
    store.release_lease("monitor:scoring", "host-a:1")
    _record(store, range(3, 6), [0.25, 0.1, 0.1])
    taken = second.evaluate(now=END_OF_DAY)  # the second process carries on where the first stopped
    assert [(t.old, t.new, t.window_start) for t in taken.transitions] == [("firing", "resolved", T0 + 4 * HOUR)]
    assert _events(store) == [("drift", 1, "inactive", "firing", T0 + HOUR),
                              ("drift", 1, "firing", "resolved", T0 + 4 * HOUR)]
    (state,) = store.alert_states("scoring")
    assert state.state == "resolved" and state.fired_at == T0 + 2 * HOUR and state.resolved_at == T0 + 5 * HOUR
    assert state.data["last_window"] == T0 + 5 * HOUR and state.data["version"] == 1
    history = alert_history(store, "scoring")
    assert [(h["rule"], h["state"], h["since"], h["resolved_at"]) for h in history] == \
        [("drift", "resolved", T0 + 2 * HOUR, T0 + 5 * HOUR)]
    # A pass that wrote its events but died before its states: repeated, it records nothing twice.
    store.delete_alert_states("scoring", [state.fingerprint])
    again = second.evaluate(now=END_OF_DAY)
    assert len(again.transitions) == 2 and len(_events(store)) == 2


def test_each_version_has_its_own_alert_and_small_windows_are_logged_as_skipped(store):
    rules = load_rules({"min_rows": 500, "rules": [{"name": "drift", "expr": "drift_share >= 0.3"}]})
    _record(store, range(2), [0.5, 0.5], version=1)
    _record(store, range(2), [0.5, 0.5], version=2, rows=100)
    done = AlertEvaluator("scoring", rules, store, owner="a").evaluate(now=END_OF_DAY)
    assert [(t.version, t.new) for t in done.transitions] == [(1, "firing")]
    skipped = store.monitor_events("scoring", kind=SKIP_EVENT)
    assert [(e.data["version"], e.data["window_start"], e.data["rules"]) for e in skipped] == \
        [(2, T0, ["drift"]), (2, T0 + HOUR, ["drift"])]
    assert "fewer than the 500" in skipped[0].data["reason"]


# -------------------------------------------------------------- notifications, silences, actions
class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()


def test_notifications_silences_and_actions_once_per_firing(tmp_path, receiver):
    from modelcycle.monitoring.alerts import actions_for, dispatcher_for
    from modelcycle.store import open_store

    url, received = receiver
    store = open_store(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"))
    rules = load_rules({"rules": [{"name": "drift", "expr": "drift_share >= 0.3", "actions": ["webhook"]},
                                  {"name": "errors", "expr": "error_rate > 0.01"}],
                        "notifications": {"channels": [{"type": "webhook", "url": url}]},
                        "actions": {"webhook": {"url": url}}})
    silence = add_silence(store, "scoring", ["rule=errors"], 3600, comment="known outage", created_by="ops")
    assert [s.id for s in silences(store, "scoring")] == [silence.id]

    def evaluator():
        return AlertEvaluator("scoring", rules, store, owner="a", dispatcher=dispatcher_for(rules, store, "scoring"),
                              actions=actions_for(rules, store, "scoring"), report="report.html")

    points = [MonitorPoint("scoring", 1, T0, T0 + HOUR, m, v) for m, v in
              (("drift_share", 0.5), ("error_rate", 0.2), ("rows", 1000.0))]
    store.record_monitor_results("scoring", points)
    done = evaluator().evaluate(now=END_OF_DAY)
    assert sorted(t.rule for t in done.transitions) == ["drift", "errors"]
    assert [a["action"] for a in done.actions] == ["webhook"] and done.actions[0]["ok"]
    alerts = [r for r in received if "alerts" in r]
    actions = [r for r in received if r.get("action") == "webhook"]
    assert len(actions) == 1 and actions[0]["alert"]["rule"] == "drift"
    assert len(alerts) == 1 and [a["labels"]["alertname"] for a in alerts[0]["alerts"]] == ["drift"]  # errors muted
    sent = store.monitor_events("scoring", kind="notification")
    assert [e.data["outcome"] for e in sent] == ["sent"]
    # A new process after a restart: the action does not run again.
    assert evaluator().evaluate(now=END_OF_DAY).actions == []
    assert len([r for r in received if r.get("action") == "webhook"]) == 1
    expire_silence(store, "scoring", silence.id)
    assert silences(store, "scoring") == []
    assert silences(store, "scoring", include_expired=True)[0].comment == "known outage"


def test_silence_matchers():
    from modelcycle.exceptions import InvalidInput
    from modelcycle.monitoring.alerts import Silence, parse_matcher

    assert parse_matcher("rule=drift") == ("alertname", "=", "drift")
    assert parse_matcher("version != '2'") == ("version", "!=", "2")
    s = Silence(1, "fraud", (parse_matcher("alertname=~drift|auc-.*"), parse_matcher("version!=2")), 0, 10)
    assert s.matches({"alertname": "auc-drop", "model": "fraud", "version": "1"})
    assert not s.matches({"alertname": "auc-drop", "model": "fraud", "version": "2"})
    assert not s.matches({"alertname": "errors", "model": "fraud", "version": "1"})
    assert not s.matches({"alertname": "drift", "model": "other", "version": "1"})
    assert s.active(5) and not s.active(10)
    for bad in ("drift", "a=~(", ""):
        with pytest.raises(InvalidInput):
            parse_matcher(bad)


# -------------------------------------------------------------- quiet by default, loud on drift
def _train_auc() -> float:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    x = sample(rng, 20_000)
    p = probability(x)
    return float(roc_auc_score(rng.random(20_000) < p, p))


def test_a_day_of_same_distribution_traffic_raises_no_alert_while_injected_drift_fires(monitored, tmp_path):
    store, uri = monitored
    version = store.get_model_version("fraud", 1)
    store.log_batch(version.run_id, [Metric("roc_auc", _train_auc(), 0, T0)])
    # 400 requests of 5 rows an hour and 2 errors: 0.5% errors, under the 1% of the default rule.
    log_traffic(uri, range(24), request_rows=5)
    monitor = Monitor("fraud", store, uri=uri, rules=default_rules(), owner="test")
    monitor.run_once(now=END_OF_DAY)
    quiet = monitor.last_evaluation
    assert quiet.evaluated and quiet.transitions == [] and quiet.firing == []
    assert quiet.skipped == []  # every rule was evaluated in every window, the AUC one too
    assert {s.rule: s.state for s in store.alert_states("fraud")} == \
        {"error-rate": "inactive", "p99-latency": "inactive", "drift": "inactive", "auc-drop": "inactive"}

    drifted = str(tmp_path / "drifted")
    log_traffic(drifted, range(24), drift_from=12, seed=2, request_rows=5, start=T0 + 24 * HOUR)
    monitor = Monitor("fraud", store, uri=drifted, rules=default_rules(), owner="test")
    monitor.run_once(now=END_OF_DAY + 24 * HOUR)
    loud = monitor.last_evaluation
    assert [(t.rule, t.new, t.window_start) for t in loud.transitions] == \
        [("drift", "firing", T0 + 36 * HOUR)]
    (firing,) = loud.firing
    assert firing.rule == "drift" and firing.data["window_end"] == T0 + 48 * HOUR  # still firing at the end
    assert "drifted" in firing.data["annotations"]["summary"]


# -------------------------------------------------------------- the commands
RULES_YAML = """
min_rows: 10
rules:
  - name: drift
    expr: drift_share >= 0.3
    resolve_threshold: 0.2
    for: 2h
    annotations: {summary: "{{ $labels.model }} drifted {{ $value | humanizePercentage }}"}
"""


def test_test_rules_passes_and_fails_with_a_diff(tmp_path):
    from typer.testing import CliRunner

    from modelcycle.cli import app

    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    cases = """
tests:
  - name: drift for two hours
    interval: 1h
    model: fraud
    input_series:
      drift_share: "0 0.5x1 0.25 0.1"
      rows: "1000x4"
    alert_rule_test:
      - {eval_time: 2h, alertname: drift, exp_alerts: []}
      - eval_time: 3h
        alertname: drift
        exp_alerts:
          - exp_labels: {severity: warning, model: fraud, version: "1"}
            exp_annotations: {summary: "fraud drifted 50%"}
      - eval_time: 4h
        alertname: drift
        exp_alerts: [{exp_labels: {severity: warning}}]
      - {eval_time: 5h, alertname: drift, exp_alerts: []}
"""
    (tmp_path / "cases.yaml").write_text(cases)
    runner = CliRunner()
    done = runner.invoke(app, ["monitor", "test-rules", str(tmp_path / "rules.yaml"), str(tmp_path / "cases.yaml")])
    assert done.exit_code == 0, done.output
    assert "SUCCESS: 4 checks passed" in done.output
    (tmp_path / "cases.yaml").write_text(cases.replace("fraud drifted 50%", "fraud drifted 60%")
                                         .replace("{eval_time: 2h, alertname: drift, exp_alerts: []}",
                                                  "{eval_time: 2h, alertname: drift, exp_alerts: [{}]}"))
    failed = runner.invoke(app, ["monitor", "test-rules", str(tmp_path / "rules.yaml"), str(tmp_path / "cases.yaml")])
    assert failed.exit_code == 1
    assert "2 of 4 checks failed" in failed.output
    assert "drift at 2h (state pending)" in failed.output
    assert "-  - annotations:" not in failed.output and "+    summary: fraud drifted 50%" in failed.output
    assert "-    summary: fraud drifted 60%" in failed.output
    (tmp_path / "cases.yaml").write_text("tests:\n  - input_series: {drift_share: '0 soon'}\n")
    bad = runner.invoke(app, ["monitor", "test-rules", str(tmp_path / "rules.yaml"), str(tmp_path / "cases.yaml")])
    assert bad.exit_code != 0 and "'soon'" in str(bad.exception)


def test_run_with_rules_then_alerts_and_silences(monitored, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from modelcycle.cli import app

    store, uri = monitored
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", uri)
    now = now_ms()
    start = now - now % HOUR - 5 * HOUR  # recent: within the evaluator's horizon
    log_traffic(uri, range(4), rows_per_hour=500, drift_from=1, start=start, label_share=0.0)
    (tmp_path / "rules.yaml").write_text(RULES_YAML)
    runner = CliRunner()
    done = runner.invoke(app, ["monitor", "run", "fraud", "--rules", str(tmp_path / "rules.yaml")])
    assert done.exit_code == 0, done.output
    assert "alert drift inactive -> pending" in done.output and "alert drift pending -> firing" in done.output
    shown = runner.invoke(app, ["monitor", "alerts", "fraud", "--output", "json"])
    rows = json.loads(shown.output)
    assert [(r["rule"], r["state"]) for r in rows] == [("drift", "firing")]
    assert rows[0]["summary"].startswith("fraud drifted")
    made = runner.invoke(app, ["monitor", "silence", "add", "fraud", "-m", "rule=drift", "--for", "1h",
                               "--comment", "retraining"])
    assert made.exit_code == 0 and "Silence " in made.output
    listed = json.loads(runner.invoke(app, ["monitor", "silence", "list", "fraud", "--output", "json"]).output)
    assert [(s["matchers"], s["comment"]) for s in listed] == [("alertname=drift", "retraining")]
    expired = runner.invoke(app, ["monitor", "silence", "expire", "fraud", str(listed[0]["id"])])
    assert expired.exit_code == 0
    assert json.loads(runner.invoke(app, ["monitor", "silence", "list", "fraud", "--output", "json"]).output) == []
    missing = runner.invoke(app, ["monitor", "silence", "expire", "fraud", "999"])
    assert missing.exit_code != 0 and "no silence 999" in str(missing.exception)
    bad = runner.invoke(app, ["monitor", "silence", "add", "fraud", "-m", "drift"])
    assert bad.exit_code != 0 and "name=value" in str(bad.exception)
    (tmp_path / "bad.yaml").write_text("rules:\n  - name: x\n    expr: drift_share >> 1\n")
    refused = runner.invoke(app, ["monitor", "run", "fraud", "--rules", str(tmp_path / "bad.yaml")])
    assert refused.exit_code != 0 and "position 13" in str(refused.exception)


# -------------------------------------------------------------- late labels, restarts
def _values_of(store, metric, model="fraud"):
    return {p.window_start: p.value for p in store.monitor_results(model, metrics=[metric])}


def test_windows_without_a_value_are_evaluated_when_late_labels_give_them_one(store):
    rules = load_rules({"rules": [{"name": "auc", "expr": "roc_auc < 0.8"}]})

    def record(hours, auc):
        store.record_monitor_results("scoring", [
            MonitorPoint("scoring", 1, T0 + h * HOUR, T0 + (h + 1) * HOUR, m, v)
            for h in hours for m, v in (("roc_auc", auc), ("rows", 1000.0))])

    record(range(4), math.nan)  # no labels yet
    first = AlertEvaluator("scoring", rules, store, owner="a").evaluate(now=END_OF_DAY)
    assert first.transitions == [] and [s["window_start"] for s in first.skipped] == [T0 + h * HOUR for h in range(4)]
    record([1], 0.6)  # the labels of hour 1 arrive, and show a poor model
    late = AlertEvaluator("scoring", rules, store, owner="a").evaluate(now=END_OF_DAY)
    assert [(t.old, t.new, t.window_start) for t in late.transitions] == [("inactive", "firing", T0 + HOUR)]
    assert late.skipped == []  # the windows still without labels are not reported twice
    (state,) = store.alert_states("scoring")
    assert state.state == "firing" and state.fired_at == T0 + 2 * HOUR
    assert AlertEvaluator("scoring", rules, store, owner="a").evaluate(now=END_OF_DAY).transitions == []
    record([2, 3], 0.95)  # later labels: the model recovered
    healed = AlertEvaluator("scoring", rules, store, owner="a").evaluate(now=END_OF_DAY)
    assert [(t.old, t.new, t.window_start) for t in healed.transitions] == [("firing", "resolved", T0 + 2 * HOUR)]
    assert [e[3] for e in _events(store)] == ["firing", "resolved"]


def test_late_labels_recompute_the_window_and_fire_the_auc_rule(monitored):
    import modelcycle as mc

    store, uri = monitored
    rules = load_rules({"rules": [{"name": "auc", "expr": "roc_auc < 0.7 and labelled_rows >= 200"}]})
    log_traffic(uri, range(3), label_share=0.0)
    monitor = Monitor("fraud", store, uri=uri, rules=rules, owner="a")
    monitor.run_once(now=T0 + 3 * HOUR + 60_000)
    assert monitor.last_evaluation.transitions == []
    rows = mc.read_predictions("fraud", start=T0 + HOUR, end=T0 + 2 * HOUR, uri=uri)
    ok = rows[rows.status == 200]
    mc.log_feedback("fraud", (1 - ok.prediction).tolist(), request_ids=ok.request_id.tolist(), rows=ok.row.tolist(),
                    uri=uri)  # every prediction of hour 1 was wrong
    again = Monitor("fraud", store, uri=uri, rules=rules, owner="a")
    assert again.run_once(now=T0 + 3 * HOUR + 120_000) == []
    # Hour 1 fires; hour 2, without labels, does not hold the condition, so the alert resolves there.
    assert [(t.rule, t.new, t.window_start) for t in again.last_evaluation.transitions] == \
        [("auc", "firing", T0 + HOUR), ("auc", "resolved", T0 + 2 * HOUR)]
    assert _values_of(store, "roc_auc")[T0 + HOUR] < 0.7


def test_a_restarted_monitor_neither_repeats_nor_loses_a_notification(store, receiver):
    from modelcycle.monitoring.alerts import dispatcher_for

    url, received = receiver
    rules = load_rules({"rules": [{"name": "drift", "expr": "drift_share >= 0.3", "resolve_threshold": 0.2}],
                        "notifications": {"channels": [{"type": "webhook", "url": url}], "group_interval": "5m",
                                          "repeat_interval": "4h"}})

    class Clock:
        ms = 1_000_000_000_000

        def now_ms(self):
            return self.ms

        def sleep(self, seconds):
            self.ms += int(seconds * 1000)

    clock = Clock()

    def evaluate():  # a new process each time: a new evaluator and dispatcher
        evaluator = AlertEvaluator("scoring", rules, store, owner="a",
                                   dispatcher=dispatcher_for(rules, store, "scoring", clock=clock))
        return evaluator.evaluate(now=END_OF_DAY)

    _record(store, range(2), [0.5, 0.6])
    evaluate()
    assert [r["status"] for r in received] == ["firing"]
    clock.ms += 60_000
    evaluate()  # restarted: the firing alert was delivered already
    assert [r["status"] for r in received] == ["firing"]
    _record(store, range(2, 3), [0.1])
    clock.ms += 10_000
    evaluate()  # it resolves within group_interval of the firing notice: held back, and the process ends
    assert [r["status"] for r in received] == ["firing"]
    clock.ms += 300_000
    evaluate()  # the next process sends the resolved notice it owes
    assert [r["status"] for r in received] == ["firing", "resolved"]
    clock.ms += 5 * 3_600_000
    evaluate()  # past repeat_interval: a resolved alert is not repeated
    assert len(received) == 2


def test_a_one_pass_monitor_gives_the_lease_up_for_the_next_one(monitored):
    store, uri = monitored
    log_traffic(uri, range(2))
    with Monitor("fraud", store, uri=uri, rules=default_rules(), owner="cron-1") as first:
        first.run_once(now=END_OF_DAY)
        assert first.last_evaluation.evaluated
    log_traffic(uri, [2], seed=3)
    with Monitor("fraud", store, uri=uri, rules=default_rules(), owner="cron-2") as second:
        second.run_once(now=END_OF_DAY)  # a minute later, another process
        assert second.last_evaluation.evaluated, second.last_evaluation.reason
    assert store.get_lease("monitor:fraud") is None


def test_a_monitor_killed_on_this_host_does_not_hold_the_next_one_back_until_its_lease_expires(monitored):
    import socket
    import subprocess
    import sys

    store, uri = monitored
    log_traffic(uri, range(2))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = f"{socket.gethostname()}:{int(dead.stdout)}"  # a monitor of this host that is gone (kill -9)
    assert store.acquire_lease("monitor:fraud", killed, 900) is not None
    with Monitor("fraud", store, uri=uri, rules=default_rules()) as restarted:
        restarted.run_once(now=END_OF_DAY)
        assert restarted.last_evaluation.evaluated, restarted.last_evaluation.reason
    alive = "another-host:1"
    assert store.acquire_lease("monitor:fraud", alive, 900) is not None
    with Monitor("fraud", store, uri=uri, rules=default_rules()) as waiting:
        waiting.run_once(now=END_OF_DAY)
        assert not waiting.last_evaluation.evaluated and alive in waiting.last_evaluation.reason

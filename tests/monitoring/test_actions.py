"""Alert actions for real: the registry's rollback on a real store (the audit entry names the
alert), a canary aborted when its candidate alerts, a retraining command run with the alert in
its environment and held back by the cooldown, and a webhook against a loopback receiver."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import modelcycle as mc
from modelcycle.exceptions import InvalidInput
from modelcycle.monitoring.actions import Actions, FileState, Retrainer, alert_reason
from modelcycle.monitoring.notify import Notification

T0 = 1_780_000_000_000
NAME = "fraud"


class FakeClock:
    def __init__(self):
        self.now = T0

    def now_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def alert(version: int, rule: str = "auc-drop", **kw) -> Notification:
    return Notification(model=NAME, version=version, rule=rule, state="firing", value=0.81, threshold=0.88,
                        since=T0, severity="critical", expr="roc_auc < reference.roc_auc - 0.05",
                        window_start=T0 - 3_600_000, window_end=T0, **kw)


def _register(seed: int) -> int:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=60) > 0).astype(int)
    with mc.start_run(experiment="actions"):
        info = mc.log_model(LogisticRegression().fit(X, y), "model", onnx=False)
    return mc.register_model(info, NAME).version


@pytest.fixture
def two_versions(tracking):
    one, two = _register(0), _register(1)
    mc.promote(NAME, one, force=True)
    mc.promote(NAME, two, force=True)
    return tracking, one, two


@pytest.mark.parametrize("store_uris", ["sqlite", "postgresql"], indirect=True)
def test_rollback_moves_production_back_and_the_audit_names_the_alert(two_versions):
    client, one, two = two_versions
    results = []
    actions = Actions.from_config({"rollback": {}}, client=client, on_result=lambda n, r: results.append(r))
    n = alert(two)
    result = actions.run("rollback", n)
    assert result.ok, result
    assert (result.data["from_version"], result.data["to_version"]) == (two, one)
    assert results == [result]
    assert mc.get_model_version(f"{NAME}@{one}").stage.value == "Production"
    assert mc.get_model_version(f"{NAME}@{two}").stage.value == "Archived"
    entry = [t for t in mc.model_history(NAME) if t.action == "rollback"][-1]
    assert entry.version == one and entry.reason == alert_reason(n)
    for part in ("auc-drop", "critical", f"version {two}", "0.81", "0.88", "2026-05-28T20:26:40.000Z", n.key):
        assert part in entry.reason, part

    # An alert on a version that no longer holds Production rolls nothing back.
    again = actions.run("rollback", n)
    assert not again.ok and "does not hold Production" in again.detail
    assert mc.get_model_version(f"{NAME}@{one}").stage.value == "Production"


@pytest.mark.parametrize("store_uris", ["sqlite"], indirect=True)
def test_rollback_of_a_canary_candidate_aborts_the_canary(tracking):
    from modelcycle.rollout import strategies

    one, two = _register(0), _register(1)
    mc.promote(NAME, one, force=True)
    store = tracking.store
    strategies.create(store, "fraud-live", f"{NAME}@production", "ops")
    strategies.canary(store, "fraud-live", f"{NAME}@{two}", [10, 50, 100], "ops")
    result = Actions(client=tracking).run("rollback", alert(two))
    assert result.ok and result.data["aborted"] == ["deployment 'fraud-live'"], result
    d = store.get_deployment("fraud-live")
    assert d.state == "rolled_back" and d.shares["stable"] == 100.0
    assert store.deployment_events("fraud-live")[-1].reason == alert_reason(alert(two))
    assert mc.get_model_version(f"{NAME}@{one}").stage.value == "Production"  # the registry did not move


def _env_script(out) -> str:
    return ("import json, os; json.dump({k: v for k, v in os.environ.items() if k.startswith('MODELCYCLE_ALERT_')},"
            f" open({str(out)!r}, 'w'))")


def test_retrain_runs_the_command_with_the_alert_and_keeps_a_cooldown(tmp_path):
    clock = FakeClock()
    out = tmp_path / "env.json"
    state = tmp_path / "state" / "retrain.json"
    actions = Actions.from_config({"retrain": {"command": [sys.executable, "-c", _env_script(out)], "cooldown": "1h"}},
                                  state=state, clock=clock)
    n = alert(3)
    first = actions.retrainer(n, wait=True)
    assert first.ok and first.data["started"] and first.data["returncode"] == 0, first
    assert json.loads(out.read_text()) == {
        "MODELCYCLE_ALERT_MODEL": NAME, "MODELCYCLE_ALERT_VERSION": "3", "MODELCYCLE_ALERT_RULE": "auc-drop",
        "MODELCYCLE_ALERT_SEVERITY": "critical", "MODELCYCLE_ALERT_FINGERPRINT": n.key,
        "MODELCYCLE_ALERT_WINDOW_START": str(T0 - 3_600_000), "MODELCYCLE_ALERT_WINDOW_END": str(T0),
        "MODELCYCLE_ALERT_FIRED_AT": str(T0)}
    out.unlink()

    clock.now += 30 * 60_000
    # A second process with the same state file (a restarted monitor) is held back too.
    again = Actions.from_config({"retrain": {"command": [sys.executable, "-c", _env_script(out)],
                                             "cooldown": "1h"}}, state=state, clock=clock).run("retrain", n)
    assert again.ok and not again.data["started"] and "cooldown lasts until" in again.detail
    assert not out.exists()

    clock.now += 31 * 60_000
    third = actions.retrainer(n, wait=True)
    assert third.data["started"] and out.exists()


def test_retrain_does_not_start_while_one_runs(tmp_path):
    clock = FakeClock()
    gate = tmp_path / "go"
    script = ("import os, time\n"
              f"for _ in range(200):\n    time.sleep(0.02)\n    if os.path.exists({str(gate)!r}): break\n")
    saved = []

    class Store:  # a caller-given state store: the other side of load/save
        data: dict = {}

        def load(self):
            return json.loads(json.dumps(self.data))

        def save(self, state):
            saved.append(state)
            self.data = state

    retrainer = Retrainer([sys.executable, "-c", script], Store(), cooldown=0, clock=clock)
    first = retrainer(alert(3))
    assert first.data["started"]
    second = retrainer(alert(3, rule="drift"))
    assert not second.data["started"] and "is running since" in second.detail
    gate.touch()
    retrainer.processes[NAME].wait(timeout=10)
    for _ in range(100):  # the waiting thread records the end
        if saved[-1][NAME]["finished_at"] is not None:
            break
        time.sleep(0.02)
    assert saved[-1][NAME]["returncode"] == 0
    assert retrainer(alert(3)).data["started"]
    retrainer.processes[NAME].wait(timeout=10)


def test_retrain_failure_and_bad_config_never_raise_from_run(tmp_path):
    missing = Retrainer(["/nonexistent/train"], FileState(tmp_path / "s.json"))
    result = missing(alert(1))
    assert not result.ok and "could not start /nonexistent/train" in result.detail
    assert not Actions().run("retrain", alert(1)).ok
    assert "not an action" in Actions().run("deploy", alert(1)).detail
    for config, message in [({"retrain": {}}, "actions.retrain.command is required"),
                            ({"retrain": {"command": "x", "cooldwn": 1}}, "actions.retrain.cooldwn: not a field"),
                            ({"retrain": {"command": "x"}}, "needs a place for its cooldown state"),
                            ({"webhook": {"url": "ftp://x"}}, "actions.webhook.url is an http"),
                            ({"page": {}}, "actions.page: not an action")]:
        with pytest.raises(InvalidInput, match=message):
            Actions.from_config(config)


def test_webhook_action_posts_the_alert():
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204 if len(seen) == 1 else 500)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/act"
        actions = Actions.from_config({"webhook": {"url": url}})
        result = actions.run("webhook", alert(2))
        assert result.ok and result.data["status"] == 204
        body = seen[0]
        assert body["action"] == "webhook" and body["alert"]["model"] == NAME and body["alert"]["version"] == 2
        assert body["reason"] == alert_reason(alert(2))
        assert not actions.run("webhook", alert(2)).ok  # a 500 is a failed action, not an exception
    finally:
        server.shutdown()
        server.server_close()
    dead = Actions.from_config({"webhook": {"url": url, "timeout": 2}}).run("webhook", alert(2))
    assert not dead.ok and "ConnectError" in dead.detail


def test_the_run_a_retraining_creates_is_tagged_with_its_alert(tmp_path):
    uri, artifacts = f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts")
    script = ("import modelcycle as mc\n"
              "with mc.start_run(experiment='retraining') as run:\n"
              "    mc.log_metric('auc', 0.9)\n")
    retrainer = Retrainer([sys.executable, "-c", script], tmp_path / "retrain.json",
                          env={"MODELCYCLE_TRACKING_URI": uri, "MODELCYCLE_ARTIFACT_URI": artifacts})
    n = alert(3)
    done = retrainer(n, wait=True)
    assert done.ok, done
    (run,) = mc.Client(uri, artifacts).search_all_runs("retraining")
    assert {k: v for k, v in run.tags.items() if k.startswith("mc.alert.")} == {
        "mc.alert.model": NAME, "mc.alert.version": "3", "mc.alert.rule": "auc-drop", "mc.alert.severity": "critical",
        "mc.alert.fingerprint": n.key, "mc.alert.window_start": str(T0 - 3_600_000),
        "mc.alert.window_end": str(T0), "mc.alert.fired_at": str(T0)}
    found = mc.Client(uri, artifacts).search_all_runs("retraining", filter=f"tags.`mc.alert.fingerprint` = '{n.key}'")
    assert [r.id for r in found] == [run.id]

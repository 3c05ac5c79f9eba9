"""Prometheus and Grafana: the gauges a scrape gets, the exported rules checked and run by promtool
(the serving metrics' real names, hysteresis through ALERTS), and the dashboard's essentials."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from modelcycle.cli import app
from modelcycle.monitoring.alerts import AlertEvaluator
from modelcycle.monitoring.export import (
    LATENCY_BUCKETS, REQUESTS, gauge_of, grafana_dashboard, metrics_text, prometheus_rules, serve_metrics,
)
from modelcycle.monitoring.rules import default_rules, load_rules
from modelcycle.serving import metrics as serving_metrics
from modelcycle.store.entities import MonitorPoint

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian's prometheus "
                                                             "package provides it; .ci/run installs it)")
T0, HOUR = 1_764_460_800_000, 3_600_000


def test_the_exported_metric_names_are_those_the_model_server_exposes():
    assert REQUESTS == serving_metrics.REQUESTS._name + "_total"
    assert LATENCY_BUCKETS == serving_metrics.LATENCY._name + "_bucket"
    assert gauge_of("drift_score.x1") == ("modelcycle_monitor_drift_score", {"column": "x1"})
    assert gauge_of("class_share.1") == ("modelcycle_monitor_class_share", {"class": "1"})
    assert gauge_of("latency_p99_ms") == ("modelcycle_monitor_latency_p99_ms", {})


def _fill(store):
    points = []
    for h, share in enumerate([0.1, 0.5]):
        for metric, value in (("drift_share", share), ("drift_score.x1", share / 2), ("class_share.1", 0.3),
                              ("roc_auc", float("nan")), ("rows", 1000.0)):
            points.append(MonitorPoint("scoring", 1, T0 + h * HOUR, T0 + (h + 1) * HOUR, metric, value))
    store.record_monitor_results("scoring", points)


def test_gauges_of_the_latest_window_served_over_http(tmp_path):
    from modelcycle.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"))
    _fill(store)
    rules = load_rules({"rules": [{"name": "drift", "expr": "drift_share >= 0.3"}]})
    AlertEvaluator("scoring", rules, store, owner="a").evaluate(now=T0 + 3 * HOUR)
    server, thread = serve_metrics(store, ["scoring"], 0, "127.0.0.1", rules=rules)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    base = (("model", "scoring"), ("version", "1"))
    assert samples[("modelcycle_monitor_drift_share", base)] == 0.5  # the latest window
    assert samples[("modelcycle_monitor_drift_score", tuple(sorted(base + (("column", "x1"),))))] == 0.25
    assert samples[("modelcycle_monitor_class_share", tuple(sorted(base + (("class", "1"),))))] == 0.3
    assert samples[("modelcycle_monitor_window_end_timestamp_seconds", base)] == (T0 + 2 * HOUR) / 1000
    assert not any(name == "modelcycle_monitor_roc_auc" for name, _ in samples)  # NaN: not computable
    firing = tuple(sorted(base + (("alertname", "drift"), ("severity", "warning"), ("state", "firing"))))
    assert samples[("modelcycle_monitor_alert", firing)] == 1.0
    assert metrics_text(store, ["scoring"]).decode().count("modelcycle_monitor_drift_share{") == 1


@needs_promtool
def test_the_exported_rules_pass_promtool_check(tmp_path):
    rules = load_rules({"rules": [
        *default_rules().to_dict()["rules"],
        {"name": "odd", "expr": "not (abs(drift_score.x1 - 0.1) > max(drift_share, 0.2)) or min(accuracy, f1) < 1 + 2",
         "resolve_when": "drift_share < 0.1", "keep_firing_for": "30m",
         "labels": {"team": "risk"}, "annotations": {"summary": "{{ $rule }} {{ $value }} over {{ $threshold }}"}}]})
    target = tmp_path / "rules.yml"
    done = CliRunner().invoke(app, ["monitor", "export-rules", "fraud", "-o", str(target)])
    assert done.exit_code == 0, done.output
    target.write_text(yaml.safe_dump(prometheus_rules("fraud", rules)))
    checked = subprocess.run([PROMTOOL, "check", "rules", str(target)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout
    exported = {r["alert"]: r for r in prometheus_rules("fraud", default_rules())["groups"][0]["rules"]}
    assert "histogram_quantile(0.99" in exported["p99-latency"]["expr"] and exported["p99-latency"]["for"] == "10m"
    assert LATENCY_BUCKETS in exported["p99-latency"]["expr"]
    assert REQUESTS in exported["error-rate"]["expr"] and exported["error-rate"]["for"] == "5m"
    assert "ALERTS{" in exported["drift"]["expr"]


@needs_promtool
def test_promtool_runs_the_exported_alerts_on_serving_and_monitor_series(tmp_path):
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(prometheus_rules("fraud", default_rules())))
    ok, err = f'{REQUESTS}{{model="fraud",version="1",endpoint="v2_infer",status="200"}}', \
        f'{REQUESTS}{{model="fraud",version="1",endpoint="v2_infer",status="500"}}'
    bucket = LATENCY_BUCKETS + '{{model="fraud",version="1",endpoint="v2_infer",le="{}"}}'
    # 100 requests a minute, 5 of them errors: 4.8% for 20 minutes. Latency: 98% under 0.25 s,
    # 2% between 0.5 and 1 s, so p99 is 0.75 s (linear within the bucket).
    series = [{"series": ok, "values": "0+95x30"}, {"series": err, "values": "0+5x30"},
              {"series": bucket.format("0.25"), "values": "0+98x30"}, {"series": bucket.format("0.5"),
                                                                      "values": "0+98x30"},
              {"series": bucket.format("1.0"), "values": "0+100x30"}, {"series": bucket.format("+Inf"),
                                                                       "values": "0+100x30"},
              {"series": 'modelcycle_monitor_drift_share{model="fraud",version="1"}',
               "values": "0.5x10 0.25x10 0.1x10"},
              {"series": 'modelcycle_monitor_rows{model="fraud",version="1"}', "values": "1000x30"}]
    labels = {"model": "fraud", "version": "1"}

    def alert(severity, expr, summary):
        return [{"exp_labels": {**labels, "severity": severity},
                 "exp_annotations": {"summary": summary, "modelcycle_expr": expr}}]

    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "error-rate", "exp_alerts": []},  # pending: for 5m
            {"eval_time": "8m", "alertname": "error-rate",
             "exp_alerts": alert("critical", "error_rate > 0.01", "fraud v1 answers 5% of requests with an error")},
            {"eval_time": "8m", "alertname": "p99-latency", "exp_alerts": []},
            {"eval_time": "13m", "alertname": "p99-latency",
             "exp_alerts": alert("warning", "latency_p99_ms > 500", "fraud v1 p99 latency is 750 ms")},
            {"eval_time": "5m", "alertname": "drift",
             "exp_alerts": alert("warning", "drift_share >= 0.3", "50% of the inputs of fraud v1 drifted")},
            # 0.25: under the firing threshold, above the resolve threshold: still firing.
            {"eval_time": "15m", "alertname": "drift",
             "exp_alerts": alert("warning", "drift_share >= 0.3", "25% of the inputs of fraud v1 drifted")},
            {"eval_time": "25m", "alertname": "drift", "exp_alerts": []},
        ]}]}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests))
    done = subprocess.run([PROMTOOL, "test", "rules", "tests.yml"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_grafana_dashboard_has_the_schema_essentials(tmp_path):
    target = tmp_path / "dashboard.json"
    done = CliRunner().invoke(app, ["monitor", "export-dashboard", "fraud", "-o", str(target)])
    assert done.exit_code == 0, done.output
    board = json.loads(target.read_text())
    assert board == grafana_dashboard("fraud")
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 36
    assert board["uid"] and len(board["uid"]) <= 40 and board["title"] == "modelcycle: fraud"
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["version"]["type"] == "query" and "label_values(" in variables["version"]["query"]["query"]
    assert variables["datasource"]["type"] == "datasource"
    ids, cells = set(), set()
    titles = [p["title"] for p in board["panels"]]
    for wanted in ("Request rate", "Errors", "Latency quantiles", "Batch sizes", "Drift share", "Performance"):
        assert wanted in titles
    for p in board["panels"]:
        assert p["id"] not in ids
        ids.add(p["id"])
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in ("h", "w", "x", "y")) and g["x"] + g["w"] <= 24
        for x in range(g["x"], g["x"] + g["w"]):  # no two panels overlap
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, p["title"]
                cells.add((x, y))
        if p["type"] == "row":
            continue
        assert p["targets"] and len({t["refId"] for t in p["targets"]}) == len(p["targets"])
        for t in p["targets"]:
            assert t["expr"] and '$version' in t["expr"] and 'model="fraud"' in t["expr"]
    latency = next(p for p in board["panels"] if p["title"] == "Latency quantiles")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == \
        ["histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]
    assert LATENCY_BUCKETS in latency["targets"][0]["expr"]
    assert grafana_dashboard("a" * 100)["uid"] != grafana_dashboard("a" * 99)["uid"]


@needs_promtool
def test_the_dashboard_queries_are_valid_promql(tmp_path):
    board = grafana_dashboard("fraud")
    exprs = [t["expr"].replace("$__rate_interval", "5m").replace("$version", ".*")
             for p in board["panels"] for t in p.get("targets", [])]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": e}
                                                         for i, e in enumerate(exprs)]}]}
    (tmp_path / "queries.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "queries.yml")], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
@pytest.mark.parametrize("model", ['fraud "eu"', "fraud\\eu", "fraud\neu", "fraude ünï 日本", "fraud\teu"])
def test_rules_of_models_with_quotes_backslashes_newlines_and_unicode_pass_promtool(tmp_path, model):
    target = tmp_path / "rules.yml"
    target.write_text(yaml.safe_dump(prometheus_rules(model, default_rules())))
    checked = subprocess.run([PROMTOOL, "check", "rules", str(target)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

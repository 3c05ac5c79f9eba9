"""`modelcycle monitor run`, `status` and `report` on a real store and log."""

from __future__ import annotations

from typer.testing import CliRunner

from modelcycle.cli import app
from modelcycle.exceptions import InvalidInput
from tests.monitoring.conftest import log_traffic


def test_run_status_and_a_self_contained_report(monitored, tmp_path, monkeypatch):
    store, uri = monitored
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", uri)
    log_traffic(uri, range(3), drift_from=2)
    runner = CliRunner()
    done = runner.invoke(app, ["monitor", "run", "fraud", "--settle", "1s"])
    assert done.exit_code == 0, done.output
    assert done.output.count("fraud v1: window") == 3
    again = runner.invoke(app, ["monitor", "run", "fraud"])
    assert "no new finished window" in again.output
    shown = runner.invoke(app, ["monitor", "status", "fraud", "--metric", "drift_share", "--output", "json"])
    assert shown.exit_code == 0, shown.output
    assert '"trend": "up"' in shown.output and '"metric": "drift_share"' in shown.output
    target = tmp_path / "report.html"
    made = runner.invoke(app, ["monitor", "report", "fraud", "-o", str(target)])
    assert made.exit_code == 0, made.output
    page = target.read_text()
    assert "drift_score.x1" in page and "<svg" in page and "roc_auc" in page
    assert "<script" not in page and "http" not in page and "h0-r1" not in page  # no raw rows, no links
    bad = runner.invoke(app, ["monitor", "run", "fraud", "--window", "soon"])
    assert bad.exit_code != 0 and isinstance(bad.exception, InvalidInput) and "--window" in str(bad.exception)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gauges(port: int) -> dict[str, float]:
    """The samples on :port/metrics of model fraud version 1, by name; {} when nothing answers."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.labels.get("model") == "fraud" and s.labels.get("version") == "1" and len(s.labels) == 2}


def test_the_long_lived_monitor_computes_new_windows_serves_gauges_and_stops_on_sigterm(monitored, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.monitoring.conftest import HOUR

    store, uri = monitored
    base = (int(time.time() * 1000) // HOUR - 3) * HOUR  # three finished hours before this one
    log_traffic(uri, [0, 1], start=base)
    port = _free_port()
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": store.db_uri, "MODELCYCLE_ARTIFACT_URI": str(tmp_path / "artifacts"),
           "MODELCYCLE_PREDICTION_LOG_URI": uri}
    process = subprocess.Popen([sys.executable, "-m", "modelcycle", "monitor", "fraud", "--every", "1s", "--settle",
                                "1s", "--metrics-port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))

    def wait_for(window_end_ms: int, seconds: float = 90) -> dict[str, float]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            gauges = _gauges(port)
            if gauges.get("modelcycle_monitor_window_end_timestamp_seconds") == window_end_ms / 1000:
                return gauges
            time.sleep(0.3)
        raise AssertionError(f"no window ending at {window_end_ms} on /metrics within {seconds} s: {_gauges(port)}")

    try:
        gauges = wait_for(base + 2 * HOUR)
        assert gauges["modelcycle_monitor_drift_share"] == 0.0 and gauges["modelcycle_monitor_rows"] > 0
        log_traffic(uri, [2], start=base, seed=7)  # another hour is appended while it runs
        gauges = wait_for(base + 3 * HOUR)
        assert gauges["modelcycle_monitor_requests"] > 0
        assert store.get_lease("monitor:fraud") is not None
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "Stopped" in out
    assert out.count("fraud v1: window") == 3
    assert store.get_lease("monitor:fraud") is None  # given up, not left to expire
    assert _gauges(port) == {}  # the metrics server stopped with it


def test_a_model_that_is_neither_registered_nor_logged_is_named_as_such(monitored, tmp_path, monkeypatch):
    from modelcycle.exceptions import NotFound

    store, uri = monitored
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", uri)
    runner = CliRunner()
    typo = runner.invoke(app, ["monitor", "run", "frawd"])
    assert isinstance(typo.exception, NotFound) and "frawd" in str(typo.exception)
    assert "modelcycle models ls" in str(typo.exception)
    shown = runner.invoke(app, ["monitor", "status", "fraud"])
    assert shown.exit_code == 0 and "No windows of fraud computed yet" in shown.output
    huge = runner.invoke(app, ["monitor", "run", "fraud", "--window", "100000000d"])
    assert isinstance(huge.exception, InvalidInput) and "window" in str(huge.exception)
    log_traffic(uri, range(1))
    assert runner.invoke(app, ["monitor", "run", "fraud"]).exit_code == 0


def test_a_monitor_killed_mid_pass_leaves_whole_windows_and_its_restart_completes_them(monitored, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.monitoring.conftest import HOUR

    store, uri = monitored
    base = (int(time.time() * 1000) // HOUR - 13) * HOUR
    log_traffic(uri, range(12), start=base, rows_per_hour=4000)
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": store.db_uri, "MODELCYCLE_ARTIFACT_URI": str(tmp_path / "art"),
           "MODELCYCLE_PREDICTION_LOG_URI": uri}
    command = [sys.executable, "-m", "modelcycle", "monitor", "fraud", "--every", "1s", "--settle", "1s"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(tmp_path))
    deadline = time.monotonic() + 120
    while not store.monitor_windows("fraud") and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # as soon as the first windows are stored: mid-pass, or just after
    first.wait()
    metrics = {}
    for p in store.monitor_results("fraud"):
        metrics.setdefault(p.window_start, set()).add(p.metric)
    complete = max(metrics.values(), key=len)
    assert all(found == complete for found in metrics.values())  # no window half written
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=str(tmp_path))
    try:
        deadline = time.monotonic() + 120  # the lease of the killed one is taken over, not waited out
        while store.monitor_windows("fraud").get(1) != base + 12 * HOUR and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=30)
    assert store.monitor_windows("fraud") == {1: base + 12 * HOUR}, err
    rows = {p.window_start: p.value for p in store.monitor_results("fraud", metrics=["rows"])}
    assert sorted(rows) == [base + h * HOUR for h in range(12)] and set(rows.values()) == {4000.0 + 2}

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

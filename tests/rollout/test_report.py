"""The A/B report over a real prediction log and real feedback: counts per arm as served, the
two-proportion z-test and the sample-ratio check agree with SciPy, and the CLI writes it as HTML."""

from __future__ import annotations

import csv
import io
import json
import math

import httpx
import pytest
from scipy import stats as scipy_stats
from typer.testing import CliRunner

from modelcycle.rollout import strategies
from modelcycle.rollout.report import ab_report
from tests.rollout.conftest import rows, serve_deployment

N = 400


def test_the_ab_report_reads_the_log_and_the_feedback(fraud_store, tmp_path, monkeypatch):
    from modelcycle.cli import app
    from modelcycle.serving.feedback import log_feedback
    from modelcycle.serving.predlog import PredictionLog

    _, _, store = fraud_store
    uri = str(tmp_path / "predictions")
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", uri)
    strategies.create(store, "fraud-ab", "fraud@production", "ana")
    with PredictionLog(uri) as log:  # traffic before the A/B test is not part of it
        log.log("before", 1, "fraud", 1, "invocations", 200, 1.0, None, None, arm="stable")
    strategies.ab(store, "fraud-ab", [("fraud@production", 50), ("fraud@challenger", 50)], "ana")
    log = PredictionLog(uri)
    holder, server = serve_deployment(store, "fraud-ab", log=log)
    data = rows(N, seed=7)
    served = {}
    try:
        with httpx.Client(timeout=10) as http:
            for i in range(N):
                r = http.post(f"{server.url}/invocations", json={"dataframe_records": [data[i]]},
                              headers={"x-modelcycle-key": f"user-{i}", "x-request-id": f"r{i}"})
                assert r.status_code == 200
                served[f"r{i}"] = r.headers["x-modelcycle-model-version"]
    finally:
        server.stop()
        holder.stop()
        log.close()
    # The outcome (say, a conversion) is likelier after the challenger's answers: 30% against 45%.
    labels = {rid: int(i % 20 < (9 if served[rid] == "2" else 6)) for i, rid in enumerate(served)}
    log_feedback("fraud", list(labels.values()), request_ids=list(labels), uri=uri)

    report = ab_report("fraud-ab", store)
    by_arm = {a.arm: a for a in report.arms}
    n = {v: sum(1 for x in served.values() if x == v) for v in ("1", "2")}
    ones = {v: sum(labels[r] for r, x in served.items() if x == v) for v in ("1", "2")}
    assert (by_arm["production"].version, by_arm["challenger"].version) == (1, 2)
    assert (by_arm["production"].requests, by_arm["challenger"].requests) == (n["1"], n["2"])
    assert by_arm["production"].labelled == n["1"] and by_arm["challenger"].outcome == pytest.approx(ones["2"] / n["2"])
    assert report.outcome == "binary"
    [c] = report.comparisons
    assert (c["a"], c["b"]) == ("production", "challenger") and c["outcome_b"] == pytest.approx(ones["2"] / n["2"])
    p_a, p_b = ones["1"] / n["1"], ones["2"] / n["2"]
    pooled = (ones["1"] + ones["2"]) / N
    z = (p_b - p_a) / math.sqrt(pooled * (1 - pooled) * (1 / n["1"] + 1 / n["2"]))
    assert c["statistic"] == pytest.approx(z) and c["p_value"] == pytest.approx(2 * scipy_stats.norm.sf(abs(z)))
    assert c["p_value"] < 0.05 and c["low"] < p_b - p_a < c["high"]
    chi2 = scipy_stats.chisquare([n["1"], n["2"]], [N / 2, N / 2])
    assert report.srm_p_value == pytest.approx(chi2.pvalue, rel=1e-6) and report.srm == bool(chi2.pvalue < 0.001)

    target = tmp_path / "report.html"
    done = CliRunner().invoke(app, ["deploy", "report", "fraud-ab", "-o", str(target)])
    assert done.exit_code == 0, done.output
    assert "production" in done.output and "two-proportion z-test" in done.output
    page = target.read_text()
    assert "A/B report: fraud-ab" in page and "data:image/png;base64," in page and f"<td>{n['2']}</td>" in page
    shown = CliRunner().invoke(app, ["deploy", "report", "fraud-ab", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)  # one document: the arms, the differences and the SRM check
    assert [a["arm"] for a in document["arms"]] == ["production", "challenger"]
    assert document["comparisons"][0]["p_value"] == pytest.approx(c["p_value"])
    assert document["srm_p_value"] == pytest.approx(report.srm_p_value) and document["srm"] == report.srm
    table = CliRunner().invoke(app, ["deploy", "report", "fraud-ab", "--format", "csv"])
    assert table.exit_code == 0, table.output
    read = list(csv.DictReader(io.StringIO(table.stdout)))  # one table: a row per arm
    assert [r["arm"] for r in read] == ["production", "challenger"]
    assert float(read[1]["p_value"]) == pytest.approx(c["p_value"], rel=1e-4) and read[0]["p_value"] == ""
    status = CliRunner().invoke(app, ["deploy", "status", "fraud-ab", "-o", "json"])
    assert status.exit_code == 0, status.output
    shown = json.loads(status.stdout)
    assert shown["deployment"]["name"] == "fraud-ab" and shown["deployment"]["strategy"] == "ab"
    assert {a["arm"] for a in shown["arms"]} == {"production", "challenger"}
    assert [e["kind"] for e in shown["history"]] == ["create", "ab"]


def test_a_report_before_any_label_says_why_there_is_no_difference(fraud_store, tmp_path, monkeypatch):
    from modelcycle.cli import app

    _, _, store = fraud_store
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", str(tmp_path / "predictions"))
    strategies.create(store, "fraud-ab", "fraud@production", "ana")
    strategies.ab(store, "fraud-ab", [("fraud@production", 50), ("fraud@challenger", 50)], "ana")
    done = CliRunner().invoke(app, ["deploy", "report", "fraud-ab"])
    assert done.exit_code == 0, done.output
    assert "each arm needs at least one observation" in done.output

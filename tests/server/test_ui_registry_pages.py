"""The pages of datasets, the registry, deployments and monitoring, served by the tracking server
over data logged through the public API: a model trained on iris, registered, moved through its
stages and aliases with reasons, forced past a gate and rolled back; a canary analysed step by
step by the rollout code; a monitored model whose drift fired an alert and resolved it."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest
from starlette.testclient import TestClient

from modelcycle.server.app import create_app
from modelcycle.store.entities import LATENCY_BOUNDS_MS, ArmStats
from modelcycle.store.sql import SqlStore

MODEL = "iris <b>classifier"  # names, reasons and tags are shown as text, never as markup
SCRIPT = "<script>alert(1)</script>"
DEPLOYMENT = "iris-web"
MONITORED = "fraud"


def _latency(ms: float, count: int) -> tuple[int, ...]:
    bucket = next(i for i, bound in enumerate(LATENCY_BOUNDS_MS) if bound >= ms)
    return (0,) * bucket + (count,)


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """(store, facts): everything logged once for the module, through mc and the rollout and
    monitoring code, into one SQLite store the pages read."""
    import modelcycle as mc
    from modelcycle.store import clear_store_cache
    from modelcycle.tracking import fluent

    root = tmp_path_factory.mktemp("registry-pages")
    uri, artifacts = f"sqlite:///{root / 'mc.db'}", str(root / "artifacts")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MODELCYCLE_HOME", str(root / "home"))
        env.setenv("LOGNAME", "alice")
        clear_store_cache()
        mc.set_tracking_uri(uri, artifacts)
        try:
            facts = _log_registry(mc) | _log_deployment(mc, root) | _log_monitoring(mc, root)
        finally:
            while mc.active_run() is not None:
                mc.end_run()
            fluent.set_tracking_uri(None)
            clear_store_cache()
    store = SqlStore(uri, artifacts)
    yield store, facts
    store.close()


def _log_registry(mc) -> dict:
    import pandas as pd
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns={"sepal length (cm)": f"sepal {SCRIPT}"})
    X, y = frame.drop(columns="target"), frame["target"]
    facts: dict = {"runs": {}}
    with mc.start_run(experiment="iris", name="logistic") as run:
        first = mc.log_dataset(frame, "iris-train", role="train")
        model = LogisticRegression(max_iter=500).fit(X, y)
        mc.log_params({"C": 1.0})
        mc.log_metrics({"accuracy": float(model.score(X, y))})
        info_1 = mc.log_model(model, "model", input_example=X.head(5), onnx=False)
        facts["runs"]["logistic"] = run.id
    shifted = frame.copy()
    shifted["petal length (cm)"] = shifted["petal length (cm)"] * 1.6
    with mc.start_run(experiment="iris", name=f"tree {SCRIPT}") as run:
        second = mc.log_dataset(pd.concat([frame, shifted]), "iris-train", role="train")
        model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
        mc.log_params({"max_depth": 2})
        mc.log_metrics({"accuracy": float(model.score(X, y))})
        info_2 = mc.log_model(model, "model", input_example=X.head(5), onnx=False)
        facts["runs"]["tree"] = run.id
    facts["datasets"] = (first.version, second.version)

    v1 = mc.register_model(info_1, MODEL, description=f"the first {SCRIPT}")
    mc.promote(MODEL, v1.version, reason=f"first model {SCRIPT}")
    mc.set_alias(MODEL, "champion", v1.version, reason="best so far")
    # A gate the second version cannot pass: no eval dataset to compare the metric on.
    mc.set_promotion_policy(MODEL, metric="accuracy")
    v2 = mc.register_model(info_2, MODEL, description="a tree")
    mc.promote(MODEL, v2.version, to="staging", reason="to try it")
    mc.promote(MODEL, v2.version, force=True, reason="needed today")
    mc.rollback(MODEL, reason="v2 misclassifies setosa")
    mc.set_alias(MODEL, "challenger", v2.version, reason="keep comparing")
    facts["versions"] = (v1.version, v2.version)
    return facts


def _log_deployment(mc, root) -> dict:
    """A canary of v2 against v1, decided by the analysis leader from the arms' recorded stats:
    held for want of requests, a step passed, an analysis failed on errors, the last step, promoted."""
    from modelcycle.rollout import strategies
    from modelcycle.rollout.analysis import Leader
    from modelcycle.store.clock import now_ms

    store = mc.Client().store
    strategies.create(store, DEPLOYMENT, f"{MODEL}/1", "alice", "v1 takes all traffic")
    checks = strategies.Checks(min_requests=20, max_auc_drop=None, min_p99_increase_ms=5.0)
    strategies.canary(store, DEPLOYMENT, f"{MODEL}/2", [20.0, 60.0, 100.0], "alice", interval_s=0.1,
                      max_failures=3, checks=checks, force=True, reason="v2 step by step")
    leader = Leader(store, DEPLOYMENT, "worker-1")
    # (candidate requests, candidate errors) seen in each interval before the leader looks
    for requests, errors in ((5, 0), (50, 0), (40, 12), (60, 0), (80, 0)):
        start = store.get_deployment(DEPLOYMENT).step_started_at
        time.sleep(0.12)
        store.record_deployment_stats(DEPLOYMENT, "worker-1", start, now_ms(), [
            ArmStats("stable", 1, 200, 0, _latency(4.0, 200)),
            ArmStats("candidate", 2, requests, errors, _latency(5.0, requests))])
        leader.tick()
    # An A/B test of the two versions, its requests and outcomes in the prediction log: 30% of
    # v1's answers and 60% of v2's were followed by a conversion.
    from modelcycle.serving.feedback import log_feedback
    from modelcycle.serving.predlog import PredictionLog

    strategies.create(store, "iris-ab", f"{MODEL}/1", "alice")
    strategies.ab(store, "iris-ab", [(f"{MODEL}/1", 50), (f"{MODEL}/2", 50)], "alice", reason="compare")
    predictions = str(root / "ab-predictions")
    start, labels = now_ms() + 1, {}
    with PredictionLog(predictions) as log:
        for i in range(400):
            version = 1 + i % 2
            log.log(f"ab-{i}", start + i, MODEL, version, "invocations", 200, 2.0, arm=f"v{version}")
            labels[f"ab-{i}"] = int(i % 20 < (6 if version == 1 else 12))
    log_feedback(MODEL, list(labels.values()), request_ids=list(labels), uri=predictions)
    return {"deployment_state": store.get_deployment(DEPLOYMENT).state, "ab_predictions": predictions}


def _log_monitoring(mc, root) -> dict:
    """A model served for nine hours: its inputs drift in hours 3 to 5, an alert fires on it and
    resolves when they come back."""
    import numpy as np
    import pandas as pd

    from modelcycle.monitoring import Monitor
    from modelcycle.monitoring.rules import load_rules
    from tests.monitoring.conftest import HOUR, T0, log_traffic, probability, sample

    store = mc.Client().store
    run = store.create_run(store.create_experiment("fraud").id, name="fraud-train")
    rng = np.random.default_rng(0)
    train = sample(rng, 5_000)
    frame = pd.DataFrame(train)
    frame["label"] = rng.random(5_000) < probability(train)
    mc.log_dataset(frame, "transactions", run_id=run.id)
    store.create_model_version(MONITORED, run.id, "model", "alice")
    predictions = str(root / "predictions")
    log_traffic(predictions, range(0, 6), rows_per_hour=500, drift_from=3, errors_per_hour=0, label_share=0.2)
    log_traffic(predictions, range(6, 9), rows_per_hour=500, seed=2, errors_per_hour=0, label_share=0.2)
    rules = load_rules({"rules": [{"name": "input-drift", "expr": "drift_share >= 0.3", "for": "1h",
                                   "severity": "critical", "annotations": {"summary": f"inputs drifted {SCRIPT}"}}]})
    Monitor(MONITORED, store=store, uri=predictions, window_ms=HOUR, rules=rules).run_once(now=T0 + 10 * HOUR)
    return {"alert_fired_at": T0 + 4 * HOUR}


@pytest.fixture(scope="module")
def client(logged):
    store, _ = logged
    with TestClient(create_app(store)) as c:
        c.headers["accept"] = "text/html"
        yield c


@pytest.fixture(scope="module")
def facts(logged):
    return logged[1]


def _main(html: str) -> str:
    return html[html.index("<main>"):html.index("</main>")]


def _texts(html: str, pattern: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in re.findall(pattern, html, re.S)]


def _no_markup_from_data(html: str) -> None:
    """Stored text never reaches the page as markup: only escaped."""
    assert SCRIPT not in html and "<b>classifier" not in html
    assert "&lt;script&gt;" in html or "&lt;b&gt;" in html


MODEL_PATH = "/models/iris%20%3Cb%3Eclassifier"


# ---------------------------------------------------------------------- datasets
def test_the_datasets_list_and_a_datasets_versions(client, facts):
    page = client.get("/datasets")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<table class="grid nav"' in page.text
    assert 'href="/datasets/iris-train"' in page.text and 'href="/datasets/transactions"' in page.text
    versions = client.get("/datasets/iris-train")
    assert versions.status_code == 200
    rows = re.findall(r'<td class="num"><a href="/datasets/iris-train/versions/(\d+)">', versions.text)
    assert rows == ["2", "1"]  # newest first
    assert "300" in versions.text and "150" in versions.text  # the rows of each version
    assert client.get("/datasets?q=iris").text.count('href="/datasets/iris-train"') == 1
    assert 'href="/datasets/transactions"' not in client.get("/datasets?q=iris").text


def test_a_dataset_version_shows_schema_profile_histograms_and_lineage(client, facts):
    page = client.get("/datasets/iris-train/versions/1")
    assert page.status_code == 200
    html = page.text
    _no_markup_from_data(html)
    assert "sepal &lt;script&gt;alert(1)&lt;/script&gt;" in html  # a column name with markup in it
    assert html.count('<svg class="bars"') == 5  # one histogram per column, from the stored profile
    assert f'href="/runs/{facts["runs"]["logistic"]}" data-lineage="run"' in html
    assert f'href="/runs/{facts["runs"]["tree"]}"' not in html  # it used version 2
    assert f'href="{MODEL_PATH}/versions/1" data-lineage="model"' in html
    second = client.get("/datasets/iris-train/versions/2").text
    assert f'href="/runs/{facts["runs"]["tree"]}" data-lineage="run"' in second
    assert f'href="{MODEL_PATH}/versions/2" data-lineage="model"' in second


def test_the_drift_of_two_versions_from_their_profiles(client):
    page = client.get("/datasets/iris-train/diff?a=1&b=2")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="(drifted)?">\s*<td><strong>(.*?)</strong>', page.text)
    drifted = {unescape(name) for flag, name in rows if flag}
    assert drifted == {"petal length (cm)"}
    assert len(rows) == 5
    assert client.get("/datasets/iris-train/diff").text == page.text  # the latest against the one before
    report = client.get("/datasets/iris-train/diff/report?a=1&b=2")
    assert report.status_code == 200 and report.headers["content-security-policy"] == "sandbox"
    assert SCRIPT not in report.text and "petal length (cm)" in report.text


# ---------------------------------------------------------------------- the registry
def test_the_models_list(client):
    page = client.get("/models")
    assert page.status_code == 200
    _no_markup_from_data(page.text)
    assert f'href="{MODEL_PATH}"' in page.text
    assert f'href="/deployments/{DEPLOYMENT}"' in page.text
    assert "@champion → v1" in unescape(page.text) and "@challenger → v2" in unescape(page.text)


def test_the_audit_timeline_says_who_moved_what_when_and_why_newest_first(client):
    page = client.get(MODEL_PATH + "?audit=stage")
    assert page.status_code == 200
    html = page.text
    _no_markup_from_data(html)
    timeline = html[html.index('<ol class="timeline" id="audit"'):html.index("</ol>", html.index('id="audit"'))]
    entries = re.findall(r'<li class="[^"]*" data-action="(\w+)" data-id="(\d+)">(.*?)</li>', timeline, re.S)
    ids = [int(i) for _, i, _ in entries]
    assert ids == sorted(ids, reverse=True)
    moves = [(action, " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split()).replace(" :", ":"))
             for action, _, body in entries]
    assert [a for a, _ in moves] == ["stage", "stage", "rollback", "stage", "stage", "stage", "stage", "register",
                                     "stage", "register"]
    canary, _, rollback, archived, forced = (text for _, text in moves[:5])
    # The canary's promotion went through the registry's gate, forced as the deployment asked.
    assert "analysis@worker-1" in canary and "version 2: Archived → Production forced" in canary
    assert "alice" in rollback and "rolled back: version 1 Archived → Production" in rollback
    assert "“v2 misclassifies setosa”" in rollback
    assert "version 2: Production → Archived" in archived and "rolled back to version 1" in archived
    assert "alice" in forced and "version 2: Staging → Production forced “needed today”" in forced
    assert "overrode: metric: the run of version 2 recorded no dataset with role 'eval'" in forced
    # The policy's metric of the version moved in against the one it replaced, from their runs.
    assert re.search(r"accuracy 0\.9\d* vs 0\.9\d* of v1 \(-0\.0\d*\)", forced)
    assert "of v2" not in rollback and "accuracy" not in rollback  # a rollback passes no gate
    assert f"“first model {SCRIPT}”" in moves[-2][1]
    aliases = client.get(MODEL_PATH + "?audit=alias").text
    assert _texts(aliases, r'<div class="why">(.*?)</div>') == ["“keep comparing”", "“best so far”"]


def test_which_version_was_in_production_when(client):
    html = client.get(MODEL_PATH).text
    table = html[html.index('id="production-intervals"'):]
    table = table[:table.index("</table>")]
    versions = re.findall(r'<td class="num"><a href="[^"]+/versions/(\d+)">', table)
    # newest first: v2 again by the canary, v1 after the rollback, v2 forced in, v1 the first
    assert versions == ["2", "1", "2", "1"]
    assert '<span class="badge Production">now</span>' in table.split("<tr>")[2]  # the current one has no end
    assert html.count('<span style="left:') == 4  # the band: one segment per interval


def test_a_metric_across_versions_with_a_metric_select(client):
    html = client.get(MODEL_PATH + "?metric=accuracy").text
    assert '<option value="accuracy" selected>' in html
    chart = re.search(r'<script type="application/json">(.*?)</script>', html, re.S).group(1)
    import json

    spec = json.loads(chart)
    assert spec["x"] == [1, 2] and len(spec["series"][0]["values"]) == 2
    assert all(0.9 <= v <= 1 for v in spec["series"][0]["values"])
    assert client.get(MODEL_PATH + "?metric=loss").status_code == 400


def test_a_version_page_with_lineage_to_the_run_the_datasets_and_the_files(client, facts):
    page = client.get(MODEL_PATH + "/versions/2")
    assert page.status_code == 200
    html = page.text
    _no_markup_from_data(html)
    assert f'<a href="/runs/{facts["runs"]["tree"]}" data-lineage="run">' in html
    assert '<a href="/datasets/iris-train/versions/2" data-lineage="dataset">' in html
    assert 'data-lineage="commit"' in html or "no git commit" in html
    assert "model.yaml" in html and "sklearn" in html
    assert f'href="/deployments/{DEPLOYMENT}"' in html


# ---------------------------------------------------------------------- deployments
def test_the_deployments_list(client):
    html = client.get("/deployments").text
    assert f'<a href="/deployments/{DEPLOYMENT}">' in html and '<a href="/deployments/iris-ab">' in html
    assert "canary" in html and "ab" in html


def test_a_canarys_analyses_step_by_step(client, facts):
    assert facts["deployment_state"] == "promoted"
    page = client.get(f"/deployments/{DEPLOYMENT}")
    assert page.status_code == 200
    html = page.text
    kinds = re.findall(r'<tr class="event-(\w+)" data-outcome="(\w*)">', html)
    assert [k for k, _ in kinds] == ["create", "canary", "hold", "step", "analysis_failed", "step", "promoting",
                                     "promoted"]
    assert [o for k, o in kinds if o] == ["hold", "pass", "fail", "pass", "pass"]
    failed = html[html.index('<tr class="event-analysis_failed"'):]
    failed = failed[:failed.index("</tr>")]
    assert "40 · 12 · 30.00%" in failed and "error rate 30.00% is not under 1.00%" in failed
    assert html.count('<div class="chart"') == 3  # share, error rate and p99 at each analysis
    assert "5 events" not in html and "8 events" in html
    assert client.get(f"/deployments/{DEPLOYMENT}?before=4").text.count('<tr class="event-') == 3


def test_an_ab_deployment_shows_its_arms_and_the_difference_of_their_outcomes(client, facts, monkeypatch):
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", facts["ab_predictions"])
    page = client.get("/deployments/iris-ab")
    assert page.status_code == 200
    arms = page.text[page.text.index('id="ab-arms"'):]
    table = arms[:arms.index("</table>")]
    rows = [" ".join(_texts(row, r"<td[^>]*>(.*?)</td>")) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    assert rows[1:] == ["v1 v1 50% 200 200 0.3", "v2 v2 50% 200 200 0.6"]
    comparison = page.text[page.text.index('id="ab-comparisons"'):]
    comparison = " ".join(_texts(comparison[:comparison.index("</table>")], r"<td[^>]*>(.*?)</td>"))
    assert comparison.startswith("v2 vs v1 0.3 ") and "significant" in comparison
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", facts["ab_predictions"] + "-none")
    assert "no sample ratio" not in client.get("/deployments/iris-ab").text  # nothing logged there: no numbers


# ---------------------------------------------------------------------- monitoring
def test_monitor_metrics_over_time_with_the_alert_marked(client, facts):
    page = client.get(f"/monitoring/{MONITORED}?metric=drift_share")
    assert page.status_code == 200
    html = page.text
    _no_markup_from_data(html)
    import json

    spec = json.loads(re.search(r'<script type="application/json">(.*?)</script>', html, re.S).group(1))
    assert len(spec["x"]) == 9
    values = spec["series"][0]["values"]
    assert max(values[3:6]) >= 0.3 and max(values[:3] + values[6:]) < 0.3
    marks = [(m["x"], m["label"]) for m in spec["markers"]]
    assert (facts["alert_fired_at"], "input-drift v1 firing") in marks
    assert any(label == "input-drift v1 resolved" for _, label in marks)
    history = html[html.index('id="alert-history"'):]
    assert "resolved" in history[:history.index("</table>")]
    assert "Nothing pending or firing" in html


def test_the_monitoring_page_links_the_model_and_its_headline_metrics(client):
    html = client.get(f"/monitoring/{MONITORED}").text
    assert html.count('<div class="chart"') >= 3
    assert 'href="/models/fraud"' in html
    assert client.get(f"/monitoring/{MONITORED}/report").headers["content-security-policy"] == "sandbox"


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("path", [
    "/datasets/nope", "/datasets/iris-train/versions/9", "/models/nope", MODEL_PATH + "/versions/9",
    "/deployments/nope", "/monitoring/nope",
])
def test_unknown_names_and_versions_are_a_404_page(client, path):
    page = client.get(path)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert '<p class="error" role="alert">' in page.text


@pytest.mark.parametrize("path", [
    "/datasets?page=0", "/datasets?page=x", "/datasets?page=99", "/datasets/iris-train/versions/one",
    "/datasets/iris-train/diff?a=x", "/datasets/transactions/diff", MODEL_PATH + "?audit=who",
    MODEL_PATH + "?audit_page=0", "/deployments/iris-web?before=-1", f"/monitoring/{MONITORED}?range=1y",
    f"/monitoring/{MONITORED}?version=v1", f"/monitoring/{MONITORED}?metric=nope",
])
def test_bad_query_values_are_a_400_page(client, path):
    page = client.get(path)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert '<p class="error" role="alert">' in page.text and len(_main(page.text)) < 2000


def test_the_audit_log_links_each_deployment_change_with_its_numbers(client):
    html = client.get(MODEL_PATH + "?audit=deployment").text
    entries = _texts(html, r'<li class="audit-deployment" data-action="deployment" data-id="\d+">(.*?)</li>')
    assert len(entries) == 8 and all("deployment iris-" in " ".join(e.split()) for e in entries)
    assert f'<a href="/deployments/{DEPLOYMENT}">{DEPLOYMENT}</a>' in html
    # Holds and failed analyses stay in the deployment's history, out of the model's audit log.
    assert not any("hold" in e or "analysis_failed" in e for e in entries)
    step = " ".join(entries[-3].split())  # the first step: newest first, after the canary and the creation
    assert "step 0 at 20%; candidate 50 requests, 0 errors; stable 200 requests, 0 errors" in step
    assert "“step 0 passed: every check passed”" in step


def test_a_long_monitor_series_is_charted_at_most_chart_points_windows():
    from modelcycle.server.ui.pages_registry import CHART_POINTS, monitor_charts
    from modelcycle.store.entities import MonitorPoint

    hour = 3_600_000
    points = [MonitorPoint("m", v, i * hour, (i + 1) * hour, "error_rate", i / 3000, {}) for v in (1, 2)
              for i in range(3000)]
    log = [{"new": "firing", "window_end": 1500 * hour, "rule": "errors", "version": 2, "expr": "error_rate > 0.4"}]
    (chart,) = monitor_charts(points, ["error_rate"], log, None)
    spec = chart["data"]
    assert len(spec["x"]) == CHART_POINTS and [s["label"] for s in spec["series"]] == ["v1", "v2"]
    assert spec["x"][-1] == 3000 * hour and spec["series"][1]["values"][-1] == 2999 / 3000  # the last window kept
    assert spec["caption"].startswith(f"{CHART_POINTS:,} of 3,000 windows")
    assert spec["markers"] == [{"x": 1500 * hour, "label": "errors v2 firing", "color": "#c0262d"}]


def test_numbers_written_through_the_api_as_anything_still_render(tmp_path):
    """Deployment events and monitor events take any JSON from a client: a page shows what is a
    number as a number and the rest as text, never an error."""
    store = SqlStore(f"sqlite:///{tmp_path / 'odd.db'}", str(tmp_path / "artifacts"))
    run = store.create_run(store.create_experiment("odd").id)
    store.create_model_version("m", run.id, "model", "u")
    d = store.create_deployment("d", "m", 1, "u")
    store.update_deployment("d", d.revision, "u", "hold", SCRIPT, {"candidate_requests": "many", "share": [1],
                                                                     "step": None, "window_ms": "x", SCRIPT: 1})
    store.add_monitor_event("m", "alert", {"new": "firing", "window_end": "soon", "rule": SCRIPT, "value": "high"})
    store.add_monitor_event("m", "alert", {"new": "resolved", "rule": SCRIPT})
    with TestClient(create_app(store)) as c:
        for path in ("/deployments/d", "/monitoring/m", "/models/m", "/models/m?audit=deployment"):
            page = c.get(path, headers={"accept": "text/html"})
            assert page.status_code == 200, path
            assert SCRIPT not in page.text
    store.close()


def test_an_audit_entry_shows_the_numbers_a_gated_promotion_passed_with():
    from modelcycle.server.ui.pages_registry import audit_entry
    from modelcycle.store.entities import Transition

    passed = "metric: roc_auc 0.991 vs 0.962 of version 1 (+0.029, needs +0.001 or more)"
    moved = Transition(7, "m", 2, "stage", None, "Staging", "Production", "ana", f"weekly [gates passed: {passed}]",
                       False, 0)
    entry = audit_entry(moved, [], {7: {"metric": "roc_auc"}})
    assert (entry["reason"], entry["passed"], entry["compared"]) == ("weekly", passed, None)
    # A reason that merely mentions the words is left as written.
    plain = Transition(8, "m", 2, "stage", None, "Staging", "Production", "ana", "see [gates passed: later", False, 0)
    assert audit_entry(plain, [])["reason"] == "see [gates passed: later"

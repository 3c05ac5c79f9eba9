"""`modelcycle quickstart` end to end in a real process, and the package's public names."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import modelcycle as mc
from modelcycle.quickstart import SEARCH, TRIALS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    """One `modelcycle quickstart` run in a fresh MODELCYCLE_HOME: (home, completed process)."""
    home = tmp_path_factory.mktemp("quickstart-home")
    env = os.environ.copy()
    env["MODELCYCLE_HOME"] = str(home)
    env.pop("MODELCYCLE_TRACKING_URI", None)
    env.pop("MODELCYCLE_ARTIFACT_URI", None)
    out = subprocess.run([sys.executable, "-m", "modelcycle", "quickstart"], env=env, capture_output=True,
                         text=True, timeout=300, cwd=home)
    return home, out


@pytest.fixture
def home(quickstart):
    home, out = quickstart
    assert out.returncode == 0, f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return home


@pytest.fixture
def stdout(quickstart, home):
    return quickstart[1].stdout


@pytest.fixture
def client(home):
    client = mc.Client(f"sqlite:///{home / 'modelcycle.db'}", str(home / "artifacts"))
    yield client


@pytest.fixture
def runs(client):
    """(the baseline's run, the search's trials in order, the run of the model the search found)."""
    runs = client.search_all_runs("quickstart", order_by="start_time")
    stump = next(r for r in runs if r.name == "baseline-stump")
    trials = [r for r in runs if r.name.startswith("trial-")]
    model_run = next(r for r in runs if r.name == "forest-search-model")
    return stump, trials, model_run


def test_quickstart_exits_0_without_a_traceback(quickstart):
    _, out = quickstart
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


def test_a_baseline_then_a_search_of_eight_trials_and_the_model_run_all_finished(client, runs):
    everything = client.search_all_runs("quickstart", view="all", order_by="start_time")
    assert all(r.status is mc.RunStatus.FINISHED and r.end_time is not None for r in everything)
    tops = [r for r in everything if r.parent_id is None]
    assert [r.name for r in tops][0] == "baseline-stump" and len(tops) == 2
    study = tops[1]
    assert study.tags["mc.tune"] == "true"
    children = [r for r in everything if r.parent_id == study.id]
    assert [r.name for r in children] == [f"trial-{i}" for i in range(TRIALS)] + ["forest-search-model"]
    assert [e.name for e in client.list_experiments()] == ["quickstart"]


def test_each_trial_has_its_params_from_the_space_and_its_cv_scores(runs):
    _, trials, _ = runs
    for trial in trials:
        assert set(trial.params) >= set(SEARCH)
        assert SEARCH["n_estimators"]["low"] <= int(trial.params["n_estimators"]) <= SEARCH["n_estimators"]["high"]
        assert SEARCH["max_depth"]["low"] <= int(trial.params["max_depth"]) <= SEARCH["max_depth"]["high"]
        assert trial.params["max_features"] in SEARCH["max_features"]["choices"]
        assert 0.9 < trial.metrics["roc_auc"].value <= 1 and 0.8 < trial.metrics["accuracy"].value <= 1
        assert trial.tags["mc.trial.state"] == "COMPLETE"


def test_the_model_run_holds_the_best_params_its_evaluation_and_the_spec(client, runs):
    _, trials, model_run = runs
    best = max(trials, key=lambda t: t.metrics["roc_auc"].value)
    assert {k: model_run.params[k] for k in SEARCH} == {k: best.params[k] for k in SEARCH}
    assert model_run.metrics["cv.roc_auc"].value == pytest.approx(best.metrics["roc_auc"].value)
    assert "mc.python" in model_run.tags  # where it ran is recorded
    files = {a.path for a in client.store.list_artifact_files(model_run.id)}
    assert {"spec.yaml", "model/model.yaml", "model/model.onnx", "evaluation/report.html", "evaluation/metrics.json",
            "evaluation/plots/roc.png", "evaluation/plots/precision_recall.png", "evaluation/plots/calibration.png",
            "evaluation/plots/lift.png", "evaluation/plots/importance_permutation.png"} <= files
    assert client.read_artifact(model_run.id, "evaluation/plots/roc.png").startswith(PNG_SIGNATURE)
    evaluation = json.loads(client.read_artifact(model_run.id, "evaluation/metrics.json"))
    assert evaluation["metrics"]["roc_auc"] == model_run.metrics["roc_auc"].value
    assert evaluation["dataset"] == "breast-cancer-eval@1" and evaluation["rows"] == 143
    permutation = next(i for i in evaluation["importance"] if i["method"] == "permutation")
    assert len(permutation["features"]) == 30 and permutation["scoring"] == "roc_auc"


def test_the_runs_used_the_versioned_datasets(client, runs):
    stump, _, model_run = runs
    for run in (stump, model_run):
        uses = {(u.dataset, u.role) for u in client.store.dataset_uses(run_id=run.id)}
        assert uses == {("breast-cancer-train@1", "train"), ("breast-cancer-eval@1", "eval")}


def test_stdout_has_the_trials_best_first(client, runs, stdout):
    _, trials, _ = runs
    assert f"Search: {TRIALS} trials of a random forest, 3-fold CV, best first" in stdout
    header = next(line for line in stdout.splitlines() if "run_id" in line)
    assert re.findall(r"\w+", header) == ["run_id", "name", *SEARCH, "roc_auc"]
    ranked = sorted(trials, key=lambda t: -t.metrics["roc_auc"].value)
    rows = [line for line in stdout.splitlines() if re.search(r"\b[0-9a-f]{32}\b", line) and "│" in line]
    assert [re.search(r"[0-9a-f]{32}", row).group() for row in rows] == [t.id for t in ranked]
    for row, trial in zip(rows, ranked):
        assert trial.name in row and f"{trial.metrics['roc_auc'].value:.6g}" in row
    assert f"(cross-validated roc_auc {ranked[0].metrics['roc_auc'].value:.4f})" in stdout


def test_stdout_shows_the_slices_and_the_fairness_gaps_of_the_derived_column(client, runs, stdout):
    _, _, model_run = runs
    evaluation = json.loads(client.read_artifact(model_run.id, "evaluation/metrics.json"))
    table = evaluation["slices"][0]
    assert table["column"] == "radius_band" and sum(r["count"] for r in table["rows"]) == 143
    section = stdout.split("Evaluation on breast-cancer-eval@1 by radius_band", 1)[1]
    for row in table["rows"]:
        line = next(line for line in section.splitlines() if line.startswith(f"│ {row['group']} "))
        assert f"{row['count']}" in line and f"{row['roc_auc']:.6g}" in line
    fairness = evaluation["fairness"][0]
    assert "derived here to stand in for a protected attribute" in stdout
    assert f"demographic parity difference {fairness['demographic_parity_difference']:.3f}" in stdout
    assert model_run.metrics["fairness.radius_band.equal_opportunity_difference"].value == pytest.approx(
        fairness["equal_opportunity_difference"])


def test_the_fresh_batch_has_no_error_and_its_two_drifted_columns_are_found(stdout):
    assert "A fresh batch checked against breast-cancer-train@1: 0 errors, 2 warnings; " \
           "2 of 31 columns drifted (mean radius, worst area)." in stdout


def test_stdout_says_what_to_do_next(stdout):
    assert "modelcycle runs ls" in stdout
    assert "modelcycle server" in stdout
    assert "modelcycle runs show" in stdout and "modelcycle runs compare" in stdout
    assert "modelcycle train --dry-run" in stdout


def test_the_suggested_commands_work(home, client, runs, stdout, monkeypatch, tmp_path, capsys):
    """Each `modelcycle ...` line under "What next" runs successfully on the quickstart's store."""
    from modelcycle.cli import main
    from modelcycle.store import clear_store_cache

    stump, trials, model_run = runs
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    clear_store_cache()
    hints = [line.split("#")[0].strip() for line in stdout.split("What next:", 1)[1].splitlines()
             if line.strip().startswith("modelcycle ")]
    assert len(hints) == 14
    outputs = {}
    for hint in hints:
        args = shlex.split(hint)[1:]
        if args[0] in ("server", "serve") or (args[0] == "train" and "--dry-run" not in args):
            continue  # serve forever (the servers have their own tests); a second search (tested in tests/training)
        monkeypatch.setattr(sys, "argv", ["modelcycle", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        out = capsys.readouterr()
        assert exit_info.value.code in (0, None), (hint, out.err)
        outputs[hint] = out.out

    def ids(hint_start: str) -> list[str]:
        text = next(o for h, o in outputs.items() if h.startswith(hint_start))
        return re.findall(r"\b[0-9a-f]{32}\b", text)

    everything = client.search_all_runs("quickstart")
    assert set(ids("modelcycle runs ls --experiment quickstart")) == {r.id for r in everything}
    expected = {r.id for r in everything if "roc_auc" in r.metrics and r.metrics["roc_auc"].value > 0.98
                and r.params.get("max_features") == "sqrt"}
    assert expected and set(ids("modelcycle runs ls --filter")) == expected
    assert model_run.id in ids("modelcycle runs show")
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG_SIGNATURE)
    dry_run = next(o for h, o in outputs.items() if "--dry-run" in h)
    assert "spec.yaml is valid: RandomForestClassifier on breast-cancer-train@1" in dry_run
    import pandas as pd

    scored = pd.read_csv(tmp_path / "scored.csv")  # `modelcycle predict` of the eval file
    eval_rows = pd.read_parquet(home / "quickstart" / "eval.parquet")
    assert len(scored) == len(eval_rows) and {"prediction", "proba_0", "proba_1"} <= set(scored.columns)


def test_the_production_model_was_served_and_its_answers_logged(home, stdout, monkeypatch):
    """The serving lines name the version that answered, and what it answered is what the
    Production model predicts on the same rows; the batch scored every eval row."""
    import pandas as pd

    section = stdout.split("Serving:", 1)[1].split("Evaluation report:", 1)[0]
    assert "as version 2" in section
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    mc.set_tracking_uri(f"sqlite:///{home / 'modelcycle.db'}", str(home / "artifacts"))
    try:
        eval_rows = pd.read_parquet(home / "quickstart" / "eval.parquet").drop(columns="target")
        model = mc.load_model("models:/breast-cancer@production")
        expected = model.predict(eval_rows.head(3)).tolist()
        assert f"{{'predictions': {expected}}}" in section
        assert f"predict [{expected[0]}]" in section
        scored = pd.read_parquet(home / "quickstart" / "eval-scored.parquet")
        assert scored["prediction"].tolist() == model.predict(eval_rows).tolist()
        logged = mc.read_predictions("breast-cancer")
        logged = logged[~logged.request_id.str.startswith("day-")]  # not yesterday's, which the monitor reads
        assert sorted(logged["endpoint"].unique()) == ["invocations", "v2_infer"] and len(logged) == 4
        assert set(logged["version"]) == {2}
    finally:
        mc.set_tracking_uri(None)


# ---------------------------------------------------------------------- monitoring
def test_a_day_of_traffic_is_monitored_and_the_afternoon_drift_fires_to_the_log_notifier(home, stdout, client):
    import math

    section = stdout.split("\nMonitoring: ", 1)[1].split("Evaluation report:", 1)[0]
    assert section.startswith("breast-cancer version 2, yesterday's traffic: 2,400 predictions in 24 hourly windows")
    store = client.store
    drift = {p.window_start: p.value for p in store.monitor_results("breast-cancer", version=2,
                                                                    metrics=["drift_share"])}
    day = min(drift)
    assert len(drift) == 24 and [(t - day) // 3_600_000 for t, v in sorted(drift.items()) if v >= 0.3] == \
        list(range(13, 24))
    (fired,) = [e.data for e in store.monitor_events("breast-cancer", kind="alert") if e.data["new"] == "firing"]
    assert fired["rule"] == "drift" and fired["window_start"] == day + 13 * 3_600_000  # none in the morning
    assert "Alerts: drift fired in the window of" in section
    assert re.search(r"Log notifier: \[FIRING\] drift on breast-cancer version 2 \(warning\); Value: 0\.[3-9]", section)
    accuracy = {p.window_start: p.value
                for p in store.monitor_results("breast-cancer", version=2, metrics=["accuracy"])}
    assert not math.isnan(accuracy[day]) and math.isnan(accuracy[day + 20 * 3_600_000])  # labels of the morning only
    estimate = store.monitor_results("breast-cancer", version=2, metrics=["estimated_accuracy"])[0]
    assert "breast-cancer-eval@1" in estimate.labels["calibration"]
    report = home / "quickstart" / "monitor.html"
    assert f"Monitor report: {report}" in section and "drift_share" in report.read_text()


# ---------------------------------------------------------------------- registry
def test_the_gate_decided_on_the_champion_challenger_table_it_shows(client, runs, stdout):
    stump, _, model_run = runs
    model = client.store.get_registered_model("breast-cancer")
    assert model.production_version == 2 and model.latest_version == 2
    assert model.aliases == {"champion": 2, "challenger": 2}
    v1, v2 = client.store.list_model_versions("breast-cancer")
    assert (v1.run_id, v1.stage, v2.run_id, v2.stage) == (stump.id, mc.Stage.ARCHIVED, model_run.id, mc.Stage.PRODUCTION)
    comparison = json.loads(client.read_artifact(model_run.id, "evaluation/metrics.json"))["comparison"]
    assert (comparison["baseline_model"], comparison["baseline_version"]) == ("breast-cancer", 1)
    table = stdout.split("Challenger (version 2) against the champion (version 1)", 1)[1].split("Gate:", 1)[0]
    for row in comparison["rows"]:
        line = next(line for line in table.splitlines() if line.startswith(f"│ {row['metric']} "))
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells[1:4] == [f"{row['candidate']:.6g}", f"{row['baseline']:.6g}", f"{row['difference']:.6g}"]
        assert cells[4] == {"candidate": "challenger", "baseline": "champion"}.get(row["better"], row["better"])
    test = comparison["test"]
    assert f"DeLong p = {test['p_value']:.3g} two-sided" in stdout and test["p_value_improvement"] < 0.05
    assert "Gate: promoted version 2 to Production" in stdout
    assert f"one-sided DeLong p = {test['p_value_improvement']:.3g}, needs p < 0.05" in stdout
    actions = [(h.version, h.action, h.to_value) for h in client.store.model_history("breast-cancer")
               if h.action != "deployment"]  # the canary's entries: see its own test
    assert actions == [(1, "register", "None"), (1, "stage", "Production"), (1, "alias", "1"),
                       (2, "register", "None"), (1, "stage", "Archived"), (2, "stage", "Production"),
                       (2, "alias", "2"), (2, "alias", "2")]


def test_the_production_model_loads_and_predicts_like_the_best_run(client, runs, home, monkeypatch):
    from sklearn.datasets import load_breast_cancer

    from modelcycle.store import clear_store_cache

    _, _, model_run = runs
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    clear_store_cache()
    X = load_breast_cancer(as_frame=True).data
    native = mc.load_model("models:/breast-cancer@production")
    onnx = mc.load_model("models:/breast-cancer@champion", backend="onnx")
    assert native.manifest.run["id"] == model_run.id == client.store.get_model_version("breast-cancer", 2).run_id
    assert native.manifest.run["datasets"] == [{"dataset": "breast-cancer-train@1", "role": "train"}]
    assert (native.predict(X) == onnx.predict(X)).mean() > 0.99
    assert abs(native.predict_proba(X) - onnx.predict_proba(X)).max() < 1e-4


# ---------------------------------------------------------------------- public names
def test_all_lists_the_public_names_once():
    printed = subprocess.run([sys.executable, "-c", "import modelcycle; print(sorted(modelcycle.__all__))"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    names = ast.literal_eval(printed.strip())
    assert names == sorted(mc.__all__)
    assert len(names) == len(set(names))
    assert {"Client", "start_run", "log_metric", "log_params", "search_runs", "get_metric_history",
            "log_dataset", "load_dataset", "validate", "NotFound", "StoreUnavailable", "__version__"} <= set(names)


@pytest.mark.parametrize("name", sorted(mc.__all__))
def test_every_name_in_all_is_importable(name):
    assert getattr(mc, name) is not None
    exec(f"from modelcycle import {name}", {})


def test_star_import_in_a_fresh_interpreter_gives_every_name():
    code = ("import sys\nfrom modelcycle import *\nimport modelcycle\n"
            "missing = [n for n in modelcycle.__all__ if n not in globals()]\n"
            "print(missing)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_dataset_api_is_imported_on_first_use_only():
    code = ("import sys, modelcycle\n"
            "before = 'modelcycle.data.datasets' in sys.modules\n"
            "f = modelcycle.load_dataset\n"
            "print(before, 'modelcycle.data.datasets' in sys.modules, f.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "modelcycle.data.datasets"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mc.nope  # noqa: B018


def test_the_version_is_the_installed_one():
    assert mc.__version__ == metadata.version("modelcycle")
    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == mc.__version__


# ---------------------------------------------------------------------- canary
def test_the_canary_of_the_challenger_ended_with_the_numbers_that_decided_it(client, stdout):
    section = stdout.split("\nCanary: ", 1)[1].split("Evaluation report:", 1)[0]
    assert section.startswith("breast-cancer@challenger against version 1 on deployment breast-cancer-web")
    d = client.store.get_deployment("breast-cancer-web")
    events = client.store.deployment_events("breast-cancer-web")
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["create", "canary"]
    if d.state == "promoted":
        assert "Canary: promoted; version 2 serves all traffic" in section
        assert kinds[-2:] == ["promoting", "promoted"] and d.arms == {"stable": 2}
        assert [e.to_shares["candidate"] for e in events if e.kind == "step"] == [100.0]
        deciding = events[-2]
    else:
        assert d.state == "rolled_back" and "Canary: rolled back; version 1 serves all traffic" in section
        assert kinds[-1] == "rollback" and d.shares["candidate"] == 0
        deciding = events[-1]
    n = deciding.numbers
    assert n["candidate_requests"] >= 10 and f"│ {n['candidate_requests']} " in section
    p99 = [("-" if v is None else f"{v:.2f}") for v in (n["candidate_p99_ms"], n["stable_p99_ms"])]
    assert f"{p99[0]} / {p99[1]}" in section
    assert re.search(r"200 v1 x\d+, 200 v2 x\d+", section)  # both versions answered, no request failed
    assert client.store.get_model_version("breast-cancer", 2).stage.value == "Production"
    assert [h for h in client.store.model_history("breast-cancer") if h.action == "deployment"]


def test_it_ends_with_the_ui_addresses_of_what_it_made_and_each_page_opens(stdout, home):
    from fastapi.testclient import TestClient

    from modelcycle.server.app import create_app
    from modelcycle.store.sql import SqlStore

    tail = stdout[stdout.index("In the browser: modelcycle server"):]
    addresses = re.findall(r"http://127\.0\.0\.1:5050(/\S*)", tail)
    kinds = dict(re.findall(r"^\s+([a-z ]+):\s+http://127\.0\.0\.1:5050(/\S+)$", tail, re.M))
    assert set(kinds) == {"runs", "best run", "model", "dataset", "deployment"}
    assert tail.strip().splitlines()[-1].strip().startswith("deployment:")  # the last thing printed
    store = SqlStore(f"sqlite:///{home / 'modelcycle.db'}", str(home / "artifacts"))
    try:
        with TestClient(create_app(store)) as http:
            for path in addresses:
                page = http.get(path, headers={"accept": "text/html"})
                assert page.status_code == 200, (path, page.text[:500])
                assert page.headers["content-type"].startswith("text/html")
            assert "forest-search-model" in http.get(kinds["best run"]).text
    finally:
        store.close()

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
from modelcycle.quickstart import CANDIDATES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHILD_METRICS = {"roc_auc", "accuracy", "f1", "log_loss", "fit_seconds"}


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
    runs = client.search_all_runs("quickstart", order_by="start_time")
    parent = next(r for r in runs if r.parent_id is None)
    children = [r for r in runs if r.parent_id is not None]
    return parent, children


def test_quickstart_exits_0_without_a_traceback(quickstart):
    _, out = quickstart
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout


def test_one_parent_and_seven_nested_children_all_finished(client, runs):
    parent, children = runs
    everything = client.search_all_runs("quickstart", view="all")
    assert len(everything) == 8
    assert all(r.status is mc.RunStatus.FINISHED and r.end_time is not None for r in everything)
    assert parent.name == "model-sweep"
    assert [c.name for c in children] == [name for name, _, _ in CANDIDATES]
    assert all(c.parent_id == parent.id for c in children)
    assert [e.name for e in client.list_experiments()] == ["quickstart"]


def test_children_have_their_params_and_metrics(runs):
    _, children = runs
    for child, (_, kind, params) in zip(children, CANDIDATES):
        assert child.params == {"model": kind, **{k: str(v) for k, v in params.items()}}
        assert CHILD_METRICS <= set(child.metrics)
        m = {k: child.metrics[k].value for k in CHILD_METRICS}
        assert 0.9 < m["roc_auc"] <= 1 and 0.8 < m["accuracy"] <= 1 and 0.8 < m["f1"] <= 1
        assert 0 < m["log_loss"] < 1 and m["fit_seconds"] >= 0
        assert child.tags["dataset"] == "sklearn.datasets.load_breast_cancer"
        assert "mc.python" in child.tags  # where it ran is recorded


def test_boosting_runs_log_a_150_point_validation_curve(client, runs):
    _, children = runs
    boosting = [c for c in children if c.params["model"] == "gradient_boosting"]
    assert [c.name for c in boosting] == ["boosting-lr0.05", "boosting-lr0.3"]
    for child in boosting:
        history = client.get_metric_history(child.id, "val_log_loss")
        assert [m.step for m in history] == list(range(150))
        assert all(0 < m.value < 1 for m in history)
        # the last stage is the final model: its loss is the logged log_loss
        assert history[-1].value == pytest.approx(child.metrics["log_loss"].value)
        assert child.metrics["val_log_loss"].step == 149
    for child in children:
        if child not in boosting:
            assert "val_log_loss" not in child.metrics


def test_every_child_has_its_plot_and_feature_importances(client, runs):
    _, children = runs
    feature_names = set(__import__("sklearn.datasets", fromlist=["x"]).load_breast_cancer().feature_names)
    for child in children:
        files = {a.path: a for a in client.store.list_artifact_files(child.id)}
        assert {"plots/confusion_matrix.png", "feature_importance.json", "model/model.yaml",
                "model/model.pkl", "model/model.onnx", "model/requirements.txt"} <= set(files)
        assert client.read_artifact(child.id, "plots/confusion_matrix.png").startswith(PNG_SIGNATURE)
        importances = json.loads(client.read_artifact(child.id, "feature_importance.json"))
        assert len(importances) == 10 and set(importances) <= feature_names
        weights = list(importances.values())
        assert weights == sorted(weights, reverse=True) and all(w >= 0 for w in weights)


def test_the_parent_records_the_sweep_and_its_best_run(client, runs):
    parent, children = runs
    assert parent.params == {"candidates": "7", "test_size": "0.25"}
    best = max(children, key=lambda c: (c.metrics["roc_auc"].value, -c.metrics["log_loss"].value))
    assert parent.tags["best_run"] == best.id
    assert parent.metrics["best_roc_auc"].value == best.metrics["roc_auc"].value
    files = [a.path for a in client.store.list_artifact_files(parent.id)]
    assert files == ["plots/val_log_loss.png"]
    assert client.read_artifact(parent.id, "plots/val_log_loss.png").startswith(PNG_SIGNATURE)


def test_the_runs_used_the_versioned_datasets(client, runs):
    parent, children = runs
    for run in (parent, *children):
        uses = {(u.dataset, u.role) for u in client.store.dataset_uses(run_id=run.id)}
        assert uses == {("breast-cancer-train@1", "train"), ("breast-cancer-eval@1", "eval")}


def test_stdout_has_the_comparison_table_best_first(client, runs, stdout):
    parent, children = runs
    assert "Experiment 'quickstart': 7 runs, best first" in stdout
    header = next(line for line in stdout.splitlines() if "run_id" in line)
    assert re.findall(r"\w+", header) == ["run_id", "name", "model", "roc_auc", "accuracy", "f1", "log_loss"]
    ranked = client.search_runs("quickstart", filter=f"parent_id = '{parent.id}'",
                                order_by=["metrics.roc_auc desc", "metrics.log_loss asc"]).runs
    rows = [line for line in stdout.splitlines() if re.search(r"\b[0-9a-f]{32}\b", line) and "│" in line]
    assert [re.search(r"[0-9a-f]{32}", row).group() for row in rows] == [r.id for r in ranked]
    for row, run in zip(rows, ranked):
        assert run.name in row and run.params["model"] in row
        assert f"{run.metrics['roc_auc'].value:.6g}" in row
    assert f"Best: {ranked[0].name} (roc_auc {ranked[0].metrics['roc_auc'].value:.4f})" in stdout


def test_the_fresh_batch_has_no_error_and_its_two_drifted_columns_are_found(stdout):
    assert "A fresh batch checked against breast-cancer-train@1: 0 errors, 2 warnings; " \
           "2 of 31 columns drifted (mean radius, worst area)." in stdout


def test_stdout_says_what_to_do_next(stdout):
    assert "modelcycle runs ls" in stdout
    assert "modelcycle server" in stdout
    assert "modelcycle runs show" in stdout and "modelcycle runs compare" in stdout


def test_the_suggested_commands_work(home, runs, stdout, monkeypatch, tmp_path, capsys):
    """Each `modelcycle ...` line under "What next" runs successfully on the quickstart's store."""
    from modelcycle.cli import main
    from modelcycle.store import clear_store_cache

    parent, children = runs
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    clear_store_cache()
    hints = [line.split("#")[0].strip() for line in stdout.split("What next:", 1)[1].splitlines()
             if line.strip().startswith("modelcycle ")]
    assert len(hints) == 13
    outputs = {}
    for hint in hints:
        args = shlex.split(hint)[1:]
        if args[0] in ("server", "serve") or args[:2] == ["models", "promote"]:
            continue  # serve forever (the servers have their own tests); changes Production (tested below)
        monkeypatch.setattr(sys, "argv", ["modelcycle", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        out = capsys.readouterr()
        assert exit_info.value.code in (0, None), (hint, out.err)
        outputs[hint] = out.out

    def ids(hint_start: str) -> list[str]:
        text = next(o for h, o in outputs.items() if h.startswith(hint_start))
        return re.findall(r"\b[0-9a-f]{32}\b", text)

    everything = ids("modelcycle runs ls --experiment quickstart")
    assert set(everything) == {parent.id, *(c.id for c in children)} and everything[-1] == parent.id
    expected = {c.id for c in children if c.params["model"] == "logreg" and c.metrics["roc_auc"].value > 0.99}
    assert expected and set(ids("modelcycle runs ls --filter")) == expected
    assert parent.tags["best_run"] in ids("modelcycle runs show")
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG_SIGNATURE)
    import pandas as pd

    scored = pd.read_csv(tmp_path / "scored.csv")  # `modelcycle predict` of the eval file
    eval_rows = pd.read_parquet(home / "quickstart" / "eval.parquet")
    assert len(scored) == len(eval_rows) and {"prediction", "proba_0", "proba_1"} <= set(scored.columns)


def test_the_production_model_was_served_and_its_answers_logged(home, stdout, monkeypatch):
    """The serving lines name the version that answered, and what it answered is what the
    Production model predicts on the same rows; the batch scored every eval row."""
    import pandas as pd

    section = stdout.split("Serving:", 1)[1].split("Best:", 1)[0]
    assert "as version 1" in section
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
        assert sorted(logged["endpoint"].unique()) == ["invocations", "v2_infer"] and len(logged) == 4
        assert set(logged["version"]) == {1}
    finally:
        mc.set_tracking_uri(None)


# ---------------------------------------------------------------------- registry
def test_the_best_model_is_in_production_and_a_worse_one_was_refused(client, runs, stdout):
    _, children = runs
    ranked = sorted(children, key=lambda c: (-c.metrics["roc_auc"].value, c.metrics["log_loss"].value))
    best, worst = ranked[0], ranked[-1]
    model = client.store.get_registered_model("breast-cancer")
    assert model.production_version == 1 and model.latest_version == 2
    assert model.aliases == {"champion": 1, "challenger": 2}
    v1, v2 = client.store.list_model_versions("breast-cancer")
    assert (v1.run_id, v1.stage, v2.run_id, v2.stage) == (best.id, mc.Stage.PRODUCTION, worst.id, mc.Stage.NONE)
    delta = worst.metrics["roc_auc"].value - best.metrics["roc_auc"].value
    assert delta < 0
    assert f"Version 2 ({worst.name}, alias challenger) was refused" in stdout
    assert f"{delta:+.6g}" in stdout and "breast-cancer-eval@1" in stdout
    actions = [(h.version, h.action, h.to_value) for h in client.store.model_history("breast-cancer")]
    assert actions == [(1, "register", "None"), (1, "stage", "Production"), (1, "alias", "1"),
                       (2, "register", "None"), (2, "alias", "2")]


def test_the_production_model_loads_and_predicts_like_the_best_run(client, runs, home, monkeypatch):
    from sklearn.datasets import load_breast_cancer

    from modelcycle.store import clear_store_cache

    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    clear_store_cache()
    X = load_breast_cancer(as_frame=True).data
    native = mc.load_model("models:/breast-cancer@production")
    onnx = mc.load_model("models:/breast-cancer@champion", backend="onnx")
    assert native.manifest.run["id"] == client.store.get_model_version("breast-cancer", 1).run_id
    assert sorted(native.manifest.run["datasets"], key=lambda d: d["role"]) == [
        {"dataset": "breast-cancer-eval@1", "role": "eval"}, {"dataset": "breast-cancer-train@1", "role": "train"}]
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

"""`modelcycle models ...` run as a real subprocess over a store with real logged models."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import modelcycle as mc
from tests.cli.helpers import cli


@pytest.fixture
def seeded(env):
    """Two logged models, a strong (C=1) and a weak (C=0.0001) one, scored on the same eval set."""
    home = env["MODELCYCLE_HOME"]
    mc.set_tracking_uri(f"sqlite:///{home}/modelcycle.db", f"{home}/artifacts")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    eval_frame = X.assign(target=y).iloc[::3]
    runs = {}
    for name, C in (("strong", 1.0), ("weak", 0.0001)):
        with mc.start_run(experiment="cli-models", name=name) as run:
            mc.log_dataset(eval_frame, name="cancer-eval", role="eval")
            model = LogisticRegression(C=C, max_iter=5000).fit(X, y)
            auc = roc_auc_score(y.iloc[::3], model.predict_proba(X.iloc[::3])[:, 1])
            mc.log_metric("roc_auc", auc)
            mc.log_model(model, "model", input_example=X.head(10))
        runs[name] = (run.id, auc)
    mc.set_tracking_uri(None)
    return runs


def test_register_promote_refuse_force_rollback_and_history(env, seeded):
    strong, weak = seeded["strong"], seeded["weak"]
    assert weak[1] < strong[1]
    cli(env, "models", "register", f"runs:/{strong[0]}/model", "cancer", "--tag", "validated=yes")
    cli(env, "models", "register", f"runs:/{weak[0]}/model", "cancer")
    cli(env, "models", "policy", "cancer", "--metric", "roc_auc", "--min-delta", "0.001")
    assert "is now in Production" in cli(env, "models", "promote", "cancer", "1").stdout

    refused = cli(env, "models", "promote", "cancer", "2", check=False)
    assert refused.returncode == 5  # Conflict
    assert "REFUSED" in refused.stdout and "roc_auc" in refused.stderr
    assert f"{weak[1] - strong[1]:+.6g}" in refused.stderr and "--force" in refused.stderr

    forced = cli(env, "models", "promote", "cancer", "2", "--force", "-m", "canary looked fine")
    assert "forced past a gate" in forced.stdout
    listed = json.loads(cli(env, "models", "ls", "-o", "json").stdout)
    assert [(m["name"], m["latest"], m["production"]) for m in listed] == [("cancer", 2, 2)]

    assert "Production is version 1 again" in cli(env, "models", "rollback", "cancer", "-m", "bad").stdout
    history = json.loads(cli(env, "models", "history", "cancer", "-o", "json").stdout)
    forced_rows = [h for h in history if h["forced"] == "FORCED"]
    assert len(forced_rows) == 1 and forced_rows[0]["version"] == 2
    assert "canary looked fine" in forced_rows[0]["reason"] and "forced past metric" in forced_rows[0]["reason"]
    assert [h["action"] for h in history][-2:] == ["stage", "rollback"]
    assert history[-1]["reason"] == "bad" and history[-1]["change"] == "Archived → Production"


def test_aliases_archive_delete_and_versions(env, seeded):
    strong, weak = seeded["strong"], seeded["weak"]
    cli(env, "models", "register", f"runs:/{strong[0]}/model", "cancer")
    cli(env, "models", "register", f"runs:/{weak[0]}/model", "cancer")
    cli(env, "models", "alias", "cancer", "champion", "1")
    cli(env, "models", "alias", "cancer", "challenger", "2")
    versions = json.loads(cli(env, "models", "versions", "cancer", "-o", "json").stdout)
    assert [(v["version"], v["aliases"], v["run_id"]) for v in versions] == [
        (1, "champion", strong[0]), (2, "challenger", weak[0])]
    cli(env, "models", "alias", "cancer", "challenger", "--delete")
    cli(env, "models", "archive", "cancer", "2")
    cli(env, "models", "delete", "cancer", "2")
    versions = json.loads(cli(env, "models", "versions", "cancer", "--all", "-o", "json").stdout)
    assert [(v["version"], v["stage"], v["deleted"]) for v in versions] == [(1, "None", ""), (2, "Archived", "yes")]
    assert "champion" in cli(env, "models", "show", "cancer").stdout


def test_lineage_of_a_version_and_of_a_dataset(env, seeded):
    strong, _ = seeded["strong"]
    cli(env, "models", "register", f"runs:/{strong}/model", "cancer")
    cli(env, "models", "promote", "cancer", "1")
    info = json.loads(cli(env, "models", "lineage", "cancer@production", "-o", "json").stdout)
    assert info["version"] == 1 and info["run"]["id"] == strong
    assert info["datasets"] == [{"dataset": "cancer-eval@1", "role": "eval"}]
    printed = cli(env, "models", "lineage", "cancer@1").stdout
    assert strong in printed and "cancer-eval@1" in printed
    data = cli(env, "data", "lineage", "cancer-eval@1").stdout
    assert "cancer@1" in data and "Production" in data
    assert data.count(" cli-models ") == 2  # each run's experiment, by name
    uses = json.loads(cli(env, "data", "lineage", "cancer-eval@1", "-o", "json").stdout)
    assert {(u["experiment"], u["experiment_name"]) for u in uses} == {(1, "cli-models")}
    assert {u["run_id"]: (u["role"], u["models"]) for u in uses} == {
        run_id: ("eval", ["cancer@1 (Production)"] if run_id == strong else []) for run_id, _ in seeded.values()}
    lines = cli(env, "data", "lineage", "cancer-eval@1", "-o", "csv").stdout.splitlines()
    assert lines[0].endswith(",models") and sum(line.endswith(",cancer@1 (Production)") for line in lines) == 1


@pytest.mark.parametrize(("args", "code", "message"), [
    (["models", "versions", "nope"], 3, "No registered model named 'nope'"),
    (["models", "lineage", "nope@production"], 3, "No registered model named 'nope'"),
    (["models", "register", "runs:/" + "0" * 32 + "/model", "x"], 3, "No run with id"),
    (["models", "register", "models:/x/1", "x"], 2, "runs:/<run_id>/<path>"),
    (["models", "alias", "x", "production", "1"], 2, "names a stage"),
    (["models", "promote", "x", "1", "--to", "live"], 2, "Unknown stage 'live'"),
    (["models", "rollback", "x"], 3, "No registered model named 'x'"),
])
def test_bad_input_is_one_line_and_an_exit_code(env, args, code, message):
    out = cli(env, *args, check=False)
    assert out.returncode == code, out.stderr
    assert message in out.stderr


def test_registering_a_run_without_a_model_creates_nothing(env, seeded):
    strong, _ = seeded["strong"]
    out = cli(env, "models", "register", f"runs:/{strong}/nothing-here", "cancer", check=False)
    assert out.returncode == 3 and "no model.yaml" in out.stderr
    assert json.loads(cli(env, "models", "ls", "-o", "json").stdout) == []


def test_model_names_are_printed_as_they_are(env, seeded):
    strong, _ = seeded["strong"]
    name = "[red]fraud\\"  # rich markup and a trailing backslash
    out = cli(env, "models", "register", f"runs:/{strong}/model", name).stdout
    assert f"Registered {name} version 1" in out
    assert f"{name}@champion → version 1." in cli(env, "models", "alias", name, "champion", "1").stdout
    assert cli(env, "models", "show", name).stdout.startswith(f"{name}  latest version 1")
    assert f"{name} version 1 is now in Production." in cli(env, "models", "promote", name, "1").stdout


def test_the_cli_and_registry_start_without_the_model_stack():
    """`modelcycle models ls` should not pay for pandas and the converters at every start."""
    code = ("import sys, modelcycle.cli, modelcycle.registry\n"
            "print(sorted(m for m in ('pandas', 'numpy', 'onnx', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


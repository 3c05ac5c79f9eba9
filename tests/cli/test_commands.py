"""The `modelcycle` command, run as a real subprocess."""

from __future__ import annotations

import csv
import io
import json

import pytest

import modelcycle as mc
from tests.cli.helpers import cli


@pytest.fixture
def seeded(env):
    mc.set_tracking_uri(f"sqlite:///{env['MODELCYCLE_HOME']}/modelcycle.db", f"{env['MODELCYCLE_HOME']}/artifacts")
    ids = {}
    for name, auc, model in [("a", 0.91, "rf"), ("b", 0.97, "xgb"), ("c", 0.80, "rf")]:
        with mc.start_run(experiment="cli", name=name) as run:
            mc.log_params({"model": model})
            for step in range(3):
                mc.log_metric("auc", auc - 0.1 * (2 - step), step=step)
        ids[name] = run.id
    mc.set_tracking_uri(None)
    return ids


def test_experiments_commands(env):
    cli(env, "experiments", "create", "fraud", "--tag", "team=risk")
    listed = json.loads(cli(env, "experiments", "ls", "-o", "json").stdout)
    assert [(e["name"], e["tags"]) for e in listed] == [("fraud", "team=risk")]
    cli(env, "experiments", "rename", "fraud", "fraud-v2")
    cli(env, "experiments", "delete", "fraud-v2")
    assert json.loads(cli(env, "experiments", "ls", "-o", "json").stdout) == []
    assert len(json.loads(cli(env, "experiments", "ls", "--view", "deleted", "-o", "json").stdout)) == 1
    cli(env, "experiments", "restore", "fraud-v2")
    taken = cli(env, "experiments", "create", "fraud-v2", check=False)
    assert taken.returncode == 4 and "already exists" in taken.stderr and "Traceback" not in taken.stderr


def test_runs_ls_filter_order_and_formats(env, seeded):
    rows = json.loads(cli(env, "runs", "ls", "-e", "cli", "-f", "params.model = 'rf'",
                          "--order-by", "metrics.auc desc", "-o", "json").stdout)
    assert [r["name"] for r in rows] == ["a", "c"]
    assert rows[0]["metrics.auc"] == pytest.approx(0.91)
    table = list(csv.DictReader(io.StringIO(cli(env, "runs", "ls", "-o", "csv").stdout)))
    assert {r["name"] for r in table} == {"a", "b", "c"}
    pretty = cli(env, "runs", "ls").stdout
    assert seeded["b"] in pretty and "metrics" in pretty and " auc " in pretty and "Runs in cli" in pretty


def test_runs_show_compare_delete_restore(env, seeded, tmp_path):
    shown = json.loads(cli(env, "runs", "show", seeded["a"], "-o", "json").stdout)
    assert shown["params"] == {"model": "rf"} and shown["status"] == "FINISHED"
    assert seeded["a"] in cli(env, "runs", "show", seeded["a"]).stdout
    compared = json.loads(cli(env, "runs", "compare", seeded["a"], seeded["b"], "-o", "json").stdout)
    model_row = next(r for r in compared if r["field"] == "params.model")
    assert model_row["differs"] == "*"
    png = tmp_path / "curves.png"
    cli(env, "runs", "compare", seeded["a"], seeded["b"], "--plot", str(png))
    assert png.read_bytes().startswith(b"\x89PNG")
    cli(env, "runs", "delete", seeded["c"])
    assert {r["name"] for r in json.loads(cli(env, "runs", "ls", "-o", "json").stdout)} == {"a", "b"}
    cli(env, "runs", "restore", seeded["c"])
    assert len(json.loads(cli(env, "runs", "ls", "-o", "json").stdout)) == 3


def test_errors_are_messages_with_exit_codes(env, seeded):
    bad = cli(env, "runs", "ls", "--filter", "metrics.auc >", check=False)
    assert bad.returncode == 2 and "position 13" in bad.stderr and "Traceback" not in bad.stderr
    missing = cli(env, "runs", "show", "0" * 32, check=False)
    assert missing.returncode == 3 and "No run" in missing.stderr
    malformed = cli(env, "runs", "show", "xyz", check=False)
    assert malformed.returncode == 2 and "32 lowercase hex" in malformed.stderr
    usage = cli(env, "runs", "ls", "--output", "xml", check=False)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_cli_through_a_server(env, seeded, tmp_path):
    from tests.conftest import ServerProcess

    server = ServerProcess(f"sqlite:///{env['MODELCYCLE_HOME']}/modelcycle.db",
                           f"{env['MODELCYCLE_HOME']}/artifacts")
    try:
        remote = json.loads(cli(env, "--tracking-uri", server.url, "runs", "ls", "-o", "json").stdout)
        local = json.loads(cli(env, "runs", "ls", "-o", "json").stdout)
        assert remote == local
    finally:
        server.stop()


def test_quickstart_runs_the_whole_experiment(env):
    out = cli(env, "quickstart")
    assert "modelcycle runs ls" in out.stdout and "modelcycle server" in out.stdout
    client = mc.Client(f"sqlite:///{env['MODELCYCLE_HOME']}/modelcycle.db", f"{env['MODELCYCLE_HOME']}/artifacts")
    runs = client.search_all_runs("quickstart")
    assert runs and all(r.status is mc.RunStatus.FINISHED for r in runs)
    evaluated = [r for r in runs if "roc_auc" in r.metrics and r.parent_id]
    assert evaluated, [r.name for r in runs]
    uses = {(u.dataset, u.role) for r in runs for u in client.store.dataset_uses(run_id=r.id)}
    assert ("breast-cancer-train@1", "train") in uses
    assert "columns drifted (mean radius, worst area)" in out.stdout
    report = next(line for line in out.stdout.splitlines() if "Drift report:" in line).split(": ", 1)[1]
    assert "mean radius" in open(report.strip(), encoding="utf-8").read()

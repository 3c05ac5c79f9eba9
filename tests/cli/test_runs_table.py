"""`modelcycle runs ls` as a table a person reads: what fits the terminal, named keys, names not ids."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle import config, render
from modelcycle.cli import app
from modelcycle.store.entities import Metric

T0 = 1_767_225_600_000

# The quickstart's runs: a parent sweep and seven children with its metric and param keys and values.
CHILDREN = [
    ("logreg-C0.01", {"model": "logreg", "C": "0.01"}, (0.937063, 0.951872, 0.149932, 0.188138, 0.995178), None),
    ("logreg-C0.1", {"model": "logreg", "C": "0.1"}, (0.979021, 0.983425, 0.00550304, 0.10213, 0.997065), None),
    ("logreg-C1", {"model": "logreg", "C": "1.0"}, (0.986014, 0.988889, 0.0204401, 0.0678689, 0.997694), None),
    ("forest-depth3", {"model": "random_forest", "max_depth": "3", "n_estimators": "100"},
     (0.951049, 0.961326, 0.087457, 0.129072, 0.991824), None),
    ("forest-depth8", {"model": "random_forest", "max_depth": "8", "n_estimators": "100"},
     (0.958042, 0.967033, 0.0920982, 0.0993211, 0.994549), None),
    ("boosting-lr0.05", {"model": "gradient_boosting", "learning_rate": "0.05", "max_depth": "2",
                         "n_estimators": "150"}, (0.944056, 0.956044, 0.218933, 0.106014, 0.993082), 0.106014),
    ("boosting-lr0.3", {"model": "gradient_boosting", "learning_rate": "0.3", "max_depth": "3",
                        "n_estimators": "150"}, (0.965035, 0.972678, 0.31159, 0.193573, 0.995178), 0.193573),
]
METRICS = ("accuracy", "f1", "fit_seconds", "log_loss", "roc_auc")


@pytest.fixture
def quickstart_runs() -> dict[str, str]:
    store = mc.Client(config.tracking_uri(), config.artifact_uri()).store
    experiment = store.create_experiment("quickstart", {}).id
    parent = store.create_run(experiment, "model-sweep", {}, None, T0)
    store.log_batch(parent.id, [Metric("best_roc_auc", 0.997694, 0, T0)], {"candidates": "7", "test_size": "0.25"}, {})
    ids = {"model-sweep": parent.id}
    for i, (name, params, values, val_loss) in enumerate(CHILDREN):
        start = T0 + (i + 1) * 1000
        run = store.create_run(experiment, name, {}, parent.id, start)
        metrics = [Metric(k, v, 0, start) for k, v in zip(METRICS, values)]
        metrics += [Metric("val_log_loss", val_loss, 149, start)] if val_loss is not None else []
        store.log_batch(run.id, metrics, params, {})
        store.update_run(run.id, mc.RunStatus.FINISHED, end_time=start + 500)
        ids[name] = run.id
    store.update_run(parent.id, mc.RunStatus.FINISHED, end_time=T0 + 9000)
    return ids


@pytest.fixture
def width(monkeypatch):
    def set_width(columns: int) -> None:
        monkeypatch.setattr(render.console, "width", columns)

    return set_width


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
    return result.stdout


def fails(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code != 0 and not isinstance(result.exception, (AssertionError, TypeError, KeyError)), \
        (result.stdout, result.exception)
    return str(result.exception)


def header_keys(table: str) -> list[str]:
    """The column names of the table's header: `group.key` under a group, else the name."""
    lines = [line for line in table.splitlines() if line.startswith("┃")]
    cells = [[cell.strip() for cell in line.strip("┃").split("┃")] for line in lines]
    keys, group = [], ""
    for top, bottom in zip(*cells) if len(cells) == 2 else ((None, c) for c in cells[0]):
        group = top if top else group if top == "" and group else ""
        keys.append(f"{group}.{bottom}" if group else bottom)
    return keys


def footer_columns(table: str) -> list[str]:
    text = " ".join(table.split("└", 1)[1].splitlines()[1:])
    if "Not shown" not in text:
        return []
    listed = re.search(r"\): (.*?)\. Choose with --columns", " ".join(text.split())).group(1)
    return listed.split(", ")


def test_the_quickstart_runs_at_120_columns_read_whole(quickstart_runs):
    """As a real process with COLUMNS=120: the table is 120 wide and nothing in it is cut."""
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("MODELCYCLE_TRACKING_URI", None)
    out = subprocess.run([sys.executable, "-m", "modelcycle", "runs", "ls", "--experiment", "quickstart",
                          "--order-by", "metrics.roc_auc desc"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    table = out.stdout
    assert max(cell_len(line) for line in table.splitlines()) <= 120
    assert "…" not in table
    assert "Runs in quickstart" in table.splitlines()[0]
    keys = header_keys(table)
    assert keys[:2] == ["run_id", "name"]
    assert "metrics.roc_auc" in keys and "params.model" in keys  # the ordering's key, and a param beside it
    shown_metrics = [k for k in keys if k.startswith("metrics.")]
    assert len(shown_metrics) >= 3 and all(len(k.split(".")[1]) <= 12 for k in keys if "." in k)
    lines = {line.split("│")[1].strip(): line for line in table.splitlines() if line.startswith("│")}
    assert set(lines) == set(quickstart_runs.values())
    for name, params, values, _ in CHILDREN:
        line = lines[quickstart_runs[name]]
        cells = [c.strip() for c in line.strip("│").split("│")]
        assert cells[1] == name
        assert cells[keys.index("metrics.roc_auc")] == f"{values[4]:.6g}"
        assert cells[keys.index("params.model")] == params["model"]

    everything = next(csv.reader(io.StringIO(subprocess.run(
        [sys.executable, "-m", "modelcycle", "runs", "ls", "-e", "quickstart", "-o", "csv"], env=env,
        capture_output=True, text=True, timeout=60, check=True).stdout)))
    hidden = footer_columns(table)
    assert hidden, table
    assert sorted(keys + hidden) == sorted(c for c in everything if c != "experiment_name")


def test_json_and_csv_keep_every_column_whatever_the_width(quickstart_runs, width):
    width(80)
    rows = json.loads(invoke("runs", "ls", "-o", "json"))
    assert len(rows) == 8
    assert set(rows[0]) == {"run_id", "name", "experiment", "experiment_name", "status", "started", "duration",
                            *(f"metrics.{k}" for k in (*METRICS, "val_log_loss", "best_roc_auc")),
                            "params.model", "params.C", "params.max_depth", "params.n_estimators",
                            "params.learning_rate", "params.candidates", "params.test_size"}
    assert {(r["experiment"], r["experiment_name"]) for r in rows} == {(1, "quickstart")}
    header = invoke("runs", "ls", "-o", "csv").splitlines()[0].split(",")
    assert header == list(rows[0])


@pytest.mark.parametrize("columns", [50, 80, 120, 200])
def test_the_table_fits_the_console_and_names_what_it_leaves_out(quickstart_runs, width, columns):
    width(columns)
    table = invoke("runs", "ls")
    assert max(cell_len(line) for line in table.splitlines()) <= columns
    keys, hidden = header_keys(table), footer_columns(table)
    everything = json.loads(invoke("runs", "ls", "-o", "json"))[0]
    assert sorted(keys + hidden) == sorted(c for c in everything if c != "experiment_name")
    if columns >= 80:
        assert "…" not in table


def test_columns_chooses_what_the_table_and_the_files_show(quickstart_runs, width):
    width(120)
    table = invoke("runs", "ls", "--columns", "roc_auc,params.model", "-c", "max_depth")
    assert header_keys(table) == ["run_id", "name", "metrics.roc_auc", "params.model", "params.max_depth"]
    assert footer_columns(table) == []
    assert invoke("runs", "ls", "-c", "roc_auc,params.model", "-o", "csv").splitlines()[0] == \
        "run_id,name,metrics.roc_auc,params.model"
    rows = json.loads(invoke("runs", "ls", "-c", "status,experiment_name,metrics.nothing,tags.none", "-o", "json"))
    assert set(rows[0]) == {"run_id", "name", "status", "experiment_name", "metrics.nothing", "tags.none"}
    assert {r["status"] for r in rows} == {"FINISHED"} and rows[0]["metrics.nothing"] is None


def test_columns_shows_tags_under_their_own_header(quickstart_runs, width):
    client = mc.Client(config.tracking_uri(), config.artifact_uri())
    client.set_tag(quickstart_runs["logreg-C1"], "stage", "best")
    width(120)
    table = invoke("runs", "ls", "-c", "tags.stage,model")
    assert header_keys(table) == ["run_id", "name", "tags.stage", "params.model"]
    assert "best" in table


@pytest.mark.parametrize(("given", "message"), [
    ("nope", "no run listed has a column 'nope'"),
    (",", "--columns lists no column"),
    ("metrics.", "no run listed has a column 'metrics.'"),
])
def test_columns_that_name_nothing_are_refused(quickstart_runs, given, message):
    assert message in fails("runs", "ls", "--columns", given)


def test_a_key_that_is_both_a_metric_and_a_param_must_be_prefixed(quickstart_runs):
    client = mc.Client(config.tracking_uri(), config.artifact_uri())
    client.log_param(quickstart_runs["logreg-C1"], "accuracy", "high")
    assert "'accuracy' is both a metric and a param" in fails("runs", "ls", "-c", "accuracy")
    assert invoke("runs", "ls", "-c", "params.accuracy", "-o", "csv").splitlines()[0] == \
        "run_id,name,params.accuracy"


def test_runs_of_several_experiments_show_each_experiments_name(quickstart_runs, width):
    client = mc.Client(config.tracking_uri(), config.artifact_uri())
    other = client.create_run("churn-2024", name="other", capture_context=False)
    client.end_run(other.id)
    width(120)
    table = invoke("runs", "ls")
    keys = header_keys(table)
    assert keys[:3] == ["run_id", "name", "experiment"] and "Runs in" not in table
    lines = [line for line in table.splitlines() if line.startswith("│")]
    assert [c.strip() for c in lines[0].strip("│").split("│")][2] == "churn-2024"
    assert all([c.strip() for c in line.strip("│").split("│")][2] == "quickstart" for line in lines[1:])


def test_a_run_still_running_shows_the_status(quickstart_runs, width):
    client = mc.Client(config.tracking_uri(), config.artifact_uri())
    client.create_run("quickstart", name="live", capture_context=False)
    width(120)
    table = invoke("runs", "ls")
    assert "status" in header_keys(table)[:4] and "RUNNING" in table


def test_a_run_with_hundreds_of_params_gets_a_short_footer(width):
    client = mc.Client(config.tracking_uri(), config.artifact_uri())
    run = client.create_run("wide", name="wide", capture_context=False)
    client.log_params(run.id, {f"param_{i:03d}": i for i in range(300)})
    client.end_run(run.id)
    width(120)
    table = invoke("runs", "ls")
    footer = table.split("└", 1)[1]
    shown = [k for k in header_keys(table) if k.startswith("params.")]
    assert shown and len(footer) < 1000 and "params.param_299" not in footer
    assert f"and {300 + 4 - len(shown) - 20} more" in " ".join(footer.split())  # and 4 attributes

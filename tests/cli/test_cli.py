"""`modelcycle experiments ...` and `modelcycle runs ...` on a real store.

Exit codes and stderr go through `main()` in a real subprocess (`python -m modelcycle`); the
bulk of the output checks use typer's CliRunner on `modelcycle.cli.app` for speed. Both use
MODELCYCLE_HOME (a temporary folder per test, set by the autouse fixture) as the store.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import modelcycle as mc
from modelcycle import config
from modelcycle.cli import app
from modelcycle.store.entities import Metric
from tests.conftest import ServerProcess, free_port

T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC, in milliseconds
MISSING_RUN = "0" * 32


# ---------------------------------------------------------------------- helpers
def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m modelcycle ARGS` with this test's MODELCYCLE_HOME."""
    full_env = os.environ.copy()
    full_env.pop("MODELCYCLE_TRACKING_URI", None)
    full_env.pop("MODELCYCLE_ARTIFACT_URI", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "modelcycle", *args], env=full_env, capture_output=True,
                          text=True, timeout=120)


def ok(*args: str, env: dict | None = None) -> str:
    out = cli(*args, env=env)
    assert out.returncode == 0, f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out.stdout


def run(*args: str):
    """The same command in this process, through typer's test runner."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def as_json(*args: str):
    return json.loads(run(*args, "-o", "json").stdout)


def as_csv(*args: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(run(*args, "-o", "csv").stdout)))


def assert_clean_failure(out: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert out.returncode == code, f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout, out.stderr
    for fragment in fragments:
        assert fragment in out.stderr, (fragment, out.stderr)


def store_uris() -> tuple[str, str]:
    """The embedded store the CLI uses for this test's MODELCYCLE_HOME."""
    return config.tracking_uri(), config.artifact_uri()


# ---------------------------------------------------------------------- a seeded store
@pytest.fixture
def seeded():
    """Two experiments and five runs with known start times, params, metrics and artifacts."""
    client = mc.Client(*store_uris())
    store = client.store
    fraud = client.create_experiment("fraud", {"team": "risk"}).id
    churn = client.create_experiment("churn").id
    spec = [  # name, experiment, model, auc history, f1
        ("a", fraud, "rf", [0.71, 0.81, 0.91], 0.70),
        ("b", fraud, "xgb", [0.77, 0.87, 0.97], 0.75),
        ("c", fraud, "rf", [0.60, 0.70, 0.80], 0.60),
        ("d", fraud, "lr", [0.50, float("nan")], 0.55),
        ("e", churn, "rf", [0.99], 0.90),
    ]
    ids = {}
    for i, (name, experiment, model, aucs, f1) in enumerate(spec):
        start = T0 + (i + 1) * 1000
        r = store.create_run(experiment, name, {"owner": "ana"}, None, start)
        store.log_batch(r.id, [Metric("auc", v, s, start + s) for s, v in enumerate(aucs)]
                        + [Metric("f1", f1, 0, start)], {"model": model, "depth": "6"}, {"stage": name})
        store.update_run(r.id, mc.RunStatus.FINISHED, end_time=start + 1500)
        ids[name] = r.id
    client.log_text(ids["b"], "best model", "notes/readme.txt")
    return ids


# ---------------------------------------------------------------------- experiments
def test_experiments_create_and_ls_in_every_format():
    run("experiments", "create", "fraud", "--tag", "team=risk", "--tag", "owner=ana")
    run("experiments", "create", "churn")
    listed = as_json("experiments", "ls")
    assert [(e["id"], e["name"], e["deleted"]) for e in listed] == [(1, "fraud", ""), (2, "churn", "")]
    assert sorted(listed[0]["tags"].split(", ")) == ["owner=ana", "team=risk"] and listed[1]["tags"] == ""
    assert all(len(e["created"]) == len("2026-01-01 00:00:00") for e in listed)
    rows = as_csv("experiments", "ls")
    assert [(r["id"], r["name"], r["tags"]) for r in rows] == [("1", "fraud", listed[0]["tags"]), ("2", "churn", "")]
    table = run("experiments", "ls").stdout
    assert "Experiments" in table and "fraud" in table and "team=risk" in table
    assert mc.Client(*store_uris()).get_experiment("fraud").tags == {"team": "risk", "owner": "ana"}


def test_experiments_rename_delete_restore_by_name_and_id():
    created = run("experiments", "create", "fraud").stdout
    assert "Created experiment fraud (id 1)." in created
    assert "Renamed experiment fraud (id 1) to fraud-v2." in run("experiments", "rename", "fraud", "fraud-v2").stdout
    run("experiments", "rename", "--id", "1", "fraud-v3")
    assert [e["name"] for e in as_json("experiments", "ls")] == ["fraud-v3"]

    deleted = run("experiments", "delete", "fraud-v3").stdout
    assert "modelcycle experiments restore fraud-v3" in deleted
    assert as_json("experiments", "ls") == []
    assert [(e["name"], e["deleted"]) for e in as_json("experiments", "ls", "--view", "deleted")] == [("fraud-v3", "yes")]
    assert [e["name"] for e in as_json("experiments", "ls", "--view", "all")] == ["fraud-v3"]

    assert run("experiments", "restore", "--id", "1").stdout.strip() == "Restored experiment fraud-v3 (id 1)."
    assert [(e["name"], e["deleted"]) for e in as_json("experiments", "ls")] == [("fraud-v3", "")]
    assert as_json("experiments", "ls", "--view", "deleted") == []


def test_a_taken_experiment_name_exits_4():
    ok("experiments", "create", "fraud")
    out = cli("experiments", "create", "fraud")
    assert_clean_failure(out, 4, "Error:", "An experiment named 'fraud' already exists")
    assert out.stdout == ""


def test_experiment_errors_have_their_exit_codes(main_):
    run("experiments", "create", "fraud")
    run("experiments", "create", "other")
    assert_clean_failure(main_("experiments", "rename", "other", "fraud"), 4, "already exists")
    assert_clean_failure(main_("experiments", "rename", "nope", "x"), 3, "No experiment named 'nope'")
    assert_clean_failure(main_("experiments", "delete", "424242"), 3, "No experiment named '424242'",
                         "give it as --id 424242")
    assert_clean_failure(main_("experiments", "delete", "--id", "424242"), 3, "No experiment with id 424242")
    assert_clean_failure(main_("experiments", "delete", "--id", "fraud"), 2, "--id takes an experiment id")
    assert_clean_failure(main_("experiments", "restore", "nope"), 3, "nope")
    assert_clean_failure(main_("experiments", "create", "x", "--tag", "no-equals-sign"), 2, "KEY=VALUE")
    assert_clean_failure(main_("experiments", "create", " "), 2, "non-empty")
    assert_clean_failure(main_("experiments", "create"), 2, "Missing argument")
    assert [e["name"] for e in as_json("experiments", "ls")] == ["fraud", "other"]  # nothing else changed


def test_an_experiment_argument_is_a_name_even_when_it_looks_like_an_id(main_):
    run("experiments", "create", "fraud")  # id 1
    run("experiments", "create", "1")  # id 2, named "1"
    client = mc.Client(*store_uris())
    in_fraud = client.create_run("fraud", name="in-fraud", capture_context=False).id
    in_one = client.create_run(2, name="in-one", capture_context=False).id
    assert [r["run_id"] for r in as_json("runs", "ls", "-e", "1")] == [in_one]
    assert [r["run_id"] for r in as_json("runs", "ls", "--experiment-id", "1")] == [in_fraud]
    assert run("experiments", "rename", "1", "one").stdout.strip() == "Renamed experiment 1 (id 2) to one."
    assert [(e["id"], e["name"]) for e in as_json("experiments", "ls")] == [(1, "fraud"), (2, "one")]

    # A name of digits that no experiment has is not taken for an id, and the message says how to give one.
    for args in (["runs", "ls", "-e", "2"], ["experiments", "delete", "2"]):
        out = main_(*args)
        option = "--experiment-id" if args[0] == "runs" else "--id"
        assert_clean_failure(out, 3, "No experiment named '2'", f"give it as {option} 2")
        assert out.stderr.count("\n") == 1
    assert [e["name"] for e in as_json("experiments", "ls")] == ["fraud", "one"]

    run("experiments", "create", "2024")
    assert "Deleted experiment 2024 (id 3)" in run("experiments", "delete", "2024").stdout
    assert [e["name"] for e in as_json("experiments", "ls", "--view", "deleted")] == ["2024"]
    assert_clean_failure(main_("runs", "ls", "--experiment-id", "x"), 2, "--experiment-id")


# ---------------------------------------------------------------------- runs ls
def test_runs_ls_json_lists_every_run_newest_first(seeded):
    rows = as_json("runs", "ls")
    assert [r["name"] for r in rows] == ["e", "d", "c", "b", "a"]
    a = next(r for r in rows if r["name"] == "a")
    assert a == {
        "run_id": seeded["a"], "name": "a", "experiment": 1, "experiment_name": "fraud", "status": "FINISHED",
        "started": "2026-01-01 00:00:01", "duration": "1.5s",
        "metrics.auc": 0.91, "metrics.f1": 0.70, "params.depth": "6", "params.model": "rf",
    }
    d = next(r for r in rows if r["name"] == "d")
    assert d["metrics.auc"] == "NaN"  # JSON has no NaN: the text stands for it


def test_runs_ls_by_experiment_name_or_id(seeded):
    assert [r["name"] for r in as_json("runs", "ls", "--experiment", "churn")] == ["e"]
    assert [r["name"] for r in as_json("runs", "ls", "--experiment-id", "1")] == ["d", "c", "b", "a"]
    assert [r["name"] for r in as_json("runs", "ls", "-e", "churn", "-e", "fraud")] == ["e", "d", "c", "b", "a"]
    assert [r["name"] for r in as_json("runs", "ls", "-e", "churn", "--experiment-id", "1", "-e", "fraud")] == [
        "e", "d", "c", "b", "a"]


def test_runs_ls_filter_and_order_by(seeded):
    rows = as_json("runs", "ls", "-e", "fraud", "--filter", "params.model = 'rf' and metrics.auc > 0.5",
                   "--order-by", "metrics.auc desc")
    assert [(r["name"], r["metrics.auc"]) for r in rows] == [("a", 0.91), ("c", 0.80)]
    ascending = as_json("runs", "ls", "--filter", "metrics.auc > 0", "--order-by", "metrics.auc asc")
    assert [r["name"] for r in ascending] == ["c", "a", "b", "e"]
    two_keys = as_json("runs", "ls", "--order-by", "params.model", "--order-by", "metrics.f1 desc")
    assert [r["name"] for r in two_keys] == ["d", "e", "a", "c", "b"]
    by_tag = as_json("runs", "ls", "--filter", "tags.stage in ('b', 'e') and tags.owner = 'ana'")
    assert {r["name"] for r in by_tag} == {"b", "e"}
    nothing = as_json("runs", "ls", "--filter", "metrics.auc > 2")
    assert nothing == []


def test_runs_ls_csv_has_a_header_and_one_row_per_run_in_order(seeded):
    out = run("runs", "ls", "-e", "fraud", "--order-by", "metrics.f1 desc", "-o", "csv").stdout
    lines = out.splitlines()
    assert lines[0] == ("run_id,name,experiment,experiment_name,status,started,duration,"
                        "metrics.auc,metrics.f1,params.depth,params.model")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["metrics.f1"], r["params.model"]) for r in rows] == [
        ("b", "0.75", "xgb"), ("a", "0.7", "rf"), ("c", "0.6", "rf"), ("d", "0.55", "lr")]
    assert [r["run_id"] for r in rows] == [seeded[n] for n in "bacd"]
    assert next(r for r in rows if r["name"] == "d")["metrics.auc"] == "NaN"


def test_runs_ls_table_shows_whole_ids_and_the_columns(seeded):
    table = run("runs", "ls", "-e", "fraud").stdout
    for run_id in (seeded[n] for n in "abcd"):
        assert run_id in table  # never cut: ids are copied from here
    headers = [line for line in table.splitlines() if line.startswith("┃")]
    assert len(headers) == 2  # keys under their group's name
    assert [c.strip() for c in headers[0].strip("┃").split("┃")] == [""] * 6 + ["metrics", "", "params", ""]
    assert [c.strip() for c in headers[1].strip("┃").split("┃")] == [
        "run_id", "name", "experiment", "status", "started", "duration", "auc", "f1", "depth", "model"]
    assert "Runs in fraud" in table
    assert seeded["e"] not in table


def test_runs_ls_max_results_says_more_runs_match(seeded):
    result = CliRunner().invoke(app, ["runs", "ls", "--max-results", "2"])
    assert result.exit_code == 0
    assert seeded["e"] in result.stdout and seeded["d"] in result.stdout and seeded["c"] not in result.stdout
    assert "More runs match" in result.stderr and "--max-results" in result.stderr
    assert [r["name"] for r in as_json("runs", "ls", "--max-results", "2")] == ["e", "d"]


def test_runs_ls_on_an_empty_store():
    assert as_json("runs", "ls") == []
    assert run("runs", "ls", "-o", "csv").stdout.splitlines() == [
        "run_id,name,experiment,experiment_name,status,started,duration"]


# ---------------------------------------------------------------------- runs show
def test_runs_show_json_has_everything_about_the_run(seeded):
    shown = as_json("runs", "show", seeded["b"])
    assert (shown["id"], shown["name"], shown["status"], shown["experiment_id"]) == (seeded["b"], "b", "FINISHED", 1)
    assert (shown["start_time"], shown["end_time"], shown["deleted"]) == (T0 + 2000, T0 + 3500, False)
    assert shown["params"] == {"model": "xgb", "depth": "6"}
    assert shown["tags"] == {"owner": "ana", "stage": "b"}
    assert {m["key"]: (m["value"], m["step"]) for m in shown["metrics"]} == {"auc": (0.97, 2), "f1": (0.75, 0)}
    assert [(a["path"], a["size"]) for a in shown["artifacts"]] == [("notes/readme.txt", len("best model"))]


def test_runs_show_csv_lists_params_metrics_and_tags(seeded):
    rows = as_csv("runs", "show", seeded["a"])
    assert {(r["section"], r["key"], r["value"]) for r in rows} == {
        ("param", "model", "rf"), ("param", "depth", "6"), ("metric", "auc", "0.91"), ("metric", "f1", "0.7"),
        ("tag", "owner", "ana"), ("tag", "stage", "a")}


def test_runs_show_table(seeded):
    out = run("runs", "show", seeded["b"]).stdout
    for text in (seeded["b"], "experiment fraud (id 1)", "FINISHED", "2026-01-01 00:00:02", "1.5s", "Params", "xgb",
                 "Metrics (latest)",
                 "0.97", "Tags", "stage", "Artifacts", "notes/readme.txt"):
        assert text in out, text


# ---------------------------------------------------------------------- runs compare
def test_runs_compare_json_puts_the_runs_side_by_side(seeded):
    rows = as_json("runs", "compare", seeded["a"], seeded["b"], seeded["c"])
    names = [f"{n} ({seeded[n][:8]})" for n in "abc"]
    assert [r["field"] for r in rows] == ["params.depth", "params.model", "metrics.auc", "metrics.f1"]
    by_field = {r["field"]: r for r in rows}
    assert by_field["params.depth"] == {"field": "params.depth", **dict.fromkeys(names, "6"), "differs": ""}
    assert [by_field["params.model"][n] for n in names] == ["rf", "xgb", "rf"]
    assert by_field["params.model"]["differs"] == "*"
    assert [by_field["metrics.auc"][n] for n in names] == [0.91, 0.97, 0.80]
    assert by_field["metrics.auc"]["differs"] == "*"


def test_runs_compare_marks_missing_values(seeded):
    client = mc.Client(*store_uris())
    bare = client.create_run("fraud", name="bare", capture_context=False)
    rows = as_json("runs", "compare", seeded["a"], bare.id)
    auc = next(r for r in rows if r["field"] == "metrics.auc")
    assert auc[f"bare ({bare.id[:8]})"] is None and auc["differs"] == "*"


def test_runs_compare_csv_and_table(seeded):
    rows = as_csv("runs", "compare", seeded["a"], seeded["c"])
    assert [r["field"] for r in rows] == ["params.depth", "params.model", "metrics.auc", "metrics.f1"]
    assert [r["differs"] for r in rows] == ["", "", "*", "*"]
    table = run("runs", "compare", seeded["a"], seeded["c"]).stdout
    assert "Run comparison" in table and f"a ({seeded['a'][:8]})" in table


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    return width, height


def test_runs_compare_plot_writes_a_png(seeded, tmp_path):
    target = tmp_path / "charts" / "curves.png"
    target.parent.mkdir()
    result = CliRunner().invoke(app, ["runs", "compare", seeded["a"], seeded["b"], "--plot", str(target)])
    assert result.exit_code == 0, result.stdout + result.stderr
    width, height = _png_size(target.read_bytes())
    assert width > 100 and height > 100
    assert target.read_bytes().rstrip().endswith(b"IEND\xaeB`\x82")
    assert str(target) in result.stderr


# ---------------------------------------------------------------------- runs delete / restore
def test_runs_delete_and_restore(seeded):
    out = run("runs", "delete", seeded["c"]).stdout
    assert f"modelcycle runs restore {seeded['c']}" in out
    assert [r["name"] for r in as_json("runs", "ls")] == ["e", "d", "b", "a"]
    assert [r["name"] for r in as_json("runs", "ls", "--view", "deleted")] == ["c"]
    assert len(as_json("runs", "ls", "--view", "all")) == 5
    assert as_json("runs", "show", seeded["c"])["deleted"] is True
    assert "deleted" in run("runs", "show", seeded["c"]).stdout

    run("runs", "restore", seeded["c"])
    assert [r["name"] for r in as_json("runs", "ls")] == ["e", "d", "c", "b", "a"]
    assert as_json("runs", "show", seeded["c"])["deleted"] is False


# ---------------------------------------------------------------------- errors through main()
def test_a_bad_filter_exits_2_with_the_position_on_stderr(seeded):
    out = cli("runs", "ls", "--filter", "metrics.auc >")
    assert_clean_failure(out, 2, "Invalid filter at position 13")
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert lines[0].startswith("Error: Invalid filter at position 13: expected a value")
    assert lines[1:3] == ["  metrics.auc >", "               ^"]


def test_bad_filters_and_orders_exit_2_in_every_command(seeded, main_):
    for args, position in [(["--filter", "metrics.auc >"], 13), (["--filter", "params.model = 'rf"], 15),
                           (["--filter", "metrics.auc = 'high'"], 12),
                           (["--order-by", "metrics.auc sideways"], 12)]:
        out = main_("runs", "ls", *args)
        assert_clean_failure(out, 2, f"position {position}")
        assert out.stdout == ""


def test_an_unknown_run_exits_3(seeded):
    out = cli("runs", "show", MISSING_RUN)
    assert_clean_failure(out, 3, f"Error: No run with id {MISSING_RUN}")
    assert out.stdout == ""


def test_unknown_things_exit_3(seeded, main_):
    assert_clean_failure(main_("runs", "delete", MISSING_RUN), 3, MISSING_RUN)
    assert_clean_failure(main_("runs", "restore", MISSING_RUN), 3, MISSING_RUN)
    assert_clean_failure(main_("runs", "compare", seeded["a"], MISSING_RUN), 3, MISSING_RUN)
    assert_clean_failure(main_("runs", "show", MISSING_RUN, "-o", "json"), 3, MISSING_RUN)
    assert_clean_failure(main_("runs", "ls", "--experiment", "nope"), 3, "No experiment named 'nope'")


def test_a_malformed_run_id_exits_2():
    assert_clean_failure(cli("runs", "show", "xyz"), 2, "32 lowercase hex", "'xyz'")


def test_malformed_arguments_exit_2(seeded, main_):
    assert_clean_failure(main_("runs", "delete", seeded["a"].upper()), 2, "32 lowercase hex")
    assert_clean_failure(main_("runs", "ls", "--output", "xml"), 2, "xml")
    assert_clean_failure(main_("runs", "ls", "--max-results", "0"), 2, "--max-results")
    assert_clean_failure(main_("runs", "ls", "--view", "gone"), 2, "gone")
    assert_clean_failure(main_("runs", "compare"), 2, "Missing argument")
    assert_clean_failure(main_("runs", "nope"), 2, "No such command")
    assert as_json("runs", "show", seeded["a"])["deleted"] is False


def test_a_tracking_uri_without_a_server_exits_6_naming_it():
    url = f"http://127.0.0.1:{free_port()}"
    out = cli("--tracking-uri", url, "runs", "ls")
    assert_clean_failure(out, 6, url, "modelcycle server")


# ---------------------------------------------------------------------- through a server
def test_a_server_answers_the_commands_like_the_local_store(seeded, tmp_path, main_):
    uri, artifacts = store_uris()
    server = ServerProcess(uri, artifacts, env=os.environ.copy())
    try:
        remote = ["--tracking-uri", server.url]
        # As a real process: the option, and the environment variable.
        local_ls = run("runs", "ls", "-o", "json").stdout
        assert ok(*remote, "runs", "ls", "-o", "json") == local_ls
        assert ok("runs", "ls", "-o", "json", env={"MODELCYCLE_TRACKING_URI": server.url}) == local_ls
        assert_clean_failure(cli(*remote, "runs", "show", MISSING_RUN), 3, f"No run with id {MISSING_RUN}")

        def same(*args: str) -> None:
            through_server = main_(*remote, *args)
            locally = main_(*args)
            assert through_server.returncode == locally.returncode == 0, (through_server, locally)
            assert through_server.stdout == locally.stdout, args

        same("runs", "ls", "-e", "fraud", "-f", "metrics.auc > 0.75", "--order-by", "metrics.auc desc", "-o", "csv")
        same("runs", "ls", "--view", "all", "--max-results", "3", "-o", "json")
        same("runs", "show", seeded["b"], "-o", "json")
        same("runs", "show", seeded["b"], "-o", "csv")
        same("runs", "compare", seeded["a"], seeded["b"], "-o", "json")
        same("experiments", "ls", "-o", "json")

        # Writes through the server land in the same store.
        assert main_(*remote, "experiments", "create", "via-server").returncode == 0
        assert main_(*remote, "runs", "delete", seeded["a"]).returncode == 0
        assert "via-server" in [e["name"] for e in as_json("experiments", "ls")]
        assert as_json("runs", "show", seeded["a"])["deleted"] is True
        assert main_(*remote, "runs", "restore", seeded["a"]).returncode == 0
        assert as_json("runs", "show", seeded["a"])["deleted"] is False

        # Errors keep their exit codes and messages through the server.
        for args, code in [(["runs", "ls", "--filter", "metrics.auc >"], 2),
                           (["runs", "delete", MISSING_RUN], 3),
                           (["experiments", "create", "fraud"], 4)]:
            through_server, locally = main_(*remote, *args), main_(*args)
            assert through_server.returncode == locally.returncode == code
            assert through_server.stderr == locally.stderr

        # The plot is drawn from histories fetched over HTTP.
        png = tmp_path / "remote.png"
        assert main_(*remote, "runs", "compare", seeded["a"], seeded["b"], "--plot", str(png)).returncode == 0
        _png_size(png.read_bytes())
    finally:
        server.stop()


# ---------------------------------------------------------------------- names that look like markup
def test_an_experiment_named_like_markup_is_created_and_printed_as_is(main_):
    out = main_("experiments", "create", "[/]")
    assert_clean_failure(out, 0)
    assert "Created experiment [/]" in out.stdout


def test_tables_show_names_with_brackets_as_they_are():
    client = mc.Client(*store_uris())
    client.create_experiment("[bold]x")
    client.create_experiment("[/]")
    table = run("experiments", "ls").stdout
    assert "[bold]x" in table and "[/]" in table


def test_an_error_message_with_brackets_is_printed_and_exits_2(main_):
    out = main_("runs", "ls", "--filter", "name = '[/]' and")
    assert_clean_failure(out, 2, "Invalid filter at position", "name = '[/]' and")


def test_plain_brackets_in_names_survive_json_and_csv():
    mc.Client(*store_uris()).create_experiment("[bold]x")
    assert [e["name"] for e in as_json("experiments", "ls")] == ["[bold]x"]
    assert [e["name"] for e in as_csv("experiments", "ls")] == ["[bold]x"]

"""The module-level API (``import modelcycle as mc``) on SQLite, PostgreSQL and through the
server, and the run context captured from a script in a real git repository."""

from __future__ import annotations

import getpass
import json
import platform
import socket
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

import modelcycle as mc  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- run lifecycle
def test_a_with_block_ends_the_run_finished(tracking):
    with mc.start_run(experiment="fluent", name="ok") as run:
        assert mc.active_run() is run
        assert tracking.get_run(run.id).status is mc.RunStatus.RUNNING
    got = tracking.get_run(run.id)
    assert got.status is mc.RunStatus.FINISHED and got.end_time >= got.start_time
    assert got.name == "ok" and tracking.get_experiment(got.experiment_id).name == "fluent"
    assert mc.active_run() is None


def test_an_exception_ends_the_run_failed_and_propagates(tracking):
    class Boom(Exception):
        pass

    error = Boom("no")
    with pytest.raises(Boom) as caught:
        with mc.start_run(experiment="fluent") as run:
            mc.log_metric("before", 1.0)
            raise error
    assert caught.value is error
    got = tracking.get_run(run.id)
    assert got.status is mc.RunStatus.FAILED and got.end_time is not None
    assert got.metrics["before"].value == 1.0
    assert mc.active_run() is None


def test_keyboard_interrupt_ends_the_run_killed(tracking):
    with pytest.raises(KeyboardInterrupt):
        with mc.start_run(experiment="fluent") as run:
            raise KeyboardInterrupt
    assert tracking.get_run(run.id).status is mc.RunStatus.KILLED
    assert mc.active_run() is None


def test_a_run_ended_inside_its_with_block_keeps_its_status(tracking):
    with mc.start_run(experiment="fluent") as run:
        mc.end_run(mc.RunStatus.KILLED)
        assert mc.active_run() is None
    assert tracking.get_run(run.id).status is mc.RunStatus.KILLED


def test_end_run_with_a_status(tracking):
    run = mc.start_run(experiment="fluent")
    mc.end_run("failed")
    assert tracking.get_run(run.id).status is mc.RunStatus.FAILED
    assert mc.active_run() is None
    mc.end_run()  # nothing active: nothing to do


def test_a_second_top_level_run_is_refused_while_one_is_active(tracking):
    with mc.start_run(experiment="fluent") as first:
        with pytest.raises(mc.InvalidInput, match="nested=True"):
            mc.start_run(experiment="fluent")
        assert mc.active_run() is first
        mc.log_param("still", "first")
    assert tracking.get_run(first.id).params == {"still": "first"}
    assert len(tracking.search_runs("fluent").runs) == 1


def test_nested_runs(tracking):
    mc.set_experiment("elsewhere")
    with mc.start_run(experiment="nest") as parent:
        with mc.start_run(name="child", nested=True) as child:
            assert mc.active_run() is child
            with mc.start_run(name="grandchild", nested=True) as grandchild:
                mc.log_metric("depth", 2)
            assert mc.active_run() is child
        assert mc.active_run() is parent
        assert tracking.get_run(child.id).status is mc.RunStatus.FINISHED
        assert tracking.get_run(parent.id).status is mc.RunStatus.RUNNING
    got_child, got_grandchild = tracking.get_run(child.id), tracking.get_run(grandchild.id)
    assert got_child.parent_id == parent.id and got_grandchild.parent_id == child.id
    assert got_child.experiment_id == got_grandchild.experiment_id == parent.experiment_id
    assert tracking.get_run(parent.id).parent_id is None
    assert got_grandchild.metrics["depth"].value == 2.0


def test_logging_without_an_active_run_starts_one(tracking):
    mc.log_metric("x", 1.0)
    run = mc.active_run()
    assert run is not None
    mc.log_param("p", 1)
    mc.end_run()
    got = tracking.get_run(run.id)
    assert got.metrics["x"].value == 1.0 and got.params == {"p": "1"}
    assert got.status is mc.RunStatus.FINISHED
    assert tracking.get_experiment(got.experiment_id).name == "Default"


def test_set_experiment_chooses_where_runs_go(tracking):
    mc.set_experiment("chosen")
    with mc.start_run() as run:
        pass
    mc.set_tag("auto", "yes")  # an implicit run goes there too
    implicit = mc.active_run()
    mc.end_run()
    chosen = tracking.get_experiment("chosen")
    assert tracking.get_run(run.id).experiment_id == chosen.id
    assert tracking.get_run(implicit.id).experiment_id == chosen.id


def test_resuming_a_finished_run(tracking):
    with mc.start_run(experiment="fluent") as first:
        mc.log_metric("loss", 1.0, step=0)
    with mc.start_run(run_id=first.id) as again:
        assert again.id == first.id
        assert tracking.get_run(first.id).status is mc.RunStatus.RUNNING
        mc.log_metric("loss", 0.5, step=1)
    got = tracking.get_run(first.id)
    assert got.status is mc.RunStatus.FINISHED and got.metrics["loss"].value == 0.5


# ---------------------------------------------------------------------------- logging
def test_params_metrics_and_tags(tracking):
    with mc.start_run(experiment="fluent") as run:
        mc.log_param("alpha", 0.5)
        mc.log_params({"depth": 3, "model": "rf", "flag": True, "none": None})
        mc.log_metric("loss", 1.0)
        mc.log_metric("loss", 0.7, step=1, timestamp=1_700_000_000_000)
        mc.log_metrics({"loss": 0.5, "auc": 0.9}, step=2)
        mc.set_tag("team", "risk")
        mc.set_tags({"stage": "dev", "version": 2})
        mc.set_tag("team", "ops")  # tags can change
        with pytest.raises(mc.Conflict):
            mc.log_param("alpha", 0.6)  # params cannot
    got = tracking.get_run(run.id)
    assert got.params == {"alpha": "0.5", "depth": "3", "model": "rf", "flag": "True", "none": "None"}
    assert {k: v for k, v in got.tags.items() if not k.startswith("mc.")} == {
        "team": "ops", "stage": "dev", "version": "2"}
    assert got.metrics["loss"].value == 0.5 and got.metrics["auc"].step == 2
    history = tracking.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.7), (2, 0.5)]
    assert history[1].timestamp == 1_700_000_000_000


def test_numpy_floats_are_metrics(tracking):
    with mc.start_run(experiment="fluent") as run:
        mc.log_metric("mean", np.mean([1.0, 2.0]))
        mc.log_metrics({"f32": np.float32(0.25)})
    got = tracking.get_run(run.id)
    assert got.metrics["mean"].value == 1.5 and got.metrics["f32"].value == 0.25


def test_numpy_integer_experiment_ids(tracking):
    experiment_id = np.int64(tracking.create_experiment("by-id").id)
    with mc.start_run(experiment=experiment_id) as run:
        pass
    assert run.experiment_id == experiment_id
    assert [r.id for r in tracking.search_runs(experiment_id).runs] == [run.id]


def test_numpy_integer_steps(tracking):
    with mc.start_run(experiment="fluent") as run:
        for step in np.arange(3):
            mc.log_metric("loss", 1.0 / (1 + step), step=step)
    assert [m.step for m in tracking.get_metric_history(run.id, "loss")] == [0, 1, 2]


def test_artifacts_from_the_fluent_api(tracking, tmp_path):
    folder = tmp_path / "bundle"
    (folder / "sub" / "deeper").mkdir(parents=True)
    files = {"a.txt": b"A", "sub/b.txt": b"B", "sub/deeper/c.bin": bytes(range(256)) * 50}
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    with mc.start_run(experiment="art") as run:
        single = mc.log_artifact(folder / "a.txt")
        mc.log_artifact(folder / "a.txt", "nested/dir")
        logged = mc.log_artifacts(folder, "bundle")
        mc.log_text("hello ✓", "notes/hello.txt")
        mc.log_dict({"a": 1, "nested": {"b": [1, 2]}, "z": "last"}, "config.json")
        mc.log_dict({"b": 2, "a": [1, "x"]}, "config.yaml")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3, 1, 2])
        mc.log_figure(fig, "plots/line.png")
        mc.log_figure(fig, "plots/line.svg")
        plt.close(fig)
    read = lambda p: tracking.read_artifact(run.id, p)  # noqa: E731
    assert single.path == "a.txt" and read("a.txt") == b"A" and read("nested/dir/a.txt") == b"A"
    assert sorted(i.path for i in logged) == sorted(f"bundle/{rel}" for rel in files)
    assert read("notes/hello.txt").decode() == "hello ✓"
    assert json.loads(read("config.json")) == {"a": 1, "nested": {"b": [1, 2]}, "z": "last"}
    assert yaml.safe_load(read("config.yaml")) == {"b": 2, "a": [1, "x"]}
    assert read("config.yaml").decode().startswith("b: 2")  # keys keep their order
    png = read("plots/line.png")
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
    assert b"<svg" in read("plots/line.svg")
    assert sorted((i.path, i.is_dir) for i in tracking.list_artifacts(run.id)) == [
        ("a.txt", False), ("bundle", True), ("config.json", False), ("config.yaml", False),
        ("nested", True), ("notes", True), ("plots", True)]

    # downloading a folder reproduces its tree, a file is a file, the root is everything
    out = tracking.download_artifacts(run.id, "bundle", tmp_path / "out")
    assert out == tmp_path / "out" / "bundle"
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    one = tracking.download_artifacts(run.id, "bundle/sub/deeper/c.bin", tmp_path / "one")
    assert one == tmp_path / "one" / "bundle" / "sub" / "deeper" / "c.bin"
    assert one.read_bytes() == files["sub/deeper/c.bin"]
    everything = tracking.download_artifacts(run.id, dst_dir=tmp_path / "all")
    assert len([p for p in everything.rglob("*") if p.is_file()]) == 10
    assert not list(everything.rglob("*.part"))
    with pytest.raises(mc.NotFound):
        tracking.download_artifacts(run.id, "no/such/folder", tmp_path / "none")


def test_artifact_arguments_are_checked(tracking, tmp_path):
    with mc.start_run(experiment="art"):
        with pytest.raises(mc.NotFound):
            mc.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(mc.InvalidInput):
            mc.log_artifact(tmp_path)  # a folder
        with pytest.raises(mc.NotFound):
            mc.log_artifacts(tmp_path / "missing-folder")
        with pytest.raises(mc.InvalidInput):
            mc.log_text("x", "../outside.txt")


# ---------------------------------------------------------------------------- frames
def test_search_runs_returns_a_frame(tracking):
    for depth in (2, 4, 8):
        with mc.start_run(experiment="frames", name=f"d{depth}"):
            mc.log_params({"depth": depth})
            mc.set_tag("team", "risk" if depth < 8 else "ops")
            for step in range(5):
                mc.log_metric("loss", 1 / (step + depth), step=step)
    frame = mc.search_runs("frames", filter="params.depth != '2'", order_by="metrics.loss asc")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["name"]) == ["d8", "d4"] and list(frame["params.depth"]) == ["8", "4"]
    assert list(frame["tags.team"]) == ["ops", "risk"]
    assert frame["metrics.loss"].tolist() == pytest.approx([1 / 12, 1 / 8])
    assert list(frame.columns[:7]) == ["run_id", "experiment_id", "name", "status", "start_time",
                                       "end_time", "parent_id"]
    assert {"metrics.loss", "params.depth", "tags.team", "tags.mc.python"} <= set(frame.columns)
    assert set(frame["status"]) == {"FINISHED"}
    assert isinstance(frame["start_time"].dtype, pd.DatetimeTZDtype) and str(frame["start_time"].dt.tz) == "UTC"
    assert len(mc.search_runs("frames", max_results=2)) == 2
    assert len(mc.search_runs()) == 3  # every experiment
    empty = mc.search_runs("frames", filter="params.depth = '99'")
    assert len(empty) == 0 and "run_id" in empty.columns


def test_metric_history_frame(tracking):
    with mc.start_run(experiment="frames") as run:
        for step in (2, 0, 1):
            mc.log_metric("loss", step / 10, step=step, timestamp=1_700_000_000_000 + step)
    history = mc.get_metric_history(run.id, "loss")
    assert list(history.columns) == ["step", "value", "timestamp"]
    assert history["step"].tolist() == [0, 1, 2] and history["value"].tolist() == [0.0, 0.1, 0.2]
    assert history["timestamp"].iloc[1] == pd.Timestamp(1_700_000_000_001, unit="ms", tz="UTC")
    assert len(mc.get_metric_history(run.id, "never")) == 0


# ---------------------------------------------------------------------------- run context
def test_runs_record_where_they_ran(tracking):
    with mc.start_run(experiment="ctx") as run:
        pass
    tags = tracking.get_run(run.id).tags
    assert tags["mc.python"] == platform.python_version()
    assert tags["mc.user"] == getpass.getuser()
    assert tags["mc.host"] == socket.gethostname()
    assert tags["mc.lib.numpy"] == np.__version__
    assert tags["mc.lib.modelcycle"] == mc.__version__
    assert "mc.source.entry_point" in tags
    bare = tracking.create_run("ctx", capture_context=False)
    assert not [k for k in tracking.get_run(bare.id).tags if k.startswith("mc.")]


def _git(repo, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t",
           "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def _run_script(script, db, artifacts) -> dict:
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True,
                         cwd=script.parent.parent, timeout=60)
    run_id = out.stdout.strip().splitlines()[-1]
    return mc.Client(f"sqlite:///{db}", str(artifacts)).get_run(run_id).tags


def _training_script(path, db, artifacts):
    path.write_text(textwrap.dedent(f"""
        import modelcycle as mc
        mc.set_tracking_uri({f"sqlite:///{db}"!r}, {str(artifacts)!r})
        with mc.start_run(experiment="ctx") as run:
            mc.log_metric("x", 1.0)
        print(run.id)
    """))


def test_a_script_in_a_git_repository_records_commit_and_dirty_state(tmp_path):
    repo, db, artifacts = tmp_path / "repo", tmp_path / "ctx.db", tmp_path / "art"
    repo.mkdir()
    script = repo / "train.py"
    _training_script(script, db, artifacts)
    _git(repo, "init", "-q")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-qm", "first")
    commit = _git(repo, "rev-parse", "HEAD")

    tags = _run_script(script, db, artifacts)
    assert tags["mc.source.git.commit"] == commit
    assert tags["mc.source.git.dirty"] == "false"
    assert tags["mc.source.git.repo"] == str(repo.resolve())
    assert tags["mc.source.git.branch"] == _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    assert tags["mc.source.entry_point"] == str(script.resolve())
    assert tags["mc.python"] == platform.python_version()
    assert {"mc.user", "mc.host", "mc.lib.numpy", "mc.lib.scikit-learn"} <= set(tags)

    script.write_text(script.read_text() + "\n# edited\n")
    tags = _run_script(script, db, artifacts)
    assert tags["mc.source.git.commit"] == commit and tags["mc.source.git.dirty"] == "true"

    _git(repo, "commit", "-qam", "second")
    tags = _run_script(script, db, artifacts)
    assert tags["mc.source.git.commit"] == _git(repo, "rev-parse", "HEAD") != commit
    assert tags["mc.source.git.dirty"] == "false"

    (repo / "untracked.txt").write_text("not part of the code")  # untracked files do not count
    assert _run_script(script, db, artifacts)["mc.source.git.dirty"] == "false"


def test_a_script_outside_git_records_no_git_tags(tmp_path):
    folder, db, artifacts = tmp_path / "plain", tmp_path / "ctx.db", tmp_path / "art"
    folder.mkdir()
    script = folder / "train.py"
    _training_script(script, db, artifacts)
    tags = _run_script(script, db, artifacts)
    assert not [k for k in tags if k.startswith("mc.source.git.")]
    assert tags["mc.source.entry_point"] == str(script.resolve())
    assert "mc.python" in tags and "mc.user" in tags

"""The module-level API against a local store and through the server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import modelcycle as mc  # noqa: E402


@pytest.fixture
def tracking(store_uris):
    mc.set_tracking_uri(*store_uris)
    yield mc.Client()
    mc.set_tracking_uri(None)


def test_run_context_manager_statuses(tracking):
    with mc.start_run(experiment="fluent") as ok:
        mc.log_param("alpha", 0.5)
        mc.log_params({"depth": 3, "model": "rf"})
        mc.log_metric("loss", 1.0, step=0)
        mc.log_metrics({"loss": 0.5, "auc": 0.9}, step=1)
        mc.set_tag("team", "risk")
        mc.set_tags({"stage": "dev"})
    run = tracking.get_run(ok.id)
    assert run.status is mc.RunStatus.FINISHED and run.end_time is not None
    assert run.params == {"alpha": "0.5", "depth": "3", "model": "rf"}
    assert run.metrics["loss"].value == 0.5 and run.tags["team"] == "risk"
    with pytest.raises(ZeroDivisionError):
        with mc.start_run(experiment="fluent") as failed:
            1 / 0
    assert tracking.get_run(failed.id).status is mc.RunStatus.FAILED
    with pytest.raises(KeyboardInterrupt):
        with mc.start_run(experiment="fluent") as killed:
            raise KeyboardInterrupt
    assert tracking.get_run(killed.id).status is mc.RunStatus.KILLED
    assert mc.active_run() is None


def test_nested_runs_and_active_run_rules(tracking):
    with mc.start_run(experiment="nest") as parent:
        with pytest.raises(mc.InvalidInput, match="nested=True"):
            mc.start_run()
        with mc.start_run(name="child", nested=True) as child:
            assert mc.active_run().id == child.id
        assert mc.active_run().id == parent.id
    got = tracking.get_run(child.id)
    assert got.parent_id == parent.id and got.experiment_id == parent.experiment_id


def test_logging_without_a_run_starts_one(tracking):
    mc.log_metric("x", 1.0)
    run = mc.active_run()
    assert run is not None and tracking.get_run(run.id).metrics["x"].value == 1.0
    mc.end_run()
    assert tracking.get_run(run.id).status is mc.RunStatus.FINISHED


def test_artifacts_from_the_fluent_api(tracking, tmp_path):
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    with mc.start_run(experiment="art") as run:
        mc.log_artifact(folder / "a.txt", "single")
        mc.log_artifacts(folder, "bundle")
        mc.log_text("hello", "notes/hello.txt")
        mc.log_dict({"a": 1, "nested": {"b": [1, 2]}}, "config.json")
        mc.log_dict({"a": 1}, "config.yaml")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        mc.log_figure(fig, "plots/line.png")
        plt.close(fig)
    read = lambda p: tracking.read_artifact(run.id, p)  # noqa: E731
    assert read("single/a.txt") == b"A" and read("bundle/sub/b.txt") == b"B"
    assert read("notes/hello.txt") == b"hello"
    assert json.loads(read("config.json")) == {"a": 1, "nested": {"b": [1, 2]}}
    assert read("config.yaml").decode().strip() == "a: 1"
    assert read("plots/line.png").startswith(b"\x89PNG\r\n\x1a\n")
    out = tracking.download_artifacts(run.id, "bundle", tmp_path / "out")
    assert (out / "a.txt").read_text() == "A" and (out / "sub" / "b.txt").read_text() == "B"


def test_search_runs_and_history_frames(tracking):
    for depth in (2, 4, 8):
        with mc.start_run(experiment="frames"):
            mc.log_params({"depth": depth})
            for step in range(5):
                mc.log_metric("loss", 1 / (step + depth), step=step)
    frame = mc.search_runs("frames", filter="params.depth != '2'", order_by="metrics.loss asc")
    assert list(frame["params.depth"]) == ["8", "4"]
    assert {"run_id", "status", "metrics.loss", "params.depth", "tags.mc.python"} <= set(frame.columns)
    history = mc.get_metric_history(frame["run_id"][0], "loss")
    assert list(history["step"]) == [0, 1, 2, 3, 4]
    assert history["value"].iloc[-1] == pytest.approx(1 / 12)


def test_run_context_captures_git_state(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    script = repo / "train.py"
    db = tmp_path / "ctx.db"
    script.write_text(textwrap.dedent(f"""
        import modelcycle as mc
        mc.set_tracking_uri("sqlite:///{db}", "{tmp_path / 'art'}")
        with mc.start_run(experiment="ctx") as run:
            pass
        print(run.id)
    """))
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    def run_script() -> dict:
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
        client = mc.Client(f"sqlite:///{db}", str(tmp_path / "art"))
        return client.get_run(out.stdout.strip().splitlines()[-1]).tags

    tags = run_script()
    assert tags["mc.source.git.commit"] == commit and tags["mc.source.git.dirty"] == "false"
    assert tags["mc.source.entry_point"] == str(script)
    assert tags["mc.python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"mc.user", "mc.host", "mc.lib.numpy", "mc.lib.scikit-learn"} <= set(tags)
    script.write_text(script.read_text() + "\n# edited\n")
    assert run_script()["mc.source.git.dirty"] == "true"

"""Trials of one study on several processes, on Dask, and from several independent mc.tune
calls (as from several machines), on SQLite and PostgreSQL: every trial recorded once, none
lost, no "database is locked"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

import modelcycle as mc

pytestmark = pytest.mark.slow


_met: list[bool] = []


def gathering_objective(trial, processes: int = 4):
    """At its first trial, each process waits until ``processes`` have started one: the trials
    that follow are written by all of them concurrently."""
    if not _met:
        study_run = mc.active_run().info.parent_id
        deadline = time.time() + 90
        while time.time() < deadline:
            started = mc.Client().search_all_runs(None, f"parent_id = '{study_run}'")
            if len({r.tags["mc.trial.worker"] for r in started}) >= processes:
                break
            time.sleep(0.05)
        _met.append(True)
    x = trial.suggest_float("x", -1, 1)
    time.sleep(0.01)
    mc.log_metric("pid", os.getpid())
    return x * x


def two_of_them(trial):
    return gathering_objective(trial, 2)


@pytest.fixture(autouse=True)
def _gather_again():
    _met.clear()  # this process waits at its first trial in each test


def failing_in_a_helper(trial):
    gathering_objective(trial, 2)
    if os.getpid() != int(os.environ["MC_TEST_PARENT_PID"]):
        raise RuntimeError("worker failure")
    return trial.suggest_float("y", 0, 1)


def _check_study(result_or_run_id, n_trials: int, tracking_uri: str | None = None) -> list:
    client = mc.Client(tracking_uri) if tracking_uri else mc.Client()
    run_id = getattr(result_or_run_id, "run_id", result_or_run_id)
    trials = client.search_all_runs(None, f"parent_id = '{run_id}'")
    numbers = sorted(int(r.tags["mc.trial.number"]) for r in trials)
    assert numbers == list(range(n_trials))  # every number once: none lost, none twice
    assert all(r.tags["mc.trial.state"] == "COMPLETE" and r.status is mc.RunStatus.FINISHED for r in trials)
    starts = [r.start_time for r in sorted(trials, key=lambda r: int(r.tags["mc.trial.number"]))]
    assert starts == sorted(set(starts))  # numbers follow start times
    return trials


def _workers(trials) -> Counter:
    return Counter(r.tags["mc.trial.worker"] for r in trials)


def test_four_processes_on_one_sqlite_store():
    result = mc.tune(gathering_objective, n_trials=60, n_jobs=4, experiment="dist", study_name="sqlite4", seed=0)
    trials = _check_study(result, 60)
    assert result.trials == {"COMPLETE": 60}
    assert len(_workers(trials)) == 4
    assert all(r.metrics["pid"].value == int(r.tags["mc.trial.worker"].split("/")[1]) for r in trials)
    assert mc.Client().get_run(result.run_id).status is mc.RunStatus.FINISHED


def test_a_failing_helper_process_stops_the_others_and_fails_the_study(monkeypatch):
    monkeypatch.setenv("MC_TEST_PARENT_PID", str(os.getpid()))
    with pytest.raises(RuntimeError, match="worker failure"):
        mc.tune(failing_in_a_helper, n_trials=400, n_jobs=2, experiment="dist-fail", study_name="f")
    runs = mc.Client().search_all_runs(["dist-fail"])
    study = next(r for r in runs if r.name == "f")
    assert study.status is mc.RunStatus.FAILED and "worker failure" in study.tags["mc.error"]
    trials = [r for r in runs if r.parent_id == study.id]
    assert len(trials) < 400 and not [r for r in trials if r.status is mc.RunStatus.RUNNING]
    failed = [r for r in trials if r.tags["mc.trial.state"] == "FAIL"]
    assert len(failed) == 1 and failed[0].tags["mc.trial.error"] == "RuntimeError: worker failure"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "server"])
def test_independent_tune_calls_join_one_study(backend, tmp_path, request):
    """Four processes each call mc.tune with the same study name at once, as four machines
    would (on PostgreSQL, the 4-process test; through a tracking server, processes that share
    no folder): one study is created, and together they run its trials once each."""
    if backend == "sqlite":
        uri = f"sqlite:///{tmp_path / 'shared.db'}"
    elif backend == "postgresql":
        uri = request.getfixturevalue("postgres_uri")
    else:
        uri = request.getfixturevalue("tracking_server").url
    script = textwrap.dedent(f"""
        import time, modelcycle as mc
        mc.set_tracking_uri({uri!r}, {str(tmp_path / 'artifacts')!r})
        def objective(trial):
            time.sleep(0.02)
            return trial.suggest_float("x", -1, 1) ** 2
        mc.tune(objective, n_trials=30, experiment="shared-{backend}", study_name="together")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}
    homes = [str(tmp_path / f"home-{i}") for i in range(4)]  # no lock folder in common
    processes = [subprocess.Popen([sys.executable, "-c", script], env={**env, "MODELCYCLE_HOME": home},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for home in homes]
    outputs = [p.communicate(timeout=240) for p in processes]
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err
        assert "locked" not in err
    client = mc.Client(uri, str(tmp_path / "artifacts"))
    studies = [r for r in client.search_all_runs([f"shared-{backend}"]) if r.tags.get("mc.study.name") == "together"]
    assert len(studies) == 1
    trials = _check_study(studies[0].id, 30, uri)
    assert len(_workers(trials)) >= 2


def test_helper_processes_do_not_run_the_script_that_started_them(tmp_path):
    """A script calls mc.tune(n_jobs=2) at its top level, with no `if __name__ == "__main__"`
    (Optuna's own n_jobs needs none): the helper runs trials, not the script again."""
    uri = f"sqlite:///{tmp_path / 'mc.db'}"
    script = tmp_path / "search.py"
    script.write_text(textwrap.dedent(f"""
        import os, time, modelcycle as mc
        with open({str(tmp_path / 'started')!r}, "a") as f:
            f.write(f"{{os.getpid()}}\\n")
        mc.set_tracking_uri({uri!r}, {str(tmp_path / 'artifacts')!r})

        def objective(trial):
            if not os.path.exists({str(tmp_path / 'met')!r} + str(os.getpid())):
                open({str(tmp_path / 'met')!r} + str(os.getpid()), "w").close()
                deadline = time.time() + 60  # until both processes have started a trial
                while time.time() < deadline and len([n for n in os.listdir({str(tmp_path)!r})
                                                      if n.startswith("met")]) < 2:
                    time.sleep(0.05)
            return trial.suggest_float("x", -1, 1) ** 2

        mc.tune(objective, n_trials=20, n_jobs=2, experiment="script", study_name="s")
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}
    done = subprocess.run([sys.executable, str(script)], env={**env, "MODELCYCLE_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "started").read_text().split()) == 1  # the script ran once
    client = mc.Client(uri, str(tmp_path / "artifacts"))
    runs = client.search_all_runs(None)
    studies = [r for r in runs if "mc.study.name" in r.tags]
    assert [r.name for r in studies] == ["s"] and studies[0].status is mc.RunStatus.FINISHED
    trials = _check_study(studies[0].id, 20, uri)
    assert len(_workers(trials)) == 2


def test_trials_on_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        result = mc.tune(two_of_them, n_trials=20, dask=client, experiment="dask", study_name="on-dask", seed=0)
        worker_pids = set(client.run(os.getpid).values())
    trials = _check_study(result, 20)
    pids = {int(w.split("/")[1]) for w in _workers(trials)}
    assert pids == worker_pids  # run by both of the cluster's processes, not by this one
    assert os.getpid() not in pids

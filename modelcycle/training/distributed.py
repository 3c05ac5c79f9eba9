"""Trials of one study on several processes: ``n_jobs`` processes on this machine, or tasks on a
Dask cluster. Each worker opens the store itself and loads the study by its name; the store's
locks (see locks.py) number the trials, so workers on other machines, started by another
``mc.tune`` against the same PostgreSQL database, join the same study safely."""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcycle.exceptions import InvalidInput

STOP_TAG = "mc.study.stop"


@dataclass
class WorkerSpec:
    tracking_uri: str
    artifact_uri: str
    experiment_id: int
    study_name: str
    study_run_id: str
    objective: bytes  # cloudpickle of the objective (and the data it closes over)
    sampler: Any  # SamplerSpec
    pruner: Any  # PrunerSpec
    n_trials: int | None
    deadline: float | None  # time.time() after which no trial starts
    catch: tuple = ()
    heartbeat_interval: int | None = 60
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    worker: int = 0


def run_worker(spec: WorkerSpec) -> int:
    """Run trials of the study until its budget, the deadline or a stop; returns how many this
    worker ran. Used in spawned processes and on Dask workers."""
    import cloudpickle
    import optuna

    from modelcycle.tracking import fluent
    from modelcycle.training.storage import RunStorage
    from modelcycle.training.tune import run_trials

    if fluent.active_run() is None:  # what the objective logs with mc.log_* goes to the same store
        fluent.set_tracking_uri(spec.tracking_uri, spec.artifact_uri)
    storage = RunStorage(spec.experiment_id, spec.tracking_uri, spec.artifact_uri,
                         heartbeat_interval=spec.heartbeat_interval)
    storage.write_through = True  # the other workers' samplers see the params of running trials
    objective = cloudpickle.loads(spec.objective)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=spec.study_name, storage=storage, sampler=spec.sampler.build(spec.worker),
                              pruner=spec.pruner.build())
    ran = [0]

    def stop_when_told(study, trial):
        ran[0] += 1
        run = storage.store.get_run(spec.study_run_id)
        if run.tags.get(STOP_TAG) == spec.token:
            study.stop()

    timeout = None if spec.deadline is None else max(spec.deadline - time.time(), 0.0)
    if timeout == 0.0:
        return 0
    run_trials(study, storage, objective, spec.n_trials, timeout, spec.catch, [stop_when_told])
    return ran[0]


def _spec_for(base: WorkerSpec, worker: int) -> WorkerSpec:
    from dataclasses import replace

    return replace(base, worker=worker)


HELPER = "from modelcycle.training.distributed import helper_main; helper_main()"


def helper_main() -> None:
    """A helper process (``python -c HELPER <folder>/worker-N``): its trials, then what became
    of them in worker-N.out, for the process that started it to read."""
    import pickle
    import traceback

    import cloudpickle

    base = Path(sys.argv[1])
    path, spec = cloudpickle.loads(base.with_suffix(".in").read_bytes())
    sys.path[:] = path  # what the objective imports is found as in the process that started it
    try:
        result = ("ok", run_worker(spec))
    except BaseException as exc:  # told to the parent, which raises it
        try:
            payload = pickle.dumps(exc)
        except Exception:
            payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        result = ("error", (payload, traceback.format_exc()))
    part = base.with_suffix(".part")
    part.write_bytes(pickle.dumps(result))
    part.replace(base.with_suffix(".out"))


class Helpers:
    """``count`` processes working on the study beside this one. Each is a fresh interpreter
    (python -c), given its work in a file: multiprocessing's spawn would import the main script
    again in each child, and a script that calls mc.tune at its top level, with no
    ``if __name__ == "__main__"``, would start its whole work over in each. (Not fork either: a
    forked child would share this process's database connections.) This process works too, so
    trials start at once, while the helpers are still importing; once the study has all its
    trials, helpers that are not running one are ended instead of waited for."""

    def __init__(self, spec: WorkerSpec, count: int):
        import subprocess
        import tempfile

        import cloudpickle

        self.spec = spec
        self._folder = tempfile.TemporaryDirectory(prefix="modelcycle-trials-")
        self._outcomes: dict[int, tuple[str, Any]] = {}
        self._ending = False
        self.processes = []
        for worker in range(1, count + 1):
            base = self._base(worker)
            base.with_suffix(".in").write_bytes(cloudpickle.dumps((list(sys.path), _spec_for(spec, worker))))
            self.processes.append(subprocess.Popen([sys.executable, "-c", HELPER, str(base)],
                                                   stdin=subprocess.DEVNULL))

    def _base(self, worker: int) -> Path:
        return Path(self._folder.name) / f"worker-{worker}"

    def _collect(self) -> None:
        import pickle

        for worker, process in enumerate(self.processes, 1):
            if worker in self._outcomes or process.poll() is None:
                continue
            out = self._base(worker).with_suffix(".out")
            if out.exists():
                self._outcomes[worker] = pickle.loads(out.read_bytes())
            elif not self._ending:
                error = RuntimeError(f"The helper process {worker} of the study {self.spec.study_name!r} ended with "
                                     f"exit code {process.returncode} before it finished.")
                self._outcomes[worker] = ("error", (pickle.dumps(error), ""))

    def failed(self) -> bool:
        """Whether a helper ended with an error."""
        self._collect()
        return any(outcome == "error" for outcome, _ in self._outcomes.values())

    def error(self) -> BaseException | None:
        import pickle

        self._collect()
        for outcome, payload in self._outcomes.values():
            if outcome == "error":
                exc = pickle.loads(payload[0])
                if hasattr(exc, "add_note") and payload[1]:
                    exc.add_note(f"In a helper process:\n{payload[1]}")
                return exc
        return None

    def alive(self) -> list:
        return [p for p in self.processes if p.poll() is None]

    def finish(self, storage, study_id: int, on_progress, stop: bool = False) -> None:
        """Wait until no helper runs a trial, then end them; raise a helper's error."""
        if stop:
            _tell_stop(self.spec)
        pids = {p.pid for p in self.processes}
        while True:
            error = self.error()
            if error is not None:
                _tell_stop(self.spec)
                self._wait_idle(storage, study_id, pids, on_progress)
                self.end()
                raise error
            if not self.alive():
                break
            if not self._running(storage, study_id, pids):
                break  # the rest are starting up or leaving: nothing of theirs is in flight
            on_progress()
            time.sleep(0.2)
        self.end()
        error = self.error()
        if error is not None:
            raise error

    def _running(self, storage, study_id: int, pids: set[int]) -> bool:
        for trial in storage.get_all_trials(study_id, deepcopy=False):
            if trial.state.name == "RUNNING":
                worker = storage.trial_worker(trial._trial_id)
                if worker and worker.split("/")[1].isdigit() and int(worker.split("/")[1]) in pids:
                    return True
        return False

    def _wait_idle(self, storage, study_id: int, pids: set[int], on_progress) -> None:
        while self.alive() and self._running(storage, study_id, pids):
            on_progress()
            time.sleep(0.2)

    def end(self) -> None:
        import subprocess

        self._collect()  # what ended by itself says so; the rest is ended here
        self._ending = True
        for process in self.alive():
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._collect()
        self._folder.cleanup()


def check_dask(dask) -> None:
    """Refuse what is not a scheduler address or a Client, before anything is logged."""
    try:
        from distributed import Client
    except ImportError:
        raise InvalidInput("dask= needs Dask's distributed scheduler: pip install 'modelcycle[dask]'.") from None
    if not (isinstance(dask, Client) or (isinstance(dask, str) and dask.strip())):
        raise InvalidInput(f"dask= takes a scheduler address (tcp://host:8786) or a distributed.Client; got "
                           f"{dask!r}.")


def run_on_dask(spec: WorkerSpec, dask, n_jobs: int | None, on_progress) -> None:
    """One long task per worker thread of the cluster (or ``n_jobs`` tasks); this process only
    watches."""
    from distributed import Client, wait

    check_dask(dask)
    own_client = None
    if isinstance(dask, str):
        try:
            own_client = client = Client(dask, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise InvalidInput(f"Cannot reach the Dask scheduler at {dask!r}: {exc}. Start it "
                               "(dask scheduler), or check the address (tcp://host:8786).") from None
    else:
        client = dask
    try:
        tasks = n_jobs if n_jobs and n_jobs > 1 else max(sum(client.nthreads().values()), 1)
        futures = [client.submit(run_worker, _spec_for(spec, i), pure=False, key=f"modelcycle-tune-{spec.token}-{i}")
                   for i in range(tasks)]
        _watch(futures, lambda fs, t: wait(fs, timeout=t, return_when="FIRST_EXCEPTION"), spec, on_progress)
    finally:
        if own_client is not None:
            own_client.close()


def _watch(futures, wait_some, spec: WorkerSpec, on_progress) -> None:
    """Wait for the workers, reporting progress; at the first failure, tell the others to stop
    after their current trial, then raise it."""
    error = None
    pending = list(futures)
    while pending:
        try:
            wait_some(pending, 0.5)
        except Exception:  # distributed's wait raises on timeout
            pass
        still = []
        for future in pending:
            if not future.done():
                still.append(future)
                continue
            exc = future.exception()
            if exc is not None and error is None:
                error = exc
                _tell_stop(spec)
        pending = still
        on_progress()
    if error is not None:
        raise error


def _tell_stop(spec: WorkerSpec) -> None:
    from modelcycle.store import open_store

    open_store(spec.tracking_uri, spec.artifact_uri).log_batch(spec.study_run_id, tags={STOP_TAG: spec.token})


def cpu_count() -> int:
    return os.cpu_count() or 1

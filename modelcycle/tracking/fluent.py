"""The module-level API: ``with mc.start_run(...)`` and logging to the active run."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelcycle import config
from modelcycle.exceptions import InvalidInput
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import ArtifactInfo, Metric, Run, RunStatus, ViewType
from modelcycle.tracking.client import Client

_active_runs: contextvars.ContextVar[tuple[ActiveRun, ...]] = contextvars.ContextVar(
    "modelcycle_active_runs", default=()
)
_client_lock = threading.Lock()
_client: Client | None = None
_experiment: str | int | None = None


def set_tracking_uri(uri: str | None, artifact_uri: str | None = None) -> None:
    """Use ``uri`` (a database URL or http://host:port) from now on in this process."""
    global _client
    with _client_lock:
        config.set_overrides(uri, artifact_uri)
        _client = None


def set_experiment(experiment: str | int | None) -> None:
    """The experiment new runs go to when start_run is not given one: a name (created on the
    first run if new; "2024" is a name too) or an id as an int."""
    global _experiment
    _experiment = experiment


def current_experiment() -> str | int | None:
    """The experiment set with set_experiment (None: the default one)."""
    return _experiment


def client() -> Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = Client()
        return _client


class ActiveRun:
    """A started run. As a context manager it ends FINISHED, or FAILED when an exception
    escapes (KILLED on KeyboardInterrupt), unless mc.end_run() already ended it."""

    def __init__(self, run: Run):
        self.info = run
        self._token: contextvars.Token | None = None
        self._ended = False

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def experiment_id(self) -> int:
        return self.info.experiment_id

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name} id={self.id}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._ended:  # keep the status it was ended with
            return
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        end_run(status, run=self)


def start_run(experiment: str | int | None = None, name: str | None = None,
              tags: dict[str, Any] | None = None, nested: bool = False,
              run_id: str | None = None) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active one. ``experiment`` is a name
    (a str, created if new) or an id (an int).

    A run started while another is active must say ``nested=True``; it becomes its child.
    """
    stack = _active_runs.get()
    if stack and not nested and run_id is None:
        raise InvalidInput(
            f"The run {stack[-1].name} ({stack[-1].id}) is still active. End it first with "
            "mc.end_run(), or pass nested=True to start a child run."
        )
    c = client()
    if run_id is not None:
        run = c.get_run(run_id)
        if run.status is not RunStatus.RUNNING:
            c.store.update_run(run_id, status=RunStatus.RUNNING)
            run = c.get_run(run_id)
    else:
        parent = stack[-1] if stack and nested else None
        if experiment is None:
            experiment = parent.experiment_id if parent else _experiment
        run = c.create_run(experiment, name, tags, parent.id if parent else None)
    active = ActiveRun(run)
    _active_runs.set(stack + (active,))
    return active


def active_run() -> ActiveRun | None:
    stack = _active_runs.get()
    return stack[-1] if stack else None


class attach_run:
    """``with attach_run(run):`` makes an existing run the active one inside the block, without
    reading, starting or ending it: whoever made it keeps its status (tune's trials)."""

    def __init__(self, run: Run):
        self.active = ActiveRun(run)

    def __enter__(self) -> ActiveRun:
        self._token = _active_runs.set(_active_runs.get() + (self.active,))
        return self.active

    def __exit__(self, *exc) -> None:
        _active_runs.reset(self._token)


def end_run(status: RunStatus | str = RunStatus.FINISHED, run: ActiveRun | None = None) -> None:
    stack = _active_runs.get()
    run = run or (stack[-1] if stack else None)
    if run is None:
        return
    client().end_run(run.id, status)
    run._ended = True
    _active_runs.set(tuple(r for r in stack if r is not run))


def _run_id() -> str:
    run = active_run()
    if run is not None:
        return run.id
    # Like a notebook user expects: logging with no run starts one.
    return start_run().id


def log_param(key: str, value: Any) -> None:
    client().log_param(_run_id(), key, value)


def log_params(params: dict[str, Any]) -> None:
    client().log_params(_run_id(), params)


def log_metric(key: str, value: float, step: int = 0, timestamp: int | None = None) -> None:
    client().store.log_batch(_run_id(), [Metric(key, value, step, timestamp or now_ms())])


def log_metrics(metrics: dict[str, float], step: int = 0, timestamp: int | None = None) -> None:
    client().log_metrics(_run_id(), metrics, step, timestamp)


def set_tag(key: str, value: Any) -> None:
    client().set_tag(_run_id(), key, value)


def set_tags(tags: dict[str, Any]) -> None:
    client().set_tags(_run_id(), tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> ArtifactInfo:
    return client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> list[ArtifactInfo]:
    return client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> ArtifactInfo:
    return client().log_text(_run_id(), text, artifact_file)


def log_dict(dictionary: dict, artifact_file: str) -> ArtifactInfo:
    return client().log_dict(_run_id(), dictionary, artifact_file)


def log_figure(figure, artifact_file: str) -> ArtifactInfo:
    return client().log_figure(_run_id(), figure, artifact_file)


def get_metric_history(run_id: str, key: str):
    """The whole history of a metric as a DataFrame with columns step, value, timestamp."""
    import pandas as pd

    history = client().get_metric_history(run_id, key)
    return pd.DataFrame(
        {"step": [m.step for m in history], "value": [m.value for m in history],
         "timestamp": pd.to_datetime([m.timestamp for m in history], unit="ms", utc=True)}
    )


def search_runs(experiments=None, filter: str | None = None,
                order_by: Sequence[str] | str | None = None, max_results: int | None = None,
                view: ViewType | str = ViewType.ACTIVE):
    """Runs as a DataFrame: one row a run; columns run_id, experiment_id, name, status,
    start_time, end_time, parent_id, then metrics.<key>, params.<key>, tags.<key>."""
    from modelcycle.tracking.frames import runs_to_frame

    c = client()
    if max_results is None:
        runs = c.search_all_runs(experiments, filter, order_by, view)
    else:
        runs = c.search_runs(experiments, filter, order_by, max_results, None, view).runs
    return runs_to_frame(runs)

"""An Optuna storage whose study is a run and whose trials are its child runs, in the modelcycle
store itself (SQLite, PostgreSQL or a tracking server): no second database, and what Optuna
records is what the UI, the searches and the registry's gates read.

What a trial run holds: its hyperparameters as params; its final value(s) as metrics named by
the study (``value`` unless told), its reported intermediate values as the history of
``intermediate_value``; its Optuna state as the tag ``mc.trial.state`` and as the run status
(COMPLETE is FINISHED, PRUNED is KILLED, FAIL is FAILED); its number as ``mc.trial.number``;
what Optuna needs to read it back (distributions, attributes) as ``mc.optuna.*`` tags.

Guarantees, with any number of processes on any number of machines sharing one store:
- every trial is numbered once and in order (0, 1, 2, ...; no gaps, no duplicates): numbers are
  given out under a lock per study (see locks.py), together with a start time later than every
  earlier trial's, in the one transaction that creates the run;
- every write is committed when the call returns (a trial's params go with its next write: its
  first report or attribute, or its end; at once with ``write_through``), so a crash loses only
  the trials then running; a trial left running by a dead process is failed (tag ``mc.trial.interrupted``) by
  the next process that creates a trial: at once when that process is on the same host and the
  dead one's pid is gone; with a ``heartbeat_interval``, also when its heartbeat (a tag written
  by one thread per process) is older than the grace period;
- state changes are compare-and-set under the study's lock: a trial finishes once.

Within one process, the trials it runs are served from memory; those of other processes are
read again at most every ``refresh_interval`` seconds when only finished trials are asked for
(pruners), and on every other read (samplers, at the start of each trial). A read asks for the
newest trials first and stops at those it knows, so it costs one small query when nothing
changed, whatever the size of the study.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import socket
import threading
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution, check_distribution_compatibility, distribution_to_json, json_to_distribution,
)
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState

from modelcycle.exceptions import InvalidInput, NotFound
from modelcycle.store import Store, open_store
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import Metric, Run, RunStatus, ViewType
from modelcycle.store.validation import check_name, check_params
from modelcycle.training.locks import LockFactory, locks_for

STUDY_NAME = "mc.study.name"
STUDY_DIRECTIONS = "mc.study.directions"
STUDY_METRICS = "mc.study.metrics"
STUDY_INTERRUPTED = "mc.study.interrupted"
STUDY_BEST_TRIAL = "mc.study.best_trial"
TRIAL_NUMBER = "mc.trial.number"
TRIAL_STATE = "mc.trial.state"
TRIAL_VALUES = "mc.trial.values"
TRIAL_WORKER = "mc.trial.worker"
TRIAL_HEARTBEAT = "mc.trial.heartbeat"
TRIAL_STARTED = "mc.trial.started"
TRIAL_INTERRUPTED = "mc.trial.interrupted"
TRIAL_ERROR = "mc.trial.error"
TRIAL_BEST = "mc.trial.best"
PARAM_PREFIX = "mc.optuna.param."
USER_PREFIX = "mc.optuna.user."
SYSTEM_PREFIX = "mc.optuna.system."
INTERMEDIATE = "intermediate_value"

RUN_STATUS = {TrialState.COMPLETE: RunStatus.FINISHED, TrialState.PRUNED: RunStatus.KILLED,
              TrialState.FAIL: RunStatus.FAILED}
_PAGE = 5000
# When numbering a trial showed that the store holds nothing this process has not seen, the
# next read of every trial within this many seconds (the sampler's, in the same ask) is served
# from memory.
RECENT = 0.05


class TrialBudgetSpent(Exception):
    """Raised by create_new_trial once the study holds its ``max_trials``: ends an optimize loop."""


def quote(text: str) -> str:
    """``text`` as a string literal of the run filter language."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _now_ms() -> int:
    return now_ms()


def _datetime(ms: int | None) -> datetime.datetime | None:
    return None if ms is None else datetime.datetime.fromtimestamp(ms / 1000)


def _process_start() -> str:
    """When this process started, so that a pid reused by a later process is not taken for it."""
    try:
        with open(f"/proc/{os.getpid()}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive_here(worker: str) -> bool | None:
    """Whether the process a ``mc.trial.worker`` tag names still runs: None when it ran on
    another host or this host cannot tell."""
    host, _, rest = worker.partition("/")
    pid_text, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit() or not started:
        return None
    try:
        with open(f"/proc/{pid_text}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19] == started
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return None


@dataclass
class _Trial:
    run_id: str
    trial_id: int
    frozen: FrozenTrial
    own: bool = False
    last_write: float = 0.0  # time.time() of this process's last write to it
    history_mark: tuple | None = None  # (step, timestamp) of the intermediate values read
    worker: str = ""  # the process running it, as its mc.trial.worker tag says
    last_sign: int = 0  # when it last showed life: its start, a heartbeat or a logged metric (ms)
    run: Run | None = None  # its run as created or taken by this process
    pending_params: dict[str, str] = field(default_factory=dict)  # written with its next write
    pending_tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Study:
    study_id: int
    run_id: str
    name: str
    directions: list[StudyDirection]
    metric_names: list[str]
    trials: dict[int, _Trial] = field(default_factory=dict)  # by number
    known_upto: int = -1  # every trial numbered up to this one has been read
    refreshed: float = -math.inf  # time.monotonic() of the last read of other processes' trials
    interrupted: int = 0  # trials failed as interrupted, as last read (it only grows)
    seen_all: float = -math.inf  # time.monotonic() when numbering a trial found nothing unseen
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)


class RunStorage(BaseStorage):
    """Optuna's storage on the modelcycle store: pass it to ``optuna.create_study(storage=...)``
    or let ``mc.tune`` make one. Studies live in ``experiment`` (a name or an id; the current
    one by default). ``heartbeat_interval`` (seconds, None for none) and ``grace_period``
    (default: five intervals) decide when a silent running trial of another host is failed."""

    def __init__(self, experiment: str | int | None = None, tracking_uri: str | None = None,
                 artifact_uri: str | None = None, *, heartbeat_interval: int | None = None,
                 grace_period: int | None = None, refresh_interval: float = 1.0,
                 locks: LockFactory | None = None):
        self.tracking_uri, self.artifact_uri = tracking_uri, artifact_uri
        self.experiment = experiment
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.refresh_interval = refresh_interval
        self._locks_given = locks
        self._setup()

    def _setup(self) -> None:
        from modelcycle.tracking.client import DEFAULT_EXPERIMENT, Client
        from modelcycle.tracking.fluent import current_experiment

        self.store: Store = open_store(self.tracking_uri, self.artifact_uri)
        experiment = self.experiment if self.experiment is not None else current_experiment()
        client = Client(store=self.store)
        if experiment is None or isinstance(experiment, str):
            self.experiment_id = client.get_or_create_experiment(experiment or DEFAULT_EXPERIMENT).id
        else:
            self.experiment_id = client.get_experiment(experiment).id
        self.locks: LockFactory = self._locks_given or locks_for(self.store)
        self.worker = f"{socket.gethostname()}/{os.getpid()}/{_process_start()}"
        self.max_trials: int | None = None  # see TrialBudgetSpent
        self.study_parent_id: str | None = None  # the run a new study's run is a child of
        self.study_metric_names: list[str] | None = None  # names of the values of a new study
        self.study_tags: dict[str, str] = {}  # more tags of a new study's run
        # Params as they are suggested, not with the trial's next write: for samplers in other
        # processes that read the params of running trials (TPE's constant liar).
        self.write_through = False
        self._mutex = threading.RLock()
        self._studies: dict[int, _Study] = {}
        self._study_runs: dict[str, int] = {}  # run id -> study id
        self._trials: dict[int, tuple[_Study, _Trial]] = {}
        self._trial_runs: dict[str, int] = {}  # run id -> trial id
        self._next_study_id = 0
        self._next_trial_id = 0
        self._pending_studies: dict[int, str] = {}  # ids known from a pickle, loaded on use
        self._stale_suspects: set[int] = set()
        self._stale_checked = -math.inf  # time.monotonic() of the last look for interrupted trials
        self._beating: threading.Thread | None = None

    # A storage crosses to other processes (Dask, joblib) as its address and the ids it gave.
    def __getstate__(self) -> dict:
        with self._mutex:
            studies = {**self._pending_studies, **{i: s.run_id for i, s in self._studies.items()}}
        return {"tracking_uri": self.tracking_uri or self.store_uri(), "artifact_uri": self.artifact_uri,
                "experiment": self.experiment_id, "heartbeat_interval": self.heartbeat_interval,
                "grace_period": self.grace_period, "refresh_interval": self.refresh_interval,
                "studies": studies, "next_study_id": max([self._next_study_id, *studies.keys()], default=0) + 1}

    def __setstate__(self, state: dict) -> None:
        self.tracking_uri, self.artifact_uri = state["tracking_uri"], state["artifact_uri"]
        self.experiment = state["experiment"]
        self.heartbeat_interval, self.grace_period = state["heartbeat_interval"], state["grace_period"]
        self.refresh_interval = state["refresh_interval"]
        self._locks_given = None
        self._setup()
        self._pending_studies = dict(state["studies"])
        self._next_study_id = state["next_study_id"]

    def store_uri(self) -> str | None:
        return getattr(self.store, "db_uri", None) or getattr(self.store, "url", None)

    # ------------------------------------------------------------------ studies
    def _register_study(self, run: Run, study_id: int | None = None) -> _Study:
        tags = run.tags
        directions = [StudyDirection[d] for d in json.loads(tags[STUDY_DIRECTIONS])]
        names = json.loads(tags.get(STUDY_METRICS) or "null") or _default_names(len(directions))
        with self._mutex:
            existing = self._study_runs.get(run.id)
            if existing is not None:
                return self._studies[existing]
            if study_id is None:
                study_id = self._next_study_id
                self._next_study_id += 1
            study = _Study(study_id, run.id, tags[STUDY_NAME], directions, names)
            self._studies[study_id] = study
            self._study_runs[run.id] = study_id
            return study

    def _study(self, study_id: int) -> _Study:
        with self._mutex:
            study = self._studies.get(study_id)
            if study is not None:
                return study
            run_id = self._pending_studies.pop(study_id, None)
        if run_id is None:
            raise KeyError(f"No study with id {study_id}.")
        try:
            return self._register_study(self.store.get_run(run_id), study_id)
        except NotFound:
            raise KeyError(f"No study with id {study_id}: its run {run_id} is gone.") from None

    def _find_study_runs(self, name: str | None = None) -> list[Run]:
        condition = f"tags.`{STUDY_NAME}` = {quote(name)}" if name is not None else f"tags.`{STUDY_NAME}` is not null"
        runs, token = [], None
        while True:
            page = self.store.search_runs([self.experiment_id], condition, ["start_time ASC"], _PAGE, token)
            runs.extend(run for run in page.runs if STUDY_DIRECTIONS in run.tags)
            token = page.next_page_token
            if token is None:
                return runs

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        from modelcycle.store.names import random_run_name

        study_name = check_name("study", study_name) if study_name is not None else f"study-{random_run_name()}"
        names = self.study_metric_names or _default_names(len(directions))
        if len(names) != len(directions):
            raise InvalidInput(f"The study {study_name!r} has {len(directions)} directions but {len(names)} "
                               f"metric names ({names}); give one name per objective value.")
        tags = {STUDY_NAME: study_name, STUDY_DIRECTIONS: json.dumps([d.name for d in directions]),
                STUDY_METRICS: json.dumps(names), STUDY_INTERRUPTED: "0", **self.study_tags}
        with self.locks(f"study-name:{self.experiment_id}:{study_name}"):
            if self._find_study_runs(study_name):
                raise DuplicatedStudyError(
                    f"A study named {study_name!r} already exists in experiment {self.experiment_id}. Choose "
                    "another name, or load it (mc.tune resumes a study of the same name).")
            run = self.store.create_run(self.experiment_id, study_name, tags, self.study_parent_id)
        return self._register_study(run).study_id

    def delete_study(self, study_id: int) -> None:
        study = self._study(study_id)
        self._refresh(study)
        for trial in study.trials.values():
            self.store.delete_run(trial.run_id)
        self.store.delete_run(study.run_id)
        with self._mutex:
            self._studies.pop(study_id, None)
            self._study_runs.pop(study.run_id, None)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self.store.log_batch(self._study(study_id).run_id, tags={USER_PREFIX + key: _dump(value)})

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self.store.log_batch(self._study(study_id).run_id, tags={SYSTEM_PREFIX + key: _dump(value)})

    def get_study_id_from_name(self, study_name: str) -> int:
        runs = self._find_study_runs(check_name("study", study_name))
        if not runs:
            raise KeyError(f"No study named {study_name!r} in experiment {self.experiment_id}.")
        return self._register_study(runs[0]).study_id

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._study(study_id).name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._study(study_id).directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return _attrs(self.store.get_run(self._study(study_id).run_id).tags, USER_PREFIX)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return _attrs(self.store.get_run(self._study(study_id).run_id).tags, SYSTEM_PREFIX)

    def get_all_studies(self) -> list[FrozenStudy]:
        studies = []
        for run in self._find_study_runs():
            study = self._register_study(run)
            studies.append(FrozenStudy(study.name, None, _attrs(run.tags, USER_PREFIX),
                                       _attrs(run.tags, SYSTEM_PREFIX), study.study_id,
                                       directions=study.directions))
        return studies

    def study_run_id(self, study_id: int) -> str:
        return self._study(study_id).run_id

    def metric_names(self, study_id: int) -> list[str]:
        return list(self._study(study_id).metric_names)

    # ------------------------------------------------------------------ trials: writes
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        study = self._study(study_id)
        if time.monotonic() - self._stale_checked >= (self.heartbeat_interval or 60):
            self.fail_stale_trials(study_id)
        state = template_trial.state if template_trial is not None else TrialState.RUNNING
        tags = {TRIAL_STATE: state.name}
        if state is TrialState.RUNNING:
            tags[TRIAL_WORKER] = self.worker
        params, metrics = {}, []
        if template_trial is not None:
            for name, value in template_trial.params.items():
                distribution = template_trial.distributions[name]
                tags[PARAM_PREFIX + name] = _param_tag(distribution.to_internal_repr(value), distribution)
                params[name] = str(value)
            tags.update({USER_PREFIX + k: _dump(v) for k, v in template_trial.user_attrs.items()})
            tags.update({SYSTEM_PREFIX + k: _dump(v) for k, v in template_trial.system_attrs.items()})
            if template_trial.values is not None:
                tags[TRIAL_VALUES] = json.dumps(list(template_trial.values))
                metrics += [Metric(n, v, 0, _now_ms()) for n, v in zip(study.metric_names, template_trial.values)]
            metrics += [Metric(INTERMEDIATE, v, s, _now_ms())
                        for s, v in sorted(template_trial.intermediate_values.items())]
        with self.locks(f"study:{study.run_id}"):
            page = self.store.search_runs([self.experiment_id], _trials_filter(study), ["start_time DESC"], 1,
                                          None, ViewType.ALL)
            latest = page.runs[0] if page.runs else None
            number = int(latest.tags[TRIAL_NUMBER]) + 1 if latest else 0
            # The count only grows: the study run is read only when the last count read would stop it.
            if self.max_trials is not None and number - study.interrupted >= self.max_trials:
                study.interrupted = int(self.store.get_run(study.run_id).tags.get(STUDY_INTERRUPTED, "0"))
                if number - study.interrupted >= self.max_trials:
                    raise TrialBudgetSpent(study.name)
            start = max(_now_ms(), latest.start_time + 1 if latest else 0)
            tags[TRIAL_NUMBER] = str(number)
            run = self.store.create_run(self.experiment_id, f"trial-{number}", tags, study.run_id, start)
        if params or metrics:
            self.store.log_batch(run.id, metrics, params)
        if state.is_finished():
            self.store.update_run(run.id, status=RUN_STATUS[state])
            run = self.store.get_run(run.id)
        with self._mutex:
            trial_id = self._next_trial_id
            self._next_trial_id += 1
            intermediate = dict(template_trial.intermediate_values) if template_trial is not None else {}
            frozen = self._frozen(study, run, intermediate, trial_id, infer_crash=False)
            trial = _Trial(run.id, trial_id, frozen, own=state is TrialState.RUNNING, last_write=time.time(),
                           run=run)
            study.trials[number] = trial
            self._trials[trial_id] = (study, trial)
            self._trial_runs[run.id] = trial_id
            for name, distribution in frozen.distributions.items():
                study.distributions.setdefault(name, distribution)
            complete_before = study.known_upto == number - 1
            _advance(study)
            if complete_before and not any(not t.own and not t.frozen.state.is_finished()
                                           for t in study.trials.values()):
                study.seen_all = time.monotonic()  # the store has nothing this process has not seen
        if trial.own and self.heartbeat_interval is not None:
            self._start_heartbeat()
        return trial_id

    def _own_running(self, trial_id: int) -> tuple[_Study, _Trial]:
        study, trial = self._lookup(trial_id)
        if not trial.own:  # another process's trial, or one taken from the queue elsewhere
            self._reload(study, trial)
        if trial.frozen.state.is_finished():
            raise UpdateFinishedTrialError(
                f"Trial {trial.frozen.number} has already finished and can not be updated.")
        return study, trial

    def _replace(self, study: _Study, trial: _Trial, **changes) -> None:
        """Swap in a changed copy: a FrozenTrial handed out before is never changed under its reader."""
        frozen = copy.copy(trial.frozen)
        for name, value in changes.items():
            setattr(frozen, name, value)
        with self._mutex:
            trial.frozen = frozen

    def set_trial_param(self, trial_id: int, param_name: str, param_value_internal: float,
                        distribution: BaseDistribution) -> None:
        study, trial = self._own_running(trial_id)
        known = study.distributions.get(param_name)
        if known is not None:
            check_distribution_compatibility(known, distribution)  # ValueError, as Optuna's storages
        external = distribution.to_external_repr(param_value_internal)
        # Refused here, in the objective's suggest call, rather than by the trial's next write:
        # that write is its end, which would then fail and leave the trial running.
        check_params({param_name: external})
        with self._mutex:
            trial.pending_params[param_name] = str(external)
            trial.pending_tags[PARAM_PREFIX + param_name] = _param_tag(param_value_internal, distribution)
            study.distributions.setdefault(param_name, distribution)
        if self.write_through:
            self._write(trial)
        self._replace(study, trial, params={**trial.frozen.params, param_name: external},
                      distributions={**trial.frozen.distributions, param_name: distribution})

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        study, trial = self._lookup(trial_id)
        with self.locks(f"study:{study.run_id}"):
            # Another process fails a trial of this one only when it looks dead: silent for the
            # grace period (or gone). One written to within it is as this process left it.
            if trial.own and (self.heartbeat_interval is None or
                              time.time() - trial.last_write < self._grace_ms() / 2000):
                run = None
            else:
                run = self._reload(study, trial)
            current = trial.frozen.state
            if current.is_finished():
                raise UpdateFinishedTrialError(
                    f"Trial {trial.frozen.number} has already finished and can not be updated.")
            with self._mutex:
                suspect = trial_id in self._stale_suspects
                self._stale_suspects.discard(trial_id)
            if suspect and state is TrialState.FAIL and not self._is_stale(run):
                return False  # it showed life since it was found silent
            if state is TrialState.RUNNING:
                if current is TrialState.RUNNING:
                    return False
                stamp = _now_ms()
                self.store.log_batch(trial.run_id, tags={TRIAL_STATE: state.name, TRIAL_WORKER: self.worker,
                                                         TRIAL_STARTED: str(stamp)})
                with self._mutex:
                    trial.own = True
                    trial.run = run
                self._replace(study, trial, state=state, datetime_start=_datetime(stamp))
                return True
            tags = {TRIAL_STATE: state.name}
            metrics = []
            if values is not None:
                values = [float(v) for v in values]
                tags[TRIAL_VALUES] = json.dumps(values)
                stamp = _now_ms()
                metrics = [Metric(n, v, 0, stamp) for n, v in zip(study.metric_names, values)]
            interrupted = state is TrialState.FAIL and not trial.own and current is TrialState.RUNNING
            if interrupted:
                tags[TRIAL_INTERRUPTED] = "true"
            self._write(trial, metrics, tags)
            if state.is_finished():
                self.store.update_run(trial.run_id, status=RUN_STATUS[state])
                end = _now_ms()
            else:  # back to WAITING
                end = None
            if interrupted:
                count = int(self.store.get_run(study.run_id).tags.get(STUDY_INTERRUPTED, "0")) + 1
                self.store.log_batch(study.run_id, tags={STUDY_INTERRUPTED: str(count)})
        self._replace(study, trial, state=state, values=values,
                      datetime_complete=_datetime(end) if end else trial.frozen.datetime_complete)
        return True

    def _write(self, trial: _Trial, metrics: Sequence[Metric] = (), tags: dict[str, str] | None = None) -> None:
        """One write to a trial's run, with what is pending for it."""
        with self._mutex:
            params, pending = dict(trial.pending_params), dict(trial.pending_tags)
        self.store.log_batch(trial.run_id, metrics, params or None, {**pending, **(tags or {})} or None)
        with self._mutex:
            for key in params:
                trial.pending_params.pop(key, None)
            for key in pending:
                trial.pending_tags.pop(key, None)
            trial.last_write = time.time()

    def set_trial_intermediate_value(self, trial_id: int, step: int, intermediate_value: float) -> None:
        study, trial = self._own_running(trial_id)
        self._write(trial, [Metric(INTERMEDIATE, intermediate_value, step, _now_ms())])
        self._replace(study, trial, intermediate_values={**trial.frozen.intermediate_values,
                                                         step: intermediate_value})

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        study, trial = self._own_running(trial_id)
        self._write(trial, tags={USER_PREFIX + key: _dump(value)})
        self._replace(study, trial, user_attrs={**trial.frozen.user_attrs, key: value})

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        study, trial = self._own_running(trial_id)
        self._write(trial, tags={SYSTEM_PREFIX + key: _dump(value)})
        self._replace(study, trial, system_attrs={**trial.frozen.system_attrs, key: value})

    def trial_run_id(self, trial_id: int) -> str:
        return self._lookup(trial_id)[1].run_id

    def trial_run(self, trial_id: int) -> Run:
        """The run of a trial this process runs (as it was created), else as the store has it."""
        trial = self._lookup(trial_id)[1]
        return trial.run if trial.run is not None else self.store.get_run(trial.run_id)

    def trial_worker(self, trial_id: int) -> str:
        """host/pid/start of the process running the trial, as last read ('' if unknown)."""
        trial = self._lookup(trial_id)[1]
        return self.worker if trial.own else trial.worker

    def trial_id_of_run(self, run_id: str) -> int | None:
        with self._mutex:
            return self._trial_runs.get(run_id)

    # ------------------------------------------------------------------ trials: reads
    def _lookup(self, trial_id: int) -> tuple[_Study, _Trial]:
        with self._mutex:
            found = self._trials.get(trial_id)
        if found is None:
            raise KeyError(f"No trial with id {trial_id}.")
        return found

    def _frozen(self, study: _Study, run: Run, intermediate: dict[int, float], trial_id: int,
                infer_crash: bool = True) -> FrozenTrial:
        tags = run.tags
        state = TrialState[tags.get(TRIAL_STATE, "RUNNING")]
        if infer_crash and state is TrialState.RUNNING and run.status is not RunStatus.RUNNING:
            state = TrialState.FAIL  # its run ended without saying how: a crash between two writes
        params, distributions = {}, {}
        for key, text in tags.items():
            if key.startswith(PARAM_PREFIX):
                internal, described = json.loads(text)
                distribution = json_to_distribution(json.dumps(described))
                name = key[len(PARAM_PREFIX):]
                params[name] = distribution.to_external_repr(internal)
                distributions[name] = distribution
        values = json.loads(tags[TRIAL_VALUES]) if TRIAL_VALUES in tags else None
        started = int(tags[TRIAL_STARTED]) if TRIAL_STARTED in tags else run.start_time
        return FrozenTrial(
            number=int(tags[TRIAL_NUMBER]), state=state, value=None,
            datetime_start=None if state is TrialState.WAITING else _datetime(started),
            datetime_complete=_datetime(run.end_time) if state.is_finished() else None,
            params=params, distributions=distributions, user_attrs=_attrs(tags, USER_PREFIX),
            system_attrs=_attrs(tags, SYSTEM_PREFIX), intermediate_values=intermediate, trial_id=trial_id,
            values=values)

    def _intermediate(self, run: Run, trial: _Trial | None) -> tuple[dict[int, float], tuple | None, bool]:
        """The intermediate values of ``run``; read from the store only when they changed."""
        latest = run.metrics.get(INTERMEDIATE)
        if latest is None:
            return {}, None, True
        mark = (latest.step, latest.timestamp, latest.value if not math.isnan(latest.value) else "nan")
        if trial is not None and trial.history_mark == mark:
            return trial.frozen.intermediate_values, mark, False
        values: dict[int, float] = {}
        for point in self.store.get_metric_history(run.id, INTERMEDIATE):
            values[point.step] = point.value  # a step reported again overwrites, as in Optuna
        return values, mark, True

    def _absorb(self, study: _Study, run: Run) -> None:
        """Take in a trial run read from the store (not one this process is running)."""
        number = int(run.tags[TRIAL_NUMBER])
        with self._mutex:
            trial = study.trials.get(number)
        if trial is not None and trial.own:
            return  # written by this process: memory is as new as the store, or newer
        intermediate, mark, _ = self._intermediate(run, trial)
        with self._mutex:
            if trial is None:
                trial_id = self._next_trial_id
                self._next_trial_id += 1
                trial = _Trial(run.id, trial_id, self._frozen(study, run, intermediate, trial_id))
                study.trials[number] = trial
                self._trials[trial_id] = (study, trial)
                self._trial_runs[run.id] = trial_id
            else:
                trial.frozen = self._frozen(study, run, intermediate, trial.trial_id)
            trial.history_mark = mark
            _note_life(trial, run)
            for name, distribution in trial.frozen.distributions.items():
                study.distributions.setdefault(name, distribution)
            _advance(study)

    def _reload(self, study: _Study, trial: _Trial) -> Run:
        """Read ``trial`` again; for one of this process's, only what others may change (its state)."""
        run = self.store.get_run(trial.run_id)
        if trial.own:
            state = TrialState[run.tags.get(TRIAL_STATE, "RUNNING")]
            if state is not trial.frozen.state:
                self._replace(study, trial, state=state)
            return run
        intermediate, mark, _ = self._intermediate(run, trial)
        with self._mutex:
            trial.frozen = self._frozen(study, run, intermediate, trial.trial_id)
            trial.history_mark = mark
            _note_life(trial, run)
        return run

    def _refresh(self, study: _Study) -> None:
        """Read the trials other processes created or changed since the last read: the newest
        first, down to those already known (numbers are given in the order of start times), then
        those of other processes still running."""
        with self._mutex:
            watch = [t.run_id for t in study.trials.values() if not t.frozen.state.is_finished() and not t.own]
        seen: set[str] = set()
        token, limit = None, 4
        while True:
            page = self.store.search_runs([self.experiment_id], _trials_filter(study), ["start_time DESC"], limit,
                                          token, ViewType.ALL)
            done = False
            for run in page.runs:
                if int(run.tags[TRIAL_NUMBER]) <= study.known_upto:
                    done = True
                    break
                self._absorb(study, run)
                seen.add(run.id)
            token = page.next_page_token
            if done or token is None:
                break
            limit = min(limit * 4, _PAGE)
        for run_id in watch:
            if run_id not in seen:
                self._absorb(study, self.store.get_run(run_id))
        with self._mutex:
            study.refreshed = time.monotonic()

    def get_trial(self, trial_id: int) -> FrozenTrial:
        study, trial = self._lookup(trial_id)
        if not trial.own and not trial.frozen.state.is_finished():
            self._reload(study, trial)
        return trial.frozen

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        study = self._study(study_id)
        # Samplers read every trial: fresh. Pruners read finished ones only, and Optuna reads the
        # queue (WAITING) at each ask: these may be up to refresh_interval old.
        now = time.monotonic()
        if states is not None and TrialState.RUNNING not in states:
            if now - study.refreshed >= self.refresh_interval:
                self._refresh(study)
        elif now - study.seen_all < RECENT:
            study.seen_all = -math.inf  # once
        else:
            self._refresh(study)
        with self._mutex:
            trials = [study.trials[n].frozen for n in sorted(study.trials)]
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        study = self._study(study_id)
        with self._mutex:
            trial = study.trials.get(trial_number)
        if trial is None:
            self._refresh(study)
            with self._mutex:
                trial = study.trials.get(trial_number)
        if trial is None:
            raise KeyError(f"No trial number {trial_number} in study {study.name!r}.")
        return trial.trial_id

    # ------------------------------------------------------------------ interrupted trials
    def _start_heartbeat(self) -> None:
        with self._mutex:
            if self._beating is not None and self._beating.is_alive():
                return
            self._beating = threading.Thread(target=self._beat, name="modelcycle-trial-heartbeat", daemon=True)
            self._beating.start()

    def _beat(self) -> None:
        """Every interval, a heartbeat tag on each running trial of this process not written to
        meanwhile: one thread for all of them, not one per trial."""
        interval = self.heartbeat_interval
        while interval:
            time.sleep(interval)
            with self._mutex:
                running = [t for _, t in self._trials.values() if t.own and t.frozen.state is TrialState.RUNNING
                           and time.time() - t.last_write >= interval / 2]
            for trial in running:
                try:
                    self._write(trial, tags={TRIAL_HEARTBEAT: str(_now_ms())})
                except Exception:  # a missed beat is tolerated by the grace period
                    pass

    def _grace_ms(self) -> int:
        return 1000 * (self.grace_period or 5 * (self.heartbeat_interval or 60))

    def _is_stale(self, run: Run) -> bool:
        probe = _Trial(run.id, -1, None)  # type: ignore[arg-type]
        _note_life(probe, run)
        return _silent(probe, self._grace_ms() if self.heartbeat_interval else None)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Running trials of other processes that are dead (same host, pid gone) or, with a
        heartbeat, silent for longer than the grace period; from what the last refresh saw,
        checked again on the store before one is failed (set_trial_state_values)."""
        study = self._study(study_id)
        self._refresh(study)
        grace_ms = self._grace_ms() if self.heartbeat_interval else None
        with self._mutex:
            stale = [t.trial_id for t in study.trials.values()
                     if not t.own and t.frozen.state is TrialState.RUNNING and _silent(t, grace_ms)]
            self._stale_suspects.update(stale)
        return stale

    def fail_stale_trials(self, study_id: int) -> list[int]:
        """Fail the trials of the study that were left running by a process that is gone;
        returns their numbers. Run before new trials are created, and at most once an interval."""
        self._stale_checked = time.monotonic()
        failed = []
        for trial_id in self._get_stale_trial_ids(study_id):
            try:
                if self.set_trial_state_values(trial_id, TrialState.FAIL):
                    failed.append(self._lookup(trial_id)[1].frozen.number)
            except UpdateFinishedTrialError:  # another process got there first
                pass
        return failed


def _note_life(trial: _Trial, run: Run) -> None:
    tags = run.tags
    trial.worker = tags.get(TRIAL_WORKER, "")
    trial.last_sign = max([run.start_time, int(tags.get(TRIAL_HEARTBEAT, 0)), int(tags.get(TRIAL_STARTED, 0)),
                           *(m.timestamp for m in run.metrics.values())])


def _silent(trial: _Trial, grace_ms: int | None) -> bool:
    alive = _alive_here(trial.worker)
    return alive is False or (alive is None and grace_ms is not None and _now_ms() - trial.last_sign > grace_ms)


def _trials_filter(study: _Study) -> str:
    # The same text for every read of a study, so that the store compiles the query once.
    return f"parent_id = {quote(study.run_id)} and tags.`{TRIAL_NUMBER}` is not null"


def _advance(study: _Study) -> None:
    while study.known_upto + 1 in study.trials:
        study.known_upto += 1


def _default_names(count: int) -> list[str]:
    return ["value"] if count == 1 else [f"value_{i}" for i in range(count)]


def _dump(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"An Optuna attribute must be JSON serialisable; got {type(value).__name__} "
                           f"{value!r}. Store its str(), or log it as an artifact.") from None


def _attrs(tags: dict[str, str], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: json.loads(v) for k, v in tags.items() if k.startswith(prefix)}


def _param_tag(internal: float, distribution: BaseDistribution) -> str:
    return json.dumps([internal, json.loads(distribution_to_json(distribution))])


__all__ = ["RunStorage", "TrialBudgetSpent"]

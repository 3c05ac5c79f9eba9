"""Hyperparameter search on Optuna, every trial a run.

    result = mc.tune(objective, n_trials=100, direction="maximize")            # any objective(trial)
    result = mc.tune(XGBClassifier(), space, X, y, cv=5, scoring="roc_auc")    # scikit-learn shortcut

The study is a run (named after the study) and each trial its child run, in the modelcycle store
(see storage.py for what they hold and the guarantees). While an objective runs, its trial's run
is the active run: ``mc.log_metric`` and friends inside it log to the trial.

``n_trials`` is the number of trials the study should hold when done: running the same
``study_name`` again resumes it, keeping the finished trials and running only the rest (a trial
interrupted by a crash is failed and not counted). With a timeout alone, trials start until it
runs out.
"""

from __future__ import annotations

import math
import numbers
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcycle import config
from modelcycle.exceptions import InvalidInput, ModelcycleError, NotFound
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import Metric, RunStatus
from modelcycle.store.validation import check_key, check_name
from modelcycle.training import inputs, space as spaces
from modelcycle.training.placement import first_line, placement
from modelcycle.training.progress import Bar, wanted

ERROR_TAG = "mc.error"


@dataclass
class TuneResult:
    """What a search found. ``study`` is the Optuna study (on the modelcycle store); for the
    scikit-learn shortcut, ``model`` is the best estimator refit on all the data and
    ``model_info`` where it was logged (in the study's run, as ``model``)."""

    study: Any
    run_id: str
    best_run_id: str | None
    best_params: dict[str, Any]
    best_value: float | None
    trials: dict[str, int]  # how many trials ended in each state: COMPLETE, PRUNED, FAIL, ...
    resumed: bool
    model: Any = None
    model_info: Any = None
    best_run_ids: list[str] = field(default_factory=list)  # the Pareto front, for several objectives

    @property
    def best_trial(self):
        return self.study.best_trial



def _directions(direction) -> list[str]:
    items = [direction] if isinstance(direction, str) else list(direction) if isinstance(direction, Sequence) else None
    if not items or not all(isinstance(d, str) and d.lower() in ("minimize", "maximize") for d in items):
        raise InvalidInput(f"direction must be 'minimize' or 'maximize', or a list of those for several "
                           f"objectives; got {direction!r}.")
    return [d.lower() for d in items]


def _metric_names(metric_name, count: int) -> list[str]:
    if metric_name is None:
        return ["value"] if count == 1 else [f"value_{i}" for i in range(count)]
    names = [metric_name] if isinstance(metric_name, str) else metric_name
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise InvalidInput(f"metric_name must be a metric name (a non-empty str), or a list of them for several "
                           f"objectives; got {metric_name!r}.")
    try:
        return [check_key("metric", name) for name in names]
    except InvalidInput as exc:
        raise InvalidInput(f"metric_name: {exc.message}") from None


def _check_seed(seed) -> None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**32):
        raise InvalidInput(f"seed must be a whole number from 0 to 2**32 - 1, or None; got {seed!r}.")


def _exception_classes(catch) -> tuple:
    if isinstance(catch, type):
        catch = (catch,)
    if not isinstance(catch, (tuple, list)) or not all(isinstance(c, type) and issubclass(c, BaseException)
                                                        for c in catch):
        raise InvalidInput(f"catch must be an exception class or a tuple of them (the errors that fail a trial "
                           f"but not the search); got {catch!r}.")
    return tuple(catch)


def _check_budget(n_trials, timeout) -> None:
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral)
                                 or n_trials < 1):
        raise InvalidInput(f"n_trials must be a whole number of at least 1; got {n_trials!r}.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                or not timeout > 0 or not math.isfinite(timeout)):
        raise InvalidInput(f"timeout must be a number of seconds above 0; got {timeout!r}.")
    if n_trials is None and timeout is None:
        raise InvalidInput("Give n_trials, timeout or both: otherwise the search would never end.")


class EstimatorObjective:
    """The objective of the scikit-learn shortcut: the mean CV score of the estimator with the
    trial's parameters, on the same splits for every trial. Each fold's score is reported as an
    intermediate value (step = fold), so a pruner can stop a poor trial after a few folds."""

    def __init__(self, estimator, dimensions, X, y, splits, scorer_map, fit_params):
        self.estimator, self.dimensions = estimator, dimensions
        self.X, self.y, self.splits = X, y, splits
        self.scorer_map, self.fit_params = scorer_map, fit_params

    def params(self, suggested: dict) -> dict:
        fixed = {n: d.value for n, d in self.dimensions.items() if isinstance(d, spaces.Fixed)}
        return {**fixed, **suggested}

    def __call__(self, trial) -> float:
        import optuna
        from sklearn.base import clone

        from modelcycle.tracking import fluent
        from modelcycle.training.cv import run_fold

        params = spaces.suggest(trial, self.dimensions)
        model = clone(self.estimator).set_params(**params)
        primary = next(iter(self.scorer_map))
        folds = []
        for k, (train, test) in enumerate(self.splits):
            out = run_fold(model, self.X, self.y, train, test, self.scorer_map, False, False, self.fit_params)
            folds.append(out)
            trial.report(float(out[f"test_{primary}"]), k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k}")
        metrics = {}
        for name in self.scorer_map:
            values = np.array([fold[f"test_{name}"] for fold in folds], dtype=float)
            if name != primary:
                metrics[name] = float(values.mean())
            if len(values) > 1:
                metrics[f"{name}_std"] = float(values.std(ddof=1))
        metrics["fit_time"] = float(np.mean([fold["fit_time"] for fold in folds]))
        fluent.log_metrics(metrics)
        return float(np.mean([fold[f"test_{primary}"] for fold in folds]))


def _in_trial_run(objective: Callable, storage) -> Callable:
    """``objective`` with its trial's run active, and the reason of a failure on the run."""
    import optuna

    from modelcycle.tracking.fluent import attach_run
    from modelcycle.training.storage import TRIAL_ERROR

    def objective_in_run(trial):
        run = storage.trial_run(trial._trial_id)
        with attach_run(run):
            try:
                value = objective(trial)
            except optuna.TrialPruned:
                raise
            except BaseException as exc:
                _note(storage, run.id, first_line(exc))
                raise
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        if any(v is None or not isinstance(v, numbers.Real) or not math.isfinite(v) for v in values):
            _note(storage, run.id, f"the objective returned {value!r}, not a finite number")
        return value

    def _note(storage, run_id, text):
        try:
            storage.store.log_batch(run_id, tags={TRIAL_ERROR: text})
        except Exception:  # the reason is a courtesy: never hide the error itself behind another
            pass

    return objective_in_run


def run_trials(study, storage, objective: Callable, n_trials: int | None, timeout: float | None,
               catch: tuple, callbacks: list | None) -> None:
    """Optimize until the study holds ``n_trials`` trials, ``timeout`` passes or it is stopped."""
    from modelcycle.training.storage import TrialBudgetSpent

    storage.max_trials = n_trials
    try:
        study.optimize(_in_trial_run(objective, storage), timeout=timeout, catch=catch, callbacks=callbacks)
    except TrialBudgetSpent:
        pass
    finally:
        storage.max_trials = None


def tune(objective, space: dict | None = None, X=None, y=None, *, n_trials: int | None = None,
         timeout: float | None = None, direction: str | Sequence[str] | None = None, sampler="tpe", pruner=None,
         experiment: str | int | None = None, study_name: str | None = None, n_jobs: int = 1, dask=None,
         storage: str | None = None, seed: int | None = None, metric_name: str | Sequence[str] | None = None,
         cv=5, scoring=None, groups=None, fit_params: dict | None = None, refit: bool = True,
         log_model: bool | dict = True, catch: tuple = (), heartbeat_interval: int | None = 60,
         progress: bool | None = None) -> TuneResult:
    """Search hyperparameters with Optuna, logging the study as a run and each trial as its child.

    ``objective``: a function of an Optuna trial returning the value(s) to optimize, or a
    scikit-learn estimator (or XGBoost/LightGBM's scikit-learn interface), then searched over
    ``space`` on ``X``, ``y`` by cross-validation (``cv``, ``scoring``, ``groups`` as in
    mc.cross_validate; the first scoring name is the objective), the best refit on all the data
    and logged with mc.log_model (``log_model``: False, or options for it).

    ``sampler``: 'tpe', 'random', 'grid' (the grid from ``space``), 'cmaes', 'gp' or an Optuna
    sampler; ``pruner``: None, 'median', 'hyperband' or an Optuna pruner. ``n_jobs``: processes
    on this machine; ``dask``: a scheduler address or a distributed.Client to run trials on.
    ``storage``: the tracking URI to keep the study in (the current one by default); given, it
    becomes this process's tracking URI, as with mc.set_tracking_uri, so that what the objective
    logs lands beside its trial.
    """
    import optuna  # here, not at import: it takes a while to import
    from modelcycle.training.cv import scorers, splitter
    from modelcycle.training.samplers import pruner_spec, sampler_spec

    # ---- everything is checked before anything is logged
    is_estimator = hasattr(objective, "fit") or hasattr(objective, "get_params")
    dimensions = None
    if is_estimator:
        inputs.check_estimator(objective)
        if space is None:
            raise InvalidInput(f"Tuning {type(objective).__name__} needs a search space: mc.tune(estimator, space, X, "
                               "y), e.g. space={'max_depth': (2, 10)}.")
        dimensions = spaces.parse_space(space, set(objective.get_params(deep=True)), type(objective).__name__)
        X, y = inputs.split_target(X, y, objective)
        groups = inputs.check_groups(groups, len(y))
        scorer_map = scorers(scoring, objective)
        split, splits = splitter(cv, X, y, groups, objective)
        directions = _directions("maximize" if direction is None else direction)
        if len(directions) != 1:
            raise InvalidInput("The scikit-learn shortcut optimizes one score; give one direction.")
        metric_names = [next(iter(scorer_map))]
        target = EstimatorObjective(objective, dimensions, X, y, splits, scorer_map, fit_params)
    else:
        if not callable(objective):
            raise InvalidInput(f"mc.tune takes an objective function of a trial, or an estimator with fit; got "
                               f"{type(objective).__name__}.")
        if X is not None or y is not None:
            raise InvalidInput("X and y are for tuning an estimator (mc.tune(estimator, space, X, y)); an objective "
                               "function reads its own data.")
        if space is not None:
            dimensions = spaces.parse_space(space)
        directions = _directions("minimize" if direction is None else direction)
        metric_names = _metric_names(metric_name, len(directions))
        if len(metric_names) != len(directions):
            raise InvalidInput(f"Give one metric name per direction: {len(directions)} directions, "
                               f"{len(metric_names)} names ({metric_names}).")
        target = objective
    wants_grid = isinstance(sampler, str) and sampler.lower() == "grid"
    grid = spaces.grid(dimensions) if dimensions is not None and wants_grid else None
    if wants_grid and n_trials is None and timeout is None and grid is not None:
        n_trials = spaces.grid_size(dimensions)
    _check_budget(n_trials, timeout)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or (n_jobs < 1 and n_jobs != -1):
        raise InvalidInput(f"n_jobs must be a number of processes of at least 1 (or -1 for one per core); got "
                           f"{n_jobs!r}.")
    from modelcycle.training.distributed import cpu_count

    n_jobs = cpu_count() if n_jobs == -1 else int(n_jobs)
    parallel = n_jobs > 1 or dask is not None
    sampler_info = sampler_spec(sampler, seed, grid, parallel)
    pruner_info = pruner_spec(pruner)
    if len(directions) > 1 and pruner_info.name != "none":
        raise InvalidInput("Optuna cannot prune a study with several objectives; use pruner=None.")
    if study_name is not None:
        if not isinstance(study_name, str) or not study_name.strip():
            raise InvalidInput(f"study_name must be a non-empty str; got {study_name!r}.")
        check_name("study", study_name)
    _check_seed(seed)
    if heartbeat_interval is not None and (isinstance(heartbeat_interval, bool)
                                           or not isinstance(heartbeat_interval, numbers.Real)
                                           or not 0 < heartbeat_interval < math.inf):
        raise InvalidInput(f"heartbeat_interval must be a number of seconds above 0, or None for no heartbeat; got "
                           f"{heartbeat_interval!r}.")
    catch = _exception_classes(catch)
    if not isinstance(refit, bool):
        raise InvalidInput(f"refit must be True or False; got {refit!r}.")
    if not isinstance(log_model, (bool, dict)):
        raise InvalidInput(f"log_model must be True, False or a dict of options for mc.log_model; got {log_model!r}.")
    if dask is not None:
        from modelcycle.training.distributed import check_dask

        check_dask(dask)

    # ---- the study: created, or loaded to resume
    from optuna.exceptions import DuplicatedStudyError

    from modelcycle.tracking.client import Client
    from modelcycle.training.storage import RunStorage

    if storage is not None:
        if not isinstance(storage, str) or not storage.strip():
            raise InvalidInput("storage= takes a tracking URI (sqlite:///..., postgresql+psycopg://..., http://...).")
        Client(storage)  # refused here if it cannot be opened, before it becomes the tracking URI
        if storage != config.tracking_uri():
            from modelcycle.tracking import fluent

            if fluent.active_run() is not None:
                raise InvalidInput("storage= names another store than the active run's; end the run first, or "
                                   "leave storage= out to tune in the current store.")
            fluent.set_tracking_uri(storage, config.artifact_uri())
    where = placement(experiment)
    client, experiment_id, parent_id = where.client, where.experiment_id, where.parent_id
    tracking_uri = config.tracking_uri()
    artifact_uri = config.artifact_uri()
    run_storage = RunStorage(experiment_id, tracking_uri, artifact_uri, heartbeat_interval=heartbeat_interval)
    run_storage.study_metric_names = metric_names
    run_storage.study_parent_id = parent_id
    run_storage.study_tags = {"mc.tune": "true"}
    run_storage.write_through = parallel
    study_directions = [optuna.study.StudyDirection[d.upper()] for d in directions]
    try:
        study_id = run_storage.create_new_study(study_directions, study_name)
        resumed = False
    except DuplicatedStudyError:
        study_id = run_storage.get_study_id_from_name(study_name)
        resumed = True
    name = run_storage.get_study_name_from_id(study_id)
    study_run_id = run_storage.study_run_id(study_id)
    if resumed:
        _check_resumable(run_storage, study_id, name, study_directions, metric_names)
        client.store.update_run(study_run_id, status=RunStatus.RUNNING)
    else:
        params = {"sampler": sampler_info.describe(), "pruner": pruner_info.describe(),
                  "direction": ",".join(directions)}
        if seed is not None:
            params["seed"] = seed
        if is_estimator:
            params.update({"cv.estimator": type(objective).__name__, "cv.splitter": repr(split)[:500],
                           "cv.n_splits": len(splits), "cv.scoring": ",".join(scorer_map)})
            params.update({k: v.value for k, v in dimensions.items() if isinstance(v, spaces.Fixed)
                           and isinstance(v.value, (str, int, float, bool, type(None)))})
            client.log_dict(study_run_id, _describe_space(dimensions), "search_space.json")
        client.log_batch(study_run_id, params=params)
    if resumed:
        from dataclasses import replace

        sampler_info = replace(sampler_info, start=len(run_storage.get_all_trials(study_id, deepcopy=False)))
    loaded = optuna.load_study(study_name=name, storage=run_storage, sampler=sampler_info.build(),
                               pruner=pruner_info.build())

    # ---- the trials
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the runs record each trial; no line per trial
    try:
        with Bar(f"tuning {name}", n_trials, wanted(progress)) as bar:
            def on_progress(*_):
                if bar.enabled:
                    finished = [t for t in run_storage.get_all_trials(study_id, deepcopy=False)
                                if t.state.is_finished()]
                    bar.update(len(finished), _best_note(finished, study_directions, metric_names))

            try:
                if parallel:
                    _run_parallel(target, loaded, run_storage, study_id, name, study_run_id, experiment_id,
                                  tracking_uri, artifact_uri, sampler_info, pruner_info, n_trials, timeout, catch,
                                  heartbeat_interval, n_jobs, dask, on_progress)
                else:
                    run_trials(loaded, run_storage, target, n_trials, timeout, catch, [on_progress])
            except BaseException as exc:
                interrupted = isinstance(exc, KeyboardInterrupt)
                try:  # what the search found so far is tagged; never hide the error behind another
                    client.set_tag(study_run_id, ERROR_TAG, "interrupted" if interrupted else first_line(exc))
                    _finish(run_storage, loaded, study_id, study_run_id, metric_names, strict=False)
                    client.end_run(study_run_id, RunStatus.KILLED if interrupted else RunStatus.FAILED)
                except Exception:
                    pass
                if interrupted:
                    raise
                if hasattr(exc, "add_note"):
                    exc.add_note(f"modelcycle: the study {name!r} (run {study_run_id}) is marked FAILED; run "
                                 "mc.tune with the same study_name to resume it.")
                raise
    finally:
        optuna.logging.set_verbosity(verbosity)

    result = _finish(run_storage, loaded, study_id, study_run_id, metric_names, strict=True)
    result.study, result.resumed = loaded, resumed
    if is_estimator and refit and result.best_params is not None:
        try:
            result.model = _refit(target, result.best_params, X, y, fit_params)
            if log_model:
                from modelcycle.models import log_model as log_model_fn

                options = dict(log_model) if isinstance(log_model, dict) else {}
                options.setdefault("input_example", _head(X))
                result.model_info = log_model_fn(result.model, options.pop("name", "model"), run_id=study_run_id,
                                                 **options)
        except BaseException as exc:
            client.set_tag(study_run_id, ERROR_TAG, f"refit of the best parameters failed: {first_line(exc)}")
            client.end_run(study_run_id, RunStatus.FAILED)
            raise
    if not _others_running(run_storage, study_id):
        client.end_run(study_run_id, RunStatus.FINISHED)
    return result


def _run_parallel(target, loaded, run_storage, study_id, name, study_run_id, experiment_id, tracking_uri,
                  artifact_uri, sampler_info, pruner_info, n_trials, timeout, catch, heartbeat_interval, n_jobs, dask,
                  on_progress) -> None:
    import cloudpickle

    from modelcycle.training.distributed import Helpers, WorkerSpec, run_on_dask

    try:
        payload = cloudpickle.dumps(target)
    except Exception as exc:
        raise InvalidInput(f"The objective cannot be sent to other processes ({first_line(exc)}). Make what it "
                           "uses picklable, or run with n_jobs=1.") from None
    spec = WorkerSpec(tracking_uri, artifact_uri, experiment_id, name, study_run_id, payload, sampler_info,
                      pruner_info, n_trials, None if timeout is None else time.time() + timeout, tuple(catch),
                      heartbeat_interval)
    if dask is not None:
        run_on_dask(spec, dask, n_jobs if n_jobs > 1 else None, on_progress)
        return
    helpers = Helpers(spec, n_jobs - 1)

    def stop_on_helper_error(study, trial):
        if helpers.failed():
            study.stop()

    try:
        run_trials(loaded, run_storage, target, n_trials, timeout, catch, [on_progress, stop_on_helper_error])
    except KeyboardInterrupt:
        helpers.end()  # at once: their running trials are failed as interrupted when the study resumes
        raise
    except BaseException:
        try:
            helpers.finish(run_storage, study_id, on_progress, stop=True)
        except BaseException:  # this process's error is the one to raise
            pass
        raise
    helpers.finish(run_storage, study_id, on_progress)


def _check_resumable(storage, study_id: int, name: str, directions, metric_names) -> None:
    have = storage.get_study_directions(study_id)
    if have != list(directions):
        raise InvalidInput(f"The study {name!r} exists with direction {', '.join(d.name.lower() for d in have)}; "
                           f"asked for {', '.join(d.name.lower() for d in directions)}. Use another study_name, or "
                           "the same direction to resume it.")
    stored = storage.metric_names(study_id)
    if stored != list(metric_names):
        raise InvalidInput(f"The study {name!r} exists and records {stored}; asked for {list(metric_names)}. Use "
                           "another study_name, or the same metric to resume it.")


def _best_note(finished, directions, metric_names) -> str:
    complete = [t for t in finished if t.state.name == "COMPLETE"]
    if len(directions) != 1 or not complete:
        return ""
    pick = max if directions[0].name == "MAXIMIZE" else min
    return f"best {metric_names[0]}={pick(t.value for t in complete):.4g}"


def best_metric(name: str) -> str:
    """The study run's metric of the best value so far of the objective ``name``."""
    return f"best_{name}"


def _finish(storage, study, study_id: int, study_run_id: str, metric_names, strict: bool) -> TuneResult:
    """Tag the best trial(s), log the best value so far as the study run's metric history
    ``best_<metric>`` (step: the trial number) and the counts; the result of the search.

    Not under the metric's own name: the study's run holds the refit model, and what
    mc.evaluate measures of it lands on that run as ``<metric>``, which the registry's gates
    compare. A cross-validated best beside it under the same name would be read in its place."""
    from optuna.trial import TrialState

    from modelcycle.training.storage import STUDY_BEST_TRIAL, TRIAL_BEST

    store = storage.store
    trials = storage.get_all_trials(study_id, deepcopy=False)
    counts = dict(Counter(t.state.name for t in trials))
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    run = store.get_run(study_run_id)
    stamp = now_ms()
    metrics = [Metric(f"trials_{state.name.lower()}", counts.get(state.name, 0), 0, stamp)
               for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)]
    directions = storage.get_study_directions(study_id)
    result = TuneResult(study, study_run_id, None, None, None, counts, False)  # type: ignore[arg-type]
    best_runs: list[str] = []
    if complete and len(directions) == 1:
        maximize = directions[0].name == "MAXIMIZE"
        best = None
        key = best_metric(metric_names[0])
        last = run.metrics.get(key)
        last_step = last.step if last is not None else -1
        for trial in sorted(complete, key=lambda t: t.number):
            if best is None or (trial.value > best.value if maximize else trial.value < best.value):
                best = trial
                if trial.number > last_step:
                    metrics.append(Metric(key, trial.value, trial.number, stamp))
        best_runs = [storage.trial_run_id(best._trial_id)]
        result.best_run_id, result.best_params, result.best_value = best_runs[0], dict(best.params), best.value
    elif complete:
        best_runs = [storage.trial_run_id(t._trial_id) for t in study.best_trials]
        result.best_run_ids = best_runs
        result.best_params = {}
    result.best_run_ids = best_runs
    previous = run.tags.get(STUDY_BEST_TRIAL, "")
    for run_id in set(filter(None, previous.split(","))) - set(best_runs):
        try:
            store.delete_tag(run_id, TRIAL_BEST)
        except NotFound:
            pass
    for run_id in best_runs:
        store.log_batch(run_id, tags={TRIAL_BEST: "true"})
    tags = {STUDY_BEST_TRIAL: ",".join(best_runs)} if best_runs else {}
    store.log_batch(study_run_id, metrics, tags=tags)
    if strict and not complete:
        failed = [t for t in trials if t.state is TrialState.FAIL]
        reason = ""
        if failed:
            reason = store.get_run(storage.trial_run_id(failed[0]._trial_id)).tags.get("mc.trial.error", "")
        message = (f"No trial of the study {study.study_name!r} completed ({', '.join(f'{v} {k.lower()}' for k, v in counts.items()) or 'none ran'})"
                   + (f"; the first failure: {reason}" if reason else "") + ". Give it more time or trials, or fix "
                   "the objective.")
        store.log_batch(study_run_id, tags={ERROR_TAG: message[:7900]})
        store.update_run(study_run_id, status=RunStatus.FAILED)
        raise ModelcycleError(message)
    return result


def _others_running(storage, study_id: int) -> bool:
    return any(t.state.name == "RUNNING" for t in storage.get_all_trials(study_id, deepcopy=False))


def _refit(target: EstimatorObjective, best_params: dict, X, y, fit_params):
    from sklearn.base import clone

    model = clone(target.estimator).set_params(**target.params(best_params))
    model.fit(X, y, **(fit_params or {}))
    return model


def _head(X):
    return X.iloc[:5] if hasattr(X, "iloc") else np.asarray(X)[:5]


def _describe_space(dimensions) -> dict:
    described = {}
    for name, d in dimensions.items():
        if isinstance(d, spaces.Fixed):
            described[name] = {"fixed": d.value if isinstance(d.value, (str, int, float, bool, type(None)))
                               else type(d.value).__name__}
        elif isinstance(d, spaces.Choice):
            described[name] = {"choice": list(d.options)}
        else:
            described[name] = {"kind": type(d).__name__.lower(), "low": d.low, "high": d.high, "log": d.log,
                               "step": d.step}
    return described

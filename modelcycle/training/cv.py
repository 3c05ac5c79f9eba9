"""Cross-validation as runs: a parent run with the summary of each metric, one child run per fold.

Each fold is scored by scikit-learn's own ``cross_validate`` on that fold's split, so the scores
are exactly scikit-learn's on the same splits. On the parent, for each metric ``m`` over the k
folds: ``m`` (the mean), ``m_std`` (the sample standard deviation, ddof=1) and ``m_ci_low`` /
``m_ci_high``, the t-based confidence interval of the mean:
mean ± t(1 - (1 - confidence)/2, k - 1) · std / √k. The folds share training rows, so they are
not independent and this interval is somewhat too narrow (Nadeau and Bengio, 2003); read it as
the spread of the estimate, not as a test. With one fold there is no std or interval.

A fold run holds the fold's metrics (``m`` on the test rows, ``train_m`` with
``return_train_score``, ``fit_time``, ``score_time``), the params ``fold``, ``train_size``,
``test_size``, and the sha256 digests of its row positions (tags ``mc.cv.train_digest``,
``mc.cv.test_digest``), so that two runs can be checked to have used the same splits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcycle.exceptions import InvalidInput
from modelcycle.store.entities import Metric, RunStatus
from modelcycle.store.validation import check_key
from modelcycle.training import inputs
from modelcycle.training.placement import first_line, placement
from modelcycle.training.progress import Bar, wanted

ERROR_TAG = "mc.error"


@dataclass(frozen=True)
class Summary:
    """One metric over the folds."""

    mean: float
    std: float  # sample standard deviation (ddof=1); nan with one fold
    ci_low: float
    ci_high: float
    n: int
    confidence: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample std and the t-based confidence interval of the mean of ``values``."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return Summary(mean, math.nan, math.nan, math.nan, n, confidence)
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * std / math.sqrt(n)
    return Summary(mean, std, mean - half, mean + half, n, confidence)


@dataclass
class CVResult:
    """What ``cross_validate`` measured; ``cv_results`` is shaped like scikit-learn's."""

    run_id: str
    fold_run_ids: list[str]
    cv_results: dict[str, np.ndarray]
    summary: dict[str, Summary]
    splits: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)
    estimators: list[Any] | None = field(default=None, repr=False)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.cv_results[key]

    @property
    def scores(self) -> dict[str, np.ndarray]:
        """Test scores by metric name."""
        return {k[5:]: v for k, v in self.cv_results.items() if k.startswith("test_")}


def scorers(scoring, estimator) -> dict[str, Any]:
    """``scoring`` as a dict of name to scorer: a name, a list of names, a dict, a callable, or
    None (accuracy for classifiers, r2 for regressors, else the estimator's own score)."""
    from sklearn.metrics import get_scorer, get_scorer_names

    if scoring is None:
        if inputs.is_classifier(estimator):
            scoring = ["accuracy"]
        elif getattr(estimator, "_estimator_type", None) == "regressor" or _is_regressor(estimator):
            scoring = ["r2"]
        else:
            from sklearn.metrics import check_scoring

            return {"score": check_scoring(estimator)}
    if isinstance(scoring, str):
        scoring = [scoring]
    if callable(scoring) and not isinstance(scoring, Mapping):
        return {getattr(scoring, "__name__", "score").replace("<lambda>", "score"): scoring}
    if isinstance(scoring, Mapping):
        items = list(scoring.items())
    elif isinstance(scoring, Sequence):
        items = [(name, name) for name in scoring]
    else:
        raise InvalidInput(f"scoring must be a metric name, a list of names, a dict of name to scorer, or a "
                           f"callable; got {type(scoring).__name__}.")
    if not items:
        raise InvalidInput("scoring is empty; name at least one metric, e.g. scoring=['accuracy'].")
    result = {}
    for name, spec in items:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"A metric name in scoring must be a non-empty str; got {name!r}.")
        check_key("metric", name)  # each is logged as a metric of that name
        if isinstance(spec, str):
            try:
                spec = get_scorer(spec)
            except (ValueError, KeyError):
                names = get_scorer_names()
                close = [n for n in names if spec.lower() in n or n in spec.lower()][:5]
                raise InvalidInput(
                    f"Unknown metric {spec!r} in scoring. "
                    + (f"Did you mean {', '.join(map(repr, close))}? " if close else "")
                    + "The names are those of sklearn.metrics.get_scorer_names(), e.g. accuracy, roc_auc, f1, "
                      "neg_log_loss, r2, neg_root_mean_squared_error.") from None
        elif not callable(spec):
            raise InvalidInput(f"The scorer of {name!r} must be a metric name or a callable "
                               f"scorer(estimator, X, y); got {type(spec).__name__}.")
        result[name] = spec
    return result


def _is_regressor(estimator) -> bool:
    from sklearn.base import is_regressor

    try:
        return bool(is_regressor(estimator))
    except Exception:
        return False


def splitter(cv, X, y, groups, estimator):
    """The splitter and its splits: an int is StratifiedKFold for a classifier, KFold otherwise
    (as scikit-learn decides), GroupKFold when ``groups`` are given."""
    from sklearn.model_selection import GroupKFold, check_cv

    if isinstance(cv, bool):
        raise InvalidInput(f"cv must be a number of folds, a splitter or a list of (train, test) pairs; got {cv!r}.")
    if isinstance(cv, int) and groups is not None:
        cv = GroupKFold(n_splits=cv)
    try:
        split = check_cv(cv, y, classifier=inputs.is_classifier(estimator))
        splits = [(np.asarray(train), np.asarray(test)) for train, test in split.split(X, y, groups)]
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"The folds cannot be made with cv={cv!r}: {exc}") from None
    if not splits:
        raise InvalidInput(f"cv={cv!r} made no folds.")
    return split, splits


def run_fold(estimator, X, y, train, test, scorer_map, return_train_score: bool, return_estimator: bool,
             fit_params: dict | None) -> dict:
    """scikit-learn's cross_validate on one split: its numbers, exactly."""
    from sklearn.model_selection import cross_validate as sk_cross_validate

    extra = {"params": fit_params} if fit_params else {}
    out = sk_cross_validate(estimator, X, y, cv=[(train, test)], scoring=scorer_map,
                            return_train_score=return_train_score, return_estimator=return_estimator,
                            error_score="raise", **extra)
    return {key: value[0] for key, value in out.items()}


def cross_validate(estimator, X, y=None, *, cv=5, scoring=None, groups=None, experiment: str | int | None = None,
                   run_name: str | None = None, return_train_score: bool = False, return_estimator: bool = False,
                   confidence: float = 0.95, n_jobs: int | None = None, fit_params: dict | None = None,
                   tags: dict[str, Any] | None = None, progress: bool | None = None) -> CVResult:
    """Cross-validate ``estimator`` on ``X``, ``y`` (``y`` may name a column of a DataFrame
    ``X``), logging a parent run with the summary of each metric and one child run per fold
    (see this module's docstring). ``cv``: a number of folds, any scikit-learn splitter, or a
    list of (train, test) index pairs. Folds run one after the other, or on ``n_jobs``
    processes. A fold that fails marks its run and the parent FAILED with the reason (tag
    ``mc.error``), and the error is raised."""
    inputs.check_estimator(estimator)
    X, y = inputs.split_target(X, y, estimator)
    groups = inputs.check_groups(groups, len(y))
    if not (isinstance(confidence, float) and 0 < confidence < 1):
        raise InvalidInput(f"confidence must be a float between 0 and 1 (e.g. 0.95); got {confidence!r}.")
    for name, flag in (("return_train_score", return_train_score), ("return_estimator", return_estimator)):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be True or False; got {flag!r}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int)
                               or (n_jobs < 1 and n_jobs != -1)):
        raise InvalidInput(f"n_jobs must be a number of processes of at least 1 (or -1 for one per core, None for "
                           f"one); got {n_jobs!r}.")
    if fit_params is not None and not isinstance(fit_params, Mapping):
        raise InvalidInput(f"fit_params must be a dict of keyword arguments for the estimator's fit; got "
                           f"{type(fit_params).__name__}.")
    scorer_map = scorers(scoring, estimator)
    split, splits = splitter(cv, X, y, groups, estimator)

    where = placement(experiment)
    client = where.client
    params = {**{k: v for k, v in inputs.changed_params(estimator).items()},
              "cv.estimator": type(estimator).__name__, "cv.splitter": _describe(split),
              "cv.n_splits": len(splits), "cv.scoring": ",".join(scorer_map)}
    parent = client.create_run(where.experiment_id, run_name or f"cv-{type(estimator).__name__}",
                               {"mc.cv": "true", **(tags or {})}, where.parent_id)
    client.log_batch(parent.id, params=_fit_params(params))
    fold_runs: list[str] = []
    folds: list[dict] = []
    try:
        with Bar(f"cross-validation ({len(splits)} folds)", len(splits), wanted(progress)) as bar:
            for k, out in enumerate(_folds(estimator, X, y, splits, scorer_map, return_train_score,
                                           return_estimator, fit_params, n_jobs)):
                if isinstance(out, _FoldFailed):
                    fold_runs.append(_log_fold(client, parent, k, splits[k], None, out.error))
                    raise out.error
                folds.append(out)
                fold_runs.append(_log_fold(client, parent, k, splits[k], out, None))
                bar.update(k + 1, f"{next(iter(scorer_map))}={out[f'test_{next(iter(scorer_map))}']:.4g}")
    except KeyboardInterrupt:
        client.set_tag(parent.id, ERROR_TAG, "interrupted")
        client.end_run(parent.id, RunStatus.KILLED)
        raise
    except BaseException as exc:
        client.set_tag(parent.id, ERROR_TAG, f"fold {len(folds)}: {first_line(exc)}")
        client.end_run(parent.id, RunStatus.FAILED)
        if hasattr(exc, "add_note"):
            exc.add_note(f"modelcycle: fold {len(folds)} of the cross-validation {parent.id} failed; "
                         "it is marked FAILED.")
        raise

    results: dict[str, np.ndarray] = {}
    for key in folds[0]:
        if key != "estimator":
            results[key] = np.array([fold[key] for fold in folds])
    summary = {}
    metrics = []
    stamp = _now()
    for key, values in results.items():
        if key.startswith("test_"):
            name = key[5:]
        elif key.startswith("train_"):
            name = key
        else:  # fit_time, score_time
            metrics.append(Metric(key, float(np.mean(values)), 0, stamp))
            continue
        s = summarize(values, confidence)
        summary[name] = s
        metrics.append(Metric(name, s.mean, 0, stamp))
        if s.n > 1:
            metrics += [Metric(f"{name}_std", s.std, 0, stamp), Metric(f"{name}_ci_low", s.ci_low, 0, stamp),
                        Metric(f"{name}_ci_high", s.ci_high, 0, stamp)]
    client.log_batch(parent.id, metrics, tags={"mc.cv.confidence": confidence})
    client.end_run(parent.id, RunStatus.FINISHED)
    estimators = [fold["estimator"] for fold in folds] if return_estimator else None
    return CVResult(parent.id, fold_runs, results, summary, splits, estimators)


@dataclass
class _FoldFailed:
    error: BaseException


def _folds(estimator, X, y, splits, scorer_map, return_train_score, return_estimator, fit_params, n_jobs):
    """Each fold's results in order; a failure is yielded (not raised) so that it is logged first."""
    if n_jobs in (None, 1):
        for train, test in splits:
            try:
                yield run_fold(estimator, X, y, train, test, scorer_map, return_train_score, return_estimator,
                               fit_params)
            except Exception as exc:
                yield _FoldFailed(exc)
                return
        return
    from sklearn.utils.parallel import Parallel, delayed  # joblib, as scikit-learn configures it

    def guarded(train, test):
        try:
            return run_fold(estimator, X, y, train, test, scorer_map, return_train_score, return_estimator,
                            fit_params)
        except Exception as exc:
            return _FoldFailed(exc)

    for out in Parallel(n_jobs=n_jobs, return_as="generator")(delayed(guarded)(tr, te) for tr, te in splits):
        yield out
        if isinstance(out, _FoldFailed):
            return


def _log_fold(client, parent, k: int, split, out: dict | None, error: BaseException | None) -> str:
    train, test = split
    tags = {"mc.cv.fold": k, "mc.cv.train_digest": inputs.indices_digest(train),
            "mc.cv.test_digest": inputs.indices_digest(test)}
    if error is not None:
        tags[ERROR_TAG] = first_line(error)
    run = client.create_run(parent.experiment_id, f"fold-{k}", tags, parent.id, capture_context=False)
    metrics = []
    if out is not None:
        stamp = _now()
        for key, value in out.items():
            if key == "estimator":
                continue
            name = key[5:] if key.startswith("test_") else key
            metrics.append(Metric(name, float(value), 0, stamp))
    client.log_batch(run.id, metrics, params={"fold": k, "train_size": len(train), "test_size": len(test)})
    client.end_run(run.id, RunStatus.FINISHED if error is None else RunStatus.FAILED)
    return run.id


def _describe(split) -> str:
    text = repr(split)
    return text if len(text) <= 500 else text[:497] + "..."


def _fit_params(params: dict) -> dict:
    return {k: (v if len(str(v)) <= 6000 else str(v)[:5997] + "...") for k, v in params.items()}


def _now() -> int:
    from modelcycle.store.clock import now_ms

    return now_ms()


__all__ = ["CVResult", "Summary", "cross_validate", "summarize"]

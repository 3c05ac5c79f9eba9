"""`mc.evaluate`: a model on labelled data, logged where the promotion gates can use it.

Everything is checked and computed before anything is written: bad input is refused with
nothing logged. The model predicts once (probabilities; labels follow from the threshold),
every metric reads those predictions, and the result is plain data that the HTML report and
the plots render.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.evaluation import metrics as m
from modelcycle.evaluation.compare import COMPARISON_TAG, Comparison, PairedTest, delong, side_by_side
from modelcycle.evaluation.importance import Importance
from modelcycle.evaluation.slices import (
    FairnessReport, SliceSpec, SliceTable, check_columns, fairness, groups_of, parse_specs, slice_table,
)
from modelcycle.exceptions import InvalidInput
from modelcycle.store.validation import check_artifact_path, check_dataset_name

ARTIFACT_PATH = "evaluation"
SAMPLE_ROWS = 2000  # rows that permutation importance, SHAP values and the learning curve work on


@dataclass
class EvaluationResult:
    """What an evaluation found, as plain data (``to_dict`` gives it as JSON-ready dicts)."""

    task: str  # "binary", "multiclass" or "regression"
    target: str
    rows: int
    metrics: dict[str, float]
    model: str  # the URI it was loaded from, or its class
    features: list[str]
    positive_label: Any = None
    threshold: float | None = None
    labels: list[Any] | None = None  # class labels, in the order of the confusion matrix
    confusion_matrix: list[list[int]] | None = None  # rows: actual, columns: predicted
    thresholds: list[dict[str, float]] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict)
    slices: list[SliceTable] = field(default_factory=list)
    fairness: list[FairnessReport] = field(default_factory=list)
    importance: list[Importance] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was skipped, and why
    learning_curve: dict[str, Any] | None = None
    comparison: Comparison | None = None
    dataset: str | None = None  # name@version of the evaluation data, when it is a stored version
    run_id: str | None = None
    artifacts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = {
            "task": self.task, "target": self.target, "rows": self.rows, "model": self.model,
            "dataset": self.dataset, "run_id": self.run_id, "features": self.features,
            "positive_label": _plain(self.positive_label), "threshold": self.threshold, "metrics": self.metrics,
            "labels": [_plain(v) for v in self.labels] if self.labels is not None else None,
            "confusion_matrix": self.confusion_matrix, "thresholds": self.thresholds, "curves": self.curves,
            "slices": [s.to_dict() for s in self.slices], "fairness": [f.to_dict() for f in self.fairness],
            "importance": [i.to_dict() for i in self.importance], "learning_curve": self.learning_curve,
            "comparison": self.comparison.to_dict() if self.comparison else None, "notes": self.notes,
            "seconds": self.seconds,
        }
        return _finite(data)

    def logged_metrics(self) -> dict[str, float]:
        """The run metrics an evaluation logs: the headline metrics, the fairness gaps per
        sensitive column, and the p-value of the paired test against the baseline."""
        out = dict(self.metrics)
        for report in self.fairness:
            out.update({f"fairness.{report.column}.{k}": v for k, v in report.gaps().items()})
        if self.comparison is not None and self.comparison.test is not None:
            out[f"{self.comparison.test.metric}_p_value"] = self.comparison.test.p_value
        return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _finite(value: Any) -> Any:
    """NaN and infinities as None: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


# ---------------------------------------------------------------------- inputs
@dataclass
class _Model:
    obj: Any  # what predicts
    native: Any  # the fitted estimator itself, where there is one (for importance, SHAP, refits)
    described: str
    registered: tuple[str, int] | None  # (name, version) of a registered model
    run_id: str | None  # the run that logged it, for a model given by URI
    task: str  # "classification" or "regression"
    classes: np.ndarray | None
    features: list[str] | None


def _load(model: Any, what: str, client) -> _Model:
    from modelcycle.models.api import LoadedModel

    if isinstance(model, str) or isinstance(model, LoadedModel):
        from modelcycle.models.api import load_model

        loaded = model if isinstance(model, LoadedModel) else load_model(model, store=client.store)
        model = loaded.uri
        manifest = loaded.manifest
        if manifest.task not in ("classification", "regression"):
            raise InvalidInput(f"The {what} at {model} is a {manifest.task!r} model; mc.evaluate takes classifiers "
                               "(with predict_proba) and regressors.")
        registered = (loaded.version.name, loaded.version.version) if loaded.version is not None else None
        run_id = loaded.version.run_id if loaded.version is not None else (
            model[len("runs:/"):].partition("/")[0] if model.startswith("runs:/") else None)
        signature = manifest.signature
        features = list(signature.columns) if signature is not None and signature.columns else None
        native = getattr(loaded, "_predictor", None) if loaded.backend == "native" else None
        classes = loaded.classes_
        return _Model(loaded, native, model, registered, run_id, manifest.task, classes, features)
    if not callable(getattr(model, "predict", None)):
        raise InvalidInput(f"The {what} ({type(model).__name__}) has no predict method. Pass a fitted "
                           "estimator, or a model URI such as models:/<name>@production or runs:/<run_id>/model.")
    _check_fitted(model, what)
    _check_kind(model, what)
    classes = getattr(model, "classes_", None)
    if classes is not None:
        if not callable(getattr(model, "predict_proba", None)):
            raise InvalidInput(f"The {what} ({type(model).__name__}) has no predict_proba: ROC AUC, log loss and the "
                               "table by threshold need probabilities. Wrap it in "
                               "sklearn.calibration.CalibratedClassifierCV, or enable its probability option.")
        task = "classification"
    else:
        task = "regression"
    names = getattr(model, "feature_names_in_", None)
    return _Model(model, model, type(model).__name__, None, None, task,
                  np.asarray(classes) if classes is not None else None,
                  [str(n) for n in names] if names is not None else None)


def _check_fitted(model: Any, what: str) -> None:
    try:
        from sklearn.base import BaseEstimator
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return
    if isinstance(model, BaseEstimator):
        try:
            check_is_fitted(model)
        except NotFittedError:
            raise InvalidInput(f"The {what} ({type(model).__name__}) is not fitted. Fit it first, or pass a logged "
                               "model by its URI.") from None


def _check_kind(model: Any, what: str) -> None:
    """A scikit-learn estimator says what it is: a clusterer or a transformer has predict too,
    and would be scored as a regressor. Other libraries' models are taken at their word."""
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    if isinstance(model, BaseEstimator) and not (is_classifier(model) or is_regressor(model)):
        raise InvalidInput(f"The {what} ({type(model).__name__}) is neither a classifier nor a regressor; "
                           "mc.evaluate measures those against labels.")


def _data(data: Any, client) -> tuple[pd.DataFrame, str | None]:
    """(frame, name@version when it is a stored dataset version)."""
    if isinstance(data, pd.DataFrame):
        return data, None
    if isinstance(data, str):
        from modelcycle.data.datasets import get_dataset, load_dataset

        version = get_dataset(data)
        return load_dataset(f"{version.name}@{version.version}"), f"{version.name}@{version.version}"
    try:
        import pyarrow as pa

        if isinstance(data, pa.Table):
            return data.to_pandas(), None
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    raise InvalidInput(f"The evaluation data must be a pandas DataFrame, a pyarrow Table or a stored dataset version "
                       f"such as 'transactions@3'; got {type(data).__name__}.")


def _features(model: _Model, frame: pd.DataFrame, target: str, given: list[str] | None, what: str) -> list[str]:
    features = list(given) if given is not None else model.features
    if features is None:
        features = [c for c in frame.columns if c != target]
    elif given is None:
        features = _as_named_in(features, frame)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InvalidInput(f"The {what} takes the column{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(map(repr, missing))}, which the evaluation data lacks. Evaluate on data with "
                           f"every column the model was trained on.")
    if target in features:
        raise InvalidInput(f"The target {target!r} is among the {what}'s input features; the model would see the "
                           "answer. Pass features= without it.")
    return features


def _as_named_in(features: list[str], frame: pd.DataFrame) -> list[str]:
    """The model's feature names as the frame's columns. LightGBM replaces whitespace in the
    names it was fit with by '_' ('mean radius' is 'mean_radius' in its feature_names_in_): a
    name the frame lacks is the column that reads the same once renamed so, if there is one."""
    import re

    columns = set(map(str, frame.columns))
    if all(name in columns for name in features):
        return features
    renamed: dict[str, list[str]] = {}
    for column in frame.columns:
        if isinstance(column, str):
            renamed.setdefault(re.sub(r"\s", "_", column), []).append(column)
    return [name if name in columns or len(renamed.get(name, [])) != 1 else renamed[name][0] for name in features]


def _check_target(frame: pd.DataFrame, target: str) -> pd.Series:
    if not isinstance(target, str) or not target:
        raise InvalidInput(f"target must be the name of the label column; got {target!r}.")
    if target not in frame.columns:
        raise InvalidInput(f"The target column {target!r} is not in the evaluation data. Its columns are "
                           f"{', '.join(map(repr, frame.columns))}.")
    y = frame[target]
    if y.isna().any():
        raise InvalidInput(f"The target column {target!r} has {int(y.isna().sum())} missing values; drop those rows "
                           "or fill in their labels before evaluating.")
    if len(y) == 0:
        raise InvalidInput("The evaluation data has no rows.")
    return y


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise InvalidInput(f"threshold must be a number between 0 and 1 (exclusive): rows whose positive-class "
                           f"probability is above it are called positive. Got {threshold!r}.")
    return float(threshold)


# ---------------------------------------------------------------------- predictions
@dataclass
class _Scored:
    """One model's predictions on the evaluation rows, and the metrics that follow."""

    proba: np.ndarray | None
    predicted: np.ndarray | None  # regression
    metrics: dict[str, float]
    confusion: np.ndarray | None = None
    ranked: m.RankedScores | None = None


PARALLEL_ROWS = 20_000  # from this many rows, a scikit-learn model predicts on row blocks in threads


def _threads(model: _Model, rows: int) -> int:
    """Row blocks to predict at once. scikit-learn's trees and linear algebra release the GIL,
    so blocks in threads use every core; a model that is parallel already (n_jobs) or from
    another library (its own threads, or unknown thread safety) predicts in one call."""
    import os

    native = model.native
    if rows < PARALLEL_ROWS or native is None or not type(native).__module__.startswith("sklearn."):
        return 1
    estimators = [step for _, step in getattr(native, "steps", [])] or [native]
    if any(getattr(e, "n_jobs", None) not in (None, 1) for e in estimators):
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def _predict(model: _Model, X: pd.DataFrame, what: str) -> np.ndarray:
    method = "predict_proba" if model.task == "classification" else "predict"
    call = getattr(model.obj, method)
    threads = _threads(model, len(X))
    try:
        if threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            bounds = np.linspace(0, len(X), threads + 1).astype(int)
            with ThreadPoolExecutor(threads, thread_name_prefix="modelcycle-evaluate") as pool:
                parts = list(pool.map(lambda ab: np.asarray(call(X.iloc[ab[0]:ab[1]])), zip(bounds, bounds[1:])))
            out = np.concatenate(parts)
        else:
            out = np.asarray(call(X))
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"The {what} failed to {method} on the evaluation data ({type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}). Check that the data has "
                           "the columns and types the model was trained on.") from exc
    if model.task == "regression":
        return out.astype(np.float64).reshape(len(X))
    return out.astype(np.float64)


class _Task:
    """What the evaluation rows are for one task: the labels as indices, the positive class."""

    def __init__(self, model: _Model, y: pd.Series, target: str, pos_label: Any):
        self.kind = "regression"
        self.pos_index = None
        self.pos_label = None
        self.classes = model.classes
        if model.task == "regression":
            if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
                raise InvalidInput(f"The target column {target!r} is {y.dtype}, but the model is a regressor; "
                                   "evaluate a regressor on a numerical target.")
            self.y = y.to_numpy(dtype=np.float64)
            if np.unique(self.y).size < 2:
                raise InvalidInput(f"The target column {target!r} is constant ({self.y[0]:g}): R² and the errors "
                                   "relative to a mean say nothing. Evaluate on data whose target varies.")
            return
        classes = model.classes
        index = pd.Index(classes).get_indexer(y.to_numpy())
        if (index < 0).any():
            unknown = pd.unique(y[index < 0])[:5]
            raise InvalidInput(f"The target column {target!r} has values the model does not predict "
                               f"({', '.join(map(repr, map(_plain, unknown)))}); its classes are "
                               f"{', '.join(map(repr, map(_plain, classes)))}.")
        present = np.unique(index)
        if present.size < 2:
            raise InvalidInput(f"The target column {target!r} has one class only ({_plain(classes[present[0]])!r}) "
                               f"in these {len(y):,} rows: ROC AUC, recall and balanced accuracy need both. Evaluate on "
                               "data with examples of each class.")
        self.y_index = index
        if len(classes) == 2:
            self.kind = "binary"
            if pos_label is None:
                self.pos_index = 1
            else:
                matches = [i for i, c in enumerate(classes) if c == pos_label]
                if not matches:
                    raise InvalidInput(f"pos_label {pos_label!r} is not one of the model's classes "
                                       f"({', '.join(map(repr, map(_plain, classes)))}).")
                self.pos_index = matches[0]
            self.pos_label = _plain(classes[self.pos_index])
            self.positive = index == self.pos_index
        else:
            self.kind = "multiclass"

    def score(self, out: np.ndarray, threshold: float) -> _Scored:
        if self.kind == "regression":
            return _Scored(None, out, m.regression(self.y, out))
        if self.kind == "binary":
            metrics, confusion, ranked = m.binary(self.positive, out, self.pos_index, threshold)
            if self.pos_index == 0:  # the matrix in class order: row/column 0 is the positive class
                confusion = confusion[::-1, ::-1]
            return _Scored(out, None, metrics, confusion, ranked)
        metrics, confusion = m.multiclass(self.y_index, out, np.asarray(self.classes))
        return _Scored(out, None, metrics, confusion)

    def subset_metrics(self, out: np.ndarray, threshold: float):
        """metrics_of(rows) for the slice tables."""
        def metrics_of(index: np.ndarray) -> dict[str, float]:
            if self.kind == "regression":
                values = m.regression(self.y[index], out[index]) if index.size > 1 else {}
                return {"mean_target": float(self.y[index].mean()), **values}
            if self.kind == "binary":
                positive = self.positive[index]
                extra = {"positives": int(positive.sum())}
                if positive.all() or not positive.any():
                    # one class in this slice: only what needs no other class
                    tp = float(np.sum(positive & (out[index, self.pos_index] > threshold)))
                    predicted = float(np.sum(out[index, self.pos_index] > threshold))
                    return {**extra, "accuracy": float(np.mean(positive == (out[index, self.pos_index] > threshold))),
                            "recall": tp / positive.sum() if positive.any() else float("nan"),
                            "precision": tp / predicted if predicted else float("nan"),
                            "roc_auc": float("nan")}
                values, _, _ = m.binary(positive, out[index], self.pos_index, threshold)
                return {**extra, **values}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # classes absent from a slice
                predicted = np.argmax(out[index], axis=1)
                return {"accuracy": float(np.mean(predicted == self.y_index[index]))}
        return metrics_of


# ---------------------------------------------------------------------- the call
def evaluate(model: Any, data: Any, target: str, *, slices: Any = None, sensitive: Any = None,
             baseline: Any = None, threshold: float = 0.5, pos_label: Any = None,
             features: list[str] | None = None, dataset_name: str | None = None, importance: bool = False,
             learning_curve: bool = False, sample_rows: int = SAMPLE_ROWS, plots: bool = True,
             report: bool = True, run_id: str | None = None, artifact_path: str = ARTIFACT_PATH,
             client=None) -> EvaluationResult:
    """Evaluate ``model`` on ``data`` against the labels in column ``target``, and log it.

    ``model`` (and ``baseline``): a fitted estimator, or a model URI (``models:/fraud@production``,
    ``runs:/<id>/model``, ``fraud@3``). ``data``: a DataFrame or pyarrow Table, or a stored dataset
    version (``transactions@3``), which is linked to the run with role ``eval``; a DataFrame is
    stored and linked so when ``dataset_name`` is given (the promotion gates compare two versions
    only on the same linked data).

    Classifiers: rows whose positive-class probability is above ``threshold`` are called
    positive, so at 0.5 the labels are those ``predict`` gives (``pos_label``: the positive
    class, by default the last of ``classes_``). ``slices``: columns
    to break the metrics down by (each value, or quantile bins of a numerical column; a
    ``(column, bins)`` pair gives the number of bins or their edges). ``sensitive``: columns to
    measure fairness gaps between the groups of (binary classifiers). ``baseline``: a second
    model evaluated on the same rows: a side-by-side table and, for ROC AUC, DeLong's paired
    test. ``importance``: permutation importance on ``sample_rows`` rows, and SHAP values for
    tree models when shap is installed. ``learning_curve``: refit the model on growing shares
    of ``sample_rows`` rows with 5-fold cross-validation.

    Logged to ``run_id``, else the active run, else the run that logged the model (a model
    given by URI: so its registered version's gates see the numbers), else a new run: the
    headline metrics, fairness gaps, tags ``mc.eval.*``, and under ``artifact_path`` the
    plots (PNG), ``metrics.json`` and ``report.html``."""
    started = time.perf_counter()
    from modelcycle.tracking import fluent

    client = client or fluent.client()
    threshold = _check_threshold(threshold)
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 10:
        raise InvalidInput(f"sample_rows must be an int of at least 10; got {sample_rows!r}.")
    for name, flag in (("importance", importance), ("learning_curve", learning_curve), ("plots", plots),
                       ("report", report)):
        if not isinstance(flag, bool):
            raise InvalidInput(f"{name} must be True or False; got {flag!r}.")
    if features is not None and (isinstance(features, str) or not isinstance(features, (list, tuple))
                                 or not all(isinstance(f, str) for f in features)):
        raise InvalidInput(f"features must be a list of column names; got {features!r}.")
    # what is written last is checked first: a refusal there would leave a run half-logged
    if dataset_name is not None:
        check_dataset_name(dataset_name)
    check_artifact_path(artifact_path)
    slice_specs = parse_specs(slices, "slices")
    sensitive_specs = parse_specs(sensitive, "sensitive")
    if dataset_name is not None and not isinstance(data, pd.DataFrame):
        raise InvalidInput("dataset_name is for a DataFrame, stored under that name; data given as a dataset "
                           "version is already stored.")
    frame, dataset = _data(data, client)
    y = _check_target(frame, target)
    check_columns(slice_specs, list(frame.columns), "slice", target)
    check_columns(sensitive_specs, list(frame.columns), "sensitive", target)
    candidate = _load(model, "model", client)
    feature_names = _features(candidate, frame, target, features, "model")
    task = _Task(candidate, y, target, pos_label)
    if sensitive_specs and task.kind != "binary":
        raise InvalidInput(f"Fairness gaps are defined for binary classifiers; this is a {task.kind} evaluation. "
                           "Use slices= to compare the metrics of groups.")
    groups = [groups_of(frame[s.column], s) for s in slice_specs]
    sensitive_groups = [groups_of(frame[s.column], s) for s in sensitive_specs]
    other = _load(baseline, "baseline", client) if baseline is not None else None
    if other is not None:
        if other.task != candidate.task or (
                task.kind != "regression" and list(map(_plain, other.classes)) != list(map(_plain, candidate.classes))):
            raise InvalidInput("The baseline must predict what the model predicts: "
                               f"the model is a {candidate.task} model"
                               + (f" of classes {list(map(_plain, candidate.classes))}" if candidate.classes is not None
                                  else "")
                               + f", the baseline a {other.task} model"
                               + (f" of classes {list(map(_plain, other.classes))}" if other.classes is not None
                                  else "") + ".")
        baseline_features = _features(other, frame, target, None, "baseline")

    X = frame[feature_names]
    out = _predict(candidate, X, "model")
    scored = task.score(out, threshold)
    result = EvaluationResult(task.kind, target, len(frame), scored.metrics, candidate.described, feature_names,
                              dataset=dataset)
    if task.kind != "regression":
        result.labels = [_plain(c) for c in task.classes]
        result.confusion_matrix = np.asarray(scored.confusion).astype(int).tolist()
    if task.kind == "binary":
        result.positive_label, result.threshold = task.pos_label, threshold
        ranked = scored.ranked
        result.thresholds = m.threshold_table(ranked)
        score = out[:, task.pos_index]
        result.curves = {"roc": ranked.roc_curve(), "pr": ranked.pr_curve(),
                         "calibration": m.calibration(task.positive, score), "lift": ranked.lift_curve(),
                         "base_rate": ranked.positives / len(score)}
    elif task.kind == "regression":
        result.curves = {"residuals": m.residuals(task.y, out)}
    metrics_of = task.subset_metrics(out, threshold)
    result.slices = [slice_table(g, metrics_of) for g in groups]
    if sensitive_groups:
        called = out[:, task.pos_index] > threshold
        result.fairness = [fairness(g, task.positive, called) for g in sensitive_groups]

    if other is not None:
        other_out = _predict(other, frame[baseline_features], "baseline")
        other_scored = task.score(other_out, threshold)
        test = None
        if task.kind == "binary":
            test = delong(task.positive, out[:, task.pos_index], other_out[:, task.pos_index])
            result.curves["baseline_roc"] = other_scored.ranked.roc_curve()
        name, version = other.registered or (None, None)
        result.comparison = Comparison(other.described, name, version,
                                       side_by_side(scored.metrics, other_scored.metrics), test)

    if importance or learning_curve:
        _explanations(result, candidate, task, X, out, importance, learning_curve, sample_rows)

    rendered = _render(result, plots, report)
    result.run_id = _log(result, rendered, candidate, client, run_id, artifact_path,
                         frame if dataset_name is not None else None, dataset_name)
    result.seconds = time.perf_counter() - started
    return result


def _scorer(task: _Task):
    """(name, scorer(model, X, y)) for permutation importance, from one predict call each."""
    if task.kind == "binary":
        pos = task.pos_index

        def roc_auc(model, X, y):
            ranked = m.RankedScores.of(y, np.asarray(model.predict_proba(X), dtype=np.float64)[:, pos])
            return ranked.roc_auc()
        return "roc_auc", roc_auc
    if task.kind == "multiclass":
        def accuracy(model, X, y):
            return float(np.mean(np.argmax(np.asarray(model.predict_proba(X)), axis=1) == y))
        return "accuracy", accuracy

    def r2(model, X, y):
        return m.regression(y, np.asarray(model.predict(X), dtype=np.float64).reshape(len(X)))["r2"]
    return "r2", r2


def _explanations(result: EvaluationResult, model: _Model, task: _Task, X: pd.DataFrame, out: np.ndarray,
                  importance: bool, learning_curve: bool, sample_rows: int) -> None:
    from modelcycle.evaluation import importance as imp

    rows = imp.sample(len(X), sample_rows)
    Xs = X.iloc[rows]
    labels = {"binary": lambda: task.positive[rows], "multiclass": lambda: task.y_index[rows],
              "regression": lambda: task.y[rows]}[task.kind]()
    if importance:
        name, scorer = _scorer(task)
        result.importance.append(imp.permutation(model.obj, Xs, labels, scorer, name))
        if model.native is None:
            result.notes.append("SHAP values: the model was loaded without its native estimator")
        else:
            shap = imp.shap_values(model.native, Xs, task.pos_index)
            if isinstance(shap, str):
                result.notes.append(f"SHAP values: {shap}")
            else:
                result.importance.append(shap)
    if learning_curve:
        if model.native is None:
            raise InvalidInput("A learning curve refits the model, so it needs the fitted estimator; this one was "
                               "loaded without it. Pass learning_curve=False.")
        scoring = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task.kind]
        y_curve = {"binary": lambda: task.positive[rows].astype(int), "multiclass": lambda: task.y_index[rows],
                   "regression": lambda: task.y[rows]}[task.kind]()
        result.learning_curve = imp.learning_curve(model.native, Xs, y_curve, scoring, task.kind != "regression")


def _render(result: EvaluationResult, plots: bool, report: bool) -> dict[str, bytes]:
    """The files to log, by path under the artifact folder."""
    from modelcycle.evaluation import plots as p

    files: dict[str, bytes] = {}
    if plots:
        curves = result.curves
        if result.task == "binary":
            comparison = result.comparison
            files["plots/roc.png"] = p.roc(curves["roc"], result.metrics["roc_auc"], curves.get("baseline_roc"),
                                           comparison.test.baseline if comparison and comparison.test else None)
            files["plots/precision_recall.png"] = p.precision_recall(curves["pr"], result.metrics["pr_auc"],
                                                                     curves["base_rate"])
            files["plots/calibration.png"] = p.calibration(curves["calibration"])
            files["plots/lift.png"] = p.lift(curves["lift"])
        elif result.task == "regression":
            files["plots/residuals.png"] = p.residuals(curves["residuals"])
        for item in result.importance:
            files[f"plots/importance_{item.method}.png"] = p.importance(
                item.features, "Permutation importance" if item.method == "permutation" else "Mean |SHAP value|")
        if result.learning_curve is not None:
            files["plots/learning_curve.png"] = p.learning_curve(result.learning_curve)
    if report:
        from modelcycle.evaluation.report import render_html

        files["report.html"] = render_html(result, {k: v for k, v in files.items() if k.endswith(".png")}).encode()
    return files


def _log(result: EvaluationResult, files: dict[str, bytes], model: _Model, client, run_id: str | None,
         artifact_path: str, frame: pd.DataFrame | None, dataset_name: str | None) -> str:
    from modelcycle.store.clock import now_ms
    from modelcycle.store.entities import Metric
    from modelcycle.tracking import fluent

    started_here = None
    if run_id is None:
        active = fluent.active_run()
        if active is not None:
            run_id = active.id
        elif model.run_id is not None:
            run_id = model.run_id
        else:
            started_here = client.create_run(fluent._experiment)  # where mc.set_experiment points
            run_id = started_here.id
    try:
        if frame is not None:
            from modelcycle.data.datasets import log_dataset

            version = log_dataset(frame, dataset_name, role="eval", run_id=run_id)
            result.dataset = f"{version.name}@{version.version}"
        elif result.dataset is not None:
            name, _, version = result.dataset.rpartition("@")
            client.store.link_dataset(run_id, name, int(version), "eval")
        result.run_id = run_id
        files = {**files, "metrics.json": json.dumps(result.to_dict(), indent=1, allow_nan=False).encode()}
        with tempfile.TemporaryDirectory(prefix="modelcycle-evaluation-") as tmp:
            for rel, content in files.items():
                path = Path(tmp) / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            result.artifacts = [info.path for info in client.log_artifacts(run_id, tmp, artifact_path)]
        tags = {"mc.eval.model": model.described, "mc.eval.target": result.target,
                "mc.eval.dataset": result.dataset or "(a DataFrame, not stored)"}
        if result.comparison is not None:
            tags[COMPARISON_TAG] = result.comparison.tag_value(result.dataset)
        stamp = now_ms()
        client.log_batch(run_id, [Metric(k, float(v), 0, stamp) for k, v in result.logged_metrics().items()],
                         tags=tags)
    except BaseException:
        if started_here is not None:
            client.end_run(run_id, "FAILED")
        raise
    if started_here is not None:
        client.end_run(run_id, "FINISHED")
    return run_id


"""What the windows of a model version are compared with.

Its inputs: the stored profile of the dataset its run trained on (found through lineage), so the
training data is never read again. Its outputs: the version's own predictions on its evaluation
data (else its training data), computed once and kept in the store as the point
``reference_outputs`` of window 0, so every monitor process and host reads the same: their
distribution (predicted class shares, score distribution), and for a classifier evaluated on
labelled data the calibration of its probabilities that confidence-based performance
estimation (CBPE) needs: isotonic maps from the probability of each class to how often it is
that class, and from the probability of the predicted class to how often the prediction is right.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.data.profile import Profile
from modelcycle.data.schema import Schema
from modelcycle.exceptions import ModelcycleError, NotFound

if TYPE_CHECKING:
    import pyarrow as pa

    from modelcycle.store.base import Store

log = logging.getLogger("modelcycle.monitoring")

REFERENCE_METRIC = "reference_outputs"
MAX_ROWS = 1_000_000  # of the evaluation data scored for the reference; more adds nothing but time
MIN_CALIBRATION_ROWS = 100
MAX_KNOTS = 256  # of one isotonic map, so that a model of many classes fits in the point's labels
BATCH_ROWS = 65_536


@dataclass
class Reference:
    ref: str  # name@version
    profile: Profile
    schema: Schema | None


def find_reference(store: Store, model: str, version: int, override: str | None = None) -> Reference | None:
    """``override`` (name@N), else the dataset the version's run (or its parent) used as ``train``."""
    from modelcycle.data.versions import parse_ref

    if override is not None:
        name, number = parse_ref(override)
        found = store.get_dataset(name, number)
    else:
        uses = _uses(store, model, version, "train")
        if not uses:
            return None
        name, number = parse_ref(uses[-1])
        found = store.get_dataset(name, number)
    if not found.profile:
        return None
    return Reference(found.ref, Profile.from_dict(json.loads(found.profile)),
                     Schema.from_yaml(found.schema) if found.schema else None)


def _run_of(store: Store, model: str, version: int):
    if not version:
        return None
    try:
        return store.get_run(store.get_model_version(model, version).run_id)
    except NotFound:
        return None


def _uses(store: Store, model: str, version: int, role: str) -> list[str]:
    """The datasets (name@N) the version's run used as ``role``, else those its parent run used."""
    run = _run_of(store, model, version)
    if run is None:
        return []
    uses = [u.dataset for u in store.dataset_uses(run_id=run.id) if u.role == role]
    if not uses and run.parent_id:
        uses = [u.dataset for u in store.dataset_uses(run_id=run.parent_id) if u.role == role]
    return uses


# ------------------------------------------------------------------ calibration
def _knots(x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    if x.size > MAX_KNOTS:
        keep = np.unique(np.linspace(0, x.size - 1, MAX_KNOTS).round().astype(int))
        x, y = x[keep], y[keep]
    return [float(v) for v in x], [float(v) for v in y]


def _isotonic(p: np.ndarray, hit: np.ndarray) -> tuple[list[float], list[float]]:
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, hit.astype(np.float64))
    return _knots(np.asarray(fitted.X_thresholds_), np.asarray(fitted.y_thresholds_))


@dataclass
class Calibration:
    """Isotonic maps fitted on labelled evaluation rows, as (x, y) knots read by linear
    interpolation: ``per_class[j]`` maps the probability of class ``j`` (column ``j`` of the
    probabilities) to the share of rows of that class, ``confidence`` maps the probability of
    the predicted class to the share of rows predicted right."""

    per_class: list[tuple[list[float], list[float]]]
    confidence: tuple[list[float], list[float]]
    rows: int

    @classmethod
    def fit(cls, proba: np.ndarray, y_index: np.ndarray) -> Calibration:
        """``y_index``: the column of each row's true class (-1 for a class the model lacks)."""
        per_class = [_isotonic(proba[:, j], y_index == j) for j in range(proba.shape[1])]
        predicted = proba.argmax(axis=1)
        confidence = _isotonic(proba[np.arange(proba.shape[0]), predicted], predicted == y_index)
        return cls(per_class, confidence, int(proba.shape[0]))

    def of_class(self, j: int, p: np.ndarray) -> np.ndarray:
        x, y = self.per_class[j]
        return np.interp(p, x, y)

    def correct(self, p: np.ndarray) -> np.ndarray:
        x, y = self.confidence
        return np.interp(p, x, y)

    def to_dict(self) -> dict[str, Any]:
        return {"per_class": [list(map(list, k)) for k in self.per_class],
                "confidence": list(map(list, self.confidence)), "rows": self.rows}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls([(list(x), list(y)) for x, y in data["per_class"]], tuple(data["confidence"]), int(data["rows"]))


@dataclass
class OutputReference:
    """The version's outputs on ``source`` (name@N): their profile (columns ``prediction``, and
    ``score`` for a classifier: the probability of the second class of two, else of the predicted
    class), the classes in the order of the probability columns, and the calibration (None
    without labels)."""

    source: str
    rows: int
    profile: Profile
    classes: list[str] | None
    calibration: Calibration | None
    calibration_note: str = ""

    def to_labels(self) -> dict[str, Any]:
        return {"source": self.source, "rows": self.rows, "profile": self.profile.to_dict(), "classes": self.classes,
                "calibration": self.calibration.to_dict() if self.calibration else None,
                "calibration_note": self.calibration_note}

    @classmethod
    def from_labels(cls, labels: dict[str, Any]) -> OutputReference:
        calibration = labels.get("calibration")
        return cls(labels["source"], int(labels["rows"]), Profile.from_dict(labels["profile"]), labels.get("classes"),
                   Calibration.from_dict(calibration) if calibration else None, labels.get("calibration_note", ""))


def output_scores(prediction: pa.Array, proba: np.ndarray | None) -> pa.RecordBatch:
    """The columns the outputs are profiled on, alike for the log's rows and the reference's."""
    import pyarrow as pa

    if proba is None:
        return pa.RecordBatch.from_arrays([prediction], names=["prediction"])
    score = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
    return pa.RecordBatch.from_arrays([prediction.cast(pa.string()), pa.array(score, type=pa.float64())],
                                      names=["prediction", "score"])


def stored_output_reference(store: Store, model: str, version: int) -> OutputReference | None:
    found = store.monitor_results(model, version=version, end_ms=1, metrics=[REFERENCE_METRIC])
    return OutputReference.from_labels(found[0].labels) if found else None


def output_reference(store: Store, model: str, version: int) -> tuple[OutputReference | None, str]:
    """The stored outputs reference of the version, else computed now and stored; (None, why)
    when there is none to compute."""
    found = stored_output_reference(store, model, version)
    if found is not None:
        return found, ""
    try:
        computed, why = compute_output_reference(store, model, version)
    except (ModelcycleError, ValueError, TypeError, KeyError, OSError) as exc:
        return None, f"the model could not score its evaluation data ({type(exc).__name__}: {exc})"
    if computed is None:
        return None, why
    from modelcycle.store.clock import now_ms
    from modelcycle.store.entities import MonitorPoint

    store.record_monitor_results(model, [MonitorPoint(model, version, 0, 0, REFERENCE_METRIC, math.nan,
                                                      computed.to_labels(), now_ms())])
    return computed, ""


def compute_output_reference(store: Store, model: str, version: int) -> tuple[OutputReference | None, str]:
    """Score the version's evaluation data (its run's ``eval`` dataset; else its ``train``
    dataset, which gives no calibration) with the version itself."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelcycle.data.profile import Profiler
    from modelcycle.data.versions import parse_ref
    from modelcycle.models.api import load_model

    run = _run_of(store, model, version)
    if run is None:
        return None, f"version {version} has no run to find its evaluation data through"
    evaluated = run.tags.get("mc.eval.dataset")
    uses = [evaluated] if evaluated and "@" in evaluated else _uses(store, model, version, "eval")
    role = "eval"
    if not uses:
        uses, role = _uses(store, model, version, "train"), "train"
    if not uses:
        return None, f"the run of version {version} used no dataset as eval or train"
    source = uses[-1]
    target = run.tags.get("mc.eval.target") if role == "eval" else None
    loaded = load_model(f"models:/{model}/{version}", store=store)
    classifier = loaded.manifest.task == "classification"
    name, number = parse_ref(source)
    profiler, probas, labels, rows = Profiler(), [], [], 0
    with tempfile.TemporaryFile() as tmp:
        for chunk in store.open_dataset(name, number):
            tmp.write(chunk)
        tmp.seek(0)
        for batch in pq.ParquetFile(tmp).iter_batches(batch_size=BATCH_ROWS):
            batch = batch.slice(0, MAX_ROWS - rows)
            frame = batch.to_pandas()
            predicted = pa.array(np.asarray(loaded.predict(frame)))
            proba = np.asarray(loaded.predict_proba(frame), dtype=np.float64) if classifier else None
            profiler.add(output_scores(predicted, proba))
            if proba is not None and target and target in frame.columns:
                probas.append(proba)
                labels.append(frame[target].to_numpy())
            rows += batch.num_rows
            if rows >= MAX_ROWS:
                break
    if not rows:
        return None, f"{source} has no rows"
    classes = [str(c) for c in loaded.manifest.classes] if classifier and loaded.manifest.classes else None
    calibration, note = None, ""
    if not classifier:
        note = "a regressor: no probabilities to calibrate"
    elif role != "eval":
        note = f"no evaluation data: {source} is the training data, on which the probabilities are not calibrated"
    elif not target or not labels:
        note = f"the labels of {source} are unknown (the run has no mc.eval.target tag naming them)"
    else:
        proba, y = np.concatenate(probas), np.concatenate(labels)
        index = {c: j for j, c in enumerate(classes or [])}
        y_index = np.array([index.get(str(v), -1) for v in y.tolist()])
        if proba.shape[0] < MIN_CALIBRATION_ROWS or len(set(y_index.tolist()) - {-1}) < 2:
            note = (f"{source} has {proba.shape[0]} labelled rows of {len(set(y_index.tolist()) - {-1})} classes; "
                    f"calibration needs {MIN_CALIBRATION_ROWS} rows of two classes or more")
        else:
            calibration = Calibration.fit(proba, y_index)
            note = f"isotonic, on {proba.shape[0]:,} labelled rows of {source}"
    return OutputReference(source, rows, profiler.result(), classes, calibration, note), ""

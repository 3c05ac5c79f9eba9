"""One window of the prediction log of one model version, accumulated batch by batch: the
profile of its inputs (binned on the reference's bins), of its outputs, its health counts and
its labelled rows. Only the labelled rows and one latency per request are kept whole."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelcycle.data.profile import Profile, Profiler
from modelcycle.monitoring import stats
from modelcycle.monitoring.reference import Calibration, output_scores

INPUT = "input."
BATCH_ROWS = 65_536


def record_batches(relation, rows: int):
    """A DuckDB relation as Arrow record batches of up to ``rows`` rows."""
    reader = relation.to_arrow_reader(rows) if hasattr(relation, "to_arrow_reader") else \
        relation.fetch_arrow_reader(rows)
    yield from reader


@dataclass
class WindowStats:
    version: int
    start: int
    end: int
    rows: int = 0  # logged rows, errors included
    ok_rows: int = 0
    requests: int = 0
    errors: int = 0
    inputs: Profile | None = None
    outputs: Profile | None = None
    latencies_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    labelled: dict | None = None  # y, predicted, proba, delay_s of the labelled rows
    classes: list | None = None  # classifier: the class of each proba column; None: a regressor
    cbpe: dict | None = None  # estimated performance, classifiers
    label_digest: str | None = None  # of the labels the performance was computed from (monitor.refresh_performance)


class WindowBuilder:
    """Feed the window's record batches (as ``query_predictions`` gives them) to ``add``."""

    def __init__(self, version: int, start: int, end: int, reference: Profile | None,
                 output_reference: Profile | None, calibration: Calibration | None = None):
        self.window = WindowStats(version, start, end)
        self._inputs = Profiler(reference)
        self._outputs = Profiler(output_reference)
        self._calibration = calibration
        self._latencies: list[np.ndarray] = []
        self._y: list = []
        self._pred: list = []
        self._proba: list = []
        self._delay: list = []
        self._class_of_index: dict[int, object] = {}
        self._width = 0
        self._cbpe_counts: np.ndarray | None = None  # per class, rows per probability bin
        self._cbpe_sums: np.ndarray | None = None  # per class, sum of the probabilities in each bin
        self._cbpe_top_counts = np.zeros(stats.CBPE_BINS)  # rows per bin of the predicted class's probability
        self._cbpe_top_sums = np.zeros(stats.CBPE_BINS)

    def add(self, batch: pa.RecordBatch) -> None:
        w = self.window
        w.rows += batch.num_rows
        names = batch.schema.names
        status = batch.column(names.index("status")).to_numpy(zero_copy_only=False)
        first_row = pc.fill_null(pc.equal(batch.column(names.index("row")), 0), True).to_numpy(zero_copy_only=False)
        latency = batch.column(names.index("latency_ms")).to_numpy(zero_copy_only=False).astype(np.float64)
        w.requests += int(first_row.sum())
        w.errors += int((first_row & (status >= 400)).sum())
        self._latencies.append(latency[first_row])
        ok = status < 400
        good = batch if ok.all() else batch.filter(pa.array(ok))
        w.ok_rows += good.num_rows
        if not good.num_rows:
            return
        inputs = [n for n in names if n.startswith(INPUT)]
        if inputs:
            self._inputs.add(pa.RecordBatch.from_arrays([good.column(n) for n in inputs],
                                                        names=[n[len(INPUT):] for n in inputs]))
        prediction = good.column("prediction") if "prediction" in names else None
        proba = _proba_matrix(good.column("proba")) if "proba" in names else None
        if proba is not None and prediction is not None:
            self._learn_classes(prediction, proba)
            self._add_cbpe(proba)
        if prediction is not None:
            self._outputs.add(output_scores(prediction, proba))
        if "label" in names and prediction is not None:
            label = good.column("label")
            has = pc.is_valid(label)
            if pc.any(has).as_py():
                take = good.filter(has)
                self._y.append(take.column("label").to_numpy(zero_copy_only=False))
                self._pred.append(take.column("prediction").to_numpy(zero_copy_only=False))
                if proba is not None:
                    self._proba.append(proba[has.to_numpy(zero_copy_only=False)])
                times, label_times = _ms(take.column("time")), _ms(take.column("label_time"))
                self._delay.append((label_times - times) / 1000.0)

    def _learn_classes(self, prediction: pa.Array, proba: np.ndarray) -> None:
        # The log keeps probabilities, not class names: the predicted class of a row is the class
        # of its most probable column, which names the columns.
        self._width = max(self._width, proba.shape[1])
        if len(self._class_of_index) == proba.shape[1]:
            return
        values = prediction.to_numpy(zero_copy_only=False)
        top = proba.argmax(axis=1)
        for j in set(range(proba.shape[1])) - set(self._class_of_index):
            hit = np.flatnonzero(top == j)
            if hit.size:
                self._class_of_index[j] = values[hit[0]]

    def _add_cbpe(self, proba: np.ndarray) -> None:
        k = proba.shape[1]
        if self._cbpe_counts is None or self._cbpe_counts.shape[0] != k:
            self._cbpe_counts = np.zeros((k, stats.CBPE_BINS))
            self._cbpe_sums = np.zeros((k, stats.CBPE_BINS))
        bins = np.minimum((np.clip(proba, 0, 1) * stats.CBPE_BINS).astype(np.int64), stats.CBPE_BINS - 1)
        for j in range(k):
            self._cbpe_counts[j] += np.bincount(bins[:, j], minlength=stats.CBPE_BINS)
            self._cbpe_sums[j] += np.bincount(bins[:, j], weights=proba[:, j], minlength=stats.CBPE_BINS)
        top = proba.max(axis=1)
        top_bins = np.minimum((np.clip(top, 0, 1) * stats.CBPE_BINS).astype(np.int64), stats.CBPE_BINS - 1)
        self._cbpe_top_counts += np.bincount(top_bins, minlength=stats.CBPE_BINS)
        self._cbpe_top_sums += np.bincount(top_bins, weights=top, minlength=stats.CBPE_BINS)

    def result(self) -> WindowStats:
        w = self.window
        w.inputs = self._inputs.result() if self._inputs._rows else None
        w.outputs = self._outputs.result() if self._outputs._rows else None
        w.latencies_ms = np.concatenate(self._latencies) if self._latencies else np.empty(0)
        if self._width:
            w.classes = self._classes()
            calibration = self._calibration
            if calibration is not None and len(calibration.per_class) != self._cbpe_counts.shape[0]:
                calibration = None  # the log's probabilities are not the reference model's columns
            w.cbpe = stats.cbpe_binned(self._cbpe_counts, self._cbpe_sums, self._cbpe_top_counts,
                                       self._cbpe_top_sums, calibration)
        if self._y:
            y, pred = np.concatenate(self._y), np.concatenate(self._pred)
            if w.classes is not None:
                y, pred = _as_class_values(y, w.classes), _as_class_values(pred, w.classes)
            else:
                y, pred = y.astype(np.float64), pred.astype(np.float64)
            w.labelled = {"y": y, "predicted": pred, "proba": np.concatenate(self._proba) if self._proba else None,
                          "delay_s": np.concatenate(self._delay)}
        return w

    def _classes(self) -> list:
        known = dict(self._class_of_index)
        values = list(known.values())
        # Columns never predicted: the label values the model never predicted, in sorted order.
        rest = sorted({v for part in self._y for v in part.tolist()} - set(values), key=str)
        for j in range(self._width):
            if j not in known:
                known[j] = rest.pop(0) if rest else f"class_{j}"
        return [known[j] for j in range(self._width)]


def _ms(column: pa.Array) -> np.ndarray:
    """Milliseconds since 1970 of a timestamp column of any unit (DuckDB gives microseconds)."""
    return pc.cast(pc.cast(column, pa.timestamp("ms", tz="UTC")), pa.int64()).to_numpy(zero_copy_only=False)


def _as_class_values(values: np.ndarray, classes: list) -> np.ndarray:
    """Labels may come as text ("1") for integer classes, or the reverse: compare as the classes."""
    by_text = {str(c): c for c in classes}
    out = np.empty(values.size, dtype=object)
    for i, v in enumerate(values.tolist()):
        out[i] = by_text.get(str(v), v)
    return out


def _proba_matrix(column: pa.Array) -> np.ndarray | None:
    if column.null_count == len(column):
        return None
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64)
    width = flat.size // max(1, len(column) - column.null_count)
    if column.null_count or width * len(column) != flat.size:
        return None  # ragged or partly missing: not a classifier's output
    return flat.reshape(len(column), width)


def performance(window: WindowStats) -> dict[str, float]:
    """Labelled share and delay, and the metrics of the labelled rows."""
    labelled = window.labelled
    n = 0 if labelled is None else labelled["y"].size
    out = {"labelled_rows": float(n), "labelled_share": n / window.ok_rows if window.ok_rows else math.nan,
           "label_delay_p50_s": float(np.median(labelled["delay_s"])) if n else math.nan}
    if window.classes is not None:
        if n:
            out.update(stats.classifier_metrics(labelled["y"], labelled["predicted"], labelled["proba"],
                                                window.classes))
        else:
            out.update({k: math.nan for k in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")})
    elif n:
        out.update(stats.regressor_metrics(labelled["y"], labelled["predicted"]))
    return out

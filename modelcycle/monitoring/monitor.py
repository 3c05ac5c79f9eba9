"""The monitor: finds the finished windows of each model version's predictions not yet computed,
computes each once against the reference profile of the version's training data, stores its
metrics, and recomputes the performance of recent windows whose labels arrived late."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.data.drift import DriftReport, drift
from modelcycle.data.profile import Profile
from modelcycle.data.schema import Schema
from modelcycle.exceptions import InvalidInput, NotFound
from modelcycle.monitoring import stats
from modelcycle.monitoring.windows import BATCH_ROWS, WindowBuilder, WindowStats, performance, record_batches
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import MonitorPoint

if TYPE_CHECKING:
    import pandas as pd

    from modelcycle.store.base import Store

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PERFORMANCE = ("labelled_rows", "labelled_share", "label_delay_p50_s", "accuracy", "precision", "recall", "f1",
               "roc_auc", "log_loss", "mae", "rmse", "r2")


def parse_duration(text: Any, what: str = "duration") -> int:
    """Milliseconds of ``90s``, ``5m``, ``1h``, ``2d`` (or a number of seconds)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text > 0:
        return int(text * 1000)
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}
    if isinstance(text, str):
        value = text.strip()
        for unit in ("ms", "s", "m", "h", "d", "w"):
            number = value[: -len(unit)]
            if value.endswith(unit) and number.replace(".", "", 1).isdigit():
                ms = int(float(number) * units[unit])
                if ms > 0:
                    return ms
    raise InvalidInput(f"The {what} must be a positive duration such as 30s, 5m, 1h or 1d; got {text!r}.")


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
        if not version:
            return None
        try:
            run = store.get_run(store.get_model_version(model, version).run_id)
        except NotFound:
            return None
        uses = [u for u in store.dataset_uses(run_id=run.id) if u.role == "train"]
        if not uses and run.parent_id:
            uses = [u for u in store.dataset_uses(run_id=run.parent_id) if u.role == "train"]
        if not uses:
            return None
        name, number = parse_ref(uses[-1].dataset)
        found = store.get_dataset(name, number)
    if not found.profile:
        return None
    return Reference(found.ref, Profile.from_dict(json.loads(found.profile)),
                     Schema.from_yaml(found.schema) if found.schema else None)


class Monitor:
    """``Monitor("fraud").run_once()`` computes every finished window not yet stored.

    ``window_ms`` (time windows, aligned to multiples of it since 1970) or ``window_rows`` (windows
    of that many logged rows); ``settle_ms``: how long after its end a time window is still left
    open for segments being written; ``label_horizon_ms``: how far back late labels recompute.
    With ``rules`` (a rules.RuleSet), each pass then evaluates the alerts (alerts.AlertEvaluator,
    with ``dispatcher``, ``actions`` and ``owner``); ``last_evaluation`` holds what it did."""

    def __init__(self, model: str, store: Store | None = None, reference: str | None = None,
                 window_ms: int | None = HOUR_MS, window_rows: int | None = None, uri: str | None = None,
                 settle_ms: int = 60_000, label_horizon_ms: int = 7 * DAY_MS, batch_rows: int = BATCH_ROWS,
                 rules=None, dispatcher=None, actions=None, owner: str | None = None):
        from modelcycle.store.validation import check_model_name

        self.model = check_model_name(model)
        if store is None:
            from modelcycle.tracking import fluent

            store = fluent.client().store
        self.store = store
        if window_rows is not None:
            if isinstance(window_rows, bool) or not isinstance(window_rows, int) or window_rows < 1:
                raise InvalidInput(f"window_rows must be a whole number of at least 1; got {window_rows!r}.")
            window_ms = None
        elif isinstance(window_ms, bool) or not isinstance(window_ms, int) or window_ms < 1000:
            raise InvalidInput(f"window_ms must be a whole number of milliseconds, at least 1000; got {window_ms!r}.")
        self.window_ms, self.window_rows = window_ms, window_rows
        self.reference_override = reference
        self.uri, self.settle_ms, self.label_horizon_ms, self.batch_rows = uri, settle_ms, label_horizon_ms, batch_rows
        self._references: dict[int, Reference | None] = {}
        if reference is not None:
            find_reference(store, model, 0, reference)  # NotFound now, not in the loop
        self.alerts = None
        self.last_evaluation = None
        if rules is not None:
            from modelcycle.monitoring.alerts import AlertEvaluator

            self.alerts = AlertEvaluator(self.model, rules, store, owner=owner, dispatcher=dispatcher,
                                         actions=actions, horizon_ms=label_horizon_ms)

    # ------------------------------------------------------------------ passes
    def run_once(self, now: int | None = None) -> list[WindowStats]:
        """Compute the finished windows not yet stored, then refresh late-labelled performance."""
        now = now_ms() if now is None else now
        done = self.store.monitor_windows(self.model)
        computed = []
        for version, (first, last) in sorted(self._versions(done).items()):
            resume = done.get(version)
            if self.window_rows is not None:
                computed += self._row_windows(version, resume if resume is not None else first)
            else:
                computed += self._time_windows(version, first, last, resume, now)
        self.refresh_performance(now, skip={(w.version, w.start) for w in computed})
        if self.alerts is not None:
            self.last_evaluation = self.alerts.evaluate(now)
        return computed

    def _relation(self, start=None, end=None, with_feedback=True, version: int | None = None, connection=None):
        from modelcycle.serving.feedback import query_predictions

        relation = query_predictions(self.model, start, end, None, with_feedback, self.uri, connection=connection)
        if relation is None or version is None:
            return relation
        return relation.filter("version IS NULL" if version == 0 else f"version = {int(version)}")

    def _versions(self, done: dict[int, int]) -> dict[int, tuple[int, int]]:
        """Per version, the first and last time logged after its last finished window."""
        since = min(done.values()) if done else None
        relation = self._relation(since, with_feedback=False)
        if relation is None:
            return {}
        found = {}
        sql = "SELECT coalesce(version, 0), epoch_ms(min(time)), epoch_ms(max(time)) FROM log GROUP BY 1"
        for version, first, last in relation.query("log", sql).fetchall():
            if done.get(int(version)) is None or last >= done[int(version)]:
                found[int(version)] = (int(first), int(last))
        return found

    def _time_windows(self, version: int, first: int, last: int, resume: int | None, now: int) -> list[WindowStats]:
        size = self.window_ms
        start = first - first % size if resume is None else max(resume, first - first % size)
        out = []
        while start + size <= now - self.settle_ms and start <= last:
            window = self._compute(version, start, start + size)
            if window is not None:
                out.append(window)
            start += size
        return out

    def _row_windows(self, version: int, resume: int) -> list[WindowStats]:
        relation = self._relation(resume, version=version)
        if relation is None:
            return []
        out, builder = [], None
        reader = record_batches(relation, self.batch_rows)
        for batch in reader:
            while batch.num_rows:
                if builder is None:
                    start = _first_time(batch)
                    builder = self._builder(version, start, start)
                take = min(batch.num_rows, self.window_rows - builder.window.rows)
                part, batch = batch.slice(0, take), batch.slice(take)
                builder.add(part)
                builder.window.end = _last_time(part) + 1
                if builder.window.rows == self.window_rows:
                    out.append(self._finish(builder))
                    builder = None
        return out  # a partial last window waits for more rows

    def _builder(self, version: int, start: int, end: int) -> WindowBuilder:
        reference = self.reference(version)
        output_reference = self._output_reference(version)
        return WindowBuilder(version, start, end, reference.profile if reference else None, output_reference)

    def _compute(self, version: int, start: int, end: int) -> WindowStats | None:
        relation = self._relation(start, end, version=version)
        if relation is None:
            return None
        builder = self._builder(version, start, end)
        for batch in record_batches(relation, self.batch_rows):
            builder.add(batch)
        if not builder.window.rows:
            return None
        return self._finish(builder)

    def _finish(self, builder: WindowBuilder) -> WindowStats:
        window = builder.result()
        self.store.record_monitor_results(self.model, self.points(window))
        return window

    # ------------------------------------------------------------------ references
    def reference(self, version: int) -> Reference | None:
        if version not in self._references:
            self._references[version] = find_reference(self.store, self.model, version, self.reference_override)
        return self._references[version]

    def _output_reference(self, version: int) -> Profile | None:
        """The outputs of the version's first window: what its later outputs are compared with."""
        found = self.store.monitor_results(self.model, version=version, metrics=["output_reference"])
        return Profile.from_dict(found[0].labels["profile"]) if found else None

    # ------------------------------------------------------------------ metrics of a window
    def points(self, w: WindowStats) -> list[MonitorPoint]:
        values: dict[str, tuple[float, dict]] = {}

        def put(metric: str, value, labels: dict | None = None) -> None:
            value = math.nan if value is None else float(value)
            values[metric] = (value if math.isfinite(value) or math.isnan(value) else math.nan, labels or {})

        for key, value in stats.health(w.requests, w.errors, w.latencies_ms).items():
            put(key, value)
        put("ok_rows", w.ok_rows)
        reference = self.reference(w.version)
        if w.inputs is not None and reference is not None:
            report = drift(reference.profile, w.inputs, schema=reference.schema)
            self._drift_points(report, put, reference.ref)
            self._quality_points(w.inputs, reference.schema, put)
        elif w.inputs is not None:
            self._quality_points(w.inputs, None, put)
        if w.outputs is not None:
            output_reference = self._output_reference(w.version)
            if output_reference is None:
                put("output_reference", math.nan, {"profile": w.outputs.to_dict()})
            else:
                report = drift(output_reference, w.outputs)
                for column in report.columns:
                    put(f"output_drift.{column.column}", column.score, _drift_labels(column))
            if w.classes is not None and "prediction" in w.outputs.columns:
                counts = w.outputs["prediction"].categories.counts
                total = sum(counts.values()) or 1
                for c in w.classes:
                    put(f"class_share.{c}", counts.get(str(c), 0) / total)
        for key, value in performance(w).items():
            put(key, value)
        if w.cbpe is not None:
            for key, value in w.cbpe.items():
                put(key, value)
        put("rows", w.rows, {"classes": [str(c) for c in w.classes] if w.classes else None,
                             "reference": reference.ref if reference else None})  # last: marks it finished
        now = now_ms()
        return [MonitorPoint(self.model, w.version, w.start, w.end, metric, value, labels, now)
                for metric, (value, labels) in values.items()]

    @staticmethod
    def _drift_points(report: DriftReport, put, ref: str) -> None:
        for column in report.columns:
            if column.score is None:
                continue
            put(f"drift_score.{column.column}", column.score, _drift_labels(column))
            put(f"drifted.{column.column}", column.drifted)
        put("drift_share", report.share, {"reference": ref, "share_threshold": report.share_threshold,
                                          "drifted_columns": report.drifted_columns})
        put("dataset_drift", report.dataset_drifted)
        put("drifted_columns", len(report.drifted_columns))

    @staticmethod
    def _quality_points(inputs: Profile, schema: Schema | None, put) -> None:
        cells = sum(c.rows for c in inputs.columns.values())
        put("missing_share", sum(c.missing for c in inputs.columns.values()) / cells if cells else math.nan)
        if schema is None:
            return
        from modelcycle.data.validate import validate

        anomalies = validate(inputs, schema).anomalies
        put("out_of_range_rows", sum(a.details.get("rows_estimate", 0) for a in anomalies if a.kind == "out_of_range"))
        put("unseen_category_rows", sum(a.details.get("rows", 0) for a in anomalies if a.kind == "unseen_category"))
        put("type_errors", sum(1 for a in anomalies if a.kind == "type_mismatch"))
        put("missing_columns", sum(1 for a in anomalies if a.kind == "missing_column"))

    # ------------------------------------------------------------------ late labels
    def refresh_performance(self, now: int, skip=frozenset()) -> int:
        """Recompute the performance of finished windows of the last ``label_horizon_ms`` whose
        labelled row count changed since they were computed; returns how many were rewritten."""
        stored = self.store.monitor_results(self.model, start_ms=max(0, now - self.label_horizon_ms),
                                            metrics=["rows", "labelled_rows", "ok_rows"])
        windows: dict[tuple[int, int], dict] = {}
        for p in stored:
            windows.setdefault((p.version, p.window_start), {"end": p.window_end})[p.metric] = p
        rewritten = 0
        for (version, start), found in sorted(windows.items()):
            if (version, start) in skip or "rows" not in found:
                continue
            labelled = self._labelled(version, start, found["end"], found["rows"].labels.get("classes"),
                                      int(found["ok_rows"].value) if "ok_rows" in found else 0)
            if labelled is None:
                continue
            old = found.get("labelled_rows")
            if old is not None and not math.isnan(old.value) and int(old.value) == labelled.labelled["y"].size:
                continue
            points = [MonitorPoint(self.model, version, start, found["end"], k, v, {}, now_ms())
                      for k, v in performance(labelled).items()]
            self.store.record_monitor_results(self.model, points)
            rewritten += 1
        return rewritten

    def _labelled(self, version: int, start: int, end: int, classes, ok_rows: int) -> WindowStats | None:
        relation = self._relation(start, end, version=version)
        if relation is None:
            return None
        relation = relation.filter("label IS NOT NULL AND status < 400")
        builder = WindowBuilder(version, start, end, None, None)
        for batch in record_batches(relation, self.batch_rows):
            builder.add(batch)
        window = builder.result()
        if window.labelled is None:
            return None
        if classes:  # the classes found over the whole window when it was computed
            from modelcycle.monitoring.windows import _as_class_values

            stored = [_typed_like(c, window.labelled["predicted"]) for c in classes]
            window.classes = stored
            window.labelled["y"] = _as_class_values(window.labelled["y"], stored)
            window.labelled["predicted"] = _as_class_values(window.labelled["predicted"], stored)
        window.ok_rows = ok_rows
        return window


def _typed_like(text: str, values: np.ndarray):
    for v in values.tolist():
        if str(v) == text:
            return v
    return text


def _drift_labels(column) -> dict:
    return {"method": column.method, "threshold": column.threshold, "direction": column.direction,
            "drifted": column.drifted, "distribution": column.distribution}


def _first_time(batch) -> int:
    from modelcycle.monitoring.windows import _ms

    return int(_ms(batch.column("time")).min())


def _last_time(batch) -> int:
    from modelcycle.monitoring.windows import _ms

    return int(_ms(batch.column("time")).max())


def monitor_results(model: str, start: Any = None, end: Any = None, metrics: list[str] | None = None,
                    version: int | None = None, store: Store | None = None) -> pd.DataFrame:
    """The stored monitor metrics of ``model`` as a DataFrame, one row per (version, window, metric):
    version, window_start, window_end (UTC timestamps), metric, value, labels."""
    import pandas as pd

    from modelcycle.serving.feedback import to_ms

    if store is None:
        from modelcycle.tracking import fluent

        store = fluent.client().store
    points = store.monitor_results(model, version, None if start is None else to_ms(start, "start"),
                                   None if end is None else to_ms(end, "end"), metrics)
    frame = pd.DataFrame({
        "version": pd.Series([p.version for p in points], dtype="int64"),
        "window_start": pd.to_datetime([p.window_start for p in points], unit="ms", utc=True),
        "window_end": pd.to_datetime([p.window_end for p in points], unit="ms", utc=True),
        "metric": pd.Series([p.metric for p in points], dtype="object"),
        "value": pd.Series([p.value for p in points], dtype="float64"),
        "labels": pd.Series([p.labels for p in points], dtype="object")})
    return frame

"""The monitor: finds the finished windows of each model version's predictions not yet computed,
computes each once against the reference profile of the version's training data, stores its
metrics, and recomputes the performance of recent windows whose labels arrived late."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.data.drift import DriftReport, drift
from modelcycle.data.schema import Schema
from modelcycle.exceptions import InvalidInput
from modelcycle.monitoring import scan, stats
from modelcycle.monitoring.reference import OutputReference, Reference, find_reference, output_reference
from modelcycle.monitoring.windows import BATCH_ROWS, WindowBuilder, WindowStats, _ms, performance, record_batches
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import MonitorPoint

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from modelcycle.data.profile import Profile

    from modelcycle.store.base import Store

log = logging.getLogger("modelcycle.monitoring")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SPAN_WINDOWS = 24  # time windows read in one pass over the log at most
SPAN_ROWS = 50_000  # and at most this many rows, unless one window has more
MAX_WINDOW_MS = 366 * DAY_MS
FIRST_MS, LAST_MS = 0, 253402300799999  # the times a log's timestamp holds (to 9999-12-31)
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
        elif isinstance(window_ms, bool) or not isinstance(window_ms, int) or not 1000 <= window_ms <= MAX_WINDOW_MS:
            raise InvalidInput(f"window_ms must be a whole number of milliseconds from 1000 (a second) to "
                               f"{MAX_WINDOW_MS} (366 days); got {window_ms!r}.")
        self.window_ms, self.window_rows = window_ms, window_rows
        for name, value, least in (("settle_ms", settle_ms, 0), ("label_horizon_ms", label_horizon_ms, 0),
                                   ("batch_rows", batch_rows, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidInput(f"{name} must be a whole number of at least {least}; got {value!r}.")
        if uri is not None and not isinstance(uri, str):
            raise InvalidInput(f"uri is the prediction log's folder or URL (text); got {uri!r}.")
        self.reference_override = reference
        self.uri, self.settle_ms, self.label_horizon_ms, self.batch_rows = uri, settle_ms, label_horizon_ms, batch_rows
        self._references: dict[int, Reference | None] = {}
        self._outputs: dict[int, OutputReference | None] = {}
        self._connection = self._side = None
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
        from threadpoolctl import threadpool_limits

        # A window's statistics are many small vector operations: BLAS threads only wait on each
        # other there (a dot product of 40,000 values took 28 ms instead of 0.1 on a busy machine).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._run_once(now_ms() if now is None else now)

    def _run_once(self, now: int) -> list[WindowStats]:
        done = self.store.monitor_windows(self.model)
        computed = []
        versions = self._versions(done)
        if not versions and not done:
            self._check_known()
        for version, (first, last) in sorted(versions.items()):
            resume = done.get(version)
            if self.window_rows is not None:
                computed += self._row_windows(version, resume if resume is not None else first)
            else:
                computed += self._time_windows(version, first, last, resume, now)
        self.refresh_performance(now, skip={(w.version, w.start) for w in computed})
        if self.alerts is not None:
            self.last_evaluation = self.alerts.evaluate(now)
        return computed

    @property
    def connection(self):
        """The DuckDB connection of this monitor's reads of the log (one for all its passes)."""
        if self._connection is None:
            import duckdb

            self._connection = duckdb.connect()
            self._connection.execute("SET TimeZone = 'UTC'")
        return self._connection

    def close(self) -> None:
        """Give up the lease of the alert evaluation, if this monitor holds it, and the log's
        connection: a one-pass monitor (cron) must not keep the next one from evaluating."""
        if self.alerts is not None:
            self.store.release_lease(self.alerts.lease_name, self.alerts.owner)
        for connection in (self._side, self._connection):
            if connection is not None:
                connection.close()
        self._connection = self._side = None

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _scan(self, start: int, end: int, version: int | None, with_feedback: bool = True, where: str = "",
              connection=None):
        return scan.relation(self.model, start, end, version, self.uri, connection or self.connection,
                             with_feedback, where)

    @property
    def _side_connection(self):
        """A second connection to the same DuckDB, for queries while a read of the log streams
        (row windows are finished, and their labels digested, during one)."""
        if self._side is None:
            self._side = self.connection.cursor()
        return self._side

    def _relation(self, start: int, version: int):
        """The version's rows from ``start`` on, oldest first (row windows need their order)."""
        relation = self._scan(start, LAST_MS, version)
        return None if relation is None else relation.order("time, request_id, row")

    def _check_known(self) -> None:
        """A model with nothing logged and nothing stored: registered, or a misspelt name."""
        from modelcycle.exceptions import NotFound

        try:
            self.store.get_registered_model(self.model)
        except NotFound:
            raise NotFound(f"No model {self.model!r} is registered and its prediction log is empty; check the name "
                           "(`modelcycle models ls` lists the registered models).") from None

    def _versions(self, done: dict[int, int]) -> dict[int, tuple[int, int]]:
        """Per version, the first and last time logged after its last finished window."""
        # From the earliest end among versions still in use: a version retired months ago (its last
        # window long before the newest one's) would make every pass open every segment since.
        newest = max(done.values()) if done else FIRST_MS
        since = min([d for d in done.values() if d >= newest - self.label_horizon_ms] or [FIRST_MS])
        relation = self._scan(since, LAST_MS, None, with_feedback=False)
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
        starts = []
        while start + size <= now - self.settle_ms and start <= last:
            starts.append(start)
            start += size
        out = []
        for span in self._spans(version, starts):
            out += self._compute_span(version, span)
        return out

    def _spans(self, version: int, starts: list[int]) -> list[list[int]]:
        """``starts`` in runs of consecutive windows read together: up to SPAN_WINDOWS of them and
        SPAN_ROWS rows (DuckDB holds what it has decoded of a read, not the windows' builders), from
        one count of the rows of each; windows without rows are not read at all."""
        if not starts:
            return []
        size = self.window_ms
        relation = self._scan(starts[0], starts[-1] + size, version, with_feedback=False)
        if relation is None:
            return []
        counted = dict(relation.query("log", f"SELECT (epoch_ms(time) - {starts[0]}) // {size}, count(*) FROM log "
                                             "GROUP BY 1").fetchall())
        spans: list[list[int]] = []
        rows = 0
        for i, start in enumerate(starts):
            n = counted.get(i, 0)
            if not n:
                continue
            if spans and spans[-1][-1] == start - size and len(spans[-1]) < SPAN_WINDOWS and rows + n <= SPAN_ROWS:
                spans[-1].append(start)
                rows += n
            else:
                spans.append([start])
                rows = n
        return spans

    def _compute_span(self, version: int, starts: list[int]) -> list[WindowStats]:
        """The windows at ``starts`` (consecutive) from one read of their part of the log: each
        batch's rows go to the builder of their window, in parts of at least ``batch_rows`` rows
        where a batch holds few of a window (a part costs a profile merge)."""
        import pyarrow as pa

        size, low = self.window_ms, starts[0]
        relation = self._scan(low, starts[-1] + size, version)
        builders: dict[int, WindowBuilder] = {}
        held: dict[int, list] = {}
        held_rows: dict[int, int] = {}

        def flush(start: int) -> None:
            parts = held.pop(start)
            held_rows.pop(start)
            if start not in builders:
                builders[start] = self._builder(version, start, start + size)
            table = pa.Table.from_batches(parts).combine_chunks() if len(parts) > 1 else parts[0]
            for batch in (table.to_batches() if isinstance(table, pa.Table) else [table]):
                builders[start].add(batch)

        for batch in scan.batches(self.model, relation, self.batch_rows):
            for start, part in _by_window(batch, low, size):
                held.setdefault(start, []).append(part)
                held_rows[start] = held_rows.get(start, 0) + part.num_rows
                if held_rows[start] >= self.batch_rows:
                    flush(start)
            while sum(held_rows.values()) > 2 * self.batch_rows:
                flush(max(held_rows, key=held_rows.get))
        for start in list(held):
            flush(start)
        built = [builders[start].result() for start in sorted(builders) if builders[start].window.rows]
        self._digest_labels(version, built)
        for window in built:
            self._store(window)
        return built

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
        outputs = self.output_reference(version)
        return WindowBuilder(version, start, end, reference.profile if reference else None,
                             outputs.profile if outputs else None, outputs.calibration if outputs else None)

    def _finish(self, builder: WindowBuilder) -> WindowStats:
        window = builder.result()
        self._digest_labels(window.version, [window])
        return self._store(window)

    def _store(self, window: WindowStats) -> WindowStats:
        self.store.record_monitor_results(self.model, self.points(window))
        return window

    # ------------------------------------------------------------------ references
    def reference(self, version: int) -> Reference | None:
        if version not in self._references:
            self._references[version] = find_reference(self.store, self.model, version, self.reference_override)
        return self._references[version]

    def output_reference(self, version: int) -> OutputReference | None:
        """The version's outputs on its evaluation data, what its windows' outputs are compared
        with (computed once, then read from the store); None when it cannot be had, said once."""
        if version not in self._outputs:
            found, why = output_reference(self.store, self.model, version)
            if found is None:
                log.warning("%s version %s: no output drift or calibrated performance estimate: %s", self.model,
                            version, why)
            self._outputs[version] = found
        return self._outputs[version]

    # ------------------------------------------------------------------ metrics of a window
    def points(self, w: WindowStats) -> list[MonitorPoint]:
        values: dict[str, tuple[float, dict]] = {}

        def put(metric: str, value, labels: dict | None = None) -> None:
            value = math.nan if value is None else float(value)
            metric, labels = _fitted(metric, labels or {})
            values[metric] = (value if math.isfinite(value) or math.isnan(value) else math.nan, labels)

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
        outputs = self.output_reference(w.version)
        if w.outputs is not None:
            if outputs is not None:  # against the version's own outputs on its evaluation data
                report = drift(outputs.profile, w.outputs)
                for column in report.columns:
                    if column.score is None:
                        continue
                    put(f"output_drift.{column.column}", column.score,
                        {**_drift_labels(column), "reference": outputs.source})
                    put(f"output_drifted.{column.column}", column.drifted)
            if w.classes is not None and "prediction" in w.outputs.columns:
                counts = w.outputs["prediction"].categories.counts
                total = sum(counts.values()) or 1
                for c in w.classes:
                    put(f"class_share.{c}", counts.get(str(c), 0) / total)
        for key, value in performance(w).items():
            put(key, value, {"digest": w.label_digest} if key == "labelled_rows" and w.label_digest else None)
        if w.cbpe is not None:
            calibration = outputs.calibration_note if outputs is not None else (
                "no evaluation data to calibrate on: the probabilities are taken as calibrated")
            for key, value in w.cbpe.items():
                put(key, value, {"calibration": calibration})
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
        labelled row count changed since they were computed; returns how many were rewritten.
        One query counts the labelled rows of every such window; only those that changed are read."""
        import pyarrow as pa

        stored = self.store.monitor_results(self.model, start_ms=max(0, now - self.label_horizon_ms),
                                            metrics=["rows", "labelled_rows", "ok_rows"])
        windows: dict[tuple[int, int], dict] = {}
        for p in stored:
            windows.setdefault((p.version, p.window_start), {"end": p.window_end})[p.metric] = p
        windows = {k: v for k, v in windows.items() if k not in skip and "rows" in v}
        if not windows:
            return 0
        keys = sorted(windows)
        relation = self._scan(keys[0][1], max(w["end"] for w in windows.values()), None,
                              where="label IS NOT NULL AND status < 400")
        if relation is None:
            return 0
        counted = self._label_digests(relation, [(k[0], k[1], windows[k]["end"]) for k in keys])
        rewritten = 0
        for (version, start), (count, digest) in sorted(counted.items()):
            found = windows[(version, start)]
            old = found.get("labelled_rows")
            if old is not None and not math.isnan(old.value) and int(old.value) == count \
                    and old.labels.get("digest") in (digest, None):
                continue  # no label came or changed (a window computed before digests were kept: by count)
            labelled = self._labelled(version, start, found["end"], found["rows"].labels.get("classes"),
                                      int(found["ok_rows"].value) if "ok_rows" in found else 0)
            if labelled is None:
                continue
            points = [MonitorPoint(self.model, version, start, found["end"], k, v,
                                   {"digest": digest} if k == "labelled_rows" else {}, now_ms())
                      for k, v in performance(labelled).items()]
            self.store.record_monitor_results(self.model, points)
            rewritten += 1
        return rewritten

    def _label_digests(self, relation, windows: list[tuple[int, int, int]],
                       connection=None) -> dict[tuple[int, int], tuple[int, str]]:
        """Per (version, start) of ``windows`` (version, start, end): how many rows of the labelled
        ``relation`` (on ``connection``) fall in it and a digest of their labels, which any new or
        corrected label changes."""
        import pyarrow as pa

        connection = connection or self.connection
        connection.register("mc_windows", pa.table({
            "version": [w[0] for w in windows], "start_ms": [w[1] for w in windows], "end_ms": [w[2] for w in windows]}))
        try:
            found = relation.query("p", """
                SELECT w.version, w.start_ms, count(*),
                       bit_xor(hash(p.request_id, p.row, CAST(p.label AS VARCHAR), p.label_time)) FROM p JOIN mc_windows w
                ON coalesce(p.version, 0) = w.version AND epoch_ms(p.time) >= w.start_ms AND epoch_ms(p.time) < w.end_ms
                GROUP BY 1, 2""").fetchall()
        finally:
            connection.unregister("mc_windows")
        return {(int(v), int(start)): (int(count), f"{int(digest):016x}") for v, start, count, digest in found}

    def _digest_labels(self, version: int, built: list[WindowStats]) -> None:
        """Keep the label digest of windows just computed with them, for refresh_performance."""
        labelled = [w for w in built if w.labelled is not None]
        if not labelled:
            return
        relation = self._scan(min(w.start for w in labelled), max(w.end for w in labelled), version,
                              where="label IS NOT NULL AND status < 400", connection=self._side_connection)
        if relation is None:
            return
        digests = self._label_digests(relation, [(version, w.start, w.end) for w in labelled], self._side_connection)
        for w in labelled:
            w.label_digest = digests.get((version, w.start), (0, None))[1]

    def _labelled(self, version: int, start: int, end: int, classes, ok_rows: int) -> WindowStats | None:
        relation = self._scan(start, end, version, where="label IS NOT NULL AND status < 400")
        builder = WindowBuilder(version, start, end, None, None)
        for batch in scan.batches(self.model, relation, self.batch_rows):
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


def _fitted(metric: str, labels: dict) -> tuple[str, dict]:
    """``metric`` within the store's 250 characters: a metric of a column with a longer name
    is named by the name's start and a digest of all of it; the whole name goes in the labels."""
    from modelcycle.store.validation import MAX_NAME_LENGTH

    if len(metric) <= MAX_NAME_LENGTH:
        return metric, labels
    import hashlib

    prefix, _, column = metric.partition(".")
    digest = hashlib.sha256(column.encode()).hexdigest()[:12]
    return f"{prefix}.{column[:MAX_NAME_LENGTH - len(prefix) - 15]}..{digest}", {**labels, "column": column}


def _by_window(batch: pa.RecordBatch, low: int, size: int):
    """(window start, its rows) of each window of ``size`` ms from ``low`` that ``batch`` holds rows of."""
    import pyarrow as pa

    bucket = (_ms(batch.column("time")) - low) // size
    first, last = int(bucket.min()), int(bucket.max())
    if first == last:
        yield low + first * size, batch
        return
    steps = np.diff(bucket)
    if (steps >= 0).all():  # the log's segments are in time order: mostly no reordering is needed
        ordered, sorted_bucket = batch, bucket
    else:
        order = np.argsort(bucket, kind="stable")
        ordered, sorted_bucket = batch.take(pa.array(order)), bucket[order]
        steps = np.diff(sorted_bucket)
    edges = np.flatnonzero(steps) + 1
    for begin, stop in zip(np.r_[0, edges], np.r_[edges, bucket.size]):
        yield low + int(sorted_bucket[begin]) * size, ordered.slice(int(begin), int(stop - begin))


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
    if metrics is None:
        from modelcycle.monitoring.reference import REFERENCE_METRIC

        points = [p for p in points if p.metric != REFERENCE_METRIC]  # a version's, not a window's
    frame = pd.DataFrame({
        "version": pd.Series([p.version for p in points], dtype="int64"),
        "window_start": pd.to_datetime([p.window_start for p in points], unit="ms", utc=True),
        "window_end": pd.to_datetime([p.window_end for p in points], unit="ms", utc=True),
        "metric": pd.Series([p.metric for p in points], dtype="object"),
        "value": pd.Series([p.value for p in points], dtype="float64"),
        "labels": pd.Series([p.labels for p in points], dtype="object")})
    return frame

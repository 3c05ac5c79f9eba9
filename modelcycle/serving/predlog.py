"""The prediction log: every prediction recorded, written in the background as Parquet segments.

The hot path calls :meth:`PredictionLog.log`, which only puts one tuple on a bounded queue. A
writer thread takes what is queued, keeps one open segment per (model, date) in memory, and
writes it when it is big or old enough::

    {uri}/model={name}/date=YYYY-MM-DD/{first time_ms}-{host}-{pid}-{uuid8}.parquet

A segment appears whole or not at all: a local one is written as a file without a name in its
folder and linked in place (a killed writer leaves nothing), an object-store one is put as
one object. A killed process loses what
was still queued or in an open segment (at most ``max_segment_age_s`` of traffic), nothing else.
"""

from __future__ import annotations

import atexit
import collections
import glob
import logging
import os
import random
import re
import socket
import threading
import time
import uuid
from datetime import date, datetime, timezone
from urllib.parse import quote, unquote

from typing import TYPE_CHECKING

import numpy as np

from modelcycle import config
from modelcycle.exceptions import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

logger = logging.getLogger(__name__)

FEEDBACK_DIR = "feedback"
# Column order of every segment; then input.<column> (or input), prediction, proba.
BASE_COLUMNS = ("request_id", "row", "time", "model", "version", "arm", "endpoint", "status", "latency_ms", "key")
_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"
_WRITE_ATTEMPTS = 3
_DAY_MS = 86_400_000
_POLL_S = 0.05  # how long a record may wait in the queue
_BATCH = 10_000  # records taken per round, between checks for full or old segments


# ------------------------------------------------------------------------- layout
def partition_value(value: str) -> str:
    """A model name as a path segment: Hive-style escaping, reversible with unquote."""
    return quote(value, safe="-_.")


def model_folder(root: str, model: str) -> str:
    return f"{root.rstrip('/')}/model={partition_value(model)}"


def day_of(time_ms: int) -> date:
    return datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc).date()


def segment_name(first_time_ms: int) -> str:
    return f"{first_time_ms}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"


def partition_dates(fs, folder: str) -> dict[date, str]:
    """The date partitions under a model folder: {date: path}. Folders that are not
    ``date=YYYY-MM-DD`` are ignored."""
    found = {}
    fs.invalidate_cache(folder)  # object stores cache listings; other processes write here
    try:
        entries = fs.ls(folder, detail=True)
    except FileNotFoundError:
        return found
    for entry in entries:
        name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry.get("type") != "directory" or not name.startswith("date="):
            continue
        try:
            found[date.fromisoformat(name[len("date="):])] = entry["name"].rstrip("/")
        except ValueError:
            continue
    return found


def segment_files(fs, partition: str) -> list[str]:
    """The visible segments of one partition; hidden (temporary) files are not segments."""
    fs.invalidate_cache(partition)
    try:
        names = fs.ls(partition, detail=False)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.endswith(".parquet") and not n.rsplit("/", 1)[-1].startswith((".", "_")))


def _model_of_folder(name: str) -> str:
    return unquote(name[len("model="):])


# ------------------------------------------------------------------------- records -> Arrow
def _rows_of(record) -> int:
    outputs = record[8]
    if not outputs:
        return 1
    return len(next(iter(outputs.values())))


def _shape_key(record) -> tuple:
    """Records with equal keys become one Arrow table. Within a model version the server has
    converted every input to the signature's types, so names and the version decide."""
    inputs, outputs = record[7], record[8]
    if not outputs:
        return ("error",)
    names = tuple(inputs) if isinstance(inputs, dict) else (
        ("tensor", inputs.shape[1:]) if isinstance(inputs, np.ndarray) else None)
    return (record[3], names, tuple(outputs), record[10] is not None)


def _flat_column(arrays: list[np.ndarray]):
    """One Arrow column from per-request arrays: (n,) gives values, (n, k...) gives lists."""
    import pyarrow as pa

    values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    if values.ndim == 1:
        return pa.array(values)
    width = int(np.prod(values.shape[1:]))
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, width).cast(pa.list_(flat.type))


def _table_of(records: list) -> "pa.Table":
    """One Arrow table (one row per predicted row) from records of one shape key. The records
    are taken apart field by field (one zip), so the cost per record is a few C calls: this
    runs in the server's process, beside its event loop."""
    import pyarrow as pa

    fields = list(zip(*records))  # fields[i]: the i-th field of every record
    counts = np.fromiter(map(_rows_of, records), dtype=np.int64, count=len(records))
    total = int(counts.sum())
    one_row_each = total == len(records)

    def repeat(index: int, arrow_type):
        values = fields[index]
        if values.count(values[0]) == len(values):  # one model, version, endpoint: no list to convert
            return pa.repeat(pa.scalar(values[0], type=arrow_type), total)
        if one_row_each:
            return pa.array(values, type=arrow_type)
        return pa.array(np.repeat(np.asarray(values, dtype=object), counts), type=arrow_type)

    if one_row_each:
        rows = pa.array(np.zeros(total, dtype=np.int32))
    else:
        starts = np.cumsum(counts) - counts
        rows = pa.array((np.arange(total, dtype=np.int64) - np.repeat(starts, counts)).astype(np.int32))
    times = np.asarray(fields[1], dtype=np.int64)
    columns = {
        "request_id": repeat(0, pa.string()),
        "row": rows,
        "time": pa.array(times if one_row_each else np.repeat(times, counts)).cast(pa.timestamp("ms", tz="UTC")),
        "model": repeat(2, pa.string()),
        "version": repeat(3, pa.int64()),
        "arm": repeat(9, pa.string()),
        "endpoint": repeat(4, pa.string()),
        "status": repeat(5, pa.int32()),
        "latency_ms": repeat(6, pa.float64()),
    }
    first = records[0]
    if any(k is not None for k in fields[10]):
        keys = []
        for given_keys, n in zip(fields[10], counts):
            given = list(given_keys) if given_keys is not None else []
            keys.extend(given if len(given) == n else (given + [None] * n)[:n])
        columns["key"] = pa.array([None if k is None else str(k) for k in keys], type=pa.string())
    else:
        columns["key"] = pa.nulls(total, pa.string())
    if first[8]:  # predictions: typed inputs and outputs
        inputs = first[7]
        if isinstance(inputs, dict):
            matrices = [getattr(r, "matrix", None) for r in fields[7]]
            if all(m is not None for m in matrices):  # [n, k] tensors of the columns: one concatenation
                by_column = np.ascontiguousarray((np.concatenate(matrices) if len(matrices) > 1 else matrices[0]).T)
                for j, name in enumerate(inputs):
                    columns[f"input.{name}"] = pa.array(by_column[j])
            else:
                for name in inputs:
                    columns[f"input.{name}"] = _flat_column([r[name] for r in fields[7]])
        elif isinstance(inputs, np.ndarray):
            columns["input"] = _flat_column(list(fields[7]))
        for name in first[8]:
            out = "prediction" if name == "predict" else "proba" if name == "predict_proba" else f"output.{name}"
            column = _flat_column([r[name] for r in fields[8]])
            if out == "proba":
                column = column.cast(pa.list_(pa.float64()))
            columns[out] = column
    return pa.table(columns)


def records_to_tables(records: list) -> list["pa.Table"]:
    """Arrow tables for ``records``: as few as the column types allow (one, unless two model
    versions give one column different types), each with the segment columns."""
    import pyarrow as pa

    groups: dict[tuple, list] = {}
    for record in records:
        groups.setdefault(_shape_key(record), []).append(record)
    tables = []
    for group in groups.values():
        try:
            tables.append(_table_of(group))
        except (pa.ArrowException, ValueError, TypeError) as exc:
            # One request with values Arrow cannot hold must not cost the others their record.
            good = []
            for record in group:
                try:
                    good.append(_table_of([record]))
                except (pa.ArrowException, ValueError, TypeError):
                    logger.warning("prediction log: request %s was not recorded: %s", record[0], exc)
            tables.extend(good)
    return merge_tables(tables)


def merge_tables(tables: list) -> list["pa.Table"]:
    """``tables`` concatenated into as few as their column types allow."""
    import pyarrow as pa

    if len(tables) <= 1:
        return tables
    # As few tables as the types allow: a table joins the first bucket it unifies with.
    buckets: list[list] = []
    for table in tables:
        for bucket in buckets:
            try:
                pa.unify_schemas([bucket[0].schema, table.schema], promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                continue
            bucket.append(table)
            break
        else:
            buckets.append([table])
    merged = []
    for bucket in buckets:
        try:
            merged.append(pa.concat_tables(bucket, promote_options="permissive") if len(bucket) > 1 else bucket[0])
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            merged.extend(bucket)  # two versions gave one column different types: read together by name
    return merged


# ------------------------------------------------------------------------- the log
def _on_event_loop() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _metrics():
    """The server's Prometheus metrics, where they are installed: queue depth, dropped, written."""
    try:
        from modelcycle.serving import metrics
    except ImportError:  # the log also runs outside a server (tests, scripts)
        return None
    return metrics


_COMPACT_RECORDS = 1024  # records of a segment turned into Arrow at a time: Python objects cost ~20x more


class _Segment:
    __slots__ = ("records", "tables", "rows", "bytes", "row_bytes", "opened", "first_time_ms")

    def __init__(self, first_time_ms: int):
        self.records: list = []
        self.tables: list = []  # records already converted
        self.rows = self.bytes = 0
        self.row_bytes = 0  # estimated from the first request: measuring every one costs more than the rest
        self.opened = time.monotonic()
        self.first_time_ms = first_time_ms


def _nbytes(arrays) -> int:
    if arrays is None:
        return 0
    if isinstance(arrays, np.ndarray):
        return arrays.nbytes
    return sum(a.nbytes for a in arrays.values())


class _Feedback:
    """Labels on their way to a feedback file: the writer gathers those of a model and day."""

    __slots__ = ("model", "table", "time_ms")

    def __init__(self, model: str, table, time_ms: int):
        self.model, self.table, self.time_ms = model, table, time_ms


class _Labels:
    __slots__ = ("tables", "rows", "opened", "first_time_ms")

    def __init__(self, first_time_ms: int):
        self.tables: list = []
        self.rows = 0
        self.opened = time.monotonic()
        self.first_time_ms = first_time_ms


class _Marker:
    def __init__(self, stop: bool):
        self.stop = stop
        self.done = threading.Event()


class PredictionLog:
    """A bounded queue in front of a background Parquet writer. Settings not given come from
    modelcycle.config (MODELCYCLE_PREDICTION_LOG_*)."""

    def __init__(self, uri: str | None = None, queue_size: int | None = None, sample_rate: float | None = None,
                 max_segment_rows: int | None = None, max_segment_bytes: int | None = None,
                 max_segment_age_s: float | None = None, on_full: str | None = None, wait_timeout_s: float = 5.0):
        import fsspec
        from fsspec.implementations.local import LocalFileSystem

        self.uri = (uri or config.prediction_log_uri()).rstrip("/")
        self.queue_size = queue_size if queue_size is not None else config.prediction_log_queue_size()
        self.sample_rate = sample_rate if sample_rate is not None else config.prediction_log_sample_rate()
        self.max_segment_rows = max_segment_rows or config.prediction_log_segment_rows()
        self.max_segment_bytes = max_segment_bytes or config.prediction_log_segment_bytes()
        self.max_segment_age_s = max_segment_age_s or config.prediction_log_segment_age_s()
        self.on_full = (on_full or config.prediction_log_on_full()).lower()
        if self.on_full not in ("drop", "wait"):
            raise InvalidInput(f"on_full must be 'drop' or 'wait'; got {on_full!r}.")
        if not 0 <= self.sample_rate <= 1:
            raise InvalidInput(f"sample_rate must be from 0 to 1; got {sample_rate!r}.")
        if not isinstance(self.queue_size, int) or self.queue_size < 1:
            raise InvalidInput(f"queue_size must be an integer >= 1; got {queue_size!r}.")
        self.wait_timeout_s = wait_timeout_s
        self.fs, self._root = fsspec.core.url_to_fs(self.uri)
        self._root = self._root.rstrip("/")
        self._local = isinstance(self.fs, LocalFileSystem)
        if self._local:
            remove_leftovers(self._root)
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._wake_at = max(1, self.queue_size // 2)  # wake the writer early when the queue fills
        self._counts_lock = threading.Lock()
        self.logged = 0  # records accepted by log()
        self.dropped = 0  # records refused because the queue was full (or the log closed)
        self.sampled_out = 0
        self.rows_written = 0
        self.segments_written = 0
        self.write_errors = 0
        self.records_lost = 0  # records of segments that could not be written
        self._closed = False
        self._metrics = _metrics()
        self._thread = threading.Thread(target=self._run, name="modelcycle-prediction-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- the hot path
    def log(self, request_id: str, time_ms: int, model: str, version: int | None, endpoint: str, status: int,
            latency_ms: float, inputs=None, outputs=None, arm: str | None = None,
            keys: list[str] | None = None) -> bool:
        """Queue one request's record; True when queued. Never blocks unless on_full="wait"
        (then at most wait_timeout_s), and never on an event loop's thread: there, await
        room() first (the model server does). The arrays are kept as they are: do not change
        them afterwards."""
        if self.sample_rate < 1.0 and random.random() >= self.sample_rate:
            self.sampled_out += 1
            return False
        pending = self._queue
        if self._closed or (len(pending) >= self.queue_size and not self._wait_for_room()):
            with self._counts_lock:
                self.dropped += 1
            if self._metrics is not None:
                self._metrics.log_dropped()
            return False
        # A deque's append is atomic and costs a tenth of a Queue's put, which takes a lock.
        pending.append((request_id, time_ms, model, version, endpoint, status, latency_ms, inputs, outputs,
                        arm, keys))
        self.logged += 1
        if len(pending) >= self._wake_at:
            self._wake.set()
        return True

    def log_feedback(self, model: str, table) -> bool:
        """Queue a checked feedback table (feedback.feedback_table) of ``model``; True when
        queued. The writer stores the labels of each model and day together, in files under
        {uri}/feedback rotated like segments (a killed process loses the unwritten ones)."""
        if self._closed or (len(self._queue) >= self.queue_size and not self._wait_for_room()):
            return False
        from modelcycle.store.clock import now_ms

        self._queue.append(_Feedback(model, table, now_ms()))
        self._wake.set()
        return True

    def _wait_for_room(self) -> bool:
        if self.on_full != "wait" or _on_event_loop():
            return False
        self._wake.set()
        deadline = time.monotonic() + self.wait_timeout_s
        while len(self._queue) >= self.queue_size:
            if self._closed or time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.0005)
        return True

    @property
    def waits(self) -> bool:
        """Whether a record must wait for room now (on_full="wait" and the queue full)."""
        return self.on_full == "wait" and len(self._queue) >= self.queue_size and not self._closed

    async def room(self) -> bool:
        """Wait for room in the queue without blocking the event loop: True when there is room,
        False after wait_timeout_s (the record is then dropped and counted)."""
        import asyncio

        if not self.waits:
            return True
        self._wake.set()
        deadline = time.monotonic() + self.wait_timeout_s
        delay = 0.0005
        while len(self._queue) >= self.queue_size:
            if self._closed or time.monotonic() > deadline or not self._thread.is_alive():
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)
        return True

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        """Counters for /metrics: queue depth, logged, dropped, sampled out, written, lost."""
        return {"queue_depth": self.queue_depth, "queue_size": self.queue_size, "logged": self.logged,
                "dropped": self.dropped, "sampled_out": self.sampled_out, "rows_written": self.rows_written,
                "segments_written": self.segments_written, "write_errors": self.write_errors,
                "records_lost": self.records_lost}

    # --- control
    def _send(self, marker: _Marker, timeout: float | None) -> bool:
        self._queue.append(marker)  # markers go past the bound: a flush must get in
        self._wake.set()
        return marker.done.wait(timeout)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write everything queued so far as segments; True when done within ``timeout``."""
        if self._closed or not self._thread.is_alive():
            return False
        return self._send(_Marker(stop=False), timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Write what is queued and stop the writer. Later records are dropped and counted."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self._thread.is_alive() and not self._send(_Marker(stop=True), timeout):
            logger.error("prediction log: the writer did not finish within %s s; %d queued records are lost",
                         timeout, len(self._queue))
        self._thread.join(timeout)

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the writer thread
    def _run(self) -> None:
        segments: dict[tuple[str, int], _Segment] = {}  # (model, days since 1970)
        labels: dict[tuple[str, int], _Labels] = {}
        pending = self._queue
        while True:
            timeout = _POLL_S
            if segments or labels:
                oldest = min(s.opened for s in [*segments.values(), *labels.values()])
                timeout = max(0.0, min(timeout, oldest + self.max_segment_age_s - time.monotonic()))
            if not pending:
                self._wake.wait(timeout)
            self._wake.clear()
            markers = []
            for _ in range(min(len(pending), _BATCH)):
                item = pending.popleft()
                if isinstance(item, _Marker):
                    markers.append(item)
                    break  # what was queued after a flush belongs to the next round
                if isinstance(item, _Feedback):
                    self._add_labels(labels, item)
                    continue
                try:
                    self._add(segments, item)
                except Exception:  # a malformed record must never stop the writer
                    logger.exception("prediction log: request %r was not recorded", item[0] if item else None)
                    with self._counts_lock:
                        self.records_lost += 1
            now = time.monotonic()
            for key, segment in list(segments.items()):
                if markers or segment.opened + self.max_segment_age_s <= now:
                    del segments[key]
                    self._write(key, segment)
            for key, gathered in list(labels.items()):
                if markers or gathered.opened + self.max_segment_age_s <= now:
                    del labels[key]
                    self._write_labels(key, gathered)
            if self._metrics is not None:
                self._metrics.log_queue_depth(len(pending))
            for marker in markers:
                marker.done.set()
            if any(m.stop for m in markers):
                return

    def _add(self, segments: dict, record) -> None:
        key = (record[2], record[1] // _DAY_MS)
        segment = segments.get(key)
        if segment is None:
            segment = segments[key] = _Segment(record[1])
        rows = _rows_of(record)
        if not segment.records:
            segment.row_bytes = (_nbytes(record[7]) + _nbytes(record[8])) // rows + 64
        segment.records.append(record)
        if len(segment.records) >= _COMPACT_RECORDS:
            segment.tables = merge_tables(segment.tables + records_to_tables(segment.records))
            segment.records = []
        segment.rows += rows
        segment.bytes += rows * segment.row_bytes
        if segment.rows >= self.max_segment_rows or segment.bytes >= self.max_segment_bytes:
            del segments[key]
            self._write(key, segment)

    def _add_labels(self, labels: dict, item: _Feedback) -> None:
        key = (item.model, item.time_ms // _DAY_MS)
        gathered = labels.get(key)
        if gathered is None:
            gathered = labels[key] = _Labels(item.time_ms)
        gathered.tables.append(item.table)
        gathered.rows += item.table.num_rows
        if gathered.rows >= self.max_segment_rows:
            del labels[key]
            self._write_labels(key, gathered)

    def _write_labels(self, key: tuple[str, int], gathered: _Labels) -> None:
        import pyarrow as pa

        model, day = key[0], day_of(key[1] * _DAY_MS)
        folder = f"{model_folder(f'{self._root}/{FEEDBACK_DIR}', model)}/date={day.isoformat()}"
        try:
            table = pa.concat_tables(gathered.tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # labels of different types: a file each
            tables = gathered.tables
        else:
            tables = [table]
        for table in tables:
            if not self._put_with_retry(table, folder, f"{folder}/{segment_name(gathered.first_time_ms)}"):
                with self._counts_lock:
                    self.write_errors += 1
                    self.records_lost += table.num_rows

    def _write(self, key: tuple[str, int], segment: _Segment) -> None:
        model, day = key[0], day_of(key[1] * _DAY_MS)
        folder = f"{model_folder(self._root, model)}/date={day.isoformat()}"
        try:
            tables = merge_tables(segment.tables + records_to_tables(segment.records))
        except Exception:
            logger.exception("prediction log: %d records of %s could not be converted", len(segment.records), model)
            with self._counts_lock:
                self.records_lost += len(segment.records)
                if segment.tables:
                    self.records_lost += len({rid for t in segment.tables for rid in t.column("request_id").to_pylist()})
            return
        for table in tables:
            path = f"{folder}/{segment_name(segment.first_time_ms)}"
            if self._put_with_retry(table, folder, path):
                self.rows_written += table.num_rows
                self.segments_written += 1
                if self._metrics is not None:
                    self._metrics.log_written(table.num_rows)
            else:
                with self._counts_lock:
                    self.write_errors += 1
                    self.records_lost += len(set(table.column("request_id").to_pylist()))

    def _put_with_retry(self, table, folder: str, path: str) -> bool:
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                self._put(table, folder, path)
                return True
            except Exception as exc:  # the store may be back in a moment; the server goes on regardless
                if attempt + 1 == _WRITE_ATTEMPTS:
                    logger.error("prediction log: could not write %s after %d attempts (%s: %s); %d rows lost",
                                 path, _WRITE_ATTEMPTS, type(exc).__name__, exc, table.num_rows)
                    return False
                time.sleep(0.2 * 4 ** attempt)
        return False

    def _put(self, table, folder: str, path: str) -> None:
        put_table(self.fs, self._local, table, folder, path)


def put_table(fs, local: bool, table, folder: str, path: str) -> None:
    """Write ``table`` as the Parquet file ``path`` so that readers see all of it or nothing: a
    local file is written unnamed in its folder (O_TMPFILE) and linked in place when whole, so a
    killed writer leaves no file at all (where the filesystem cannot, under a hidden name that
    the next log started on the folder removes); an object in one PUT."""
    import pyarrow.parquet as pq

    if local:
        os.makedirs(folder, exist_ok=True)
        if _put_unnamed(folder, path, lambda f: pq.write_table(table, f, compression="zstd")):
            return
        hidden = f"{folder}/.{path.rsplit('/', 1)[-1]}.tmp"
        try:
            with open(hidden, "wb") as f:
                pq.write_table(table, f, compression="zstd")
                f.flush()
                os.fsync(f.fileno())
            os.replace(hidden, path)
        finally:
            if os.path.exists(hidden):
                os.unlink(hidden)
        return
    import pyarrow as pa

    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer, compression="zstd")
    fs.pipe_file(path, buffer.getvalue().to_pybytes())


def _put_unnamed(folder: str, path: str, write) -> bool:
    """``write(file)`` into a file without a name in ``folder``, then give it the name ``path``;
    False when the system or the filesystem has no unnamed files (nothing was written)."""
    global _UNNAMED
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not _UNNAMED:
        return False
    try:
        fd = os.open(folder, flag | os.O_WRONLY, 0o644)
    except OSError:  # EOPNOTSUPP, EISDIR on old kernels, ...
        return False
    with os.fdopen(fd, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
        try:
            os.link(f"/proc/self/fd/{f.fileno()}", path, follow_symlinks=True)
        except FileExistsError:
            raise
        except OSError:  # no /proc, or a sandbox that refuses the link (EXDEV): named files from now on
            _UNNAMED = False
            return False
    return True


_UNNAMED = True  # unnamed files can be linked in place here (False after the first refusal)


_HIDDEN_TMP = re.compile(r"^\.\d+-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}\.parquet\.tmp$")
_STALE_S = 86_400.0  # a hidden file of another host's writer this old is a leftover


def remove_leftovers(root: str) -> int:
    """Remove the hidden files that killed writers left under a local log folder (segments and
    feedback): those of this host's processes that are gone, and anyone's older than a day."""
    removed = 0
    now = time.time()
    for hidden in glob.glob(f"{glob.escape(root)}/**/.*.tmp", recursive=True):
        match = _HIDDEN_TMP.match(os.path.basename(hidden))
        if match is None:
            continue
        try:
            stale = now - os.path.getmtime(hidden) > _STALE_S
            if not stale and match["host"] == _HOST:
                try:
                    os.kill(int(match["pid"]), 0)
                except ProcessLookupError:
                    stale = True
                except PermissionError:  # someone else's process, alive
                    pass
            if stale:
                os.unlink(hidden)
                removed += 1
        except FileNotFoundError:  # its writer finished it meanwhile
            continue
    return removed

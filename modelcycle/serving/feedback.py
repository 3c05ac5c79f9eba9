"""Ground truth that arrives after the prediction, and reading the log back joined with it.

Labels are Parquet files beside the prediction log, partitioned by the day they arrived::

    {uri}/feedback/model={name}/date=YYYY-MM-DD/{time_ms}-{host}-{pid}-{uuid8}.parquet

with columns request_id, row, key, label, time (when the label holds, default its arrival) and
logged_at. A label names a prediction by request id (and row; no row means every row of that
request) or by the key logged with it. The latest label of a prediction wins: by time, then
by arrival.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle import config
from modelcycle.exceptions import InvalidInput, ModelcycleError
from modelcycle.serving.predlog import (
    FEEDBACK_DIR, day_of, model_folder, partition_dates, put_table, segment_files, segment_name,
)
from modelcycle.store.clock import now_ms

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

FEEDBACK_FIELDS = ("request_id", "key", "row", "label", "time", "model")
PREDICTION_COLUMNS = ("request_id", "row", "time", "model", "version", "arm", "endpoint", "status", "latency_ms",
                      "key", "prediction")


def _check_model(model: Any) -> str:
    from modelcycle.store.validation import check_model_name

    return check_model_name(model)


def _fs(uri: str | None):
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    uri = (uri or config.prediction_log_uri()).rstrip("/")
    fs, root = fsspec.core.url_to_fs(uri)
    return fs, root.rstrip("/"), isinstance(fs, LocalFileSystem)


_MAX_ROW = 2**31 - 1  # the log's row column is int32
_MIN_MS, _MAX_MS = -62135596800000, 253402300799999  # 0001-01-01 to 9999-12-31 (UTC)


def to_ms(value: Any, what: str) -> int:
    """Milliseconds since 1970 (UTC) of a datetime, a date, ISO 8601 text or a number of ms."""
    ms = _to_ms(value, what)
    if not _MIN_MS <= ms <= _MAX_MS:  # beyond what a timestamp column holds
        raise InvalidInput(f"{what} must be a time between the years 1 and 9999 (as milliseconds since 1970: "
                           f"{_MIN_MS} to {_MAX_MS}); got {value!r}.")
    return ms


def _to_ms(value: Any, what: str) -> int:
    if _missing(value):
        raise InvalidInput(f"{what} is missing ({value!r}): give a datetime, ISO 8601 text or milliseconds since 1970.")
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a datetime, ISO 8601 text or milliseconds since 1970; got {value!r}.")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        return int(value)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ms]").astype(np.int64))
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{what} must be ISO 8601 text such as 2024-05-01T12:00:00Z, a datetime or "
                               f"milliseconds since 1970; got {value!r}.") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)  # naive times are UTC, as everywhere in modelcycle
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp() * 1000)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return _to_ms(value.to_pydatetime(), what)
    raise InvalidInput(f"{what} must be a datetime, ISO 8601 text or milliseconds since 1970; got {value!r}.")


def _as_list(values: Any, what: str, n: int | None) -> list | None:
    if values is None:
        return None
    if isinstance(values, (set, frozenset, dict)):
        raise InvalidInput(f"{what} must be a list, in the order of the labels; got a {type(values).__name__}.")
    if isinstance(values, (str, bytes)) or np.isscalar(values):
        values = [values]
    elif hasattr(values, "tolist"):
        values = values.tolist()
    else:
        values = list(values)
    if n is not None and len(values) != n:
        raise InvalidInput(f"{what} has {len(values)} values and labels has {n}: give one per label.")
    return values


def _missing(v: Any) -> bool:
    import pandas as pd

    return v is None or v is pd.NaT or (isinstance(v, float) and np.isnan(v))


def _check_name(value: Any, what: str) -> None:
    """A request id or a key: text, or a whole number (kept as its text)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return
    if not isinstance(value, str) or "\x00" in value or not 1 <= len(value) <= 256:
        raise InvalidInput(f"{what} must be text of 1 to 256 characters without NUL, or a whole number; "
                           f"got {value!r:.80}.")


def feedback_table(labels: Any, request_ids: Any = None, keys: Any = None, rows: Any = None,
                   time: Any = None, where: str = "") -> pa.Table:
    """The checked Arrow table of one batch of labels; ``where`` prefixes error messages."""
    import pyarrow as pa

    labels = _as_list(labels, f"{where}labels", None) or []
    n = len(labels)
    if n == 0:
        raise InvalidInput(f"{where}No labels given: pass at least one.")
    ids = _as_list(request_ids, f"{where}request_ids", n)
    keys = _as_list(keys, f"{where}keys", n)
    rows = _as_list(rows, f"{where}rows", n)
    if ids is None and keys is None:
        raise InvalidInput(f"{where}Name the predictions the labels are for: pass request_ids (the x-request-id "
                           "of each prediction) or keys (the key logged with it).")
    for i, label in enumerate(labels):
        if _missing(label):
            raise InvalidInput(f"{where}The label at position {i} is missing; every label needs a value.")
        has_id = ids is not None and not _missing(ids[i])
        has_key = keys is not None and not _missing(keys[i])
        if not has_id and not has_key:
            raise InvalidInput(f"{where}The label at position {i} has neither a request id nor a key.")
        if has_id:
            _check_name(ids[i], f"{where}The request id at position {i}")
        if has_key:
            _check_name(keys[i], f"{where}The key at position {i}")
    if rows is not None:
        for i, r in enumerate(rows):
            if not _missing(r) and (isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0
                                    or r > _MAX_ROW):
                if isinstance(r, float) and r.is_integer() and 0 <= r <= _MAX_ROW:
                    continue
                raise InvalidInput(f"{where}row at position {i} must be the row's index in its request "
                                   f"(an integer from 0 to {_MAX_ROW}); got {r!r}.")
    now = now_ms()
    if _missing(time):
        times = [now] * n
    elif isinstance(time, (list, tuple, np.ndarray)) or hasattr(time, "tolist") and not isinstance(time, str):
        times = [to_ms(t, f"{where}time at position {i}") if not _missing(t) else now
                 for i, t in enumerate(_as_list(time, f"{where}time", n))]
    else:
        times = [to_ms(time, f"{where}time")] * n
    try:
        label_array = pa.array(labels)
    except OverflowError:
        raise InvalidInput(f"{where}Labels must be numbers that fit in 64 bits; got one beyond.") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds = sorted({type(v).__name__ for v in labels})
        raise InvalidInput(f"{where}Labels must be all numbers, all text or all booleans; got {', '.join(kinds)}."
                           ) from None
    t = label_array.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_string(t)
            or pa.types.is_large_string(t)):  # what the log's readers join on, file after file
        raise InvalidInput(f"{where}Labels must be numbers, text or booleans; got {t}.")
    text = lambda values: None if values is None else [None if _missing(v) else str(v) for v in values]  # noqa: E731
    return pa.table({
        "request_id": pa.array(text(ids) or [None] * n, type=pa.string()),
        "row": pa.array([None if _missing(r) else int(r) for r in rows] if rows is not None else [None] * n,
                        type=pa.int32()),
        "key": pa.array(text(keys) or [None] * n, type=pa.string()),
        "label": label_array,
        "time": pa.array(times, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
        "logged_at": pa.array([now] * n, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
    })


def write_feedback(model: str, table: pa.Table, uri: str | None = None) -> int:
    """Store a checked feedback table as one file; returns its row count."""
    fs, root, local = _fs(uri)
    now = now_ms()
    folder = f"{model_folder(f'{root}/{FEEDBACK_DIR}', model)}/date={day_of(now).isoformat()}"
    put_table(fs, local, table, folder, f"{folder}/{segment_name(now)}")
    return table.num_rows


def log_feedback(model: str, labels: Any, request_ids: Any = None, keys: Any = None, rows: Any = None,
                 time: Any = None, uri: str | None = None) -> int:
    """Record ground-truth ``labels`` for earlier predictions of ``model``, each named by its
    request id (with ``rows``, the row of a many-row request; without, every row) or by the key
    logged with it. ``time`` (one for all, or one per label; default now) is when each label
    holds. Returns how many labels were recorded."""
    model = _check_model(model)
    return write_feedback(model, feedback_table(labels, request_ids, keys, rows, time), uri)


def handle_feedback_body(body: Any, default_model: str | None = None, uri: str | None = None,
                         only_model: bool = False) -> dict:
    """What ``POST /feedback`` does with its body: one label as an object
    ``{"request_id" or "key", "label", "row"?, "time"?, "model"?}``, a list of them, or
    ``{"model"?: ..., "feedback": [...]}``. Raises InvalidInput (400) naming what is wrong; with
    ``only_model``, also for labels of a model other than ``default_model``.
    Returns ``{"model": name, "recorded": n}``."""
    model, table = feedback_of_body(body, default_model, only_model)
    return {"model": model, "recorded": write_feedback(model, table, uri)}


def feedback_of_body(body: Any, default_model: str | None = None, only_model: bool = False) -> tuple[str, pa.Table]:
    """The model and the checked feedback table of a ``POST /feedback`` body (see
    handle_feedback_body), not yet recorded."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        import orjson

        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"The feedback body is not valid JSON: {exc}.") from None
    model = default_model
    items = body
    if isinstance(body, dict) and "feedback" in body:
        extra = set(body) - {"feedback", "model"}
        if extra:
            raise InvalidInput(f"Unknown field{'s' if len(extra) > 1 else ''} {', '.join(sorted(map(repr, extra)))} "
                               "beside 'feedback'; a batch is {\"model\": ..., \"feedback\": [...]}.")
        model = body.get("model", model)
        items = body["feedback"]
        if not isinstance(items, list):
            raise InvalidInput(f"'feedback' must be a list of labels; got {type(items).__name__}.")
    elif isinstance(body, dict):
        items = [body]
    elif not isinstance(body, list):
        raise InvalidInput("The feedback body is a JSON object {\"request_id\": ..., \"label\": ...}, a list of them, "
                           f"or {{\"feedback\": [...]}}; got {type(body).__name__}.")
    if not items:
        raise InvalidInput("The feedback body has no labels: send at least one.")
    ids, keys, rows, labels, times = [], [], [], [], []
    for i, item in enumerate(items):
        where = f"feedback[{i}]" if len(items) > 1 or body is not items[0] else "The feedback"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object with request_id or key, and label; got "
                               f"{type(item).__name__}.")
        unknown = set(item) - set(FEEDBACK_FIELDS)
        if unknown:
            raise InvalidInput(f"{where} has unknown field{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(sorted(map(repr, unknown)))}; it takes {', '.join(FEEDBACK_FIELDS)}.")
        if "label" not in item or item["label"] is None:
            raise InvalidInput(f"{where} has no label: add \"label\": the true value for that prediction.")
        if isinstance(item["label"], (dict, list)):
            raise InvalidInput(f"{where}.label must be a number, text or a boolean; got {type(item['label']).__name__}.")
        if item.get("request_id") is None and item.get("key") is None:
            raise InvalidInput(f"{where} names no prediction: add \"request_id\" (the x-request-id of the prediction) "
                               "or \"key\" (the key it was logged with).")
        for field in ("request_id", "key"):
            if item.get(field) is not None:
                _check_name(item[field], f"{where}.{field}")
        if "model" in item:
            if model is not None and item["model"] != model and i > 0:
                raise InvalidInput(f"{where}.model is {item['model']!r} and an earlier label's is {model!r}: "
                                   "send the labels of each model in their own request.")
            model = item["model"]
        times.append(None if item.get("time") is None else to_ms(item["time"], f"{where}.time"))
        ids.append(item.get("request_id"))
        keys.append(item.get("key"))
        rows.append(item.get("row"))
        labels.append(item["label"])
    if model is None:
        raise InvalidInput("Name the model the labels are for: add \"model\" to the body.")
    model = _check_model(model)
    if only_model and model != default_model:
        raise InvalidInput(f"This server serves {default_model!r}; send the labels of {model!r} to its own server "
                           "or record them with mc.log_feedback.")
    table = feedback_table(labels, ids, keys, rows if any(r is not None for r in rows) else None,
                           times if any(t is not None for t in times) else None,
                           where="" if len(items) == 1 else "In the feedback body: ")
    return model, table


# ------------------------------------------------------------------------- reading
def _day_range(start_ms: int | None, end_ms: int | None) -> tuple[date | None, date | None]:
    return (day_of(start_ms) if start_ms is not None else None,
            day_of(end_ms - 1) if end_ms is not None else None)


def _files_between(fs, folder: str, first: date | None, last: date | None) -> list[str]:
    """Segments in the date partitions from ``first`` to ``last``: others are never opened."""
    files = []
    for day, path in sorted(partition_dates(fs, folder).items()):
        if (first is None or day >= first) and (last is None or day <= last):
            files.extend(segment_files(fs, path))
    return files


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def query_predictions(model: str, start: Any = None, end: Any = None, version: int | Sequence[int] | None = None,
                      with_feedback: bool = True, uri: str | None = None, arm: str | None = None,
                      connection: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyRelation | None:
    """The predictions of ``model`` with ``start <= time < end`` as a DuckDB relation (None when
    there are none), joined with their latest label when ``with_feedback``. Only segments of
    the date partitions in range are read. Aggregate it in DuckDB, or stream it with
    ``relation.fetch_record_batch(rows)``, to stay in bounded memory."""
    import duckdb

    model = _check_model(model)
    start_ms = to_ms(start, "start") if start is not None else None
    end_ms = to_ms(end, "end") if end is not None else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InvalidInput(f"end ({end}) must be after start ({start}).")
    fs, root, local = _fs(uri)
    first, last = _day_range(start_ms, end_ms)
    files = _files_between(fs, model_folder(root, model), first, last)
    if not files:
        return None
    con = connection or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if not local:
        con.register_filesystem(fs)
        files = [fs.unstrip_protocol(f) for f in files]
    where = []
    if start_ms is not None:
        where.append(f"time >= epoch_ms({start_ms})")
    if end_ms is not None:
        where.append(f"time < epoch_ms({end_ms})")
    if version is not None:
        versions = list(version) if isinstance(version, (list, tuple, set, range, np.ndarray)) else [version]
        if not versions or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in versions):
            raise InvalidInput(f"version must be a version number or a list of them; got {version!r}.")
        where.append(f"version IN ({', '.join(str(int(v)) for v in versions)})")
    if arm is not None:
        where.append(f"arm = {_quote(str(arm))}")
    scan = (f"SELECT * FROM read_parquet([{', '.join(map(_quote, files))}], union_by_name = true, "
            f"hive_partitioning = false)" + (f" WHERE {' AND '.join(where)}" if where else ""))
    feedback = _files_between(fs, model_folder(f"{root}/{FEEDBACK_DIR}", model), first, None) if with_feedback else []
    if not local:
        feedback = [fs.unstrip_protocol(f) for f in feedback]
    try:
        if not with_feedback:
            return con.sql(scan + " ORDER BY time, request_id, row")
        return con.sql(f"SELECT * FROM ({labelled_sql(scan, feedback)}) ORDER BY time, request_id, row")
    except duckdb.Error as exc:
        raise _unreadable(model, exc) from None


def labelled_sql(scan: str, feedback: Sequence[str]) -> str:
    """The rows of the query ``scan`` with the latest label of each from the ``feedback`` files
    (by request id and row, or by key; the latest by time, then by arrival), as the columns
    label and label_time, in no particular order."""
    if not feedback:
        return f"SELECT *, NULL AS label, CAST(NULL AS TIMESTAMPTZ) AS label_time FROM ({scan})"
    labels = (f"SELECT request_id, row, key, label, time, logged_at FROM read_parquet("
              f"[{', '.join(map(_quote, feedback))}], union_by_name = true, hive_partitioning = false)")
    return f"""
        WITH p AS ({scan}),
        f AS ({labels}),
        matched AS (
            SELECT p.request_id, p.row, f.label, f.time AS label_time, f.logged_at
            FROM p JOIN f ON f.request_id = p.request_id AND (f.row IS NULL OR f.row = p.row)
            UNION ALL
            SELECT p.request_id, p.row, f.label, f.time AS label_time, f.logged_at
            FROM p JOIN f ON f.key = p.key
        ),
        latest AS (
            SELECT request_id, row, label, label_time FROM matched
            QUALIFY row_number() OVER (PARTITION BY request_id, row ORDER BY label_time DESC, logged_at DESC) = 1
        )
        SELECT p.*, latest.label, latest.label_time
        FROM p LEFT JOIN latest ON latest.request_id = p.request_id AND latest.row = p.row
    """


def _unreadable(model: str, exc: Exception) -> ModelcycleError:
    return ModelcycleError(f"The prediction log of {model!r} could not be read: {str(exc).splitlines()[0]} "
                           "A segment named there is damaged; move it out of the log's folder and read again.")


def read_predictions(model: str, start: Any = None, end: Any = None, version: int | Sequence[int] | None = None,
                     with_feedback: bool = True, uri: str | None = None, arm: str | None = None) -> pd.DataFrame:
    """The predictions of ``model`` with ``start <= time < end`` (datetimes, ISO text or ms; UTC),
    optionally of some ``version``\\ s or one ``arm``, one row per predicted row, oldest first,
    with ``label`` and ``label_time`` from the latest feedback when ``with_feedback``.

    Reads only the date partitions in range, with DuckDB."""
    import duckdb
    import pandas as pd

    relation = query_predictions(model, start, end, version, with_feedback, uri, arm)
    if relation is None:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in
                             PREDICTION_COLUMNS + (("label", "label_time") if with_feedback else ())})
    try:
        return relation.df()
    except duckdb.Error as exc:
        raise _unreadable(model, exc) from None


def log_feedback_file(model: str, path: str, label_column: str = "label", request_id_column: str = "request_id",
                      key_column: str = "key", row_column: str = "row", time_column: str = "time",
                      chunk_size: int = 100_000, progress: bool | None = None, uri: str | None = None) -> int:
    """Record the labels of a CSV or Parquet file (local or any fsspec URL) with a request id or
    a key column and a label column (row and time are optional), ``chunk_size`` rows at a time.
    Returns how many labels were recorded."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from modelcycle.serving.batchio import arrow_source, close_input, format_of, open_input, progress_bar

    model = _check_model(model)
    fmt = format_of(path, None, "input")
    try:
        handle = open_input(path, seekable=fmt == "parquet")  # pyarrow reads ahead from its threads
    except (FileNotFoundError, OSError) as exc:
        raise InvalidInput(f"No feedback file at {path!r} ({exc}).") from None
    text = {request_id_column: pa.string(), key_column: pa.string()}
    try:
        if fmt == "parquet":
            reader = pq.ParquetFile(arrow_source(handle))
            names, total = reader.schema_arrow.names, reader.metadata.num_rows
        else:
            reader = pacsv.open_csv(arrow_source(handle), convert_options=pacsv.ConvertOptions(column_types=text))
            names, total = reader.schema.names, None
    except (pa.ArrowInvalid, OSError) as exc:
        close_input(handle)
        raise InvalidInput(f"{path!r} is not a readable {fmt.upper()} file: {exc}") from None
    has = {c: c in names for c in (request_id_column, key_column, row_column, time_column)}
    if label_column not in names or not (has[request_id_column] or has[key_column]):
        close_input(handle)
        raise InvalidInput(f"{path!r} needs a {label_column!r} column and a {request_id_column!r} or {key_column!r} "
                           f"column; it has {', '.join(names[:20])}. Name others with --label-column, "
                           "--request-id-column or --key-column.")
    # a CSV reader yields blocks of its own size: cut into chunk_size rows at most
    batches = reader.iter_batches(batch_size=chunk_size) if fmt == "parquet" else (
        block.slice(i, chunk_size) for block in reader for i in range(0, block.num_rows, chunk_size))
    bar = progress_bar(progress, total, None, f"Recording labels of {model}")
    recorded = done = 0
    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            column = lambda name: batch.column(name).to_pylist() if has.get(name, True) else None  # noqa: E731
            try:
                table = feedback_table(column(label_column), column(request_id_column), column(key_column),
                                       column(row_column), column(time_column))
            except InvalidInput as exc:
                raise InvalidInput(f"In rows {done} to {done + batch.num_rows - 1} of {path}: {exc.message}") from None
            recorded += write_feedback(model, table, uri)
            done += batch.num_rows
            if bar is not None:
                bar[0].update(bar[1], completed=done, rows=done, speed="")
    except pa.ArrowInvalid as exc:
        raise InvalidInput(f"{path!r} could not be read after row {done}: {exc}") from None
    finally:
        if bar is not None:
            bar[0].stop()
        close_input(handle)
    return recorded

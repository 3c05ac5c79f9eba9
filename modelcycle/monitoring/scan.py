"""The monitor's reading of the prediction log: the rows of one model version in a time range,
joined with their latest feedback label, streamed as Arrow batches in the order the segments
give them. Only the segments whose footers say they hold the version are read.

It is serving.feedback.query_predictions without the final sort: a time window needs its rows,
not their order, and sorting a day of predictions holds all of it in memory at once. Both join
the labels with serving.feedback.labelled_sql."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from modelcycle.serving.feedback import _files_between, _fs, _quote, _unreadable, labelled_sql
from modelcycle.serving.predlog import FEEDBACK_DIR, day_of, model_folder

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

def scan_sql(files: Sequence[str], feedback: Sequence[str], start_ms: int, end_ms: int, version: int | None,
             extra_where: str = "") -> str:
    where = [f"time >= epoch_ms({int(start_ms)})", f"time < epoch_ms({int(end_ms)})"]
    if version is not None:
        where.append("version IS NULL" if version == 0 else f"version = {int(version)}")
    scan = (f"SELECT * FROM read_parquet([{', '.join(map(_quote, files))}], "
            f"union_by_name = true, hive_partitioning = false) WHERE {' AND '.join(where)}")
    sql = labelled_sql(scan, feedback)
    return f"SELECT * FROM ({sql}) WHERE {extra_where}" if extra_where else sql


_FOOTERS: dict[str, tuple[int | None, int | None, bool] | None] = {}  # a segment never changes once written
_FOOTERS_KEPT = 200_000


def _versions_in(fs, path: str) -> tuple[int | None, int | None, bool] | None:
    """(lowest, highest version, whether some rows have none) of a segment, from its footer's
    statistics; None when they are not there to read."""
    if path in _FOOTERS:
        return _FOOTERS[path]
    import pyarrow.parquet as pq

    found: tuple[int | None, int | None, bool] | None
    try:
        with fs.open(path, "rb") as handle:
            meta = pq.ParquetFile(handle).metadata
        index = meta.schema.to_arrow_schema().get_field_index("version")
        low = high = None
        nulls = False
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(index).statistics
            if stats is None or not stats.has_null_count:
                raise ValueError("no statistics")
            nulls = nulls or stats.null_count > 0
            if stats.has_min_max:
                low = stats.min if low is None else min(low, stats.min)
                high = stats.max if high is None else max(high, stats.max)
            elif stats.null_count < meta.row_group(g).num_rows:
                raise ValueError("no min and max")
        found = (low, high, nulls)
    except (OSError, ValueError, KeyError, IndexError):
        found = None
    if len(_FOOTERS) >= _FOOTERS_KEPT:
        _FOOTERS.clear()
    _FOOTERS[path] = found
    return found


def _may_hold(found: tuple[int | None, int | None, bool] | None, version: int) -> bool:
    if found is None:
        return True
    low, high, nulls = found
    return nulls if version == 0 else low is not None and low <= version <= high


def relation(model: str, start_ms: int, end_ms: int, version: int | None, uri: str | None,
             connection: duckdb.DuckDBPyConnection, with_feedback: bool = True,
             extra_where: str = "") -> duckdb.DuckDBPyRelation | None:
    """The rows of ``model`` (``version``; 0 for rows logged without one, None for all) with
    ``start_ms <= time < end_ms`` as a DuckDB relation on ``connection``; None when the log has
    no segment in range. Only the date partitions in range are opened, and DuckDB reads only the
    row groups of a segment whose times can fall in the range."""
    import duckdb

    fs, root, local = _fs(uri)
    first, last = day_of(start_ms), day_of(end_ms - 1)
    files = _files_between(fs, model_folder(root, model), first, last)
    if version is not None:
        # Only the segments that hold the version: read with the others, a column another
        # version logged as text would be text in this one's rows too (DuckDB unifies by name).
        files = [f for f in files if _may_hold(_versions_in(fs, f), version)]
    if not files:
        return None
    feedback = _files_between(fs, model_folder(f"{root}/{FEEDBACK_DIR}", model), first, None) if with_feedback else []
    if not local:
        try:
            connection.register_filesystem(fs)
        except duckdb.InvalidInputException:  # registered by an earlier scan on this connection
            pass
        files = [fs.unstrip_protocol(f) for f in files]
        feedback = [fs.unstrip_protocol(f) for f in feedback]
    try:
        return connection.sql(scan_sql(files, feedback, start_ms, end_ms, version, extra_where))
    except duckdb.Error as exc:
        raise _unreadable(model, exc) from None


def batches(model: str, found: duckdb.DuckDBPyRelation | None, rows: int) -> Iterator[pa.RecordBatch]:
    """``found`` (from ``relation``) as Arrow record batches of up to ``rows`` rows."""
    import duckdb

    if found is None:
        return
    try:
        reader = found.to_arrow_reader(rows) if hasattr(found, "to_arrow_reader") else found.fetch_arrow_reader(rows)
        yield from reader
    except duckdb.Error as exc:
        raise _unreadable(model, exc) from None

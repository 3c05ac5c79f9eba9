"""Any supported input as a stream of Arrow record batches of bounded size.

A pandas DataFrame, a pyarrow Table or RecordBatch, or a path/URL (anything fsspec opens) of a
Parquet file, a folder of Parquet files, or a CSV/TSV file (optionally gzipped). Files are read
batch by batch, so a file larger than memory streams through in bounded memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from modelcycle.data.columns import is_missing
from modelcycle.exceptions import InvalidInput, NotFound

DEFAULT_CHUNK_ROWS = 262_144
_CSV_BLOCK_BYTES = 16 << 20
BAD_ROW_POLICIES = ("error", "skip")


@dataclass
class Batches:
    """Record batches with the facts learned while reading them."""

    description: str
    batches: Iterator[pa.RecordBatch]
    # Columns that mixed Python types (e.g. ints and strings); read as text, reported by validation.
    mixed_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bad_rows: list[int] = field(default_factory=lambda: [0])  # CSV rows skipped so far (a cell)
    # CSV columns read as numbers: how many values were not numbers (read as missing), and a few
    # of them; filled in while the batches are read.
    not_numbers: dict[str, NotNumbers] = field(default_factory=dict)


@dataclass
class NotNumbers:
    rows: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, values: list[str]) -> None:
        self.rows += len(values)
        for value in values:
            if len(self.examples) >= 5:
                break
            if value not in self.examples:
                self.examples.append(value)


def is_location(data: Any) -> bool:
    return isinstance(data, (str, os.PathLike))


def open_batches(data: Any, chunk_rows: int = DEFAULT_CHUNK_ROWS, *,
                 column_types: dict[str, pa.DataType] | None = None, numeric_columns=(),
                 on_bad_rows: str = "error", encoding: str = "utf-8") -> Batches:
    """``column_types``: types for CSV columns instead of inferring them; ``numeric_columns``:
    CSV columns read as float64, where a value that is not a number is read as missing and
    counted in ``Batches.not_numbers`` instead of failing the read. ``encoding``: of CSV files."""
    if not isinstance(chunk_rows, int) or isinstance(chunk_rows, bool) or chunk_rows < 1:
        raise InvalidInput(f"chunk_rows must be a positive integer; got {chunk_rows!r}.")
    if on_bad_rows not in BAD_ROW_POLICIES:
        raise InvalidInput(f"on_bad_rows must be one of {BAD_ROW_POLICIES}; got {on_bad_rows!r}.")
    encoding = check_encoding(encoding)
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return _from_pandas(data, chunk_rows)
    if isinstance(data, pa.Table):
        return Batches("pyarrow.Table", _table_batches(data, chunk_rows))
    if isinstance(data, pa.RecordBatch):
        return Batches("pyarrow.RecordBatch",
                       (data.slice(i, chunk_rows) for i in range(0, max(data.num_rows, 1), chunk_rows)))
    if is_location(data):
        return _from_location(os.fspath(data), chunk_rows, column_types or {}, frozenset(numeric_columns),
                              on_bad_rows, encoding)
    raise InvalidInput(f"Expected a pandas DataFrame, a pyarrow Table or a path/URL of a CSV or Parquet "
                       f"file; got {type(data).__name__}.")


def check_encoding(encoding: Any) -> str:
    """The codec's name, or InvalidInput for an unknown one."""
    import codecs

    try:
        if not isinstance(encoding, str):
            raise LookupError
        return codecs.lookup(encoding).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise InvalidInput(f"Unknown encoding {encoding!r}; use a Python codec name such as 'utf-8', "
                           "'latin-1' or 'cp1252'.") from None


def _from_pandas(frame, chunk_rows: int) -> Batches:
    names = [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInput(f"Column names must be unique; repeated: {repeated}. Rename them, "
                           "e.g. with df.columns = [...].")
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(f"The column name {name!r} holds {name[exc.start]!r}, a lone UTF-16 surrogate, "
                               "which is not valid Unicode text. Rename the column.") from None
    arrays, mixed = [], {}
    for position, name in enumerate(names):
        series = frame.iloc[:, position]
        try:
            arrays.append(pa.array(series, from_pandas=True))
        except UnicodeEncodeError as exc:  # Arrow holds UTF-8 only; an object column can hold anything
            bad = exc.object[exc.start] if isinstance(exc.object, str) else "?"
            raise InvalidInput(f"Column {name!r} holds {bad!r}, a lone UTF-16 surrogate, which is not valid "
                               "Unicode text. Decode the source correctly or replace such characters "
                               "(e.g. s.str.encode('utf-8', 'replace').str.decode('utf-8')).") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            present = [v for v in series if not is_missing(v)]
            mixed[name] = tuple(sorted({type(v).__name__ for v in present}))
            arrays.append(pa.array([None if is_missing(v) else str(v) for v in series], pa.string()))
    table = pa.Table.from_arrays(arrays, names=names) if names else pa.table({})
    return Batches("pandas.DataFrame", _table_batches(table, chunk_rows), mixed)


def _table_batches(table: pa.Table, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    batches = table.to_batches(max_chunksize=chunk_rows)
    # No rows still has columns; an empty batch carries them.
    return iter(batches or [pa.RecordBatch.from_pylist([], schema=table.schema)])


def _from_location(location: str, chunk_rows: int, column_types: dict, numeric_columns: frozenset,
                   on_bad_rows: str, encoding: str) -> Batches:
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(location)
        exists = fs.exists(path)
    except (ImportError, ValueError, OSError) as exc:
        raise InvalidInput(f"Cannot open {location!r}: {exc}") from None
    if not exists:
        raise NotFound(f"No file or folder at {location!r}; check the path or URL.")
    lower = path.lower()
    if fs.isdir(path):
        return Batches(location, _dataset_batches(fs, path, location, chunk_rows))
    if lower.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt")):
        source = Batches(location, iter(()))
        source.batches = _csv_batches(fs, path, location, column_types, numeric_columns, on_bad_rows,
                                      encoding, source)
        return source
    if lower.endswith((".parquet", ".pq", ".parq")) or _starts_with_parquet_magic(fs, path):
        return Batches(location, _parquet_batches(fs, path, location, chunk_rows))
    raise InvalidInput(f"Unsupported file type for {location!r}: use .parquet, .csv or .tsv "
                       "(optionally .gz), or a folder of Parquet files.")


def _starts_with_parquet_magic(fs, path: str) -> bool:
    with fs.open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def _parquet_batches(fs, path: str, location: str, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    import fsspec.implementations.local
    import pyarrow.parquet as pq

    local = isinstance(fs, fsspec.implementations.local.LocalFileSystem)
    handle = None if local else fs.open(path, "rb")
    try:
        reader = pq.ParquetFile(path if local else handle)
        if reader.metadata.num_rows == 0:
            yield pa.RecordBatch.from_pylist([], schema=reader.schema_arrow)
        # One row group at a time: iterating the whole file reads ahead across row groups, and
        # its memory then grows with the file.
        for group in range(reader.num_row_groups):
            yield from reader.iter_batches(batch_size=chunk_rows, row_groups=[group])
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{location!r} is not a readable Parquet file ({exc}).") from None
    finally:
        if handle is not None:
            handle.close()


def _dataset_batches(fs, path: str, location: str, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(path, filesystem=fs, format="parquet")
        yield from dataset.to_batches(batch_size=chunk_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"{location!r} is not a folder of readable Parquet files ({exc}).") from None


def _csv_batches(fs, path: str, location: str, column_types: dict, numeric_columns: frozenset,
                 on_bad_rows: str, encoding: str, source: Batches) -> Iterator[pa.RecordBatch]:
    from pyarrow import csv

    lower = path.lower().removesuffix(".gz")
    seen: list = []
    # Numbers are read as text and converted here, so that a stray word is counted, not fatal.
    column_types = {**column_types, **{name: pa.string() for name in numeric_columns}}

    def on_invalid_row(row) -> str:
        if on_bad_rows == "skip":
            source.bad_rows[0] += 1
            return "skip"
        seen.append(row)
        return "error"

    def open_reader(types: dict):
        handle = fs.open(path, "rb")
        stream = pa.CompressedInputStream(handle, "gzip") if path.lower().endswith(".gz") else handle
        reader = csv.open_csv(
            stream,
            read_options=csv.ReadOptions(block_size=_CSV_BLOCK_BYTES, encoding=encoding),
            parse_options=csv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",",
                                           invalid_row_handler=on_invalid_row),
            convert_options=csv.ConvertOptions(column_types=types, strings_can_be_null=True))
        return handle, reader

    handle = None
    try:
        handle, reader = open_reader(column_types)
        # A column empty in the first block would be typed "null" and reject later values.
        untyped = {f.name: pa.string() for f in reader.schema if pa.types.is_null(f.type)}
        if untyped:
            handle.close()
            handle, reader = open_reader({**column_types, **untyped})
        undecoded = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
        if undecoded:  # what the reader makes of text it cannot decode
            raise InvalidInput(_not_decoded(location, encoding, undecoded[0]))
        numeric = [i for i, name in enumerate(reader.schema.names) if name in numeric_columns]
        any_batch = False
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            any_batch = True
            yield _as_numbers(batch, numeric, source.not_numbers)
        if not any_batch:  # a header alone: no rows, but the columns are known
            yield _as_numbers(pa.RecordBatch.from_pylist([], schema=reader.schema), numeric, source.not_numbers)
    except pa.ArrowInvalid as exc:
        if "invalid UTF8" in str(exc):
            raise InvalidInput(_not_decoded(location, encoding, None)) from None
        if seen:
            row = seen[-1]
            raise InvalidInput(
                f"{location!r} has a row with {row.actual_columns} fields where the header has "
                f"{row.expected_columns}: {row.text!r}. Fix or remove that row, or pass "
                "on_bad_rows='skip' to skip such rows (they are counted and reported).") from None
        if "Empty CSV" in str(exc):
            raise InvalidInput(f"{location!r} is empty: a CSV file needs at least a header row.") from None
        raise InvalidInput(
            f"{location!r} could not be read: {exc}. Column types are inferred from the first rows; "
            "fix the value, or profile against a reference whose types cover it.") from None
    finally:
        if handle is not None:
            handle.close()


def _not_decoded(location: str, encoding: str, column: str | None) -> str:
    where = f" (column {column!r})" if column is not None else ""
    return (f"{location!r} is not {encoding.upper()} text{where}. Pass the file's "
            "encoding, e.g. encoding='latin-1' or 'cp1252' (--encoding in the CLI), and the same one "
            "whenever the file is read.")


def _as_numbers(batch: pa.RecordBatch, columns: list[int], not_numbers: dict) -> pa.RecordBatch:
    """The text ``columns`` of ``batch`` as float64; values that are not numbers become missing
    and are counted in ``not_numbers``."""
    if not columns:
        return batch
    import pyarrow.compute as pc

    arrays = list(batch.columns)
    for i in columns:
        text = arrays[i]
        try:
            arrays[i] = pc.cast(text, pa.float64())
            continue
        except pa.ArrowInvalid:
            pass
        import numpy as np
        import pandas as pd

        raw = text.to_numpy(zero_copy_only=False)
        values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(np.float64)
        bad = np.isnan(values) & text.is_valid().to_numpy(zero_copy_only=False)
        not_numbers.setdefault(batch.schema.names[i], NotNumbers()).add(list(raw[bad]))
        arrays[i] = pa.array(values, pa.float64(), mask=np.isnan(values))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)

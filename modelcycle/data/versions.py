"""Dataset versions: digest the rows of any supported input and spool them to one Parquet file."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.exceptions import InvalidInput
from modelcycle.store.validation import parse_version


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``name@3`` -> ("name", 3); ``name@latest`` or ``name`` -> ("name", None)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(f"A dataset is named NAME@VERSION (e.g. transactions@3 or transactions@latest); "
                           f"got {ref!r}.")
    name, sep, version = ref.rpartition("@")
    if not sep:
        return ref, None
    if version == "latest":
        return name, None
    try:
        return name, parse_version("dataset", version)
    except InvalidInput:
        raise InvalidInput(f"The version in {ref!r} must be a positive number or 'latest'.") from None


class RowDigest:
    """SHA-256 over the column names and types and a hash of every row, in order. It does not
    depend on how the rows are split into batches, on the file format they came in, or on how
    their types were spelled: text as string or large_string, categorical (dictionary) or
    plain, integers of any width, datetimes in any unit hash alike (see ``canonical_type``)."""

    def __init__(self, schema: pa.Schema):
        self.sha = hashlib.sha256()
        for field in schema:
            self.sha.update(f"{field.name}\x1f{canonical_type(field.type)}\x1e".encode())

    def update(self, batch: pa.RecordBatch) -> None:
        self.sha.update(_combine(column_hashes(column) for column in batch.columns).tobytes())

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def canonical_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type a column is digested as. The canonical types are those pandas' own dtypes give
    (int64, float64, bool, large_string, timestamp[us]), so data that arrives in them keeps the
    digest it had before types were normalised."""
    if pa.types.is_dictionary(arrow_type):
        return canonical_type(arrow_type.value_type)
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.large_string()
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return pa.binary()
    if pa.types.is_integer(arrow_type):
        return pa.uint64() if pa.types.is_uint64(arrow_type) else pa.int64()
    if pa.types.is_floating(arrow_type):
        return pa.float64()
    if pa.types.is_timestamp(arrow_type):
        return pa.timestamp("us", arrow_type.tz)
    if pa.types.is_date(arrow_type):
        return pa.date32()
    if (pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
            or pa.types.is_fixed_size_list(arrow_type)):  # Parquet renames a list's item "element"
        return pa.list_(canonical_type(arrow_type.value_type))
    if pa.types.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, canonical_type(f.type)) for f in arrow_type])
    if pa.types.is_map(arrow_type):
        return pa.map_(canonical_type(arrow_type.key_type), canonical_type(arrow_type.item_type))
    return arrow_type


# What pandas gives a missing text value; missing integers and booleans hash the same, whatever
# the batch around them (pandas would turn their whole batch into floats or objects).
_MISSING = np.uint64(0xFFFFFFFFFFFFFFFF)
_SUB_MICROSECOND = np.uint64(0x9E3779B97F4A7C15)
_NAT = np.iinfo(np.int64).min
_MICROSECONDS = {"s": 1_000_000, "ms": 1_000, "us": 1}


def column_hashes(array: pa.Array) -> np.ndarray:
    """One uint64 per value, equal to pandas' ``hash_array`` of the value in its canonical type."""
    import pandas as pd

    hash_array = pd.util.hash_array
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    kind = canonical_type(array.type)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        values = array.cast(kind) if pa.types.is_integer(kind) else array
        hashes = hash_array(values.fill_null(0 if pa.types.is_integer(kind) else False)
                            .to_numpy(zero_copy_only=False))
        return _mark_missing(hashes, array)
    if pa.types.is_floating(kind):
        return hash_array(array.cast(kind).to_numpy(zero_copy_only=False))  # missing: NaN
    if pa.types.is_timestamp(kind):
        raw = array.cast(pa.int64()).fill_null(_NAT).to_numpy()
        unit = array.type.unit
        if unit != "ns":
            micros = np.where(raw == _NAT, _NAT, raw * _MICROSECONDS[unit])
            return hash_array(micros)
        whole = (raw % 1000 == 0) | (raw == _NAT)
        hashes = hash_array(np.where(whole, raw // 1000, 0))
        hashes[raw == _NAT] = hash_array(np.array([_NAT]))[0]
        if not whole.all():  # finer than a microsecond: kept apart, never rounded together
            hashes[~whole] = hash_array(raw[~whole]) ^ _SUB_MICROSECOND
        return hashes
    if pa.types.is_large_string(kind):
        return hash_array(array.cast(kind).to_numpy(zero_copy_only=False))
    if pa.types.is_nested(kind):  # lists, structs, maps: by the text of their Python values
        return hash_array(np.array([None if v is None else repr(v) for v in array.to_pylist()], dtype=object))
    if kind != array.type:
        array = array.cast(kind)
    return pd.util.hash_pandas_object(array.to_pandas(), index=False).to_numpy()


def _mark_missing(hashes: np.ndarray, array: pa.Array) -> np.ndarray:
    if array.null_count:
        hashes[~array.is_valid().to_numpy(zero_copy_only=False)] = _MISSING
    return hashes


def _combine(columns: Iterator[np.ndarray]) -> np.ndarray:
    """Row hashes from column hashes, as pandas' ``hash_pandas_object`` combines them."""
    columns = list(columns)
    if not columns:
        return np.zeros(0, np.uint64)
    out = np.zeros_like(columns[0]) + np.uint64(0x345678)
    multiplier = np.uint64(1000003)
    with np.errstate(over="ignore"):
        for i, hashes in enumerate(columns):
            inverse = len(columns) - i
            out ^= hashes
            out *= multiplier
            multiplier += np.uint64(82520 + inverse + inverse)
        out += np.uint64(97531)
    return out


def spool_to_parquet(batches: Iterator[pa.RecordBatch], directory: str | Path,
                     on_batch: Callable[[pa.RecordBatch], None] | None = None
                     ) -> tuple[Path, str, int, int]:
    """Write the batches to one Parquet file while digesting them, in bounded memory.
    Returns (path, digest, rows, columns); ``on_batch`` sees every batch once."""
    path = Path(directory) / "data.parquet"
    writer = digest = schema = None
    rows = 0
    try:
        for batch in batches:
            if schema is None:
                schema = batch.schema
                writer = pq.ParquetWriter(path, schema, compression="zstd")
                digest = RowDigest(schema)
            elif batch.schema != schema:
                try:
                    batch = batch.cast(schema)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    raise InvalidInput(f"A later part of the data has other column types ({batch.schema}) "
                                       f"than the first ({schema}); give each column one type.") from None
            if batch.num_rows == 0:
                continue
            writer.write_batch(batch)
            digest.update(batch)
            rows += batch.num_rows
            if on_batch is not None:
                on_batch(batch)
    finally:
        if writer is not None:
            writer.close()
    if schema is None or rows == 0:
        raise InvalidInput("The data has no rows; there is nothing to version.")
    return path, digest.hexdigest(), rows, len(schema)


def check_upload(path: str | Path, digest: str, num_rows: int, num_columns: int, schema: str,
                 profile: str) -> None:
    """Check a dataset version sent to be stored, as ``log_dataset`` makes one: a readable Parquet
    file whose rows have ``digest``, ``num_rows`` and ``num_columns``, with the schema and the
    profile of those columns and rows. Raises InvalidInput naming what does not match."""
    import json

    from modelcycle.data.profile import Profile
    from modelcycle.data.schema import Schema

    try:
        reader = pq.ParquetFile(path)
        names = reader.schema_arrow.names
        found = RowDigest(reader.schema_arrow)
        rows = 0
        for group in range(reader.num_row_groups):  # in bounded memory, as it was written
            for batch in reader.iter_batches(row_groups=[group]):
                found.update(batch)
                rows += batch.num_rows
    except (pa.ArrowException, OSError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The uploaded data is not a readable Parquet file ({exc}); upload the file "
                           "log_dataset wrote.") from None
    if (rows, len(names)) != (num_rows, num_columns):
        raise InvalidInput(f"The uploaded data has {rows:,} rows and {len(names)} columns, not the "
                           f"{num_rows:,} rows and {num_columns} columns given; upload it again.")
    if found.hexdigest() != digest:
        raise InvalidInput(f"The uploaded data's digest is {found.hexdigest()}, not the {digest} given: "
                           "the file changed on the way, or the digest was computed otherwise. Log it "
                           "again with this version of modelcycle.")
    try:
        stated = Profile.from_dict(json.loads(profile))
    except ValueError as exc:
        raise InvalidInput(f"The uploaded profile is not JSON ({exc}); send what Profile.to_dict() returns.") from None
    if stated.rows != rows or list(stated.columns) != names:
        raise InvalidInput(f"The uploaded profile is of {stated.rows:,} rows and columns {list(stated.columns)}, "
                           f"but the data has {rows:,} rows and columns {names}; profile this data.")
    declared = Schema.from_yaml(schema + "\n")  # text with a line break is never taken for a path
    if list(declared.columns) != names:
        raise InvalidInput(f"The uploaded schema has columns {list(declared.columns)}, but the data has "
                           f"{names}; infer the schema from this data.")


def read_parquet_chunks(chunks: Iterator[bytes]) -> pa.Table:
    with tempfile.TemporaryFile() as tmp:
        for chunk in chunks:
            tmp.write(chunk)
        tmp.seek(0)
        return pq.read_table(io.BufferedReader(tmp))

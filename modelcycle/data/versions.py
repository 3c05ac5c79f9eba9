"""Dataset versions: digest the rows of any supported input and spool them to one Parquet file."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelcycle.exceptions import InvalidInput


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
    if not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"The version in {ref!r} must be a positive number or 'latest'.")
    return name, int(version)


class RowDigest:
    """SHA-256 over the column names and types and a hash of every row, in order. It does not
    depend on how the rows are split into batches or on the file format they came in."""

    def __init__(self, schema: pa.Schema):
        self.sha = hashlib.sha256()
        for field in schema:
            self.sha.update(f"{field.name}\x1f{field.type}\x1e".encode())

    def update(self, batch: pa.RecordBatch) -> None:
        import pandas as pd

        frame = batch.to_pandas()
        self.sha.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


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


def read_parquet_chunks(chunks: Iterator[bytes]) -> pa.Table:
    with tempfile.TemporaryFile() as tmp:
        for chunk in chunks:
            tmp.write(chunk)
        tmp.seek(0)
        return pq.read_table(io.BufferedReader(tmp))

"""Dataset versions made as log_dataset makes them, for tests that call Store.log_dataset: the
server checks that an upload's digest, schema and profile are those of its Parquet file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow as pa


def dataset_version(rows: int = 10, directory: str | Path | None = None) -> dict:
    """The keyword arguments of Store.log_dataset (all but the name) for ``rows`` rows of two
    columns; the Parquet file is written in ``directory`` (a new temporary folder by default)."""
    from modelcycle.data.profile import Profiler
    from modelcycle.data.reading import open_batches
    from modelcycle.data.schema import infer_schema
    from modelcycle.data.versions import spool_to_parquet

    directory = Path(directory or tempfile.mkdtemp(prefix="mc-test-dataset-"))
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({"x": list(range(rows)), "y": [f"v{i % 3}" for i in range(rows)]})
    opened = open_batches(table)
    profiler = Profiler(mixed_types=opened.mixed_types)
    path, digest, num_rows, num_columns = spool_to_parquet(opened.batches, directory, on_batch=profiler.add)
    profile = profiler.result()
    return dict(digest=digest, data_file=path, source="test", num_rows=num_rows, num_columns=num_columns,
                schema=infer_schema(profile).to_yaml(), profile=json.dumps(profile.to_dict()))

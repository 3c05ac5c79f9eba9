"""`mc.log_dataset` and `mc.load_dataset`: versioned data linked to the runs that used it."""

from __future__ import annotations

import json
import tempfile
from typing import Any

import pyarrow as pa

from modelcycle.data.versions import parse_ref, read_parquet_chunks, spool_to_parquet
from modelcycle.exceptions import InvalidInput
from modelcycle.store.entities import DatasetUse, DatasetVersion


def _client():
    from modelcycle.tracking.fluent import client

    return client()


def log_dataset(data: Any, name: str, role: str = "train", source: str | None = None,
                run_id: str | None = None, encoding: str = "utf-8") -> DatasetVersion:
    """Store ``data`` (a DataFrame, a pyarrow Table, or a CSV/Parquet path or URL) as a version
    of ``name`` and link it to the active run (or ``run_id``) as ``role``. The same rows give
    back the same version; new content gets the next version. Schema and profile are computed
    in the same pass that stores the data. ``encoding``: that of a CSV file."""
    from modelcycle.data.profile import Profiler
    from modelcycle.data.reading import open_batches
    from modelcycle.data.schema import infer_schema
    from modelcycle.store.validation import check_dataset_role
    from modelcycle.tracking.fluent import active_run

    check_dataset_role(role)
    store = _client().store
    opened = open_batches(data, encoding=encoding)
    profiler = Profiler(mixed_types=opened.mixed_types)
    with tempfile.TemporaryDirectory(prefix="modelcycle-dataset-") as tmp:
        path, digest, rows, columns = spool_to_parquet(opened.batches, tmp, on_batch=profiler.add)
        profile = profiler.result()
        schema = infer_schema(profile)
        version = store.log_dataset(name, digest, path, source or opened.description, rows, columns,
                                    schema.to_yaml(), json.dumps(profile.to_dict()))
    target = run_id or (active_run().id if active_run() is not None else None)
    if target is not None:
        store.link_dataset(target, version.name, version.version, role)
    return version


def get_dataset(ref: str) -> DatasetVersion:
    """The stored version for ``name@3``, ``name@latest`` or ``name``."""
    name, version = parse_ref(ref)
    return _client().store.get_dataset(name, version)


def load_dataset(ref: str, as_arrow: bool = False):
    """The data of ``name@3`` / ``name@latest`` as a pandas DataFrame (or a pyarrow Table)."""
    dataset = get_dataset(ref)
    table: pa.Table = read_parquet_chunks(_client().store.open_dataset(dataset.name, dataset.version))
    return table if as_arrow else table.to_pandas()


def load_profile(ref: str):
    """The stored profile of a dataset version (no data is read)."""
    from modelcycle.data.profile import Profile

    return Profile.from_dict(json.loads(get_dataset(ref).profile))


def load_schema(ref: str):
    """The stored schema of a dataset version."""
    from modelcycle.data.schema import Schema

    return Schema.from_yaml(get_dataset(ref).schema)


def dataset_runs(ref: str) -> list[DatasetUse]:
    """The runs that used ``name@version`` (every version for a bare ``name``), with roles."""
    name, version = parse_ref(ref)
    dataset = _client().store.get_dataset(name, version)  # a clear NotFound for an unknown name
    return _client().store.dataset_uses(name=name, version=dataset.version if "@" in ref else None)


def run_datasets(run_id: str) -> list[DatasetUse]:
    return _client().store.dataset_uses(run_id=run_id)


def validate(data: Any, against: Any, schema=None, *, encoding: str = "utf-8", **drift_options):
    """Check ``data`` (a DataFrame, Table, path/URL) against a reference and report drift from
    it: training–serving skew when ``data`` is a batch of serving inputs.

    ``against`` is a stored dataset version (``name@version``, or ``name`` for the latest),
    whose stored schema and profile are used without reading its data again; or reference data
    (a DataFrame, Table, CSV/Parquet path or URL, or a Profile), profiled on the way, with its
    schema inferred. ``schema`` (a Schema, or the path of an edited YAML from ``modelcycle data
    schema``) replaces that schema, to tighten or relax the checks. ``encoding`` is that of CSV
    files, current and reference alike."""
    from modelcycle.data.profile import profile
    from modelcycle.data.schema import Schema, infer_schema
    from modelcycle.data.validate import validate as check

    if _is_data(against):
        reference = profile(against, encoding=encoding)
        default_schema = lambda: infer_schema(reference)  # noqa: E731
    elif isinstance(against, str):
        reference = load_profile(against)
        default_schema = lambda: load_schema(against)  # noqa: E731
    else:
        raise InvalidInput(f"against must be a dataset version such as 'transactions@3', or reference data "
                           f"(a DataFrame, pyarrow Table, CSV/Parquet path or Profile); got "
                           f"{type(against).__name__}.")
    if schema is None:
        schema = default_schema()
    elif not isinstance(schema, Schema):
        schema = Schema.from_yaml(schema)
    return check(data, schema, reference, encoding=encoding, **drift_options)


_DATA_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".txt", ".parquet", ".pq", ".parq")


def _is_data(against: Any) -> bool:
    """Reference data rather than a stored version's name. A dataset name has no '/', so text
    with one is a path or URL; a bare file name counts when it is a data file that exists."""
    import os

    import pandas as pd

    from modelcycle.data.profile import Profile

    if isinstance(against, (pd.DataFrame, pa.Table, pa.RecordBatch, Profile, os.PathLike)):
        return True
    if not isinstance(against, str):
        return False
    return ("/" in against or os.sep in against or "://" in against
            or (against.lower().endswith(_DATA_SUFFIXES) and os.path.isfile(against)))

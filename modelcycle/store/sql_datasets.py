"""Dataset versions on the SQL store, and their links to runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from modelcycle.exceptions import NotFound, StoreUnavailable
from modelcycle.store import schema as t
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import DatasetUse, DatasetVersion
from modelcycle.store.validation import (
    check_dataset_name, check_dataset_role, check_name, check_run_id, check_text, check_version,
)


class SqlDatasets:
    """Mixed into SqlStore: uses its ``_read``/``_write`` transactions, ``_insert``, ``blobs`` and
    the run checks of SqlTracking."""

    # ------------------------------------------------------------------ datasets
    def log_dataset(self, name: str, digest: str, data_file: str | Path, source: str,
                    num_rows: int, num_columns: int, schema: str, profile: str) -> DatasetVersion:
        check_dataset_name(name)
        for what, text in (("digest", digest), ("source", source), ("schema", schema), ("profile", profile)):
            check_text(f"The dataset {what}", text)
        existing = self._dataset_by_digest(name, digest)
        if existing is not None:
            return existing
        blob_digest, size = self.blobs.put_file(data_file)
        d = t.datasets.c
        for _attempt in range(5):
            try:
                with self._write() as conn:
                    row = conn.execute(select(t.datasets).where(d.name == name, d.digest == digest)).first()
                    if row is not None:
                        return _dataset_from_row(row)
                    version = (conn.execute(select(func.max(d.version)).where(d.name == name)).scalar()
                               or 0) + 1
                    values = dict(name=name, version=version, digest=digest, blob_digest=blob_digest,
                                  source=source, num_rows=num_rows, num_columns=num_columns, size=size,
                                  schema=schema, profile=profile, created_at=now_ms())
                    dataset_id = conn.execute(insert(t.datasets).values(**values).returning(d.id)).scalar_one()
                return DatasetVersion(dataset_id, name, version, digest, source, num_rows, num_columns,
                                      size, values["created_at"], schema, profile)
            except IntegrityError:
                continue  # another writer took this version number: count again
        raise StoreUnavailable(f"Could not assign a version to dataset {name!r}: too many concurrent writers.")

    def _dataset_by_digest(self, name: str, digest: str) -> DatasetVersion | None:
        with self._read() as conn:
            row = conn.execute(select(t.datasets).where(
                t.datasets.c.name == name, t.datasets.c.digest == digest)).first()
        return _dataset_from_row(row) if row is not None else None

    def get_dataset(self, name: str, version: int | None = None) -> DatasetVersion:
        check_name("dataset", name)
        d = t.datasets.c
        query = select(t.datasets).where(d.name == name)
        query = query.where(d.version == check_version("dataset", version)) if version is not None else \
            query.order_by(d.version.desc()).limit(1)
        with self._read() as conn:
            row = conn.execute(query).first()
            if row is None:
                known = conn.execute(select(func.max(d.version)).where(d.name == name)).scalar()
        if row is None:
            if known:
                raise NotFound(f"The dataset {name!r} has versions 1 to {known}; there is no version {version}.")
            raise NotFound(f"No dataset named {name!r}. List them with `modelcycle data ls`, or add it "
                           f"with `modelcycle data add FILE --name {name}`.")
        return _dataset_from_row(row)

    def list_datasets(self, name: str | None = None) -> list[DatasetVersion]:
        d = t.datasets.c
        columns = [d.id, d.name, d.version, d.digest, d.source, d.num_rows, d.num_columns, d.size,
                   d.created_at]
        if name is not None:
            query = select(*columns).where(d.name == check_name("dataset", name)).order_by(d.version)
        else:
            latest = select(d.name, func.max(d.version).label("version")).group_by(d.name).subquery()
            query = select(*columns).join(latest, (latest.c.name == d.name) & (latest.c.version == d.version)
                                          ).order_by(d.name)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [DatasetVersion(r.id, r.name, r.version, r.digest, r.source, r.num_rows, r.num_columns,
                               r.size, r.created_at) for r in rows]

    def open_dataset(self, name: str, version: int) -> Iterator[bytes]:
        check_name("dataset", name)
        d = t.datasets.c
        with self._read() as conn:
            blob = conn.execute(select(d.blob_digest).where(
                d.name == name, d.version == check_version("dataset", version))).scalar_one_or_none()
        if blob is None:
            self.get_dataset(name, version)  # raises the helpful NotFound
        return self.blobs.open(blob)

    def link_dataset(self, run_id: str, name: str, version: int, role: str) -> None:
        check_run_id(run_id)
        check_dataset_role(role)
        dataset = self.get_dataset(name, version)
        stmt = self._insert(t.run_inputs).values(run_id=run_id, dataset_id=dataset.id, role=role,
                                                 created_at=now_ms())
        with self._write() as conn:
            self._check_writable(conn, run_id)
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "dataset_id", "role"]))

    def dataset_uses(self, run_id: str | None = None, name: str | None = None,
                     version: int | None = None) -> list[DatasetUse]:
        d, ri = t.datasets.c, t.run_inputs.c
        query = select(ri.run_id, d.name, d.version, ri.role).join(t.datasets, d.id == ri.dataset_id)
        if run_id is not None:
            query = query.where(ri.run_id == check_run_id(run_id))
        if name is not None:
            query = query.where(d.name == check_name("dataset", name))
        if version is not None:
            query = query.where(d.version == check_version("dataset", version))
        with self._read() as conn:
            rows = conn.execute(query.order_by(ri.created_at, d.name, d.version)).all()
        return [DatasetUse(r.run_id, f"{r.name}@{r.version}", r.role) for r in rows]


def _dataset_from_row(row) -> DatasetVersion:
    return DatasetVersion(row.id, row.name, row.version, row.digest, row.source, row.num_rows,
                          row.num_columns, row.size, row.created_at, row.schema, row.profile)

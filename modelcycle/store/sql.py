"""The store on a SQL database (SQLite or PostgreSQL) plus a blob store for artifacts: the engine,
its transactions, and the capabilities composed on them (tracking, datasets, registry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, OperationalError

from modelcycle.artifacts import BlobStore
from modelcycle.exceptions import StoreUnavailable
from modelcycle.store import migrate
from modelcycle.store.base import Store
from modelcycle.store.engine import make_engine
from modelcycle.store.prepared import Compiled, raw_transaction
from modelcycle.store.sql_datasets import SqlDatasets
from modelcycle.store.sql_deployments import SqlDeployments
from modelcycle.store.sql_leases import SqlLeases
from modelcycle.store.sql_monitoring import SqlMonitoring
from modelcycle.store.sql_registry import SqlRegistry
from modelcycle.store.sql_tracking import SqlTracking
from modelcycle.store.sql_views import SqlViews


class SqlStore(SqlTracking, SqlDatasets, SqlRegistry, SqlLeases, SqlDeployments, SqlMonitoring, SqlViews, Store):
    def __init__(self, db_uri: str, artifact_uri: str):
        self.db_uri = db_uri
        self.engine = make_engine(db_uri)
        try:
            migrate.upgrade(self.engine)
        except DatabaseError as exc:  # OperationalError, or a file that is not a database
            self.engine.dispose()
            reason = " ".join(str(exc.orig).split())  # the driver's message may span lines
            raise StoreUnavailable(f"Cannot open the database {self._safe_uri()}: {reason}") from exc
        self.blobs = BlobStore(artifact_uri)
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        self._insert = dialect.insert
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._db_errors = self.engine.dialect.loaded_dbapi.OperationalError
        # Lists of ids travel as one parameter (a JSON array for SQLite, an array for
        # PostgreSQL), so each statement is compiled once whatever the count.
        self._pack_ids = orjson.dumps if self._sqlite else list
        self._prepare_tracking_statements()
        self._search_cache: dict[tuple, Compiled] = {}

    def _in_list(self, column, name: str):
        """``column`` in the list given as parameter ``name``, packed by ``_pack_ids``."""
        if self._sqlite:
            return column.in_(select(func.json_each(bindparam(name)).table_valued("value").c.value)
                              .scalar_subquery())
        from sqlalchemy import any_
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(name, type_=ARRAY(column.type)))

    def _safe_uri(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.db_uri).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        try:
            with self.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as conn:
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"The database {self._safe_uri()} refused a write: {exc.orig}") from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"The database {self._safe_uri()} refused a read: {exc.orig}") from exc

    @contextmanager
    def _raw_read(self) -> Iterator:
        """A driver cursor in one read transaction (one snapshot), for the hot read paths."""
        try:
            with raw_transaction(self.engine, "BEGIN" if self._sqlite else None) as cursor:
                yield cursor
        except self._db_errors as exc:
            raise StoreUnavailable(f"The database {self._safe_uri()} refused a read: {exc}") from exc

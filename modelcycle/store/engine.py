"""Database engines: SQLite tuned for many local writers, PostgreSQL as it comes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from modelcycle import config
from modelcycle.exceptions import InvalidInput, StoreUnavailable


def make_engine(uri: str) -> Engine:
    try:
        url = make_url(uri)
    except ArgumentError:
        raise InvalidInput(
            f"{uri!r} is not a database URL. Use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/dbname (or http://host:port for a server)."
        ) from None
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    raise InvalidInput(
        f"Unsupported database {url.get_backend_name()!r} in {uri!r}; use sqlite:/// or postgresql+psycopg://."
    )


def _use_wal(cursor, busy_timeout_ms: int) -> None:
    """Switch the database to WAL (once; it stays so). The switch needs the database alone and
    SQLite answers "locked" at once instead of waiting when several processes open a database
    still in rollback mode at the same moment: try again until the busy timeout."""
    deadline = time.monotonic() + busy_timeout_ms / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url) -> Engine:
    if url.database and url.database != ":memory:":
        folder = Path(url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. MODELCYCLE_HOME names a file
            raise StoreUnavailable(f"Cannot open the database {url.database}: its folder {str(folder)!r} "
                                   f"cannot be created ({exc.strerror}).") from None
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
    synchronous = config.sqlite_synchronous()
    busy_timeout = config.sqlite_busy_timeout_ms()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when a transaction starts (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_timeout}")
        _use_wal(cursor, busy_timeout)
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA case_sensitive_like = ON")  # like PostgreSQL
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB of pages per connection
        cursor.execute("PRAGMA mmap_size = 268435456")
        cursor.execute("PRAGMA temp_store = MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Writers take the write lock up front: a deferred transaction that later wants to
        # write can fail at once with "database is locked" instead of waiting its turn.
        connection.exec_driver_sql(connection.get_execution_options().get("sqlite_begin", "BEGIN"))

    return engine

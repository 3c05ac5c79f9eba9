"""Short critical sections shared by every process working on one study: numbering a trial,
creating a study, changing the state of a trial another process may also touch.

The store has no compare-and-set, so the processes take turns instead: on PostgreSQL with an
advisory lock (any machine that reaches the database), on SQLite with a file lock next to the
database (SQLite is one machine's file anyway); these die with their process, so a crash never
leaves one held. Through a tracking server, with a lease in its store (any machine that reaches
the server): a holder that dies inside a critical section leaves it held until it expires.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from modelcycle.store import Store

LockFactory = Callable[[str], AbstractContextManager]


def _key_hash(key: str) -> int:
    """A signed 64-bit number for ``key``: PostgreSQL's advisory locks take a bigint."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24] + ".lock"


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # flock belongs to the open file, not the process: two threads that each open the file
    # exclude each other too (POSIX record locks would not).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _lock_fd(fd)
        yield
    finally:
        os.close(fd)  # closing releases the lock


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt
    import time

    def _lock_fd(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                return
            except OSError:
                time.sleep(0.01)
else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)


class _PostgresLocks:
    """Session advisory locks on one connection of this process, one holder at a time."""

    def __init__(self, engine):
        self.engine = engine
        self._mutex = threading.Lock()
        self._connection = None

    @contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        from sqlalchemy import text

        with self._mutex:  # threads of this process queue here, other processes in the database
            if self._connection is None or self._connection.closed:
                self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn, number = self._connection, _key_hash(key)
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": number})
            try:
                yield
            finally:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": number})
                except Exception:  # a broken connection has released its locks already
                    conn.invalidate()
                    self._connection = None


class _FileLocks:
    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, key: str) -> AbstractContextManager:
        return _file_lock(self.folder / _file_name(key))


class _LeaseLocks:
    """A lease of the store (see store/sql_leases.py: taking one is a single statement), asked
    for again until it is free. Each entry is an owner of its own, so that two threads of one
    process exclude each other too; a section lasts a few requests, far less than the lease."""

    TTL_S = 30.0
    MAX_WAIT_S = 0.1  # between two asks while another holds it

    def __init__(self, store: Store):
        self.store = store

    @contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        name = "modelcycle.training:" + _file_name(key).removesuffix(".lock")
        owner = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex}"
        wait = 0.002
        while self.store.acquire_lease(name, owner, self.TTL_S) is None:
            time.sleep(wait * (0.5 + random.random()))  # apart, not in step with the other askers
            wait = min(wait * 2, self.MAX_WAIT_S)
        try:
            yield
        finally:
            try:
                self.store.release_lease(name, owner)
            except Exception:  # it expires on its own; the section's own error is the one to see
                pass


class _ThreadLocks:
    """A database in memory lives in one process: a lock among its threads is enough."""

    def __init__(self):
        self._locks: dict[str, threading.Lock] = {}
        self._mutex = threading.Lock()

    @contextmanager
    def __call__(self, key: str) -> Iterator[None]:
        with self._mutex:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


def locks_for(store: Store) -> LockFactory:
    """The lock factory that makes every process using ``store`` take turns."""
    from modelcycle.store.sql import SqlStore

    if isinstance(store, SqlStore):
        if store.engine.dialect.name == "postgresql":
            return _PostgresLocks(store.engine)
        database = store.engine.url.database
        if not database or database == ":memory:":
            return _ThreadLocks()
        path = Path(database).expanduser().resolve()
        return _FileLocks(path.with_name(path.name + ".locks"))
    return _LeaseLocks(store)

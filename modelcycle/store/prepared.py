"""Statements built and compiled by SQLAlchemy once, executed straight on the driver's cursor.

Logging is the hot path: per call, SQLAlchemy's execution machinery costs more than SQLite
itself. The SQL text still comes from SQLAlchemy constructs, with bound parameters only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine


class Prepared:
    """A compiled statement whose parameters are given as tuples in ``columns`` order."""

    def __init__(self, engine: Engine, statement, columns: Sequence[str]):
        compiled = statement.compile(dialect=engine.dialect, column_keys=list(columns))
        self.sql = compiled.string
        self.columns = list(columns)
        if compiled.positional:
            order = [self.columns.index(name) for name in compiled.positiontup]
            self._convert = None if order == list(range(len(order))) else \
                (lambda row: tuple(row[i] for i in order))
            self._named = False
        else:
            self._convert = lambda row: dict(zip(self.columns, row))
            self._named = True

    def params(self, row: tuple):
        return self._convert(row) if self._convert else row

    def execute(self, cursor, row: tuple):
        cursor.execute(self.sql, self.params(row))
        return cursor

    def executemany(self, cursor, rows: list[tuple]) -> None:
        if rows:
            cursor.executemany(self.sql, rows if self._convert is None else [self._convert(r) for r in rows])


class Compiled:
    """A statement compiled once whose parameters are partly the values it was built with
    (a filter's literals) and partly given by name at each execution."""

    def __init__(self, compiled):
        state = compiled.construct_expanded_state()  # `in` lists as one parameter per item
        self.sql = state.statement
        self._built = dict(state.parameters)
        self._order = state.positiontup

    def params(self, values: dict):
        merged = {**self._built, **values}
        return merged if self._order is None else [merged[name] for name in self._order]


@contextmanager
def raw_transaction(engine: Engine, sqlite_begin: str | None) -> Iterator[object]:
    """A cursor in one transaction on a pooled driver connection; committed on success."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if sqlite_begin:
            cursor.execute(sqlite_begin)
        try:
            yield cursor
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
        cursor.close()
    finally:
        connection.close()  # back to the pool

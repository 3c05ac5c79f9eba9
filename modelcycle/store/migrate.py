"""Create or upgrade a database to the current schema, safely when several processes start at once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``. Holds the database's write lock while it works, so
    concurrent first uses wait for one another instead of racing."""
    from alembic import command

    with engine.connect() as probe:
        if revision == "head" and current_revision(probe) == head_revision():
            return
    with engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as connection:
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(7231061)"))
            target = head_revision() if revision == "head" else revision
            if current_revision(connection) != target:
                command.upgrade(_config(connection), revision)

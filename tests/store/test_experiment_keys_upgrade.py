"""A database made by the first release of migration 0012 (metric summaries and saved views, no
experiment_keys) upgrades to a schema whose column search lists the keys logged before and after."""

from __future__ import annotations

import importlib.util
import shutil
import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from modelcycle import Metric
from modelcycle.store import migrate
from modelcycle.store.engine import make_engine
from modelcycle.store.sql import SqlStore

SCHEMAS = Path(__file__).with_name("schemas")
spec = importlib.util.spec_from_file_location("schema_generator", SCHEMAS / "generate.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_at_0012(request, tmp_path) -> str:
    if request.param == "sqlite":
        db = tmp_path / "0012.db"
        shutil.copy(SCHEMAS / "0012.db", db)
        yield f"sqlite:///{db}"
        return
    request.getfixturevalue("postgres_uri")  # skips when there is no server
    from tests.conftest import POSTGRES_ADMIN_URI

    name = f"mc_keys_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    uri = POSTGRES_ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(uri)
    gen.build(engine, "0012")
    engine.dispose()
    yield uri
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_database_of_the_first_0012_lists_its_keys_after_the_upgrade(db_at_0012, tmp_path):
    engine = make_engine(db_at_0012)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == "0012"
    engine.dispose()
    store = SqlStore(db_at_0012, str(tmp_path / "art"))
    try:
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision() != "0012"
        # filled in from the rows logged before the upgrade (the deleted experiment's run too)
        assert store.experiment_columns(1) == {
            "params": ["depth", "model"], "metrics": ["acc", "loss", "nan metric"], "tags": ["note", "team"]}
        # and kept by the triggers for what is logged after it
        store.log_batch(gen.RUN, [Metric("f1", 0.5, 0, gen.T)], {"lr": "0.1"}, {"stage": "x"})
        assert store.experiment_columns(1, "f1")["metrics"] == ["f1"]
        assert store.experiment_columns(1, "lr")["params"] == ["lr"]
        assert store.experiment_columns(1, "stage")["tags"] == ["stage"]
    finally:
        store.close()


def test_the_upgrade_from_0012_goes_back_down(db_at_0012, tmp_path):
    SqlStore(db_at_0012, str(tmp_path / "art")).close()
    engine = make_engine(db_at_0012)
    try:
        with engine.begin() as conn:
            command.downgrade(migrate._config(conn), "0012")
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == "0012"
        tables = set(inspect(engine).get_table_names())
        assert "experiment_keys" not in tables and "saved_views" in tables
    finally:
        engine.dispose()

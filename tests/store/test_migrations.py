"""Databases are created at the current schema and older schemas are upgraded without loss."""

from __future__ import annotations

import multiprocessing as mp
import shutil
from pathlib import Path

from sqlalchemy import inspect

from modelcycle.store import migrate
from modelcycle.store.engine import make_engine
from modelcycle.store.sql import SqlStore

SCHEMAS = Path(__file__).with_name("schemas")
LEGACY_RUN = "a" * 32


def test_new_database_is_created_at_head(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'new.db'}", str(tmp_path / "art"))
    with store.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
    assert {"experiments", "runs", "metrics", "datasets", "run_inputs"} <= set(inspect(store.engine).get_table_names())
    migrate.upgrade(store.engine)  # a second time changes nothing
    store.close()


def test_every_committed_past_schema_upgrades_without_losing_data(tmp_path):
    revisions = sorted(SCHEMAS.glob("*.db"))
    assert revisions, "no committed database of a past schema revision"
    for committed in revisions:
        db = tmp_path / committed.name
        shutil.copy(committed, db)
        store = SqlStore(f"sqlite:///{db}", str(tmp_path / "art"))
        run = store.get_run(LEGACY_RUN)
        assert (run.name, run.params, run.tags) == ("old-run", {"depth": "6"}, {"team": "risk"})
        assert [m.value for m in store.get_metric_history(LEGACY_RUN, "loss")] == [1.0, 0.5, 1 / 3]
        assert store.get_experiment_by_name("legacy").id == 1
        assert store.search_runs(None, "metrics.loss < 0.5 and params.depth = '6'").runs[0].id == LEGACY_RUN
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        store.close()


def test_upgrade_step_by_step_from_the_first_revision(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    migrate.upgrade(engine, "0001")
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == "0001"
        assert "datasets" not in inspect(conn).get_table_names()
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
    engine.dispose()


def _open(uri: str, queue) -> None:
    try:
        SqlStore(uri, "/tmp/unused").close()
        queue.put("ok")
    except Exception as exc:  # reported to the parent, which fails the test
        queue.put(repr(exc))


def test_processes_racing_to_create_a_database(tmp_path):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    uri = f"sqlite:///{tmp_path / 'race.db'}"
    procs = [ctx.Process(target=_open, args=(uri, queue)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [queue.get(timeout=5) for _ in procs] == ["ok"] * 8

"""Databases are created at the current schema, and databases of every older schema are
upgraded without losing a row, also when several processes open one at the same moment."""

from __future__ import annotations

import importlib.util
import math
import multiprocessing as mp
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from modelcycle import Conflict, Metric, RunStatus, ViewType
from modelcycle.artifacts import BlobStore
from modelcycle.store import migrate, schema
from modelcycle.store.engine import make_engine
from modelcycle.store.sql import SqlStore

SCHEMAS = Path(__file__).with_name("schemas")


def _load_generator():
    spec = importlib.util.spec_from_file_location("schema_generator", SCHEMAS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _revision(engine) -> str | None:
    with engine.connect() as conn:
        return migrate.current_revision(conn)


@pytest.fixture
def fresh_postgres(postgres_uri):
    """A brand-new, empty PostgreSQL database (postgres_uri skips when there is no server)."""
    from tests.conftest import POSTGRES_ADMIN_URI

    name = f"mc_mig_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("fresh_postgres")


# ---------------------------------------------------------------------------- new databases
def test_a_new_database_is_created_at_head(empty_db, tmp_path):
    store = SqlStore(empty_db, str(tmp_path / "art"))
    try:
        assert _revision(store.engine) == migrate.head_revision()
        assert set(inspect(store.engine).get_table_names()) == {t.name for t in schema.metadata.sorted_tables} | {
            "alembic_version"}
        run = store.create_run(store.create_experiment("e").id)  # usable at once
        store.log_batch(run.id, [Metric("m", 1.0, 0, 1)])
    finally:
        store.close()


def test_a_missing_sqlite_folder_is_created(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'deep' / 'er' / 'mc.db'}", str(tmp_path / "art"))
    store.close()
    assert (tmp_path / "deep" / "er" / "mc.db").is_file()


def test_upgrade_is_idempotent(empty_db, tmp_path):
    store = SqlStore(empty_db, str(tmp_path / "art"))
    try:
        run = store.create_run(store.create_experiment("e").id, name="kept")
        store.log_batch(run.id, [Metric("m", 2.0, 3, 4)], {"p": "v"}, {"t": "x"})
        before = store.get_run(run.id)
        for _ in range(3):
            migrate.upgrade(store.engine)
            migrate.upgrade(store.engine, "head")
        assert _revision(store.engine) == migrate.head_revision()
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert store.get_run(run.id) == before
        reopened = SqlStore(empty_db, str(tmp_path / "art"))
        assert reopened.get_run(run.id) == before
        reopened.close()
    finally:
        store.close()


def test_upgrade_step_by_step(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    try:
        revisions = gen.past_revisions() + [migrate.head_revision()]
        assert revisions[0] == "0001"
        for revision in revisions:
            migrate.upgrade(engine, revision)
            assert _revision(engine) == revision
        assert "datasets" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_first_revision_has_no_datasets(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'first.db'}")
    try:
        migrate.upgrade(engine, "0001")
        tables = set(inspect(engine).get_table_names())
        assert {"experiments", "runs", "metrics", "latest_metrics", "artifacts"} <= tables
        assert not {"datasets", "run_inputs"} & tables
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------- old data survives
def _check_legacy_data(store: SqlStore, tmp_path: Path, revision: str) -> None:
    """Every row the generator wrote reads back through the current store."""
    assert _revision(store.engine) == migrate.head_revision()
    legacy = store.get_experiment_by_name("legacy")
    assert (legacy.id, legacy.tags, legacy.created_at, legacy.deleted) == (1, {"team": "risk"}, gen.T, False)
    assert [e.name for e in store.list_experiments(ViewType.DELETED)] == ["old-deleted"]

    run = store.get_run(gen.RUN)
    assert (run.name, run.status, run.start_time, run.end_time, run.parent_id) == (
        "old-run", RunStatus.FINISHED, gen.T + 1000, gen.T + 9000, None)
    assert run.params == {"depth": "6", "model": "rf"} and run.tags == {"team": "risk"}
    assert run.metrics["loss"] == Metric("loss", 1 / 3, 2, gen.T + 102)
    assert math.isnan(run.metrics["nan metric"].value)
    assert store.get_metric_history(gen.RUN, "loss") == [
        Metric("loss", v, s, gen.T + 100 + s) for s, v in enumerate(gen.LOSS)]
    # the summaries of 0012, filled in from the points: NaN left out, all-NaN is NaN
    assert run.metric_summaries["loss"] == (1 / 3, 1.0, 3)
    nan_summary = run.metric_summaries["nan metric"]
    assert math.isnan(nan_summary.min) and math.isnan(nan_summary.max) and nan_summary.count == 1
    child = store.get_run(gen.CHILD)
    assert (child.parent_id, child.status, child.params) == (gen.RUN, RunStatus.FAILED, {"depth": "3"})
    assert [m.value for m in store.get_metric_history(gen.CHILD, "acc")] == [-math.inf, math.inf]
    assert child.metrics["acc"].value == math.inf
    assert child.metric_summaries["acc"] == (-math.inf, math.inf, 2)
    assert store.get_run(gen.GONE).deleted

    # search runs over the migrated rows and indexes
    found = store.search_runs(None, "metrics.loss < 0.5 and params.depth = '6'").runs
    assert [r.id for r in found] == [gen.RUN]
    assert [r.id for r in store.search_runs(None, "parent_id is not null").runs] == [gen.CHILD]
    assert [r.id for r in store.search_runs([1], order_by=["start_time"]).runs] == [gen.RUN, gen.CHILD]
    assert [r.id for r in store.search_runs(None, view=ViewType.DELETED).runs] == [gen.GONE]

    # artifacts: the row survives; with its blob in the store, so does the content
    (info,) = store.list_artifacts(gen.RUN, "model")
    assert (info.path, info.size, info.digest) == ("model/model.bin", len(gen.ARTIFACT), gen.ARTIFACT_DIGEST)
    blob = tmp_path / "blob"
    blob.write_bytes(gen.ARTIFACT)
    assert BlobStore(store.blobs.uri).put_file(blob)[0] == gen.ARTIFACT_DIGEST
    assert b"".join(store.open_artifact(gen.RUN, "model/model.bin")) == gen.ARTIFACT

    if revision >= "0002":
        assert store.get_dataset("legacy-data").version == 1
        assert [u.dataset for u in store.dataset_uses(run_id=gen.RUN)] == ["legacy-data@1"]
    else:
        assert store.list_datasets() == []

    if revision >= "0003":
        version = store.get_model_version("legacy-model", 1)
        assert (version.stage.value, version.run_id, version.created_by) == ("Production", gen.RUN, "ann")
        assert [(h.action, h.to_value) for h in store.model_history("legacy-model")] == [
            ("register", "None"), ("stage", "Production")]
        # pinned at the upgrade to what its folder held; the folder now refuses other bytes
        assert version.files == {"model.bin": gen.ARTIFACT_DIGEST}
        other = tmp_path / "other"
        other.write_bytes(b"other bytes")
        with pytest.raises(Conflict, match="version 1 of 'legacy-model'"):
            store.log_artifact(gen.RUN, other, "model/model.bin")

    # and the upgraded database takes new writes, ids continuing after the old ones
    assert store.create_experiment("new").id == 3
    store.log_batch(gen.RUN, [Metric("loss", 0.25, 3, gen.T + 103)], {"new": "p"})
    assert store.get_run(gen.RUN).metrics["loss"].value == 0.25
    assert store.get_run(gen.RUN).metric_summaries["loss"] == (0.25, 1.0, 4)
    assert len(store.get_metric_history(gen.RUN, "loss")) == 4
    new_run = store.create_run(1, parent_id=gen.RUN)
    assert store.get_run(new_run.id).parent_id == gen.RUN


def test_data_written_at_the_first_revision_survives_the_upgrade(empty_db, tmp_path):
    engine = make_engine(empty_db)
    gen.build(engine, "0001")
    assert _revision(engine) == "0001"
    engine.dispose()
    store = SqlStore(empty_db, str(tmp_path / "art"))
    try:
        _check_legacy_data(store, tmp_path, "0001")
    finally:
        store.close()


def test_every_past_revision_has_a_committed_database():
    committed = sorted(p.stem for p in SCHEMAS.glob("*.db"))
    assert committed == gen.past_revisions(), (
        "run `python tests/store/schemas/generate.py` and commit the new file")


@pytest.mark.parametrize("revision", gen.past_revisions())
def test_a_committed_database_of_a_past_revision_upgrades_without_loss(revision, tmp_path):
    db = tmp_path / f"{revision}.db"
    shutil.copy(SCHEMAS / f"{revision}.db", db)
    with sqlite3.connect(db) as conn:  # the file really is at that revision
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(revision,)]
    store = SqlStore(f"sqlite:///{db}", str(tmp_path / "art"))
    try:
        _check_legacy_data(store, tmp_path, revision)
    finally:
        store.close()
    with sqlite3.connect(db) as conn:  # clustered on (run_id, key) since 0005, its rows kept
        clustered = {name for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                     if sql.rstrip().endswith("WITHOUT ROWID")}
    assert clustered == {"params", "tags", "latest_metrics", "experiment_keys"}


def test_metric_points_move_into_chunks_and_back(tmp_path):
    """0004 packs each history into chunks in (step, timestamp, logged) order; NULL (NaN) stays
    NaN; its downgrade writes the same rows back."""
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'points.db'}")
    gen.build(engine, "0003")
    n = 70_000  # more than one chunk
    rows = [(gen.RUN, "big", None if i % 999 == 0 else i / 7, (n - i) // 3, gen.T + i % 2) for i in range(n)]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO metrics (run_id, key, value, step, timestamp) VALUES (?, ?, ?, ?, ?)",
                             rows)
    expected = [(v, s, ts) for _, _, v, s, ts in sorted(rows, key=lambda r: (r[3], r[4]))]
    engine.dispose()

    store = SqlStore(f"sqlite:///{tmp_path / 'points.db'}", str(tmp_path / "art"))
    try:
        history = store.get_metric_history(gen.RUN, "big")
        assert [(None if math.isnan(m.value) else m.value, m.step, m.timestamp) for m in history] == expected
        assert [m.value for m in store.get_metric_history(gen.RUN, "loss")] == gen.LOSS
        with store.engine.begin() as conn:
            command.downgrade(migrate._config(conn), "0003")
        with store.engine.connect() as conn:
            back = conn.exec_driver_sql("SELECT value, step, timestamp FROM metrics WHERE key = 'big' "
                                        "ORDER BY step, timestamp, id").fetchall()
        assert [tuple(r) for r in back] == expected
    finally:
        store.close()


# ---------------------------------------------------------------------------- racing processes
def _open_at_once(uri: str, artifacts: str, barrier, queue) -> None:
    try:
        barrier.wait(60)
        store = SqlStore(uri, artifacts)
        with store.engine.connect() as conn:
            revision = migrate.current_revision(conn)
        store.create_experiment(f"e-{uuid.uuid4().hex}")
        store.close()
        queue.put(("ok", revision))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def _race(uri: str, artifacts: str, processes: int = 8) -> list:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_open_at_once, args=(uri, artifacts, barrier, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    return results


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_eight_processes_opening_a_new_database_at_once(backend, tmp_path, request):
    uri = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else request.getfixturevalue("fresh_postgres")
    results = _race(uri, str(tmp_path / "art"))
    assert results == [("ok", migrate.head_revision())] * 8
    store = SqlStore(uri, str(tmp_path / "art"))
    try:
        assert len(store.list_experiments()) == 8
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
                migrate.head_revision()]
    finally:
        store.close()


def test_eight_processes_upgrading_an_old_database_at_once(tmp_path):
    db = tmp_path / "old.db"
    shutil.copy(SCHEMAS / "0001.db", db)
    results = _race(f"sqlite:///{db}", str(tmp_path / "art"))
    assert results == [("ok", migrate.head_revision())] * 8
    store = SqlStore(f"sqlite:///{db}", str(tmp_path / "art"))
    try:
        assert store.get_run(gen.RUN).params == {"depth": "6", "model": "rf"}
        assert len(store.get_metric_history(gen.RUN, "loss")) == 3
        assert len(store.list_experiments(ViewType.ALL)) == 2 + 8
    finally:
        store.close()

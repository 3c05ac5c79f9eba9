"""Metric summaries: every metric of a run carries the least and greatest value of its whole
history (NaN left out; NaN when every value is NaN) and its number of points, kept by log_batch
on every backend, and filled in by migration 0012 for the points logged before it."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from sqlalchemy import text

from modelcycle import Metric
from modelcycle.store import migrate
from modelcycle.store.engine import make_engine
from modelcycle.store.entities import MetricSummary, Run
from modelcycle.store.sql import SqlStore
from tests.store.test_migrations import fresh_postgres, gen  # noqa: F401 (a fixture)

T0 = 1_700_000_000_000
NAN = math.nan


def _same(summary: MetricSummary, low: float, high: float, count: int) -> bool:
    def equal(a, b):
        return (math.isnan(a) and math.isnan(b)) or a == b

    return equal(summary.min, low) and equal(summary.max, high) and summary.count == count


def test_summaries_take_in_every_batch(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("loss", v, s, T0 + s) for s, v in enumerate([0.5, 0.25, 0.75])])
    store.log_batch(run.id, [Metric("loss", 2.0, 1, T0)])  # an older point: not the latest, but counted
    store.log_batch(run.id, [Metric("loss", -1.0, 9, T0 + 9), Metric("acc", 0.5, 0, T0)])
    found = store.get_run(run.id)
    assert found.metrics["loss"] == Metric("loss", -1.0, 9, T0 + 9)
    assert found.metric_summaries["loss"] == MetricSummary(-1.0, 2.0, 5)
    assert found.metric_summaries["acc"] == MetricSummary(0.5, 0.5, 1)


def test_nan_is_left_out_of_the_bounds(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("m", NAN, 0, T0), Metric("m", NAN, 1, T0)])
    assert _same(store.get_run(run.id).metric_summaries["m"], NAN, NAN, 2)
    store.log_batch(run.id, [Metric("m", 3.0, 2, T0), Metric("m", NAN, 3, T0)])
    found = store.get_run(run.id)
    assert math.isnan(found.metrics["m"].value)  # the latest point is NaN, its bounds are not
    assert found.metric_summaries["m"] == MetricSummary(3.0, 3.0, 4)
    store.log_batch(run.id, [Metric("m", NAN, 4, T0)])
    assert store.get_run(run.id).metric_summaries["m"] == MetricSummary(3.0, 3.0, 5)


def test_infinities_are_bounds(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("m", 1.0, 0, T0), Metric("m", math.inf, 1, T0)])
    store.log_batch(run.id, [Metric("m", -math.inf, 2, T0)])
    assert store.get_run(run.id).metric_summaries["m"] == MetricSummary(-math.inf, math.inf, 3)


def test_a_large_batch_is_summarised(store):
    rng = np.random.default_rng(7)
    values = rng.normal(size=70_000)  # more than a chunk
    values[::1000] = NAN
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("m", float(v), i, T0) for i, v in enumerate(values)])
    assert store.get_run(run.id).metric_summaries["m"] == MetricSummary(
        float(np.nanmin(values)), float(np.nanmax(values)), 70_000)


def test_searches_and_run_dicts_carry_the_summaries(store):
    exp = store.create_experiment("e")
    run = store.create_run(exp.id)
    store.log_batch(run.id, [Metric("loss", 1.0, 0, T0), Metric("loss", NAN, 1, T0), Metric("loss", 0.5, 2, T0)])
    (found,) = store.search_runs([exp.id]).runs
    assert found.metric_summaries == {"loss": MetricSummary(0.5, 1.0, 3)}
    (entry,) = found.to_dict()["metrics"]
    assert entry == {"key": "loss", "value": 0.5, "step": 2, "timestamp": T0, "min": 0.5, "max": 1.0, "count": 3}
    assert Run.from_dict(found.to_dict()) == found
    store.log_batch(run.id, [Metric("nan only", NAN, 0, T0)])
    entry = next(m for m in store.get_run(run.id).to_dict()["metrics"] if m["key"] == "nan only")
    assert (entry["value"], entry["min"], entry["max"], entry["count"]) == ("NaN", "NaN", "NaN", 1)


# ---------------------------------------------------------------------------- migration 0012
def _pack(kind: str, items) -> bytes:
    return struct.pack(f"<{len(items)}{kind}", *items)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("fresh_postgres")


def test_an_old_database_is_summarised_from_its_chunks(database, tmp_path):
    """A database at 0011 with histories of several chunks, NaN and infinities, upgraded."""
    engine = make_engine(database)
    gen.build(engine, "0011")
    rng = np.random.default_rng(12)
    histories = {
        ("a" * 32, "big"): [rng.normal(size=65_536), rng.normal(size=1000) * 5, np.array([NAN, 40.0])],
        ("a" * 32, "nan only"): [np.array([NAN, NAN]), np.array([NAN])],
        ("b" * 32, "inf"): [np.array([math.inf, 1.0]), np.array([-math.inf])],
    }
    with engine.begin() as conn:
        for (run_id, key), chunks in histories.items():
            offset = 0
            for values in chunks:
                steps = list(range(offset, offset + len(values)))
                offset += len(values)
                conn.execute(text("INSERT INTO metric_chunks (run_id, key, num_points, value_data, step_data, "
                                  "timestamp_data) VALUES (:r, :k, :n, :v, :s, :t)"),
                             {"r": run_id, "k": key, "n": len(values), "v": _pack("d", values.tolist()),
                              "s": _pack("q", steps), "t": _pack("q", [T0] * len(values))})
            last = float(chunks[-1][-1])
            conn.execute(text("INSERT INTO latest_metrics (run_id, key, value, step, timestamp) "
                              "VALUES (:r, :k, :v, :s, :t)"),
                         {"r": run_id, "k": key, "v": None if math.isnan(last) else last, "s": offset - 1, "t": T0})
    with engine.connect() as conn:
        assert migrate.current_revision(conn) == "0011"
    engine.dispose()

    store = SqlStore(database, str(tmp_path / "art"))
    try:
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
        big = np.concatenate(histories[("a" * 32, "big")])
        run = store.get_run("a" * 32)
        assert run.metric_summaries["big"] == MetricSummary(float(np.nanmin(big)), float(np.nanmax(big)), big.size)
        assert _same(run.metric_summaries["nan only"], NAN, NAN, 3)
        assert run.metric_summaries["loss"] == MetricSummary(1 / 3, 1.0, 3)  # the generator's rows
        assert store.get_run("b" * 32).metric_summaries["inf"] == MetricSummary(-math.inf, math.inf, 3)
        # and log_batch carries on from the filled-in summary
        store.log_batch("a" * 32, [Metric("big", 1e6, 10**6, T0), Metric("nan only", 2.0, 9, T0)])
        run = store.get_run("a" * 32)
        assert run.metric_summaries["big"] == MetricSummary(float(np.nanmin(big)), 1e6, big.size + 1)
        assert run.metric_summaries["nan only"] == MetricSummary(2.0, 2.0, 4)
    finally:
        store.close()


def test_the_summaries_go_again_on_downgrade(tmp_path):
    from alembic import command

    store = SqlStore(f"sqlite:///{tmp_path / 'down.db'}", str(tmp_path / "art"))
    try:
        run = store.create_run(store.create_experiment("e").id)
        store.log_batch(run.id, [Metric("m", 1.0, 0, T0)])
        store.save_view("a=1")
        with store.engine.begin() as conn:
            command.downgrade(migrate._config(conn), "0011")
        with store.engine.connect() as conn:
            columns = [row[1] for row in conn.exec_driver_sql("PRAGMA table_info(latest_metrics)")]
            tables = [row[0] for row in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
            clustered = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'latest_metrics'").scalar()
        assert columns == ["run_id", "key", "value", "step", "timestamp"] and "saved_views" not in tables
        assert clustered.rstrip().endswith("WITHOUT ROWID")
    finally:
        store.close()

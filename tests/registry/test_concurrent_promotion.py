"""Promotions of different versions of one model to Production from separate processes at the
same moment: one version ends in Production, every promotion either succeeds or hears Conflict,
and the audit log tells one consistent story of who held Production after whom."""

from __future__ import annotations

import multiprocessing as mp
import os
import re

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from modelcycle import Client, Stage
from modelcycle.store import open_store

PRODUCTION = Stage.PRODUCTION.value
REPLACED = re.compile(r"^replaced in Production by version (\d+)$")


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_db(request, tmp_path) -> tuple[str, str]:
    """(database URI, artifact folder) that separate processes can open at the same time."""
    artifacts = str(tmp_path / "artifacts")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}", artifacts
    from tests.conftest import _truncate

    uri = request.getfixturevalue("postgres_uri")
    open_store(uri, artifacts)  # creates the schema on first use
    _truncate(uri)
    return uri, artifacts


def _promote_in_store(home: str, uri: str, artifacts: str, name: str, version: int, barrier, queue) -> None:
    """One process: the store's own transition, unchecked (promoting archives the holder)."""
    from modelcycle import Conflict

    os.environ["MODELCYCLE_HOME"] = home  # forked from the forkserver, not from this test
    try:
        store = open_store(uri, artifacts)
        store.get_registered_model(name)  # connected and warm before the start line
        barrier.wait(60)
        store.transition_model_version_stage(name, version, Stage.PRODUCTION, f"user{version}", "race")
        queue.put((version, "ok", ""))
    except Conflict as exc:
        queue.put((version, "conflict", str(exc)))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put((version, "error", repr(exc)))


def _promote_through_gates(home: str, uri: str, artifacts: str, name: str, version: int, barrier,
                           queue) -> None:
    """One process: mc.promote, whose gates compare against the Production version it read."""
    from modelcycle import Conflict
    from modelcycle.registry import promote

    os.environ["MODELCYCLE_HOME"] = home
    try:
        client = Client(uri, artifacts)
        client.store.get_registered_model(name)
        barrier.wait(60)
        promotion = promote(name, version, reason="race", client=client)
        queue.put((version, "ok", str(promotion.gates.champion)))  # what its gates compared against
    except Conflict as exc:
        queue.put((version, "conflict", str(exc)))
    except BaseException as exc:
        queue.put((version, "error", repr(exc)))


def _context():
    """Processes forked from a server that has imported modelcycle: each starts in
    milliseconds, where a spawned one spends a second importing before it can race."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["pytest", "sqlalchemy", "modelcycle", "modelcycle.registry"])
    return ctx


def _race(target, uri: str, artifacts: str, name: str, versions: list[int]) -> dict[int, tuple[str, str]]:
    ctx = _context()
    barrier, queue = ctx.Barrier(len(versions)), ctx.Queue()
    home = os.environ["MODELCYCLE_HOME"]
    procs = [ctx.Process(target=target, args=(home, uri, artifacts, name, v, barrier, queue)) for v in versions]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    outcomes = {version: (status, message) for version, status, message in results}
    assert sorted(outcomes) == versions
    errors = {v: o for v, o in outcomes.items() if o[0] not in ("ok", "conflict")}
    assert not errors, errors
    return outcomes


def _register(store, name: str, count: int, run_id: str) -> list[int]:
    return [store.create_model_version(name, run_id, "model", "setup").version for _ in range(count)]


def _check_outcome(store, name: str, outcomes: dict[int, tuple[str, str]]) -> list[int]:
    """Exactly one version in Production, and the audit log's chain of holders agrees with
    it and with who was told they succeeded. Returns the holders in order."""
    winners = sorted(v for v, (status, _) in outcomes.items() if status == "ok")
    assert winners, outcomes
    versions = store.list_model_versions(name)
    in_production = [v.version for v in versions if v.stage is Stage.PRODUCTION]
    assert len(in_production) == 1, versions
    assert store.get_registered_model(name).production_version == in_production[0]

    history = store.model_history(name)
    promotions = [(i, h) for i, h in enumerate(history) if h.to_value == PRODUCTION]
    holders = [h.version for _, h in promotions]
    assert sorted(holders) == winners  # each success wrote one promotion; no refusal wrote any
    assert holders[-1] == in_production[0]
    # a gated promotion over a holder also names the gates it passed
    assert all(h.action == "stage" and h.reason.split(" [gates passed: ")[0] == "race" and not h.forced
               for _, h in promotions)

    demotions = [(i, h) for i, h in enumerate(history) if h.from_value == PRODUCTION]
    assert len(demotions) == len(holders) - 1
    for (i, demotion), previous, (j, promotion) in zip(demotions, holders, promotions[1:]):
        match = REPLACED.match(demotion.reason)
        assert match, demotion
        # The holder before is archived, naming its successor, in the successor's transaction.
        assert demotion.version == previous and int(match.group(1)) == promotion.version
        assert demotion.to_value == Stage.ARCHIVED.value and j == i + 1 and demotion.user == promotion.user
    archived = {v.version for v in versions if v.stage is Stage.ARCHIVED}
    assert archived == set(holders[:-1])
    return holders


def test_two_promotions_at_the_same_moment(shared_db):
    uri, artifacts = shared_db
    store = open_store(uri, artifacts)
    run_id = store.create_run(store.create_experiment("race").id).id
    _register(store, "churn", 2, run_id)
    outcomes = _race(_promote_in_store, uri, artifacts, "churn", [1, 2])
    holders = _check_outcome(store, "churn", outcomes)
    # Unchecked promotions queue up rather than fail: the second archives the first.
    assert sorted(holders) == [1, 2]


def test_six_promotions_at_the_same_moment(shared_db):
    uri, artifacts = shared_db
    store = open_store(uri, artifacts)
    run_id = store.create_run(store.create_experiment("race").id).id
    _register(store, "churn", 6, run_id)
    outcomes = _race(_promote_in_store, uri, artifacts, "churn", [1, 2, 3, 4, 5, 6])
    holders = _check_outcome(store, "churn", outcomes)
    assert sorted(holders) == [1, 2, 3, 4, 5, 6]  # serialised, none lost
    promotions = [h for h in store.model_history("churn") if h.to_value == PRODUCTION]
    assert all(h.user == f"user{h.version}" for h in promotions)


def test_six_gated_promotions_at_the_same_moment(shared_db):
    """mc.promote checks its gates against the Production version it read, and the store
    refuses with Conflict when another promotion moved Production in between."""
    import modelcycle as mc
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    uri, artifacts = shared_db
    mc.set_tracking_uri(uri, artifacts)
    try:
        X, y = load_iris(return_X_y=True, as_frame=True)
        with mc.start_run(experiment="race") as run:
            mc.log_model(DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y), "model",
                         input_example=X.head(10), onnx=False)
        store = open_store(uri, artifacts)
        _register(store, "iris", 6, run.id)
        outcomes = _race(_promote_through_gates, uri, artifacts, "iris", [1, 2, 3, 4, 5, 6])
    finally:
        mc.set_tracking_uri(None)
    holders = _check_outcome(store, "iris", outcomes)
    for version, (status, message) in outcomes.items():
        if status == "conflict":
            assert "changed while version" in message or "same moment" in message, message
    # Every winner's gates compared it against the holder right before it, never a stale one.
    assert [outcomes[v][1] for v in holders] == [str(v) for v in [None, *holders[:-1]]]


def test_the_database_refuses_a_second_production_row(shared_db):
    uri, artifacts = shared_db
    store = open_store(uri, artifacts)
    run_id = store.create_run(store.create_experiment("race").id).id
    _register(store, "churn", 2, run_id)
    _register(store, "fraud", 1, run_id)
    store.transition_model_version_stage("churn", 1, Stage.PRODUCTION, "ana")
    engine = create_engine(uri)
    try:
        churn = "(SELECT id FROM registered_models WHERE name = 'churn')"
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(text(f"UPDATE model_versions SET stage = 'Production' "
                                  f"WHERE model_id = {churn} AND version = 2"))
        # One Production version per model: another model's is allowed.
        with engine.begin() as conn:
            conn.execute(text("UPDATE model_versions SET stage = 'Production' WHERE model_id = "
                              "(SELECT id FROM registered_models WHERE name = 'fraud')"))
    finally:
        engine.dispose()
    assert {v.version: v.stage for v in store.list_model_versions("churn")} == {
        1: Stage.PRODUCTION, 2: Stage.NONE}
    assert store.get_registered_model("fraud").production_version == 1

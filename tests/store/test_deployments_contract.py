"""Deployments, the contract on every backend: create, read, compare-and-set updates with their
events and audit entries, lease epochs, per-worker stats summed per arm, and a race of changes
made from one revision that exactly one wins."""

from __future__ import annotations

import threading

import pytest

from modelcycle.exceptions import AlreadyExists, Conflict, InvalidInput, NotFound
from modelcycle.store.entities import ArmStats


@pytest.fixture
def fraud(store):
    run = store.create_run(store.create_experiment("deploy").id).id
    store.create_registered_model("fraud")
    for _ in range(3):
        store.create_model_version("fraud", run, "model", "ana")
    return store


def test_create_get_list_and_refuse_a_taken_name(fraud):
    created = fraud.create_deployment("fraud-web", "fraud", 1, "ana", {"interval_s": 60})
    assert (created.strategy, created.state, created.arms, created.shares) == ("single", "active", {"stable": 1},
                                                                               {"stable": 100.0})
    assert created.revision == 1 and created.config == {"interval_s": 60} and created.candidate_version is None
    assert fraud.get_deployment("fraud-web") == created
    assert [x.name for x in fraud.list_deployments()] == ["fraud-web"]
    with pytest.raises(AlreadyExists, match="fraud-web"):
        fraud.create_deployment("fraud-web", "fraud", 2, "ana")
    with pytest.raises(NotFound, match="no version 9"):
        fraud.create_deployment("other", "fraud", 9, "ana")
    with pytest.raises(NotFound, match="No registered model"):
        fraud.create_deployment("other", "nobody", 1, "ana")
    with pytest.raises(NotFound, match="deploy ls"):
        fraud.get_deployment("missing")
    [event] = fraud.deployment_events("fraud-web")
    assert (event.seq, event.kind, event.to_shares, event.actor) == (1, "create", {"stable": 100.0}, "ana")


def test_an_update_names_its_revision_records_an_event_and_an_audit_entry(fraud):
    d = fraud.create_deployment("fraud-web", "fraud", 1, "ana")
    canary = fraud.update_deployment(
        "fraud-web", d.revision, "ana", "canary", "try version 2", {"steps": [5, 50, 100]},
        strategy="canary", candidate_version=2, arms={"stable": 1, "candidate": 2},
        shares={"stable": 95, "candidate": 5}, steps=[5, 50, 100], step_index=0)
    assert canary.revision == 2 and canary.shares == {"stable": 95.0, "candidate": 5.0}
    assert canary.steps == (5.0, 50.0, 100.0) and canary.updated_by == "ana"
    with pytest.raises(Conflict, match="revision 1"):
        fraud.update_deployment("fraud-web", 1, "bob", "pause", state="paused")
    assert fraud.get_deployment("fraud-web") == canary  # the stale change wrote nothing
    events = fraud.deployment_events("fraud-web")
    assert [x.kind for x in events] == ["create", "canary"]
    assert events[1].from_shares == {"stable": 100.0} and events[1].numbers == {"steps": [5, 50, 100]}
    assert fraud.deployment_events("fraud-web", after_seq=1) == events[1:]
    audit = [h for h in fraud.model_history("fraud") if h.action == "deployment"]
    assert [h.user for h in audit] == ["ana", "ana"] and "try version 2" in audit[1].reason
    assert audit[1].version == 2 and '"candidate":5.0' in audit[1].to_value
    fraud.update_deployment("fraud-web", 2, "leader", "hold", "too few requests", {"requests": 3})
    assert len([h for h in fraud.model_history("fraud") if h.action == "deployment"]) == 2  # a hold is no change


def test_a_change_under_an_older_lease_epoch_is_refused(fraud):
    d = fraud.create_deployment("fraud-web", "fraud", 1, "ana")
    d = fraud.update_deployment("fraud-web", d.revision, "w2", "step", epoch=2, step_index=1)
    assert d.epoch == 2
    with pytest.raises(Conflict, match="epoch 1"):
        fraud.update_deployment("fraud-web", d.revision, "w1", "step", epoch=1, step_index=2)
    assert fraud.update_deployment("fraud-web", d.revision, "ana", "pause", state="paused").epoch == 2


@pytest.mark.parametrize("changes, words", [
    ({"shares": {"stable": 60, "candidate": 30}}, "add up to 100"),
    ({"shares": {"stable": 100, "nobody": 0}}, "arms the deployment does not have"),
    ({"arms": {"stable": 7}}, "no version 7"),
    ({"steps": [50, 5]}, "increasing"),
    ({"state": "asleep"}, "state is one of"),
    ({"strategy": "yolo"}, "strategy is one of"),
    ({"colour": "red"}, "no field 'colour'"),
    ({"arms": {"bad arm": 1}}, "arm name"),
    ({"failures": -1}, "at least 0"),
])
def test_bad_changes_are_refused_saying_what_is_wrong(fraud, changes, words):
    d = fraud.create_deployment("fraud-web", "fraud", 1, "ana")
    with pytest.raises((InvalidInput, NotFound), match=words):
        fraud.update_deployment("fraud-web", d.revision, "ana", "change", **changes)
    assert fraud.get_deployment("fraud-web").revision == d.revision


def test_stats_of_every_worker_add_up_per_arm(fraud):
    fraud.create_deployment("fraud-web", "fraud", 1, "ana")
    fraud.record_deployment_stats("fraud-web", "host-a:1", 1000, 2000,
                                  [ArmStats("stable", 1, 10, 1, (5, 5)), ArmStats("candidate", 2, 4, 0, (0, 4))])
    fraud.record_deployment_stats("fraud-web", "host-b:2", 1000, 2100, [ArmStats("stable", 1, 6, 2, (0, 0, 6))])
    fraud.record_deployment_stats("fraud-web", "host-b:2", 1000, 2100, [ArmStats("stable", 1, 6, 2, (0, 0, 6))])
    fraud.record_deployment_stats("fraud-web", "host-a:1", 2000, 3000, [ArmStats("stable", 1, 1, 0, (1,))])
    total = fraud.deployment_stats("fraud-web", 0)
    assert total["stable"] == ArmStats("stable", 1, 17, 3, (6, 5, 6))  # the repeated flush counted once
    assert total["candidate"] == ArmStats("candidate", 2, 4, 0, (0, 4))
    assert fraud.deployment_stats("fraud-web", 2100)["stable"].requests == 1
    assert fraud.deployment_stats("fraud-web", 0, 2000)["stable"].requests == 10
    assert fraud.deployment_stats("fraud-web", 5000) == {}
    with pytest.raises(InvalidInput, match="errors at most requests"):
        fraud.record_deployment_stats("fraud-web", "w", 0, 1, [ArmStats("stable", 1, 1, 2, ())])


def test_of_two_changes_from_one_revision_exactly_one_wins(store_uris, fraud):
    from modelcycle.store import open_store

    d = fraud.create_deployment("fraud-web", "fraud", 1, "ana")
    d = fraud.update_deployment("fraud-web", d.revision, "ana", "canary", strategy="canary", candidate_version=2,
                                arms={"stable": 1, "candidate": 2}, shares={"stable": 50, "candidate": 50})
    barrier, outcomes = threading.Barrier(6), []

    def change(i: int) -> None:
        store = open_store(*store_uris)
        barrier.wait()
        promote = i % 2 == 0
        try:
            store.update_deployment("fraud-web", d.revision, f"user-{i}", "promoting" if promote else "rollback",
                                    **({"state": "promoting"} if promote else
                                       {"state": "rolled_back", "shares": {"stable": 100, "candidate": 0}}))
            outcomes.append(("won", i))
        except Conflict:
            outcomes.append(("conflict", i))
        except Exception as exc:  # anything else breaks the contract
            outcomes.append((repr(exc), i))

    threads = [threading.Thread(target=change, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o for o, _ in outcomes) == ["conflict"] * 5 + ["won"]
    [winner] = [i for o, i in outcomes if o == "won"]
    final = fraud.get_deployment("fraud-web")
    assert final.revision == d.revision + 1 and final.updated_by == f"user-{winner}"
    assert final.state == ("promoting" if winner % 2 == 0 else "rolled_back")
    assert [x.actor for x in fraud.deployment_events("fraud-web")][-1] == f"user-{winner}"
    assert [h.user for h in fraud.model_history("fraud") if h.action == "deployment"][-1] == f"user-{winner}"

"""The verdict of one canary step from the interval's per-arm counts (a pure function)."""

from __future__ import annotations

from modelcycle.rollout.analysis import analyse
from modelcycle.rollout.strategies import Checks
from modelcycle.store.entities import LATENCY_BOUNDS_MS, ArmStats


def _arm(name: str, requests: int, bucket: int, errors: int = 0) -> ArmStats:
    latency = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    latency[bucket] = requests
    return ArmStats(name, None, requests, errors, tuple(latency))


def test_latency_is_compared_only_against_a_stable_arm_with_enough_requests():
    checks = Checks(min_requests=20)
    slow = _arm("candidate", 500, 40)  # about 300 ms
    few = _arm("stable", 6, 10)  # about 0.5 ms, from six requests
    verdict = analyse({"candidate": slow, "stable": few}, checks)
    assert verdict.outcome == "pass", verdict
    assert verdict.numbers["stable_requests"] == 6 and verdict.numbers["candidate_p99_ms"] > 100
    assert any("latency" in r and "6 stable requests" in r for r in verdict.reasons), verdict.reasons
    enough = _arm("stable", 20, 10)
    assert analyse({"candidate": slow, "stable": enough}, checks).outcome == "fail"


def test_a_long_interval_and_a_long_name_still_get_a_leader(fraud_store):
    from modelcycle.rollout import strategies
    from modelcycle.rollout.analysis import Leader

    _, _, store = fraud_store
    for name, interval in (("fraud-nightly", "10h"), ("d" * 250, "1m")):
        strategies.create(store, name, "fraud@production", "ana")
        d = strategies.canary(store, name, "fraud@challenger", [50, 100], "ana", interval, 2)
        leader = Leader(store, name, "w1")
        assert leader.tick(d) is not None and leader.epoch == 1  # it leads
        assert Leader(store, name, "w2").tick(d) is None  # and no one else does meanwhile
        leader.release()


def test_a_step_that_holds_is_looked_at_again_an_interval_later_not_every_tick(fraud_store, monkeypatch):
    from modelcycle.rollout import analysis, strategies
    from modelcycle.rollout.analysis import Leader
    from modelcycle.store import sql_deployments
    from modelcycle.store.clock import now_ms

    clock = [now_ms()]  # one clock for the store and the leader, moved by the test
    for module in (analysis, strategies, sql_deployments):
        monkeypatch.setattr(module, "now_ms", lambda: clock[0])
    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    d = strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 30, 2)
    leader = Leader(store, "fraud-web", "w1")
    looks = []
    for seconds in (10, 31, 32, 45, 62):  # no traffic: it holds at 31 s, and again at 62 s, no more
        clock[0] = d.step_started_at + seconds * 1000
        leader.tick(d)
        looks.append(len(store.deployment_events("fraud-web")))
    assert looks == [2, 3, 3, 3, 4]
    held = store.deployment_events("fraud-web")[-1]
    assert held.kind == "hold" and held.numbers["candidate_requests"] == 0 and "fewer than the 20" in held.reason

"""Deployments across real `modelcycle serve --deployment` processes sharing one PostgreSQL: they
route the same keys to the same versions, across a restart too, and when the leader of a canary's
analysis is killed the other process takes over from the stored step, repeating and skipping none."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from modelcycle.rollout import strategies
from modelcycle.rollout.router import Router
from tests.rollout.conftest import ServeProcess, rows

KEYS = [f"user-{i}" for i in range(300)]


def _versions(url: str, keys: list[str]) -> list[str]:
    body = {"dataframe_records": rows(1)}
    with httpx.Client(timeout=10) as http:
        answers = [http.post(f"{url}/invocations", json=body, headers={"x-modelcycle-key": k}) for k in keys]
    assert {r.status_code for r in answers} == {200}
    return [r.headers["x-modelcycle-model-version"] for r in answers]


def _start(name: str, uri: str, artifacts: str, n: int = 1) -> list[ServeProcess]:
    started = [ServeProcess(name, uri, artifacts) for _ in range(n)]  # they load side by side
    try:
        return [p.wait_ready() for p in started]
    except Exception:
        for p in started:
            p.stop()
        raise


def test_two_servers_route_each_key_alike_and_a_restart_keeps_it(fraud_postgres):
    uri, artifacts, store = fraud_postgres
    strategies.create(store, "fraud-ab", "fraud@production", "ana")
    d = strategies.ab(store, "fraud-ab", [("fraud@production", 50), ("fraud@challenger", 50)], "ana",
                      sticky_key="user_id")
    expected = [str(d.arms[Router(d.shares, d.config["salt"]).pick(k)]) for k in KEYS]
    first, second = _start("fraud-ab", uri, artifacts, 2)
    try:
        one, two = _versions(first.url, KEYS), _versions(second.url, KEYS)
        assert one == two == expected
        assert 120 <= one.count("1") <= 180  # 50/50 over 300 keys, within 3.5 standard deviations
        first.stop()
        [again] = _start("fraud-ab", uri, artifacts)
        try:
            assert _versions(again.url, KEYS) == expected
        finally:
            again.stop()
    finally:
        first.stop()
        second.stop()


def _load(server: ServeProcess, stop: threading.Event, killed: set, failures: list) -> None:
    data = rows(200, seed=3)
    i = 0
    with httpx.Client(timeout=5) as http:
        while not stop.is_set() and server not in killed:
            try:
                r = http.post(f"{server.url}/invocations", json={"dataframe_records": [data[i % len(data)]]})
                if r.status_code != 200:
                    failures.append(r.status_code)
            except httpx.HTTPError:
                if server not in killed:  # a killed server's requests are not failures
                    failures.append("connection")
            i += 1


def test_killing_the_leader_mid_canary_hands_the_analysis_over_without_repeating_or_skipping(fraud_postgres):
    uri, artifacts, store = fraud_postgres
    steps = [10.0, 20.0, 30.0, 40.0, 60.0, 100.0]
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    servers = _start("fraud-web", uri, artifacts, 2)
    stop, killed, failures = threading.Event(), set(), []
    threads = [threading.Thread(target=_load, args=(s, stop, killed, failures)) for s in servers]
    try:
        for t in threads:
            t.start()
        strategies.canary(store, "fraud-web", "fraud@challenger", steps, "ana", 1.0, 2,
                          strategies.Checks(min_requests=5, max_auc_drop=None, min_p99_increase_ms=50), force=True)
        deadline = time.monotonic() + 20
        while store.get_deployment("fraud-web").step_index < 2:
            assert time.monotonic() < deadline, [(e.kind, e.reason) for e in store.deployment_events("fraud-web")]
            time.sleep(0.05)
        lease = store.get_lease("deployment:fraud-web")
        [leader] = [s for s in servers if lease.owner.endswith(s.owner_suffix)]
        [survivor] = [s for s in servers if s is not leader]
        killed.add(leader)
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait()
        killed_at = max(e.seq for e in store.deployment_events("fraud-web"))
        deadline = time.monotonic() + 25
        while store.get_deployment("fraud-web").state != "promoted":
            assert time.monotonic() < deadline, [(e.kind, e.reason) for e in store.deployment_events("fraud-web")]
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        for s in servers:
            s.stop()
    assert failures == []
    events = store.deployment_events("fraud-web")
    assert [e.to_shares["candidate"] for e in events if e.kind == "step"] == steps[1:]  # each step once, in order
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["create", "canary"] and kinds[-2:] == ["promoting", "promoted"]
    assert kinds.count("promoting") == kinds.count("promoted") == 1
    assert [e.kind for e in events if e.kind in ("rollback", "analysis_failed")] == []
    before = [e for e in events if e.seq <= killed_at and e.epoch is not None]
    after = [e for e in events if e.seq > killed_at and e.epoch is not None]
    assert {e.actor for e in before} == {f"analysis@{lease.owner}"}
    assert after and all(e.actor.endswith(survivor.owner_suffix) for e in after)
    assert min(e.epoch for e in after) > max(e.epoch for e in before)
    assert [e.time_ms for e in events] == sorted(e.time_ms for e in events)
    assert store.get_model_version("fraud", 2).stage.value == "Production"
    assert store.get_lease("deployment:fraud-web") is None  # the survivor let it go when it stopped


@pytest.fixture(autouse=True)
def _quick_prediction_log(monkeypatch):
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_SEGMENT_AGE_S", "1")

"""What a step's analysis counts: only the traffic routed with that step's shares. A worker
learns of a new step at its next refresh; what it served before then, at the old shares, is
counted in a window that ends when the step began, never in the step's own."""

from __future__ import annotations

import time

import httpx

from modelcycle.rollout import strategies
from modelcycle.store.clock import now_ms
from tests.rollout.conftest import rows, serve_deployment


def _send(url: str, n: int) -> None:
    data = rows(n, seed=11)
    with httpx.Client(timeout=10) as http:
        for row in data:
            assert http.post(f"{url}/invocations", json={"dataframe_records": [row]}).status_code == 200


def _next_ms() -> None:
    started = now_ms()
    while now_ms() == started:  # the step's start and the flushes fall in different milliseconds
        time.sleep(0.001)


def test_a_step_counts_none_of_the_traffic_served_at_the_shares_before_it(fraud_any):
    _, _, store = fraud_any
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.canary(store, "fraud-web", "fraud@challenger", [20, 100], "ana", 60, 2)
    holder, server = serve_deployment(store, "fraud-web", watch=False, lead=False)
    try:
        _send(server.url, 30)  # step 0, flushed before step 1 begins
        holder.check()
        _next_ms()
        _send(server.url, 25)  # step 0's shares still: this worker has not looked since
        _next_ms()
        d = store.get_deployment("fraud-web")
        step = store.update_deployment("fraud-web", d.revision, "analysis@w2", "step", "step 0 passed", None,
                                       step_index=1, step_started_at=now_ms(),
                                       shares={"stable": 0.0, "candidate": 100.0})
        _next_ms()
        _send(server.url, 15)  # served after the step began, at the old shares
        holder.check()  # the worker sees step 1
        _send(server.url, 40)  # step 1: all to the candidate
        _next_ms()
        holder.check()
    finally:
        server.stop()
        holder.stop()
    in_step = store.deployment_stats("fraud-web", step.step_started_at)
    assert set(in_step) == {"candidate"} and in_step["candidate"].requests == 40
    everything = store.deployment_stats("fraud-web", 0)
    assert sum(a.requests for a in everything.values()) == 30 + 25 + 15 + 40  # nothing lost

"""Canary releases end to end in one process: a real model server app with a deployment holder,
requests over HTTP, the analysis in the lease holder, rollback and promotion in the store and the
registry."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from modelcycle.rollout import strategies
from tests.rollout.conftest import rows, serve_deployment

INTERVAL = 1.0


def _load(url, stop, statuses, versions):
    body = {"dataframe_records": rows(1)}
    data = rows(400, seed=3)
    i = 0
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            body = {"dataframe_records": [data[i % len(data)]]}
            i += 1
            r = http.post(f"{url}/invocations", json=body)
            statuses.append(r.status_code)
            versions.append(r.headers["x-modelcycle-model-version"])


def _run_canary(store, name, bad=None, fallback=False, steps="20,100", max_failures=2, seconds=None, clients=2,
                min_p99_increase_ms=5.0):
    strategies.create(store, name, "fraud@production", "ana")
    strategies.canary(store, name, "fraud@challenger", strategies.parse_steps(steps), "ana", INTERVAL,
                      max_failures, strategies.Checks(min_requests=5, max_auc_drop=None, min_p99_increase_ms=min_p99_increase_ms), fallback,
                      force=True)
    holder, server = serve_deployment(store, name, bad)
    stop, statuses, versions = threading.Event(), [], []
    threads = [threading.Thread(target=_load, args=(server.url, stop, statuses, versions)) for _ in range(clients)]
    for t in threads:
        t.start()
    started = time.monotonic()
    deadline = started + (seconds or INTERVAL * (max_failures + 1) + 3)
    try:
        while time.monotonic() < deadline:
            d = store.get_deployment(name)
            if d.state in ("rolled_back", "promoted"):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        server.stop()
        holder.stop()
    return store.get_deployment(name), time.monotonic() - started, statuses, versions


def test_a_failing_candidate_with_fallback_is_rolled_back_and_callers_never_see_a_failure(fraud_store):
    _, _, store = fraud_store
    d, took, statuses, versions = _run_canary(store, "fraud-web", bad={"threshold": 0.5}, fallback=True)
    assert d.state == "rolled_back" and d.shares == {"stable": 100.0, "candidate": 0.0}
    assert took <= INTERVAL * (2 + 1) + 1.5  # tick and flush granularity on top of the intervals
    assert statuses and set(statuses) == {200}  # stable answered what the candidate failed
    assert "2" in versions  # the candidate did answer some requests
    events = store.deployment_events("fraud-web")
    rollback = events[-1]
    assert rollback.kind == "rollback" and "error rate" in rollback.reason
    assert rollback.numbers["candidate_errors"] > 0 and rollback.numbers["failures"] == 2
    audit = [h for h in store.model_history("fraud") if h.action == "deployment"]
    assert "rollback" in audit[-1].reason and "candidate_error_rate" in audit[-1].reason
    assert store.get_model_version("fraud", 1).stage.value == "Production"


def test_a_slow_candidate_is_rolled_back_on_its_p99(fraud_store):
    _, _, store = fraud_store
    # One caller: with more, stable's requests would queue behind the slow ones and look slow too.
    d, _, statuses, _ = _run_canary(store, "fraud-web", bad={"delay_s": 0.06}, clients=1)
    assert d.state == "rolled_back"
    assert set(statuses) == {200}
    last = store.deployment_events("fraud-web")[-1]
    assert "p99 latency" in last.reason and last.numbers["candidate_p99_ms"] > 2 * last.numbers["stable_p99_ms"]


def test_a_good_candidate_completes_every_step_and_becomes_production(fraud_store):
    _, _, store = fraud_store
    # Latency jitter of tens of ms on a loaded machine is no regression of this candidate.
    d, _, statuses, versions = _run_canary(store, "fraud-web", steps="20,50,100", seconds=12, min_p99_increase_ms=50)
    assert d.state == "promoted" and d.stable_version == 2 and d.arms == {"stable": 2}, \
        [(e.kind, e.reason, e.numbers) for e in store.deployment_events("fraud-web")]
    assert set(statuses) == {200}
    kinds = [e.kind for e in store.deployment_events("fraud-web")]
    assert kinds[:2] == ["create", "canary"] and kinds.count("step") == 2 and kinds[-2:] == ["promoting", "promoted"]
    steps = [e for e in store.deployment_events("fraud-web") if e.kind == "step"]
    assert [e.to_shares["candidate"] for e in steps] == [50.0, 100.0]
    assert store.get_model_version("fraud", 2).stage.value == "Production"
    history = store.model_history("fraud")
    promoted = [h for h in history if h.action == "stage" and h.version == 2]
    assert promoted and promoted[-1].to_value == "Production"
    assert [h for h in history if h.action == "deployment" and "promoted" in h.reason]


def test_two_promotions_at_once_promote_once(fraud_any):
    _, _, store = fraud_any
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    d = strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 60, 2, force=True)
    outcomes = []

    def go(action):
        from modelcycle.exceptions import Conflict

        try:
            getattr(strategies, action)(store, "fraud-web", action, expected=d)
            outcomes.append(action)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=go, args=(a,)) for a in ("promote", "rollback", "promote")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("conflict") == 2
    final = store.get_deployment("fraud-web")
    production = store.get_model_version("fraud", 2).stage.value == "Production"
    assert (final.state == "promoted") == production
    assert final.state in ("promoted", "rolled_back")
    moves = [h for h in store.model_history("fraud") if h.action == "stage" and h.to_value == "Production"]
    assert len(moves) == (2 if production else 1)  # the fixture's promotion of v1, and at most one more


def test_a_promotion_the_gates_refuse_pauses_with_the_shares_it_had(fraud_store):
    from modelcycle.registry.api import set_promotion_policy
    from modelcycle.registry.gates import PromotionPolicy

    _, _, store = fraud_store
    set_promotion_policy("fraud", PromotionPolicy(required_tags=("approved",)))
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.canary(store, "fraud-web", "fraud@challenger", [25, 100], "ana", 60, 2)
    d = strategies.promote(store, "fraud-web", "ana", "looks good")
    assert d.state == "paused" and d.shares == {"stable": 75.0, "candidate": 25.0}
    assert d.candidate_version == 2 and d.stable_version == 1
    refused = store.deployment_events("fraud-web")[-1]
    assert refused.kind == "promotion_refused" and "approved" in refused.reason
    assert refused.to_shares == {"stable": 75.0, "candidate": 25.0} and refused.numbers["gates"][0]["rule"] == "tags"
    assert store.get_model_version("fraud", 1).stage.value == "Production"
    audit = [h for h in store.model_history("fraud") if h.action == "deployment"]
    assert "promotion_refused" in audit[-1].reason
    d = strategies.promote(store, "fraud-web", "ana", "approved by hand", force=True)  # from paused, forced
    assert d.state == "promoted" and store.get_model_version("fraud", 2).stage.value == "Production"


def test_a_canary_whose_candidate_was_deleted_can_still_be_rolled_back_and_served(fraud_any):
    from modelcycle.registry.api import delete_model_version

    _, _, store = fraud_any
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 60, 2)
    delete_model_version("fraud", 2)
    d = strategies.rollback(store, "fraud-web", "bob", "its version was deleted")
    assert d.state == "rolled_back" and d.shares == {"stable": 100.0, "candidate": 0.0}
    holder, server = serve_deployment(store, "fraud-web")  # a worker started after the deletion
    try:
        with httpx.Client(timeout=10) as http:
            answers = [http.post(f"{server.url}/invocations", json={"dataframe_records": rows(1)}) for _ in range(5)]
    finally:
        server.stop()
        holder.stop()
    assert [(r.status_code, r.headers["x-modelcycle-model-version"]) for r in answers] == [(200, "1")] * 5


def test_a_deployment_stored_with_settings_of_wrong_types_is_still_served(fraud_store):
    _, _, store = fraud_store
    # As any client of the REST API may write them: the settings the server reads are not numbers.
    config = {"interval_s": "soon", "grace_s": None, "shadow_share": "half", "shadow_timeout_s": [1],
              "max_failures": "two", "salt": 5, "sticky_key": {"a": 1}, "checks": "strict"}
    store.create_deployment("fraud-web", "fraud", 1, "ana", config)
    holder, server = serve_deployment(store, "fraud-web")
    try:
        holder.check()  # a tick: refresh, flush, lead
        with httpx.Client(timeout=10) as http:
            answers = [http.post(f"{server.url}/invocations", json={"dataframe_records": rows(1)}) for _ in range(3)]
        assert holder.last_error is None and holder._thread.is_alive()
    finally:
        server.stop()
        holder.stop()
    assert [r.status_code for r in answers] == [200] * 3


def test_a_rolled_back_candidate_is_not_promoted_nor_rolled_back_twice(fraud_any):
    from modelcycle.exceptions import Conflict

    _, _, store = fraud_any
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    with pytest.raises(Conflict, match="no candidate"):
        strategies.rollback(store, "fraud-web", "bob")  # one version, nothing to go back from
    strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 60, 2, force=True)
    strategies.rollback(store, "fraud-web", "bob", "errors in the logs")
    with pytest.raises(Conflict, match="rolled back"):
        strategies.promote(store, "fraud-web", "carol")
    with pytest.raises(Conflict, match="rolled back"):
        strategies.rollback(store, "fraud-web", "bob")
    assert store.get_model_version("fraud", 1).stage.value == "Production"
    assert [e.kind for e in store.deployment_events("fraud-web")] == ["create", "canary", "rollback"]


def test_a_candidate_failure_without_fallback_names_the_candidate_and_is_counted(fraud_store):
    from prometheus_client.parser import text_string_to_metric_families

    def errors_of_version_2(text: str) -> float:
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "modelcycle_serving_requests_total" and s.labels["version"] == "2"
                   and s.labels["status"] == "500")

    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 60, 2)
    holder, server = serve_deployment(store, "fraud-web", bad={"threshold": -1e9})  # version 2 fails every row
    try:
        with httpx.Client(timeout=10) as http:
            before = errors_of_version_2(http.get(f"{server.url}/metrics").text)
            answers = [http.post(f"{server.url}/invocations", json={"dataframe_records": rows(1)}) for _ in range(20)]
            after = errors_of_version_2(http.get(f"{server.url}/metrics").text)
    finally:
        server.stop()
        holder.stop()
    failed = [r for r in answers if r.status_code != 200]
    assert failed and {(r.status_code, r.headers["x-modelcycle-model-version"]) for r in failed} == {(500, "2")}
    assert {r.json()["error"] for r in failed} == {"INTERNAL_ERROR"}
    assert after - before == len(failed)

"""Each strategy starts from its own settings: what an earlier canary set (its fallback, its
--force) does not carry over into the A/B test or the shadow traffic that follows it, and each
A/B test draws its own salt, so a new experiment reshuffles who gets which arm."""

from __future__ import annotations

import httpx

from modelcycle.rollout import strategies
from modelcycle.rollout.router import Router
from tests.rollout.conftest import serve_deployment

KEYS = [f"user-{i}" for i in range(40)]


def test_an_ab_test_after_a_canary_with_fallback_answers_with_the_arm_it_picked(fraud_store):
    _, _, store = fraud_store
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 60, 2, fallback=True, force=True)
    strategies.rollback(store, "fraud-web", "ana", "not today")
    d = strategies.ab(store, "fraud-web", [("fraud@production", 50), ("fraud@challenger", 50)], "ana")
    holder, server = serve_deployment(store, "fraud-web", bad={"threshold": -1e9})  # version 2 fails every row
    router = Router(d.shares, d.config["salt"])
    try:
        with httpx.Client(timeout=10) as http:
            answers = [http.post(f"{server.url}/invocations", json={"dataframe_records": [{"a": 0.1, "b": 0.2}]},
                                 headers={"x-modelcycle-key": k}) for k in KEYS]
    finally:
        server.stop()
        holder.stop()
    picked = [d.arms[router.pick(k)] for k in KEYS]
    assert {1, 2} <= set(picked)
    assert [r.status_code for r in answers] == [200 if v == 1 else 500 for v in picked]
    assert "fallback" not in d.config and "force" not in d.config


def test_promoting_shadow_traffic_after_a_forced_canary_passes_the_gates(fraud_store):
    from modelcycle.registry.api import set_promotion_policy
    from modelcycle.registry.gates import PromotionPolicy

    _, _, store = fraud_store
    set_promotion_policy("fraud", PromotionPolicy(required_tags=("approved",)))
    strategies.create(store, "fraud-web", "fraud@production", "ana")
    strategies.canary(store, "fraud-web", "fraud@challenger", [50, 100], "ana", 60, 2, force=True)
    strategies.rollback(store, "fraud-web", "ana")
    strategies.shadow(store, "fraud-web", "fraud@challenger", 50, "ana")
    d = strategies.promote(store, "fraud-web", "bob", "the shadow agreed")
    assert d.state == "paused" and store.get_model_version("fraud", 1).stage.value == "Production"
    assert store.deployment_events("fraud-web")[-1].kind == "promotion_refused"


def test_each_ab_test_has_a_salt_of_its_own_kept_in_the_store(fraud_store):
    _, _, store = fraud_store
    strategies.create(store, "fraud-ab", "fraud@production", "ana")
    arms = [("fraud@production", 50), ("fraud@challenger", 50)]
    first = strategies.ab(store, "fraud-ab", arms, "ana")
    second = strategies.ab(store, "fraud-ab", arms, "ana", reason="a new experiment")
    assert first.config["salt"] != second.config["salt"]
    assert store.get_deployment("fraud-ab").config["salt"] == second.config["salt"]
    one, two = (Router(d.shares, d.config["salt"]) for d in (first, second))
    assert [one.pick(k) for k in KEYS] != [two.pick(k) for k in KEYS]  # reshuffled

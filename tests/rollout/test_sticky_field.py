"""An A/B test's sticky key from a named request field that is not one of the model's inputs:
the same key gets the same arm whether it comes in that field (MLflow records or split, a V2
input) or in the x-modelcycle-key header."""

from __future__ import annotations

import httpx

from modelcycle.rollout import strategies
from modelcycle.rollout.router import Router
from tests.rollout.conftest import serve_deployment

KEYS = [f"user-{i}" for i in range(40)] + [str(i) for i in range(10)]


def test_the_sticky_key_comes_from_a_request_field_the_model_does_not_take(fraud_store):
    _, _, store = fraud_store
    strategies.create(store, "fraud-ab", "fraud@production", "ana")
    d = strategies.ab(store, "fraud-ab", [("fraud@production", 50), ("fraud@challenger", 50)], "ana",
                      sticky_key="user_id")
    router = Router(d.shares, d.config["salt"])
    expected = [str(d.arms[router.pick(k)]) for k in KEYS]
    assert set(expected) == {"1", "2"}
    holder, server = serve_deployment(store, "fraud-ab")

    def version(http, **request) -> str:
        r = http.post(f"{server.url}{request.pop('path', '/invocations')}", **request)
        assert r.status_code == 200, r.text
        return r.headers["x-modelcycle-model-version"]

    try:
        with httpx.Client(timeout=10) as http:
            by_record = [version(http, json={"dataframe_records": [{"a": 0.1, "b": 0.2, "user_id": k}]})
                         for k in KEYS]
            by_split = [version(http, json={"dataframe_split": {"columns": ["user_id", "a", "b"],
                                                                "data": [[k, 0.1, 0.2]]}}) for k in KEYS]
            by_header = [version(http, json={"dataframe_records": [{"a": 0.1, "b": 0.2}]},
                                 headers={"x-modelcycle-key": k}) for k in KEYS]
            by_v2 = [version(http, path="/v2/models/fraud/infer", json={"inputs": [
                {"name": "a", "datatype": "FP64", "shape": [1], "data": [0.1]},
                {"name": "b", "datatype": "FP64", "shape": [1], "data": [0.2]},
                {"name": "user_id", "datatype": "BYTES", "shape": [1], "data": [k]}]}) for k in KEYS]
            numbers = [version(http, json={"dataframe_records": [{"a": 0.1, "b": 0.2, "user_id": int(k)}]})
                       for k in KEYS if k.isdigit()]
    finally:
        server.stop()
        holder.stop()
    assert by_record == by_split == by_header == by_v2 == expected
    assert numbers == [v for k, v in zip(KEYS, expected) if k.isdigit()]  # 7 and "7" are one key

"""gRPC requests are routed through the deployment like REST ones: the same key gets the same
arm over both protocols, the answer names the version that gave it, and the log records the arm."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from modelcycle.rollout import strategies
from modelcycle.rollout.router import Router
from tests.conftest import free_port

grpcclient = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is in the test extra")

KEYS = [f"user-{i}" for i in range(60)]


def _inputs():
    tensors = []
    for name, value in (("a", 0.3), ("b", -1.2)):
        tensor = grpcclient.InferInput(name, [1], "FP64")
        tensor.set_data_from_numpy(np.array([value]))
        tensors.append(tensor)
    return tensors


def test_grpc_requests_take_the_arm_of_their_key(fraud_store, tmp_path, monkeypatch):
    from modelcycle.serving.app import ServerThread
    from modelcycle.serving.feedback import read_predictions
    from modelcycle.serving.server import ServeOptions, build_app

    _, _, store = fraud_store
    strategies.create(store, "fraud-ab", "fraud@production", "ana")
    d = strategies.ab(store, "fraud-ab", [("fraud@production", 50), ("fraud@challenger", 50)], "ana")
    expected = [str(d.arms[Router(d.shares, d.config["salt"]).pick(k)]) for k in KEYS]
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", str(tmp_path / "predictions"))
    port = free_port()
    server = ServerThread(build_app(ServeOptions(ref=None, deployment="fraud-ab", grpc_port=port), store=store))
    client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        answers = [client.infer("fraud", _inputs(), request_id=f"g{i}", headers={"x-modelcycle-key": k})
                   for i, k in enumerate(KEYS)]
        over_grpc = [a.get_response().model_version for a in answers]
        with httpx.Client(timeout=10) as http:
            over_rest = [http.post(f"{server.url}/invocations", json={"dataframe_records": [{"a": 0.3, "b": -1.2}]},
                                   headers={"x-modelcycle-key": k}).headers["x-modelcycle-model-version"]
                         for k in KEYS]
        unkeyed = {client.infer("fraud", _inputs()).get_response().model_version for _ in range(40)}
    finally:
        client.close()
        server.stop()
    assert over_grpc == over_rest == expected and set(expected) == {"1", "2"}
    assert unkeyed == {"1", "2"}  # without a key, each request draws an arm
    frame = read_predictions("fraud", uri=str(tmp_path / "predictions"), with_feedback=False)
    grpc = frame[frame["endpoint"] == "grpc"].set_index("request_id")
    arm_of = {str(v): arm for arm, v in d.arms.items()}
    assert [grpc.loc[f"g{i}", "arm"] for i in range(len(KEYS))] == [arm_of[v] for v in expected]
    assert [str(grpc.loc[f"g{i}", "version"]) for i in range(len(KEYS))] == expected

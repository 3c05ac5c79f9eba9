"""Hostile input found in review: each once refused with a 500 or answered with nonsense."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from modelcycle.exceptions import InvalidInput
from modelcycle.serving.feedback import handle_feedback_body, log_feedback


@pytest.mark.parametrize("body, message", [
    (b'{"request_id": "a", "label": 1, "time": 1e300}', "time"),
    (b'{"request_id": "a", "label": 1, "time": 99999999999999999999}', "time"),
    (b'{"request_id": "a", "label": 1, "time": "9999-12-31T23:59:59Z"}', None),
    (b'{"request_id": "a", "label": 1, "row": 99999999999999999999}', "row"),
    (b'{"request_id": "a", "label": 1, "row": 4294967296}', "row"),
])
def test_feedback_times_and_rows_out_of_range_are_400s(tmp_path, body, message):
    if message is None:
        assert handle_feedback_body(body, "fraud", str(tmp_path)) == {"model": "fraud", "recorded": 1}
        return
    with pytest.raises(InvalidInput, match=message):
        handle_feedback_body(body, "fraud", str(tmp_path))


def test_log_feedback_time_out_of_range(tmp_path):
    with pytest.raises(InvalidInput, match="time"):
        log_feedback("fraud", [1], request_ids=["a"], time=10**30, uri=str(tmp_path))


def test_post_feedback_with_a_huge_time_is_a_json_400(serve, serving_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", str(tmp_path))
    server = serve("cancer@production")
    r = httpx.post(f"{server.url}/feedback", content=b'{"request_id": "a", "label": 1, "time": 1e300}')
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "INVALID_INPUT" and "time" in r.json()["message"]


def _digits_request(values, datatype="FP64"):
    return {"inputs": [{"name": "x", "shape": [1, 64], "datatype": datatype, "data": values}]}


def test_tensor_values_beyond_float32_are_refused_not_made_infinite(serve, serving_store):
    server = serve("digits@production")
    r = httpx.post(f"{server.url}/v2/models/digits/infer", json=_digits_request([1e300] * 64))
    assert r.status_code == 400, r.text
    assert "float32" in r.json()["error"] and "1e+300" in r.json()["error"]
    r = httpx.post(f"{server.url}/invocations", json={"inputs": [[1e300] * 64]})
    assert r.status_code == 400, r.text
    header = ",".join(f"c{i}" for i in range(64))
    r = httpx.post(f"{server.url}/invocations", content=f"{header}\n{','.join(['-1e300'] * 64)}\n",
                   headers={"content-type": "text/csv"})
    assert r.status_code == 400, r.text
    # infinities and NaN sent as such are values like any other, and answered
    ok = httpx.post(f"{server.url}/v2/models/digits/infer", json=_digits_request([1.0] * 64))
    assert ok.status_code == 200
    expected = serving_store.models["digits"].estimator.predict(np.ones((1, 64), np.float32))
    assert ok.json()["outputs"][0]["data"] == expected.tolist()


@pytest.mark.parametrize("shape", [[0, 2**62, 2**62], [0, 2**62], [2**40, 2**40, 0]])
def test_v2_rest_shapes_too_large_for_numpy_are_400s(serve, serving_store, shape):
    import json

    server = serve("cancer@production")
    body = {"inputs": [{"name": "x", "shape": shape, "datatype": "FP64", "data": []}]}
    r = httpx.post(f"{server.url}/v2/models/cancer/infer", json=body)
    assert r.status_code == 400, r.text
    assert "too large" in r.json()["error"]
    header = json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 0}}]}).encode()
    r = httpx.post(f"{server.url}/v2/models/cancer/infer", content=header,
                   headers={"inference-header-content-length": str(len(header))})
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("shape", [[2**32, 2**32], [0, 2**62], [2**40, 2**40, 0]])
def test_grpc_shapes_that_overflow_are_invalid_argument(shape):
    grpc = pytest.importorskip("grpc")
    from modelcycle.serving import proto
    from modelcycle.serving.grpc_server import decode_tensor

    request = proto.ModelInferRequest(model_name="cancer")
    tensor = request.inputs.add(name="input", datatype="FP64", shape=shape)
    for raw in (b"", None):
        with pytest.raises(InvalidInput, match="too large"):
            decode_tensor(tensor, raw)
    assert grpc


def test_a_v2_id_beyond_latin1_is_answered_and_its_header_percent_encoded(serve, serving_store):
    from urllib.parse import unquote

    server = serve("cancer@production")
    body = {"id": "日本-é 1", "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}]}
    r = httpx.post(f"{server.url}/v2/models/cancer/infer", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "日本-é 1"
    assert unquote(r.headers["x-request-id"]) == "日本-é 1"
    body["inputs"][0]["datatype"] = "BOOL"  # an error answer carries it too
    r = httpx.post(f"{server.url}/v2/models/cancer/infer", json=body)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_INPUT"
    plain = httpx.post(f"{server.url}/invocations", json={"instances": [[1.0] * 30]},
                       headers={"x-request-id": "abc-1"})
    assert plain.headers["x-request-id"] == "abc-1"

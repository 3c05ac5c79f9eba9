"""The REST API answers malformed requests with a 4xx JSON error, never a 500."""

from __future__ import annotations

import hashlib
import os
import socket
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelcycle as mc
from tests.conftest import _truncate


@pytest.fixture
def server(tracking_server):
    _truncate(tracking_server.store_uri)
    return tracking_server


@pytest.fixture
def run_id(server):
    client = mc.Client(server.url)
    return client.create_run("http").id


def _assert_json_4xx(response: httpx.Response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["message"]
    return body


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("POST", "/api/runs", {"content": b"{not json"}, 400),
    ("POST", "/api/runs", {"json": {"experiment_id": "x"}}, 400),
    ("POST", "/api/runs", {"json": {"experiment_id": 1, "surprise": True}}, 400),
    ("POST", "/api/experiments", {"json": {}}, 400),
    ("GET", "/api/runs/not-a-run", {}, 400),
    ("GET", "/api/runs/" + "0" * 32, {}, 404),
    ("GET", "/api/experiments/abc", {}, 400),
    ("GET", "/api/experiments/by-name", {"params": {"name": "nope"}}, 404),
    ("POST", "/api/runs/search", {"json": {"max_results": -1}}, 400),
    ("POST", "/api/runs/search", {"json": {"page_token": "!!"}}, 400),
    ("POST", "/api/runs/search", {"json": {"filter": "metrics.a >"}}, 400),
    ("GET", "/api/no-such-route", {}, 404),
    ("DELETE", "/api/experiments", {}, 405),
    ("GET", "/api/datasets/x/versions/abc", {}, 400),
    ("POST", "/api/datasets/x/versions", {"content": b"junk"}, 400),
])
def test_malformed_requests(server, method, path, kwargs, status):
    _assert_json_4xx(httpx.request(method, server.url + path, **kwargs), status)


@pytest.mark.parametrize("body", [
    {"metrics": [{"key": "a", "value": "hello"}]},
    {"metrics": [{"key": "a", "value": 1, "step": 2**70}]},
    {"metrics": [{"key": "", "value": 1}]},
    {"params": {"k": 1}},
    [1, 2],
])
def test_malformed_batches(server, run_id, body):
    _assert_json_4xx(httpx.post(f"{server.url}/api/runs/{run_id}/batch", json=body))


def test_non_finite_values_travel_as_strings(server, run_id):
    response = httpx.post(f"{server.url}/api/runs/{run_id}/batch", json={"metrics": [
        {"key": "n", "value": "NaN"}, {"key": "p", "value": "Infinity"}, {"key": "m", "value": "-Infinity"}]})
    assert response.status_code == 204
    metrics = httpx.get(f"{server.url}/api/runs/{run_id}").json()["metrics"]
    assert {m["key"]: m["value"] for m in metrics} == {"n": "NaN", "p": "Infinity", "m": "-Infinity"}


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                           max_leaves=8)


# The run's own id, or a segment of any Unicode text, percent-encoded as a client sends it.
run_segments = st.text(max_size=40).map(lambda text: quote(text, safe="")) | st.sampled_from(
    ["%00", "%C2%B2", "%FF", "..", "%2E%2E", "%2F", "0" * 32 + "%00", "F" * 32, "x" * 5000])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.dictionaries(st.sampled_from(["metrics", "params", "tags", "filter", "order_by", "max_results",
                                             "experiment_ids", "view", "page_token"]), json_values, max_size=4),
       segment=st.none() | run_segments)
def test_fuzzed_bodies_never_get_a_500(server, run_id, body, segment):
    for path in (f"/api/runs/{segment or run_id}/batch", "/api/runs/search"):
        response = httpx.post(server.url + path, json=body)
        assert response.status_code < 500, (path, response.text)
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "message"}, (path, response.text)


def test_openapi_is_served(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    assert {"/api/runs/search", "/api/runs/{run_id}/batch", "/api/runs/{run_id}/artifacts/{path}"} <= set(spec["paths"])
    assert httpx.get(server.url + "/docs").status_code == 200


def _vm_hwm_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_large_artifact_is_streamed_both_ways(server, tmp_path):
    size = 64 * 1024 * 1024
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))
    client = mc.Client(server.url)
    run = client.create_run("stream")
    before = _vm_hwm_kib(server.proc.pid)
    info = client.log_artifact(run.id, big, "blobs")
    out = client.download_artifacts(run.id, "blobs/big.bin", tmp_path / "down")
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert info.digest == digest == hashlib.sha256(out.read_bytes()).hexdigest()
    grown_mib = (_vm_hwm_kib(server.proc.pid) - before) / 1024
    assert grown_mib < 48, f"server peak memory grew by {grown_mib:.0f} MiB for a 64 MiB file"


def test_interrupted_upload_leaves_nothing(server, run_id):
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall((f"PUT /api/runs/{run_id}/artifacts/partial.bin HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Length: {10 << 20}\r\n\r\n").encode() + b"x" * (1 << 20))
    client = mc.Client(server.url)
    assert client.list_artifacts(run_id) == []
    with pytest.raises(mc.NotFound):
        client.read_artifact(run_id, "partial.bin")


def test_errors_come_back_as_the_same_exceptions(server):
    client = mc.Client(server.url)
    client.create_experiment("dup")
    with pytest.raises(mc.AlreadyExists, match="already exists"):
        client.create_experiment("dup")
    run = client.create_run("dup")
    client.log_params(run.id, {"a": 1})
    with pytest.raises(mc.Conflict, match="write-once"):
        client.log_params(run.id, {"a": 2})
    with pytest.raises(mc.NotFound):
        client.get_experiment("missing")


def test_unreachable_server_is_a_clear_error():
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(mc.StoreUnavailable, match=url):
        mc.Client(url).list_experiments()


def test_several_workers_serve_one_store(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import ServerProcess

    server = ServerProcess(f"sqlite:///{tmp_path / 'w.db'}", str(tmp_path / "art"), workers=2)
    try:
        client = mc.Client(server.url)
        experiment = client.create_experiment("workers").id

        def work(i):
            run = client.create_run(experiment, name=f"t{i}")
            for step in range(50):
                client.log_metric(run.id, "m", step, step=step)
            return run.id

        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(work, range(4)))
        assert all(len(client.get_metric_history(r, "m")) == 50 for r in ids)
    finally:
        server.stop()

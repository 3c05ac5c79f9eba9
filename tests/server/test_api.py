"""The tracking server's REST API, against a real `modelcycle server` process on a loopback port.

Every malformed request is answered with a 4xx and a JSON body {"error": CODE, "message": ...},
never a 5xx; artifacts are streamed both ways; several workers share one store; errors travel
back to the Python client as the same exception classes with the server's message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelcycle as mc
from modelcycle.store.entities import Metric
from modelcycle.store.rest import RestStore
from modelcycle.store.sql import SqlStore
from tests.conftest import ServerProcess, _truncate, free_port

MISSING_RUN = "0" * 32


# ---------------------------------------------------------------------- fixtures and helpers
@pytest.fixture
def server(tracking_server):
    """The session's server, on an empty store."""
    _truncate(tracking_server.store_uri)
    return tracking_server


@pytest.fixture
def api(server):
    """A fresh HTTP connection per request: a failed request cannot spoil the next one."""

    def call(method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, server.url + path, timeout=30, **kwargs)

    return call


@pytest.fixture
def remote(server):
    return mc.Client(store=RestStore(server.url))


@pytest.fixture
def run_id(remote):
    return remote.create_run("api").id


def assert_error(response: httpx.Response, status: int, code: str | None, *fragments: str) -> str:
    """A 4xx answer in the documented shape; returns the message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "message"}, body
    assert isinstance(body["error"], str) and body["error"].isupper(), body
    if code is not None:
        assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    for fragment in fragments:
        assert fragment in body["message"], (fragment, body["message"])
    return body["message"]


def _json(value) -> dict:
    return {"content": json.dumps(value).encode(), "headers": {"content-type": "application/json"}}


def _server_alive(url: str) -> bool:
    return httpx.get(url + "/api/health", timeout=10).json()["status"] == "ok"


# ---------------------------------------------------------------------- malformed requests
def test_invalid_json_is_a_400(api):
    for headers in ({"content-type": "application/json"}, {}):
        response = api("POST", "/api/runs", content=b'{"experiment_id": 1,', headers=headers)
        assert_error(response, 400, "INVALID_INPUT", "Malformed request")
    # Bodies the JSON decoder cannot even read: a 400 (code INVALID_INPUT or HTTP_ERROR).
    for raw in (b"\xff\xfe not utf-8", b'{"params": {"a": "\xff"}}', b"[" * 100_000 + b"]" * 100_000):
        assert_error(api("POST", "/api/experiments", content=raw, headers={"content-type": "application/json"}),
                     400, None)
    assert_error(api("POST", "/api/runs/search", **_json(None)), 400, "INVALID_INPUT", "Malformed request")


@pytest.mark.parametrize("path, body, field", [
    ("/api/runs", {"experiment_id": "x"}, "experiment_id"),
    ("/api/runs", {"experiment_id": 1.5}, "experiment_id"),
    ("/api/runs", {"experiment_id": 1, "tags": ["a"]}, "tags"),
    ("/api/experiments", {"name": 5}, "name"),
    ("/api/experiments", {"name": "x", "tags": {"a": 1}}, "tags.a"),
    ("/api/runs/search", {"experiment_ids": "1"}, "experiment_ids"),
    ("/api/runs/search", {"order_by": "metrics.a"}, "order_by"),
    ("/api/runs/search", {"max_results": "ten"}, "max_results"),
    ("/api/runs/search", {"filter": 5}, "filter"),
    ("/api/runs/search", [1, 2], "body"),
])
def test_wrong_types_are_a_400_naming_the_field(api, path, body, field):
    assert_error(api("POST", path, json=body), 400, "INVALID_INPUT", "Malformed request", field)


@pytest.mark.parametrize("body, field", [
    ({"metrics": [{"key": "a", "value": 1, "step": 1.5}]}, "metrics.0.step"),
    ({"metrics": {"key": "a", "value": 1}}, "metrics"),
    ({"metrics": None}, "metrics"),
    ({"params": {"k": 1}}, "params.k"),
    ({"tags": ["a"]}, "tags"),
    ("batch", "body"),
])
def test_wrong_types_in_a_batch_are_a_400(api, run_id, body, field):
    response = api("POST", f"/api/runs/{run_id}/batch", json=body)
    assert_error(response, 400, "INVALID_INPUT", "Malformed request", field)


def test_extra_fields_are_refused_at_every_level(api, run_id):
    assert_error(api("POST", "/api/runs", json={"experiment_id": 1, "surprise": True}),
                 400, "INVALID_INPUT", "surprise", "Extra inputs are not permitted")
    assert_error(api("POST", f"/api/runs/{run_id}/batch",
                     json={"metrics": [{"key": "a", "value": 1, "unit": "s"}]}),
                 400, "INVALID_INPUT", "metrics.0.unit")
    assert_error(api("POST", "/api/runs/search", json={"filters": "metrics.a > 1"}),
                 400, "INVALID_INPUT", "filters")
    assert_error(api("PATCH", f"/api/runs/{run_id}", json={"status": "FINISHED", "colour": "red"}),
                 400, "INVALID_INPUT", "colour")
    # Nothing of a refused batch was written.
    assert api("GET", f"/api/runs/{run_id}").json()["metrics"] == []


@pytest.mark.parametrize("method, path, body, field", [
    ("POST", "/api/experiments", {}, "name"),
    ("POST", "/api/runs", {"name": "r"}, "experiment_id"),
    ("POST", "/api/runs/{run}/batch", {"metrics": [{"key": "a"}]}, "metrics.0.value"),
    ("POST", "/api/runs/{run}/batch", {"metrics": [{"value": 1}]}, "metrics.0.key"),
    ("PATCH", "/api/experiments/1", {}, "name"),
    ("PUT", "/api/experiments/1/tags", {"key": "k"}, "value"),
    ("POST", "/api/runs/{run}/inputs", {"name": "d", "version": 1}, "role"),
    ("GET", "/api/runs/{run}/metrics/history", None, "query.key"),
    ("DELETE", "/api/runs/{run}/tags", None, "query.key"),
    ("GET", "/api/experiments/by-name", None, "query.name"),
])
def test_missing_fields_are_a_400_naming_them(api, run_id, method, path, body, field):
    kwargs = {"json": body} if body is not None else {}
    response = api(method, path.format(run=run_id), **kwargs)
    assert_error(response, 400, "INVALID_INPUT", field, "Field required")


def test_an_empty_body_is_a_400(api):
    assert_error(api("POST", "/api/experiments", content=b""), 400, "INVALID_INPUT", "Field required")


@pytest.mark.parametrize("bad", ["xyz", "A" * 32, "0" * 31, "0" * 33, "g" * 32, "search-me"])
@pytest.mark.parametrize("method, template", [
    ("GET", "/api/runs/{}"),
    ("POST", "/api/runs/{}/delete"),
    ("GET", "/api/runs/{}/artifacts"),
    ("PUT", "/api/runs/{}/artifacts/file.txt"),
])
def test_bad_run_ids_are_a_400(api, bad, method, template):
    response = api(method, template.format(bad), content=b"x" if method == "PUT" else None)
    assert_error(response, 400, "INVALID_INPUT", "32 lowercase hex", repr(bad))


def test_bad_run_ids_inside_bodies_are_a_400(api):
    experiment = api("POST", "/api/experiments", json={"name": "parents"}).json()["id"]
    assert_error(api("POST", "/api/runs", json={"experiment_id": experiment, "parent_id": "zz"}),
                 400, "INVALID_INPUT", "32 lowercase hex")
    assert_error(api("GET", "/api/dataset-uses", params={"run_id": "zz"}), 400, "INVALID_INPUT",
                 "32 lowercase hex")


@pytest.mark.parametrize("bad", ["abc", "1.5", "1e3", "one"])
def test_non_integer_experiment_ids_are_a_400(api, bad):
    for method, template in [("GET", "/api/experiments/{}"), ("POST", "/api/experiments/{}/delete"),
                             ("POST", "/api/experiments/{}/restore")]:
        assert_error(api(method, template.format(bad)), 400, "INVALID_INPUT", "experiment id")


def test_unknown_runs_are_a_404(api):
    for method, path, kwargs in [
        ("GET", f"/api/runs/{MISSING_RUN}", {}),
        ("PATCH", f"/api/runs/{MISSING_RUN}", {"json": {"name": "x"}}),
        ("POST", f"/api/runs/{MISSING_RUN}/delete", {}),
        ("POST", f"/api/runs/{MISSING_RUN}/restore", {}),
        ("POST", f"/api/runs/{MISSING_RUN}/batch", {"json": {"params": {"a": "1"}}}),
        ("GET", f"/api/runs/{MISSING_RUN}/metrics/history", {"params": {"key": "m"}}),
        ("GET", f"/api/runs/{MISSING_RUN}/artifacts", {}),
        ("PUT", f"/api/runs/{MISSING_RUN}/artifacts/a.txt", {"content": b"x"}),
        ("DELETE", f"/api/runs/{MISSING_RUN}/tags", {"params": {"key": "k"}}),
    ]:
        assert_error(api(method, path, **kwargs), 404, "NOT_FOUND", MISSING_RUN)


def test_unknown_experiments_are_a_404(api):
    assert_error(api("GET", "/api/experiments/by-name", params={"name": "no such experiment"}),
                 404, "NOT_FOUND", "'no such experiment'", "modelcycle experiments create")
    assert_error(api("GET", "/api/experiments/424242"), 404, "NOT_FOUND", "424242")
    assert_error(api("PATCH", "/api/experiments/424242", json={"name": "x"}), 404, "NOT_FOUND")
    assert_error(api("POST", "/api/runs", json={"experiment_id": 424242}), 404, "NOT_FOUND", "424242")


def test_a_step_beyond_64_bits_is_a_400(api, run_id):
    for step in (2**70, 2**63, -(2**63) - 1):
        response = api("POST", f"/api/runs/{run_id}/batch",
                       json={"metrics": [{"key": "m", "value": 1, "step": step}]})
        assert_error(response, 400, "INVALID_INPUT", "64 bits", str(step))
    # the edges themselves are fine
    ok = api("POST", f"/api/runs/{run_id}/batch", json={"metrics": [
        {"key": "m", "value": 1, "step": 2**63 - 1}, {"key": "m", "value": 2, "step": -(2**63)}]})
    assert ok.status_code == 204, ok.text
    steps = api("GET", f"/api/runs/{run_id}/metrics/history", params={"key": "m"}).json()["steps"]
    assert sorted(steps) == [-(2**63), 2**63 - 1]


# Text other than the three names of non-finite numbers is not a number on the wire, nor is true.
@pytest.mark.parametrize("value", ["hello", "", "1,5", None, [1], {"v": 1}, "1.5", "nan", "inf", "1e3", True])
def test_a_metric_value_that_is_not_a_number_is_a_400(api, run_id, value):
    response = api("POST", f"/api/runs/{run_id}/batch", json={"metrics": [{"key": "m", "value": value}]})
    assert_error(response, 400, "INVALID_INPUT", "metrics.0.value")


def test_nan_and_infinity_strings_are_accepted_and_kept(api, remote, run_id):
    response = api("POST", f"/api/runs/{run_id}/batch", json={"metrics": [
        {"key": "n", "value": "NaN", "step": 0}, {"key": "p", "value": "Infinity", "step": 0},
        {"key": "m", "value": "-Infinity", "step": 0}, {"key": "n", "value": 0.5, "step": 1},
        {"key": "n", "value": "NaN", "step": 2}]})
    assert response.status_code == 204, response.text
    latest = {m["key"]: m["value"] for m in api("GET", f"/api/runs/{run_id}").json()["metrics"]}
    assert latest == {"n": "NaN", "p": "Infinity", "m": "-Infinity"}
    history = api("GET", f"/api/runs/{run_id}/metrics/history", params={"key": "n"}).json()
    assert history["steps"] == [0, 1, 2]
    assert history["values"] == ["NaN", 0.5, "NaN"]
    # The Python client turns them back into floats.
    values = [m.value for m in remote.get_metric_history(run_id, "n")]
    assert math.isnan(values[0]) and values[1] == 0.5 and math.isnan(values[2])


@pytest.mark.parametrize("max_results", [-1, 0, 50_001, 2**70])
def test_out_of_range_max_results_is_a_400(api, max_results):
    response = api("POST", "/api/runs/search", json={"max_results": max_results})
    assert_error(response, 400, "INVALID_INPUT", "max_results", str(max_results))


@pytest.mark.parametrize("token", [
    "!!", "not-base64", base64.urlsafe_b64encode(b"offset:-5").decode(),
    base64.urlsafe_b64encode(b"cursor:5").decode(), base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "offset:10", "é",
])
def test_a_bad_page_token_is_a_400(api, token):
    assert_error(api("POST", "/api/runs/search", json={"page_token": token}), 400, "INVALID_INPUT",
                 "page_token")


@pytest.mark.parametrize("text, position", [
    ("metrics.a >", 11),
    ("metrics.a > 1 and", 17),
    ("(metrics.a > 1", 14),
    ("bogus.a = 1", 0),
    ("metrics.a = 'x'", 10),  # a type mismatch points at the operator
    ("params.p > 1", 9),
    ("name = 'unterminated", 7),
    ("metrics.a > 1 metrics.b > 2", 14),
])
def test_a_malformed_filter_is_a_400_with_its_position(api, text, position):
    message = assert_error(api("POST", "/api/runs/search", json={"filter": text}), 400, "INVALID_INPUT",
                           f"Invalid filter at position {position}:")
    # The message shows the filter and a caret under the position.
    lines = message.splitlines()
    assert lines[1] == f"  {text}"
    assert lines[2] == " " * (2 + position) + "^"


def test_a_type_mismatch_in_a_list_names_the_offending_value(api):
    message = assert_error(api("POST", "/api/runs/search", json={"filter": "metrics.a in (1, 'x')"}), 400,
                           "INVALID_INPUT", "is a number")
    assert "not 'x'" in message


def test_a_malformed_order_by_is_a_400_with_its_position(api):
    assert_error(api("POST", "/api/runs/search", json={"order_by": ["metrics.a sideways"]}), 400,
                 "INVALID_INPUT", "position 10")


def test_an_unknown_route_is_a_json_404(api):
    for method, path in [("GET", "/api/no-such-route"), ("POST", "/api/runs/x/y/z"), ("GET", "/nothing")]:
        assert_error(api(method, path), 404, "NOT_FOUND")


@pytest.mark.parametrize("method, path", [
    ("DELETE", "/api/experiments"),
    ("PUT", "/api/runs/search"),
    ("DELETE", "/api/runs"),
    ("POST", "/api/health"),
    ("PATCH", f"/api/runs/{MISSING_RUN}/batch"),
])
def test_a_wrong_method_is_a_json_405(api, method, path):
    assert_error(api(method, path), 405, "HTTP_ERROR", "Method Not Allowed")


def test_a_405_says_which_methods_are_allowed(api):
    response = api("DELETE", "/api/experiments")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/api/runs/search", "POST"),
    ("PATCH", "/api/runs/search", "POST"),
    ("PATCH", "/api/experiments/by-name", "GET"),
])
def test_a_fixed_path_is_not_taken_for_a_parameter(api, method, path, allowed):
    # Not the run whose id would be 'search', nor the experiment whose id would be 'by-name'.
    response = api(method, path, json={})
    assert_error(response, 405, "HTTP_ERROR", "Method Not Allowed")
    assert response.headers["allow"] == allowed


def test_integers_may_carry_a_zero_fraction(api, run_id):
    # JSON Schema counts 1.0 as an integer, and so does the server; true and "3" are not.
    assert api("POST", "/api/runs/search", json={"max_results": 10.0}).status_code == 200
    ok = api("POST", f"/api/runs/{run_id}/batch", json={"metrics": [{"key": "m", "value": 1, "step": 3.0}]})
    assert ok.status_code == 204, ok.text
    assert api("GET", f"/api/runs/{run_id}/metrics/history", params={"key": "m"}).json()["steps"] == [3]
    for bad in (True, "3", 3.5):
        assert_error(api("POST", "/api/runs/search", json={"max_results": bad}), 400, "INVALID_INPUT",
                     "max_results")


@pytest.mark.parametrize("value", [1, 0, "yes", "true", None])
def test_a_boolean_is_true_or_false(api, value):
    assert_error(api("POST", "/api/model-versions/search", json={"include_deleted": value}), 400,
                 "INVALID_INPUT", "include_deleted")


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/runs/" + "f" * 32 + "%0A", None),
    ("PUT", "/api/registered-models/m/aliases/champion%0A", {"version": 1, "user": "u"}),
    ("POST", "/api/runs/{run}/inputs", {"name": "d", "version": 1, "role": "train\n"}),
    ("PATCH", "/api/runs/{run}", {"status": "\ufb01nished"}),
])
def test_a_lookalike_of_a_valid_value_is_a_400(api, run_id, method, path, body):
    """A trailing newline passes a regular expression's `$`, and str.upper() turns the ligature
    in 'ﬁnished' into 'FI': neither makes a run id, an alias, a role or a status."""
    response = api(method, path.format(run=run_id), **({"json": body} if body else {}))
    assert_error(response, 400, "INVALID_INPUT")


@pytest.mark.parametrize("name", [".", ".."])
def test_a_model_name_that_a_url_cannot_carry_is_a_400(api, remote, name):
    # /api/registered-models/.. is /api/ once the client or a proxy resolves the dot segments.
    assert_error(api("POST", "/api/registered-models", json={"name": name}), 400, "INVALID_INPUT", repr(name))
    with pytest.raises(mc.InvalidInput, match="'.' or '..'"):
        remote.store.create_registered_model(name)


@pytest.mark.parametrize("number", ["%2B1", "%201", "1_0", "1.0", "01e0", "%D9%A3"])
@pytest.mark.parametrize("template", [
    "/api/registered-models/m/versions/{}", "/api/datasets/d/versions/{}/data", "/api/experiments/{}",
    "/api/dataset-uses?version={}",
])
def test_a_number_in_a_url_is_ascii_digits(api, template, number):
    # Not '+1', ' 1', '1_0' nor '1.0', which int() would read, nor an Arabic-Indic three.
    assert_error(api("GET", template.format(number)), 400, "INVALID_INPUT")


def test_requests_after_errors_are_served_normally(api, run_id):
    for _ in range(3):
        api("POST", "/api/runs", content=b"{")
        api("GET", "/api/runs/xyz")
    assert api("GET", f"/api/runs/{run_id}").status_code == 200


# -- Requests the server cannot handle today: each answered with a 5xx (reported bugs).
_HUGE = 2**70


@pytest.mark.parametrize("method, path, body", [
    ("GET", f"/api/experiments/{_HUGE}", None),
    ("POST", f"/api/experiments/{_HUGE}/delete", None),
    ("POST", "/api/runs", {"experiment_id": _HUGE}),
    ("POST", "/api/runs/search", {"experiment_ids": [_HUGE]}),
    ("POST", "/api/runs", {"experiment_id": "{experiment}", "start_time": _HUGE}),
    ("PATCH", "/api/runs/{run}", {"end_time": _HUGE}),
    ("POST", "/api/runs/{run}/batch", {"metrics": [{"key": "m", "value": 1, "timestamp": 2**63}]}),
])
def test_integers_beyond_64_bits_are_a_400(api, remote, method, path, body):
    run = remote.create_run("huge")
    body = json.loads(json.dumps(body).replace('"{experiment}"', str(run.experiment_id))) if body else None
    response = api(method, path.format(run=run.id), **({"json": body} if body is not None else {}))
    assert_error(response, 400, "INVALID_INPUT")


def test_a_page_token_with_a_huge_offset_is_a_400(api):
    token = base64.urlsafe_b64encode(f"offset:{2**63}".encode()).decode()
    assert_error(api("POST", "/api/runs/search", json={"page_token": token}), 400, "INVALID_INPUT",
                 "page_token")


def test_a_boolean_experiment_id_is_a_400(api):
    api("POST", "/api/experiments", json={"name": "bool"})
    assert_error(api("POST", "/api/runs", json={"experiment_id": True}), 400, "INVALID_INPUT")


@pytest.mark.parametrize("path, raw", [
    ("/api/runs/{run}/batch", b'{"params": {"p": "\\ud800"}}'),
    ("/api/runs/{run}/batch", b'{"metrics": [{"key": "\\udfff", "value": 1}]}'),
    ("/api/runs/search", b'{"filter": "name = \'\\ud800\'"}'),
    ("/api/experiments", b'{"name": "\\ud800"}'),
])
def test_lone_surrogates_are_a_400(api, run_id, path, raw):
    response = api("POST", path.format(run=run_id), content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "INVALID_INPUT")


@pytest.mark.parametrize("text", ["(" * 500 + "metrics.a > 1" + ")" * 500, "not " * 300 + "metrics.a > 1"],
                         ids=["500-parentheses", "300-nots"])
def test_a_deeply_nested_filter_is_a_400(api, text):
    assert_error(api("POST", "/api/runs/search", json={"filter": text}), 400, "INVALID_INPUT")


@pytest.mark.parametrize("body", [
    {"filter": " or ".join(["metrics.a = 1"] * 1000)},
    {"order_by": ["metrics.a"] * 2_500},
], ids=["1000-ors", "2500-order-by-terms"])
def test_a_filter_too_large_for_the_database_is_a_400(api, body):
    assert_error(api("POST", "/api/runs/search", json=body), 400, "INVALID_INPUT")


# ---------------------------------------------------------------------- fuzzing
# Bodies are well formed, partly formed or any JSON at all, so the fuzzing reaches past the
# schema into the store. Integers stay within 64 bits and strings within valid Unicode: the
# cases beyond are the reported bugs above.
_INT64 = st.integers(-(2**63), 2**63 - 1)
_scalars = st.none() | st.booleans() | _INT64 | st.floats() | st.text(max_size=12)
_json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
_keys = st.sampled_from(["m", "loss", "val loss", "a.b", " ", ""]) | st.text(max_size=8)
_good_metric = st.fixed_dictionaries(
    {"key": _keys, "value": st.floats() | _INT64 | st.sampled_from(["NaN", "Infinity", "-Infinity", "1.5"])},
    optional={"step": _INT64, "timestamp": _INT64})
_any_metric = st.dictionaries(st.sampled_from(["key", "value", "step", "timestamp", "unit"]), _scalars, max_size=5)
_text_dicts = st.dictionaries(_keys, st.text(max_size=12), max_size=3)
_batch_bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"metrics": st.lists(_good_metric, max_size=4), "params": _text_dicts,
                                        "tags": _text_dicts}),
    st.fixed_dictionaries({}, optional={"metrics": st.lists(_good_metric | _any_metric, max_size=4) | _json_values,
                                        "params": _text_dicts | _json_values, "tags": _text_dicts | _json_values,
                                        "extra": _json_values}),
    _json_values,
)
_fields = st.sampled_from(["metrics.m", "metrics.`val loss`", "params.p", "tags.t", "status", "name",
                           "start_time", "end_time", "run_id", "experiment_id", "parent_id", "bogus", "metrics."])
_ops = st.sampled_from(["=", "!=", "<", ">=", "like", "ilike", "in", "not in", "is null", "is not null", ""])
_values = (st.sampled_from(["1", "-2.5", "'x'", "'RUNNING'", "'2026-01-01'", "nan", "('a', 'b')", "(1, 2)",
                            "'cv-%'", "", "'", "()"])
           | _INT64.map(str) | st.floats(allow_nan=False).map(repr))
_comparisons = st.tuples(st.sampled_from(["", "not "]), _fields, _ops, _values).map(" ".join)
_filters = st.lists(_comparisons, min_size=1, max_size=3).flatmap(
    lambda items: st.sampled_from([" and ", " or "]).map(lambda glue: glue.join(items))) | st.text(max_size=20)
_orders = st.tuples(_fields, st.sampled_from(["", "asc", "DESC", "up"])).map(" ".join)
_good_search = st.fixed_dictionaries({}, optional={
    "experiment_ids": st.lists(_INT64, max_size=3),
    "filter": _filters,
    "order_by": st.lists(_orders, max_size=3),
    "max_results": st.integers(-2, 60_000) | _INT64,
    "page_token": st.none() | st.integers(0, 2**63 - 1).map(
        lambda n: base64.urlsafe_b64encode(f"offset:{n}".encode()).decode()) | st.text(max_size=12),
    "view": st.sampled_from(["active", "deleted", "all", "ALL", "x"]),
})
_search_bodies = st.one_of(
    _good_search,
    st.fixed_dictionaries({}, optional={
        "experiment_ids": _json_values, "filter": _filters | _json_values, "order_by": _json_values,
        "max_results": _json_values, "page_token": _json_values, "view": _json_values, "extra": _json_values}),
    _json_values,
)


@pytest.fixture
def session(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def _check_fuzzed(response: httpx.Response) -> None:
    __import__("hypothesis").event(f"status {response.status_code}")
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"} and body["message"], body


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_batch_bodies)
def test_fuzzed_batches_never_get_a_5xx(session, run_id, body):
    _check_fuzzed(session.post(f"/api/runs/{run_id}/batch", **_json(body)))


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_search_bodies)
def test_fuzzed_searches_never_get_a_5xx(session, run_id, body):
    response = session.post("/api/runs/search", **_json(body))
    _check_fuzzed(response)
    if response.status_code == 200:
        assert set(response.json()) == {"runs", "next_page_token"}


# Path segments as a client percent-encodes them (any Unicode), and the bytes a hostile one
# writes: NUL, a superscript two, bytes that are not UTF-8, broken escapes, dot segments, an
# encoded slash, newlines, numbers past every width, huge segments.
_segments = st.one_of(
    st.text(max_size=20).map(lambda text: quote(text, safe="")),
    st.sampled_from(["%00", "a%00b", "%C2%B2", "%FF", "%C3", "%ED%A0%80", "%", "%zz", "..", ".", "%2E%2E", "%2F",
                     "a%2Fb", "%5C..%5C", "%0A", "%0D%0A", "%20", "-1", "0", "2147483648", "9" * 40, "1.5", "1e3",
                     "latest", "NaN", "x" * 4000, "%F0%9F%98%80" * 300]),
)
_queries = st.one_of(
    st.sampled_from(["", "?", "?key=", "?key=%00", "?view=%FF&name=%C2%B2", "?path=..%2F..", "?version=-1",
                     "?key=a&key=b", "?include_deleted=maybe", "?run_id=%00", "?name"]),
    _segments.map(lambda s: f"?key={s}&name={s}&path={s}&view={s}&version={s}&run_id={s}&include_deleted={s}"),
)


def _raw_request(port: int, method: str, target: str, body: bytes = b"", headers: str = "") -> tuple[int, dict, bytes]:
    """One request written byte for byte (no client normalises its path), and its answer."""
    head = (f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode("ascii") + body)
        answer = b""
        while chunk := sock.recv(1 << 16):
            answer += chunk
    head_bytes, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines if ": " in line)
    if fields.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    return int(status_line.split()[1]), fields, payload


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, data = data.partition(b"\r\n")
        if not int(size, 16):
            break
        out, data = out + data[:int(size, 16)], data[int(size, 16) + 2:]
    return out


@pytest.fixture(scope="module")
def routes(tracking_server) -> list[tuple[str, str]]:
    spec = httpx.get(tracking_server.url + "/openapi.json").json()
    return sorted((method.upper(), path) for path, item in spec["paths"].items() for method in item if "{" in path)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzzed_path_segments_never_get_a_5xx(server, run_id, routes, data):
    method, template = data.draw(st.sampled_from(routes), label="route")
    known = {"run_id": run_id, "experiment_id": "1", "version": "1", "name": "m", "alias": "champion", "path": "a",
             "view_id": "aaaaaaaaaa"}
    target = re.sub(r"\{(\w+)\}", lambda m: data.draw(_segments | st.just(known[m.group(1)]), label=m.group(1)),
                    template) + data.draw(_queries, label="query")
    status, headers, payload = _raw_request(server.port, method, target, b"{}")
    __import__("hypothesis").event(f"status {status}")
    assert status < 500, (target, payload)
    if status >= 400:
        assert headers["content-type"].startswith("application/json"), (target, headers, payload)
        body = json.loads(payload)
        assert set(body) == {"error", "message"} and body["message"], (target, body)


# Requests no HTTP client sends. The server may refuse each as it likes, but it must go on
# serving: the same process, no traceback in its log, the next requests answered.
_HOSTILE = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS hello
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /api/health\r\n\r\n",
    b"GET /api/r\xc3\xa9ns HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
    b"POST /api/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
    b"POST /api/experiments HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
    b"POST /api/experiments HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /api/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na",
    b"POST /api/runs/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"fil\r\n",
    b"PUT /api/runs/" + b"0" * 32 + b"/artifacts/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc",
    b"GET /api/health HTTP/1.1\r\nHost: x\r\n",  # and never the blank line
]


def test_the_server_survives_the_fuzzing(server, api, run_id):
    log_start = server.log.stat().st_size
    pid = server.proc.pid
    idle = socket.create_connection(("127.0.0.1", server.port))  # held open, saying nothing, throughout
    try:
        for raw in _HOSTILE:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(raw)
                sock.shutdown(socket.SHUT_WR)
                try:
                    answer = sock.recv(1 << 16)
                except (TimeoutError, ConnectionResetError):
                    answer = b""
            assert not answer.startswith(b"HTTP/1.1 5"), (raw[:60], answer[:300])
            assert _server_alive(server.url), raw[:60]
        # The requests that pass the HTTP parser are the app's: a 4xx in the JSON error shape.
        status, headers, payload = _raw_request(server.port, "POST", "/api/experiments", b'{"name": ')
        assert status == 400 and json.loads(payload)["error"] == "INVALID_INPUT"
    finally:
        idle.close()
    assert server.proc.poll() is None and server.proc.pid == pid
    assert api("POST", f"/api/runs/{run_id}/batch", json={"params": {"after": "fuzzing"}}).status_code == 204
    assert api("GET", f"/api/runs/{run_id}").json()["params"] == {"after": "fuzzing"}
    log = server.log.read_bytes()[log_start:].decode(errors="replace")
    assert "Traceback" not in log and "Exception in ASGI application" not in log, log[-3000:]


# ---------------------------------------------------------------------- OpenAPI
def test_openapi_lists_every_endpoint(api):
    spec = api("GET", "/openapi.json").json()
    assert spec["info"]["title"] == "modelcycle" and spec["info"]["version"] == mc.__version__
    methods = {(path, method) for path, item in spec["paths"].items() for method in item}
    expected = {
        ("/api/health", "get"),
        ("/api/experiments", "get"), ("/api/experiments", "post"),
        ("/api/experiments/by-name", "get"),
        ("/api/experiments/{experiment_id}", "get"), ("/api/experiments/{experiment_id}", "patch"),
        ("/api/experiments/{experiment_id}/delete", "post"),
        ("/api/experiments/{experiment_id}/restore", "post"),
        ("/api/experiments/{experiment_id}/tags", "put"),
        ("/api/runs", "post"), ("/api/runs/search", "post"),
        ("/api/runs/{run_id}", "get"), ("/api/runs/{run_id}", "patch"),
        ("/api/runs/{run_id}/delete", "post"), ("/api/runs/{run_id}/restore", "post"),
        ("/api/runs/{run_id}/batch", "post"), ("/api/runs/{run_id}/tags", "delete"),
        ("/api/runs/{run_id}/metrics/history", "get"),
        ("/api/runs/{run_id}/artifacts", "get"),
        ("/api/runs/{run_id}/artifacts/{path}", "get"), ("/api/runs/{run_id}/artifacts/{path}", "put"),
        ("/api/datasets", "get"), ("/api/datasets/{name}/versions", "post"),
        ("/api/datasets/{name}/versions/{version}", "get"),
        ("/api/datasets/{name}/versions/{version}/data", "get"),
        ("/api/runs/{run_id}/inputs", "post"), ("/api/dataset-uses", "get"),
    }
    assert expected <= methods, expected - methods
    # The request bodies are described, and the upload is documented as a binary stream.
    batch = spec["paths"]["/api/runs/{run_id}/batch"]["post"]["requestBody"]["content"]["application/json"]
    assert batch["schema"]["$ref"].endswith("/LogBatch")
    assert {"metrics", "params", "tags"} <= set(spec["components"]["schemas"]["LogBatch"]["properties"])
    upload = spec["paths"]["/api/runs/{run_id}/artifacts/{path}"]["put"]["requestBody"]
    assert upload["content"]["application/octet-stream"]["schema"]["format"] == "binary"


def test_openapi_declares_the_error_answers(api):
    spec = api("GET", "/openapi.json").json()
    error = {"$ref": "#/components/schemas/ErrorBody"}
    assert {"HTTPValidationError", "ValidationError"}.isdisjoint(spec["components"]["schemas"])
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"error", "message"}
    assert {"INVALID_INPUT", "NOT_FOUND", "CONFLICT", "HTTP_ERROR"} <= set(body["properties"]["error"]["enum"])
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "422" not in responses, (method, path)  # validation errors are 400s here
            if operation.get("parameters") or "requestBody" in operation:
                assert responses["400"]["content"]["application/json"]["schema"] == error, (method, path)
            for status, response in responses.items():
                if status >= "400":
                    assert response["content"]["application/json"]["schema"] == error, (method, path, status)
    paths = spec["paths"]
    assert {"400", "404"} <= set(paths["/api/runs/{run_id}"]["get"]["responses"])
    assert {"400", "409"} <= set(paths["/api/experiments"]["post"]["responses"])
    assert {"404", "409"} <= set(paths["/api/registered-models/{name}/versions/{version}/promote"]["post"]["responses"])


def test_openapi_declares_what_the_server_accepts(api):
    spec = api("GET", "/openapi.json").json()
    schemas = spec["components"]["schemas"]

    def parameter(path, method, name):
        return next(p["schema"] for p in spec["paths"][path][method]["parameters"] if p["name"] == name)

    assert parameter("/api/runs/{run_id}", "get", "run_id")["pattern"].startswith("^[0-9a-f]{32}")
    version = parameter("/api/registered-models/{name}/versions/{version}", "get", "version")
    assert (version["minimum"], version["maximum"]) == (1, 2**31 - 1)
    alias = parameter("/api/registered-models/{name}/aliases/{alias}", "get", "alias")
    assert "[Pp][Rr][Oo][Dd][Uu][Cc][Tt][Ii][Oo][Nn]" in alias["not"]["pattern"]
    assert "[Aa][Ll][Ll]" in parameter("/api/experiments", "get", "view")["pattern"]
    assert schemas["CreateExperiment"]["properties"]["name"]["minLength"] == 1
    assert schemas["CreateRegisteredModel"]["properties"]["name"]["not"] == {"enum": [".", ".."]}
    assert schemas["TransitionStage"]["properties"]["stage"]["pattern"].startswith("^(?:[Nn][Oo][Nn][Ee]|")
    assert schemas["MetricIn"]["properties"]["value"]["anyOf"] == [
        {"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]
    assert schemas["MetricIn"]["properties"]["step"]["maximum"] == 2**63 - 1
    assert schemas["LogBatch"]["properties"]["tags"]["propertyNames"]["maxLength"] == 250
    upload = spec["paths"]["/api/datasets/{name}/versions"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["required"] == ["meta", "data"]


def test_docs_page_is_served(api):
    docs = api("GET", "/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "swagger" in docs.text.lower() and "/openapi.json" in docs.text


def test_health_names_the_version(api):
    assert api("GET", "/api/health").json() == {"status": "ok", "version": mc.__version__}


# ---------------------------------------------------------------------- streamed artifacts
@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A server of its own, with its own temporary folder: its memory and spool files are ours
    to measure."""
    root = tmp_path_factory.mktemp("own-server")
    (root / "tmp").mkdir()
    env = os.environ.copy()
    env.update(TMPDIR=str(root / "tmp"), MODELCYCLE_HOME=str(root / "home"))
    server = ServerProcess(f"sqlite:///{root / 'own.db'}", str(root / "artifacts"), env=env)
    server.root = root
    yield server
    server.stop()


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _spooled(server) -> list[str]:
    return sorted(p.name for p in (server.root / "tmp").iterdir() if p.name.startswith("modelcycle-"))


def _wait_until(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _write_random(path: Path, mib: int) -> str:
    sha = hashlib.sha256()
    with open(path, "wb") as out:
        for _ in range(mib):
            chunk = os.urandom(1 << 20)
            sha.update(chunk)
            out.write(chunk)
    return sha.hexdigest()


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


@pytest.mark.slow
def test_a_64_mib_artifact_is_streamed_both_ways(own_server, tmp_path):
    client = mc.Client(store=RestStore(own_server.url))
    run = client.create_run("stream")
    # Warm up the upload and download paths, then take the baseline.
    small = tmp_path / "small.txt"
    small.write_text("warm-up")
    client.log_artifact(run.id, small)
    assert client.read_artifact(run.id, "small.txt") == b"warm-up"
    pid = own_server.proc.pid
    baseline = _status_kib(pid, "VmHWM")

    big = tmp_path / "big.bin"
    size = 64 << 20
    digest = _write_random(big, 64)
    info = client.log_artifact(run.id, big, "blobs")
    assert (info.path, info.size, info.digest) == ("blobs/big.bin", size, digest)
    listed = client.list_artifacts(run.id, "blobs")
    assert [(a.path, a.size, a.digest) for a in listed] == [("blobs/big.bin", size, digest)]
    out = client.download_artifacts(run.id, "blobs/big.bin", tmp_path / "down")
    assert out == tmp_path / "down" / "blobs" / "big.bin"
    assert out.stat().st_size == size and _sha256_file(out) == digest

    grown_mib = (_status_kib(pid, "VmHWM") - baseline) / 1024
    assert grown_mib < 32, f"the server's peak memory grew by {grown_mib:.0f} MiB for a 64 MiB file"
    assert _spooled(own_server) == []  # the spooled upload was removed


def _raw_put(port: int, path: str, head: str, body: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode() + body)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_an_interrupted_upload_leaves_no_artifact(own_server, framing):
    client = mc.Client(store=RestStore(own_server.url))
    run = client.create_run("interrupted")
    client.log_text(run.id, "kept", "kept.txt")
    blobs_before = sorted(p.name for p in (own_server.root / "artifacts").rglob("*") if p.is_file())
    path = f"/api/runs/{run.id}/artifacts/partial/big.bin"
    if framing == "content-length":
        _raw_put(own_server.port, path, f"Content-Length: {10 << 20}\r\n", b"x" * (1 << 20))
    else:  # one 1 MiB chunk, and never the closing zero-length chunk
        _raw_put(own_server.port, path, "Transfer-Encoding: chunked\r\n",
                 f"{1 << 20:x}\r\n".encode() + b"x" * (1 << 20) + b"\r\n")
    # The server notices the broken connection and removes what it had spooled, without
    # taking the client's hang-up for an error of its own.
    assert _wait_until(lambda: _spooled(own_server) == []), _spooled(own_server)
    assert _wait_until(lambda: "client went away" in own_server.log.read_text())
    assert "Traceback" not in own_server.log.read_text()
    assert [a.path for a in client.list_artifacts(run.id)] == ["kept.txt"]
    assert client.list_artifacts(run.id, "partial") == []
    with pytest.raises(mc.NotFound):
        client.read_artifact(run.id, "partial/big.bin")
    blobs_after = sorted(p.name for p in (own_server.root / "artifacts").rglob("*") if p.is_file())
    assert blobs_after == blobs_before  # no partial blob, nothing left in the blob store's tmp
    # The same path takes a complete upload afterwards.
    with httpx.Client(base_url=own_server.url) as http:
        done = http.put(path, content=b"complete")
    assert done.status_code == 200, done.text
    assert client.read_artifact(run.id, "partial/big.bin") == b"complete"


def test_a_wide_dataset_is_logged_through_the_server(server):
    # Its profile travels as a form field of the upload, past the 1 MiB Starlette allows a field.
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 400)), columns=[f"c{i}" for i in range(400)])
    mc.set_tracking_uri(server.url)
    try:
        with mc.start_run(experiment="wide"):
            version = mc.log_dataset(frame, name="wide")
        assert len(mc.get_dataset("wide@1").profile) > 1 << 20
        pd.testing.assert_frame_equal(mc.load_dataset("wide@1"), frame)
    finally:
        mc.set_tracking_uri(None)
    assert (version.num_rows, version.num_columns) == (300, 400)


def test_a_dataset_upload_is_its_two_parts_and_nothing_else(api, tmp_path):
    """The form holds `meta` and `data`; any other part, which the server would read into
    memory for nothing (up to the limit of a field each), is refused."""
    import pandas as pd

    local = SqlStore(f"sqlite:///{tmp_path / 'local.db'}", str(tmp_path / "artifacts"))
    mc.set_tracking_uri(local.db_uri, str(tmp_path / "artifacts"))  # a valid upload, made as the client makes it
    try:
        mc.log_dataset(pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}), name="parts")
    finally:
        mc.set_tracking_uri(None)
    version = local.get_dataset("parts", 1)
    parquet = b"".join(local.open_dataset("parts", 1))
    meta = json.dumps({"digest": version.digest, "source": version.source, "num_rows": version.num_rows,
                       "num_columns": version.num_columns, "schema": version.schema, "profile": version.profile})
    for extra in ({"meta2": meta}, {"note": "x"}):
        response = api("POST", "/api/datasets/parts/versions", data={"meta": meta, **extra},
                       files={"data": ("data.parquet", parquet)})
        assert_error(response, 400, "INVALID_INPUT", "multipart")
    assert_error(api("POST", "/api/datasets/parts/versions", data={"meta": meta}, files={
        "data": ("data.parquet", parquet), "more": ("more.parquet", parquet)}), 400, "INVALID_INPUT", "multipart")
    response = api("POST", "/api/datasets/parts/versions", data={"meta": meta},
                   files={"data": ("data.parquet", parquet)})
    assert response.status_code == 201, response.text


def test_an_empty_artifact_round_trips(remote, run_id, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    info = remote.log_artifact(run_id, empty)
    assert info.size == 0 and info.digest == hashlib.sha256(b"").hexdigest()
    assert remote.read_artifact(run_id, "empty.txt") == b""


def test_artifact_paths_with_spaces_and_unicode_round_trip(remote, run_id):
    remote.log_text(run_id, "a", "my plots/ünïcode #1?.txt")
    assert [a.path for a in remote.list_artifacts(run_id, "my plots")] == ["my plots/ünïcode #1?.txt"]
    assert remote.read_artifact(run_id, "my plots/ünïcode #1?.txt") == b"a"


# ---------------------------------------------------------------------- several workers
def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(p) for p in f.read().split()]
    return kids


def test_two_workers_serve_concurrent_writers_without_losing_points(tmp_path):
    env = os.environ.copy()
    env["MODELCYCLE_HOME"] = str(tmp_path / "home")
    server = ServerProcess(f"sqlite:///{tmp_path / 'workers.db'}", str(tmp_path / "artifacts"), workers=2,
                           env=env)
    try:
        assert len(_children(server.proc.pid)) >= 2  # a supervisor and its two worker processes
        name = f"workers-{uuid.uuid4().hex[:8]}"
        steps = 120

        def work(i: int) -> str:
            client = mc.Client(store=RestStore(server.url))  # a connection pool per thread
            run = client.create_run(name, name=f"thread-{i}")  # all four race to create the experiment
            client.log_params(run.id, {"thread": i})
            for start in range(0, steps, 40):  # batches ...
                client.log_batch(run.id, [Metric("loss", i + s / 1000, s, 1_000 + s)
                                          for s in range(start, start + 40)])
            for s in range(20):  # ... and single points
                client.log_metric(run.id, "acc", i * 100 + s, step=s)
                client.set_tag(run.id, f"t{s % 3}", s)
            client.end_run(run.id)
            return run.id

        with ThreadPoolExecutor(4) as pool:
            run_ids = list(pool.map(work, range(4)))

        client = mc.Client(store=RestStore(server.url))
        assert [e.name for e in client.list_experiments()] == [name]
        runs = {r.id: r for r in client.search_all_runs(name)}
        assert set(runs) == set(run_ids)
        for i, run_id in enumerate(run_ids):
            run = runs[run_id]
            assert run.status is mc.RunStatus.FINISHED and run.params == {"thread": str(i)}
            assert {k: v for k, v in run.tags.items() if not k.startswith("mc.")} == \
                {"t0": "18", "t1": "19", "t2": "17"}
            loss = client.get_metric_history(run_id, "loss")
            assert [(m.step, m.value, m.timestamp) for m in loss] == \
                [(s, i + s / 1000, 1_000 + s) for s in range(steps)]
            acc = client.get_metric_history(run_id, "acc")
            assert [(m.step, m.value) for m in acc] == [(s, float(i * 100 + s)) for s in range(20)]
            assert run.metrics["loss"].step == steps - 1 and run.metrics["acc"].value == i * 100 + 19
    finally:
        server.stop()


# ---------------------------------------------------------------------- errors through the client
@pytest.fixture
def pair(server, tmp_path):
    """The same little world on a local SQLite store and behind the server."""
    local = mc.Client(store=SqlStore(f"sqlite:///{tmp_path / 'local.db'}", str(tmp_path / "artifacts")))
    remote = mc.Client(store=RestStore(server.url))
    worlds = []
    for client in (local, remote):
        client.create_experiment("taken")
        run = client.create_run("taken", name="r")
        client.log_params(run.id, {"lr": 0.1})
        client.log_text(run.id, "x", "folder/file.txt")
        gone = client.create_run("taken", name="gone")
        client.delete_run(gone.id)
        closed = client.create_experiment("closed")
        client.delete_experiment(closed.id)
        worlds.append((client, {"run": run.id, "gone": gone.id, "closed": closed.id}))
    yield worlds
    local.store.close()


_CLIENT_ERRORS = {
    "unknown run": (mc.NotFound, lambda c, w: c.get_run(MISSING_RUN)),
    "unknown experiment name": (mc.NotFound, lambda c, w: c.get_experiment("no such")),
    "unknown parent": (mc.NotFound, lambda c, w: c.create_run("taken", parent_id=MISSING_RUN)),
    "missing artifact": (mc.NotFound, lambda c, w: c.read_artifact(w["run"], "nope.txt")),
    "missing tag": (mc.NotFound, lambda c, w: c.delete_tag(w["run"], "nope")),
    "history of unknown run": (mc.NotFound, lambda c, w: c.get_metric_history(MISSING_RUN, "m")),
    "unknown dataset": (mc.NotFound, lambda c, w: c.store.get_dataset("nope")),
    "taken name": (mc.AlreadyExists, lambda c, w: c.create_experiment("taken")),
    "rename onto a taken name": (mc.AlreadyExists, lambda c, w: c.rename_experiment("closed", "taken")),
    "param rewritten": (mc.Conflict, lambda c, w: c.log_params(w["run"], {"lr": 0.2})),
    "log to a deleted run": (mc.Conflict, lambda c, w: c.log_metric(w["gone"], "m", 1.0)),
    "run in a deleted experiment": (mc.Conflict, lambda c, w: c.create_run(w["closed"])),
    "file over a folder": (mc.Conflict, lambda c, w: c.log_text(w["run"], "y", "folder")),
    "bad filter": (mc.InvalidInput, lambda c, w: c.search_runs(filter="metrics.auc >")),
    "bad order": (mc.InvalidInput, lambda c, w: c.search_runs(order_by="metrics.auc sideways")),
    "max_results": (mc.InvalidInput, lambda c, w: c.search_runs(max_results=0)),
    "page token": (mc.InvalidInput, lambda c, w: c.search_runs(page_token="!!")),
    "long tag value": (mc.InvalidInput, lambda c, w: c.set_tag(w["run"], "t", "x" * 9000)),
    "empty name": (mc.InvalidInput, lambda c, w: c.create_experiment(" ")),
    "bad run id": (mc.InvalidInput, lambda c, w: c.get_run("XYZ")),
}


@pytest.mark.parametrize("case", list(_CLIENT_ERRORS))
def test_errors_come_back_as_the_same_class_with_the_same_message(pair, case):
    expected, operation = _CLIENT_ERRORS[case]
    caught = []
    for client, world in pair:
        with pytest.raises(expected) as info:
            operation(client, world)
        message = info.value.message
        for key, value in world.items():
            message = message.replace(str(value), f"<{key}>")
        caught.append(message)
    local_message, remote_message = caught
    assert remote_message == local_message


def test_a_filter_error_keeps_its_position_and_caret_through_the_client(remote):
    with pytest.raises(mc.InvalidInput) as info:
        remote.search_runs(filter="metrics.auc >")
    assert str(info.value) == info.value.message == (
        "Invalid filter at position 13: expected a value (a number or a quoted string), "
        "found the end of the filter.\n  metrics.auc >\n               ^")


def test_a_huge_step_is_invalid_input_through_the_client_too(remote, run_id):
    with pytest.raises(mc.InvalidInput, match="64 bits"):
        remote.log_metric(run_id, "m", 1.0, step=2**70)


def test_a_failed_batch_writes_nothing(remote, run_id):
    remote.log_params(run_id, {"fixed": 1})
    with pytest.raises(mc.Conflict):
        remote.log_batch(run_id, [Metric("m", 1.0, 0, 1)], params={"fixed": 2, "new": 3}, tags={"t": "v"})
    run = remote.get_run(run_id)
    assert run.params == {"fixed": "1"} and "m" not in run.metrics and "t" not in run.tags


# ---------------------------------------------------------------------- no server there
def test_a_port_without_a_server_is_store_unavailable_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    client = mc.Client(store=RestStore(url))
    for operation in (client.list_experiments, lambda: client.get_run(MISSING_RUN),
                      lambda: client.create_run("x")):
        with pytest.raises(mc.StoreUnavailable) as info:
            operation()
        assert url in info.value.message and "modelcycle server" in info.value.message


@pytest.fixture
def listener():
    """A socket that accepts connections and handles them with the given function."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    handlers = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            handlers[0](conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def start(handler):
        handlers.append(handler)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    stop.set()
    sock.close()


def test_a_peer_that_hangs_up_is_store_unavailable(listener):
    url = listener(lambda conn: conn.close())
    with pytest.raises(mc.StoreUnavailable, match=url.replace(".", r"\.")):
        mc.Client(store=RestStore(url)).list_experiments()


def test_a_server_that_does_not_answer_in_time_is_store_unavailable(listener, monkeypatch):
    held = []
    url = listener(held.append)  # accepts, never answers
    monkeypatch.setenv("MODELCYCLE_HTTP_TIMEOUT", "0.5")
    with pytest.raises(mc.StoreUnavailable, match="Timeout"):
        mc.Client(store=RestStore(url)).list_experiments()
    for conn in held:
        conn.close()


def test_a_non_json_error_page_is_reported_with_its_status(listener):
    page = b"<html>upstream is down</html>"

    def proxy(conn):
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: "
                     + str(len(page)).encode() + b"\r\nConnection: close\r\n\r\n" + page)
        conn.close()

    url = listener(proxy)
    with pytest.raises(mc.StoreUnavailable) as info:
        mc.Client(store=RestStore(url)).list_experiments()
    assert "502" in info.value.message and "upstream is down" in info.value.message

"""The REST routes the web UI reads, against a real server on SQLite and on PostgreSQL: their
JSON shapes, their 4xx answers naming the field at fault, and their place in the OpenAPI."""

from __future__ import annotations

import math

import httpx
import pytest

from modelcycle.store.entities import Metric
from modelcycle.store.rest import RestStore
from tests.conftest import ServerProcess, _truncate
from tests.server.test_api import assert_error

T0 = 1_700_000_000_000
MISSING_RUN = "0" * 32


@pytest.fixture(scope="module")
def postgres_server(postgres_uri, tmp_path_factory):
    """One server on PostgreSQL for this module (postgres_uri skips without PostgreSQL)."""
    server = ServerProcess(postgres_uri, str(tmp_path_factory.mktemp("pg-ui-server") / "artifacts"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request):
    """A real server on an empty store: the session's on SQLite, the module's on PostgreSQL."""
    server = request.getfixturevalue("tracking_server" if request.param == "sqlite" else "postgres_server")
    _truncate(server.store_uri)
    return server


@pytest.fixture
def api(server):
    def call(method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(method, server.url + path, timeout=60, **kwargs)

    return call


@pytest.fixture
def remote(server):
    store = RestStore(server.url)
    yield store
    store.close()


@pytest.fixture
def history(remote):
    """A run whose loss has 10 points (one NaN), and a second run with 3."""
    exp = remote.create_experiment("charts")
    first, second = remote.create_run(exp.id, name="first"), remote.create_run(exp.id, name="second")
    values = [5.0, 4.0, math.nan, 3.0, 2.5, 2.0, 1.5, 1.0, 0.75, 0.5]
    remote.log_batch(first.id, [Metric("loss", v, s, T0 + s) for s, v in enumerate(values)])
    remote.log_batch(second.id, [Metric("loss", 1.0, s, T0 + s) for s in range(3)])
    return exp, first.id, second.id


# ---------------------------------------------------------------------------- histories
def test_a_downsampled_history_as_columns(api, history):
    _, run_id, _ = history
    body = api("GET", f"/api/runs/{run_id}/metrics/history", params={"key": "loss", "buckets": 2}).json()
    assert body == {"key": "loss", "total": 10, "count_all": 10, "downsampled": True,
                    "steps": [4, 9], "timestamps": [T0 + 4, T0 + 9], "values": [2.5, 0.5],
                    "min": [2.5, 0.5], "max": [5.0, 2.0]}
    few = api("GET", f"/api/runs/{run_id}/metrics/history",
              params={"key": "loss", "buckets": 1000, "start": 1, "end": "3.5"}).json()
    assert few == {"key": "loss", "total": 3, "count_all": 10, "downsampled": False, "steps": [1, 2, 3],
                   "timestamps": [T0 + 1, T0 + 2, T0 + 3], "values": [4.0, "NaN", 3.0],
                   "min": [4.0, "NaN", 3.0], "max": [4.0, "NaN", 3.0]}
    by_time = api("GET", f"/api/runs/{run_id}/metrics/history",
                  params={"key": "loss", "buckets": 1, "x": "timestamp", "start": T0 + 8}).json()
    assert (by_time["steps"], by_time["min"], by_time["max"], by_time["total"]) == ([9], [0.5], [0.75], 2)


def test_a_history_without_buckets_is_as_before_with_its_total(api, history):
    _, run_id, _ = history
    body = api("GET", f"/api/runs/{run_id}/metrics/history", params={"key": "loss"}).json()
    assert set(body) == {"key", "steps", "values", "timestamps", "total"}
    assert body["steps"] == list(range(10)) and body["values"][2] == "NaN" and body["total"] == 10
    ranged = api("GET", f"/api/runs/{run_id}/metrics/history", params={"key": "loss", "start": 8}).json()
    assert (ranged["steps"], ranged["total"]) == ([8, 9], 2)


def test_many_runs_in_one_request(api, history):
    _, first, second = history
    body = api("POST", "/api/metrics/history", json={"run_ids": [second, first], "key": "loss", "buckets": 2,
                                                     "x": "step", "start": None, "end": 9}).json()
    assert [s["run_id"] for s in body["series"]] == [second, first]
    assert body["series"][1]["min"] == [2.5, 0.5] and body["series"][0]["downsampled"] is True
    assert set(body["series"][0]) == {"run_id", "key", "total", "count_all", "downsampled", "steps",
                                      "timestamps", "values", "min", "max"}
    assert api("POST", "/api/metrics/history", json={"run_ids": [], "key": "loss"}).json() == {"series": []}


def test_the_client_reads_the_same_series(remote, history):
    _, first, second = history
    found = remote.get_metric_series([first, second], "loss", buckets=2)
    assert [s.run_id for s in found] == [first, second]
    assert (found[0].steps, found[0].min, found[0].max) == ([4, 9], [2.5, 0.5], [5.0, 2.0])


@pytest.mark.parametrize("params, field", [
    ({"buckets": 0}, "buckets"), ({"buckets": 10_001}, "buckets"), ({"buckets": "many"}, "buckets"),
    ({"buckets": "+5"}, "buckets"), ({"x": "wall"}, "x"), ({"start": 5, "end": 1}, "start"),
    ({"start": "soon"}, "start"), ({"end": "nan"}, "end"), ({"start": "inf"}, "start"), ({}, "key"),
])
def test_bad_history_queries_are_a_400_naming_the_field(api, history, params, field):
    _, run_id, _ = history
    query = {"key": "loss", **params} if params else {}
    message = assert_error(api("GET", f"/api/runs/{run_id}/metrics/history", params=query), 400, "INVALID_INPUT")
    assert field in message


@pytest.mark.parametrize("body, field", [
    ({"run_ids": ["0" * 32] * 501, "key": "loss"}, "run_ids"),
    ({"run_ids": ["nope"], "key": "loss"}, "run_ids"),
    ({"run_ids": [MISSING_RUN], "key": "loss", "buckets": 0}, "buckets"),
    ({"run_ids": [MISSING_RUN], "key": "loss", "buckets": True}, "buckets"),
    ({"run_ids": [MISSING_RUN], "key": "loss", "x": "wall"}, "x"),
    ({"run_ids": [MISSING_RUN], "key": "loss", "start": 2, "end": 1}, "start"),
    ({"run_ids": [MISSING_RUN], "key": "loss", "start": "1"}, "start"),
    ({"run_ids": [MISSING_RUN], "key": ""}, "key"),
    ({"run_ids": [MISSING_RUN]}, "key"),
    ({"run_ids": [MISSING_RUN], "key": "loss", "extra": 1}, "extra"),
])
def test_bad_history_bodies_are_a_400_naming_the_field(api, body, field):
    message = assert_error(api("POST", "/api/metrics/history", json=body), 400, "INVALID_INPUT")
    assert field in message


def test_unknown_runs_are_a_json_404(api, history):
    _, run_id, _ = history
    assert_error(api("GET", f"/api/runs/{MISSING_RUN}/metrics/history", params={"key": "loss", "buckets": 5}),
                 404, "NOT_FOUND", MISSING_RUN)
    assert_error(api("POST", "/api/metrics/history", json={"run_ids": [run_id, MISSING_RUN], "key": "loss"}),
                 404, "NOT_FOUND", MISSING_RUN)


# ---------------------------------------------------------------------------- runs, columns, experiments
def test_a_search_with_columns(api, history):
    exp, first, _ = history
    api("POST", f"/api/runs/{first}/batch", json={"params": {"lr": "0.1", "depth": "3"},
                                                  "tags": {"mc.user": "ann", "team": "risk"}})
    body = api("POST", "/api/runs/search", json={"experiment_ids": [exp.id], "filter": "name = 'first'",
                                                 "columns": ["params.lr", "metrics.loss"]}).json()
    (run,) = body["runs"]
    assert run["params"] == {"lr": "0.1"} and run["tags"] == {"mc.user": "ann"}
    assert run["metrics"] == [{"key": "loss", "value": 0.5, "step": 9, "timestamp": T0 + 9,
                               "min": 0.5, "max": 5.0, "count": 10}]
    message = assert_error(api("POST", "/api/runs/search", json={"columns": ["params.lr", "start_time"]}),
                           400, "INVALID_INPUT", "Invalid column at position 0")
    assert "start_time" in message
    assert_error(api("POST", "/api/runs/search", json={"columns": "params.lr"}), 400, "INVALID_INPUT", "columns")


def test_the_columns_of_an_experiment(api, history):
    exp, first, _ = history
    api("POST", f"/api/runs/{first}/batch", json={"params": {"lr": "0.1"}, "tags": {"team": "risk"}})
    assert api("GET", f"/api/experiments/{exp.id}/columns").json() == {
        "params": ["lr"], "metrics": ["loss"], "tags": ["team"]}
    assert api("GET", f"/api/experiments/{exp.id}/columns", params={"q": "EA", "limit": 5}).json() == {
        "params": [], "metrics": [], "tags": ["team"]}
    assert_error(api("GET", "/api/experiments/987654/columns"), 404, "NOT_FOUND", "987654")
    for limit in ("0", "10001", "x"):
        assert_error(api("GET", f"/api/experiments/{exp.id}/columns", params={"limit": limit}), 400,
                     "INVALID_INPUT", "limit")


def test_experiments_with_counts_page_by_page(api, history):
    exp, _, _ = history
    for name in ("charts-2", "other"):
        api("POST", "/api/experiments", json={"name": name})
    everything = api("GET", "/api/experiments").json()
    assert [e["name"] for e in everything["experiments"]] == ["charts", "charts-2", "other"]
    assert everything["next_page_token"] is None
    charts = everything["experiments"][0]
    assert charts["run_count"] == 2 and charts["last_activity"] >= charts["updated_at"]
    first = api("GET", "/api/experiments", params={"q": "CHART", "max_results": 1}).json()
    assert [e["name"] for e in first["experiments"]] == ["charts"] and first["next_page_token"]
    second = api("GET", "/api/experiments", params={"q": "CHART", "max_results": 1,
                                                    "page_token": first["next_page_token"]}).json()
    assert [e["name"] for e in second["experiments"]] == ["charts-2"] and second["next_page_token"] is None
    assert_error(api("GET", "/api/experiments", params={"max_results": 0}), 400, "INVALID_INPUT", "max_results")
    assert_error(api("GET", "/api/experiments", params={"q": "x", "page_token": first["next_page_token"]}),
                 400, "INVALID_INPUT", "page_token")


# ---------------------------------------------------------------------------- saved views
def test_saved_views(api):
    query = "runs=" + ",".join(["a" * 32] * 100) + "&metric=loss"
    saved = api("POST", "/api/views", json={"query": query})
    assert saved.status_code == 201
    view_id = saved.json()["id"]
    assert len(view_id) == 10 and set(saved.json()) == {"id", "created_at"}
    again = api("POST", "/api/views", json={"query": query})
    assert again.json() == saved.json()
    assert api("GET", f"/api/views/{view_id}").json() == {"id": view_id, "query": query,
                                                          "created_at": saved.json()["created_at"]}
    assert_error(api("GET", "/api/views/aaaaaaaaaa"), 404, "NOT_FOUND", "aaaaaaaaaa")
    assert_error(api("GET", "/api/views/NOT-AN-ID"), 400, "INVALID_INPUT", "view id")
    assert_error(api("POST", "/api/views", json={"query": "x" * 65_537}), 400, "INVALID_INPUT", "query")
    assert_error(api("POST", "/api/views", json={"query": ""}), 400, "INVALID_INPUT", "query")
    assert_error(api("POST", "/api/views", json={}), 400, "INVALID_INPUT", "query")


# ---------------------------------------------------------------------------- OpenAPI
def test_the_routes_are_in_the_openapi(api):
    spec = api("GET", "/openapi.json").json()
    paths = spec["paths"]
    assert {"get"} <= set(paths["/api/experiments/{experiment_id}/columns"])
    assert {"post"} <= set(paths["/api/metrics/history"]) and {"post"} <= set(paths["/api/views"])
    assert {"get"} <= set(paths["/api/views/{view_id}"])
    history = {p["name"]: p["schema"] for p in paths["/api/runs/{run_id}/metrics/history"]["get"]["parameters"]}
    assert {"key", "buckets", "x", "start", "end"} <= set(history)
    assert history["x"]["enum"] == ["step", "timestamp"]
    assert {p["name"] for p in paths["/api/experiments"]["get"]["parameters"]} >= {"q", "max_results", "page_token"}
    schemas = spec["components"]["schemas"]
    assert schemas["MetricHistories"]["properties"]["run_ids"]["maxItems"] == 500
    assert schemas["SearchRuns"]["properties"]["columns"]["anyOf"][0]["items"]["format"] == "modelcycle-column"
    assert schemas["SaveView"]["properties"]["query"]["maxLength"] == 65_536
    for path, method, status in [("/api/metrics/history", "post", "404"), ("/api/views/{view_id}", "get", "404"),
                                 ("/api/experiments/{experiment_id}/columns", "get", "404")]:
        assert {"400", status} <= set(paths[path][method]["responses"]), (path, method)

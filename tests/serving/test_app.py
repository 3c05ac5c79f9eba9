"""The model server's app on a real uvicorn server: every endpoint, the version and request-id
headers, MLflow-format bodies through httpx (answers checked against scikit-learn), bad input on
every endpoint (always a JSON 4xx naming what was wrong), /docs and /openapi.json from the
signature, and the prediction log."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pytest

from modelcycle.serving.app import ServerThread, StaticHolder, create_app
from modelcycle.serving.settings import ServingSettings

GETS = ["/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/cancer", "/v2/models/cancer/ready",
        "/v2/models/cancer/versions/1", "/v2/models/cancer/versions/1/ready", "/ping", "/health", "/version",
        "/metrics", "/openapi.json", "/docs"]


class RecordingLog:
    """A prediction log that keeps what it is given (the interface of PredictionLog.log)."""

    def __init__(self):
        self.records = []

    def log(self, request_id, time_ms, model, version, endpoint, status, latency_ms, inputs, outputs, arm=None,
            keys=None):
        self.records.append(dict(request_id=request_id, time_ms=time_ms, model=model, version=version,
                                 endpoint=endpoint, status=status, latency_ms=latency_ms, inputs=inputs,
                                 outputs=outputs))


def _v2_columns(X) -> dict:
    return {"inputs": [{"name": c, "shape": [len(X)], "datatype": "FP64", "data": X[c].tolist()} for c in X.columns]}


@pytest.fixture
def cancer_server(serving_store, served_models):
    log = RecordingLog()
    app = create_app(StaticHolder(served_models["cancer"]), ServingSettings(max_body_bytes=200_000), log)
    with ServerThread(app) as server:
        server.log = log
        yield server


def test_every_get_endpoint_answers_with_the_version_and_a_request_id(cancer_server):
    for path in GETS:
        response = httpx.get(cancer_server.url + path)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["x-modelcycle-model-version"] == "1", path
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), path
    assert httpx.get(cancer_server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(cancer_server.url + "/v2").json()["extensions"] == ["binary_tensor_data"]
    metadata = httpx.get(cancer_server.url + "/v2/models/cancer").json()
    assert metadata["versions"] == ["1"] and len(metadata["inputs"]) == 30
    assert metadata["status"]["version"] == 1 and metadata["status"]["last_error"] is None
    assert httpx.get(cancer_server.url + "/version").json() == {"version": "0.1.0", "model": "cancer",
                                                                 "model_version": 1}


def test_v2_infer_answers_like_sklearn(cancer_server, serving_store):
    model = serving_store.models["cancer"]
    X = model.X[:5]
    for path in ("/v2/models/cancer/infer", "/v2/models/cancer/versions/1/infer"):
        response = httpx.post(cancer_server.url + path, json={"id": "req-1", **_v2_columns(X)})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "cancer" and body["model_version"] == "1" and body["id"] == "req-1"
        assert response.headers["x-request-id"] == "req-1" and response.headers["x-modelcycle-model-version"] == "1"
        outputs = {o["name"]: o for o in body["outputs"]}
        assert outputs["predict"]["data"] == model.estimator.predict(X).tolist()
        np.testing.assert_allclose(np.reshape(outputs["predict_proba"]["data"], outputs["predict_proba"]["shape"]),
                                   model.estimator.predict_proba(X), atol=1e-5)
    tensor = {"inputs": [{"name": "input", "shape": [5, 30], "datatype": "FP32", "data": X.to_numpy().ravel().tolist()}],
              "outputs": [{"name": "predict"}]}
    response = httpx.post(cancer_server.url + "/v2/models/cancer/infer", json=tensor, headers={"x-request-id": "mine"})
    assert [o["name"] for o in response.json()["outputs"]] == ["predict"]
    assert response.json()["id"] == "mine" and response.headers["x-request-id"] == "mine"


def test_mlflow_bodies_through_httpx(cancer_server, serving_store):
    model = serving_store.models["cancer"]
    X = model.X[:4]
    expected = model.estimator.predict(X).tolist()
    bodies = [
        {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}},
        {"dataframe_records": X.to_dict(orient="records")},
        {"instances": X.values.tolist()},
        {"instances": X.to_dict(orient="records")},
        {"inputs": {c: X[c].tolist() for c in X.columns}},
    ]
    for body in bodies:
        response = httpx.post(cancer_server.url + "/invocations", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": expected}
        assert response.headers["x-modelcycle-model-version"] == "1"
    response = httpx.post(cancer_server.url + "/invocations", content=X.to_csv(index=False),
                          headers={"content-type": "text/csv"})
    assert response.json() == {"predictions": expected}


def test_the_fruit_model_takes_strings_and_answers_strings(serving_store, serve):
    model = serving_store.models["fruit"]
    server = serve(model.ref)
    X = model.X[:6]
    response = httpx.post(server.url + "/invocations", json={"dataframe_records": X.to_dict(orient="records")})
    assert response.json() == {"predictions": model.estimator.predict(X).tolist()}
    body = {"inputs": [{"name": "color", "shape": [6], "datatype": "BYTES", "data": X["color"].tolist()},
                       {"name": "size", "shape": [6, 1], "datatype": "BYTES", "data": X["size"].tolist()},
                       {"name": "weight", "shape": [6], "datatype": "FP64", "data": X["weight"].tolist()},
                       {"name": "count", "shape": [6], "datatype": "INT64", "data": X["count"].tolist()}]}
    outputs = httpx.post(server.url + "/v2/models/fruit/infer", json=body).json()["outputs"]
    assert outputs[0] == {"name": "predict", "datatype": "BYTES", "shape": [6],
                          "data": model.estimator.predict(X).tolist()}


BAD_INFER = [
    (b"{not json", 400, "The request body is not valid JSON"),
    (b'{"inputs": [{"name": "input", "shape": [' + b"1, " * 65 + b'30], "datatype": "FP64", "data": '
     + str([1.0] * 30).encode() + b"}]}", 400, "at most 64 dimensions; got 66"),
    (b'{"inputs": [{"name": "mean radius", "shape": [2], "datatype": "FP64", "data": [1.0]}]}', 400,
     "shape [2] takes 2 values; 'data' has 1"),
    (b'{"inputs": [{"name": "mean radius", "shape": [1], "datatype": "BYTES", "data": ["big"]}]}', 400,
     "Column 'mean radius' must be double; got string"),
    (b'{"inputs": [{"name": "input", "shape": [1, 29], "datatype": "FP64", "data": ' + str([1.0] * 29).encode() + b"}]}",
     400, "The model takes 30 columns"),
    (b'{"inputs": [{"name": "mean radius", "shape": [1], "datatype": "FP64", "data": [1.0]}]}', 400,
     "Missing columns 'mean texture', 'mean perimeter'"),
    (b'{"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": ' + str([1.0] * 30).encode()
     + b'}], "outputs": [{"name": "scores"}]}', 400, "unknown output 'scores'"),
]


@pytest.mark.parametrize("body, status, message", BAD_INFER)
def test_bad_v2_requests_get_a_v2_error_naming_what_was_wrong(cancer_server, body, status, message):
    response = httpx.post(cancer_server.url + "/v2/models/cancer/infer", content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-modelcycle-model-version"] == "1"
    error = response.json()
    assert error["code"] == "INVALID_INPUT" and message in error["error"], error


@pytest.mark.parametrize("body, content_type, status, message", [
    (b"{", "application/json", 400, "not valid JSON"),
    (b'{"dataframe_split": {"columns": ["mean radius"], "data": [[1.0]]}}', "application/json", 400,
     "Missing columns 'mean texture'"),
    (b'{"dataframe_records": [{"mean radius": "big"}]}', "application/json", 400, "Column 'mean radius' must be double"),
    (b'{"instances": [[1.0, 2.0]]}', "application/json", 400,
     "instances: row 0 must be a list of 30 values, one per column (mean radius: double"),
    (b'{"frames": []}', "application/json", 400, "exactly one of dataframe_split"),
    (b"a=1", "application/x-www-form-urlencoded", 415, "is not supported"),
])
def test_bad_invocations_get_a_json_error(cancer_server, body, content_type, status, message):
    response = httpx.post(cancer_server.url + "/invocations", content=body, headers={"content-type": content_type})
    assert response.status_code == status and response.headers["content-type"] == "application/json"
    error = response.json()
    assert error["error"] in ("INVALID_INPUT", "UNSUPPORTED_MEDIA_TYPE") and message in error["message"], error


def test_unknown_models_versions_paths_and_methods(cancer_server):
    url = cancer_server.url
    for path in ("/v2/models/fraud", "/v2/models/fraud/ready", "/v2/models/cancer/versions/2",
                 "/v2/models/cancer/versions/2/ready"):
        response = httpx.get(url + path)
        assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND", path
    tensor = {"inputs": [{"name": "input", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}]}
    response = httpx.post(url + "/v2/models/cancer/versions/7/infer", json=tensor)
    assert response.status_code == 404 and "Version 7 of 'cancer' is not served here" in response.json()["error"]
    response = httpx.get(url + "/nowhere")
    assert response.status_code == 404 and response.json()["error"] == "NOT_FOUND"
    assert response.headers["content-type"] == "application/json"
    response = httpx.get(url + "/v2/models/cancer/infer")
    assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"
    assert response.headers["x-modelcycle-model-version"] == "1"
    response = httpx.delete(url + "/invocations")
    assert response.status_code == 405 and response.json()["error"] == "METHOD_NOT_ALLOWED"


def test_bodies_over_the_limit_are_413(cancer_server):
    big = b'{"instances": [' + b",".join([b"[" + b",".join([b"1.0"] * 30) + b"]"] * 2000) + b"]}"
    assert len(big) > 200_000
    response = httpx.post(cancer_server.url + "/invocations", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "PAYLOAD_TOO_LARGE"
    assert "over the limit of 200000" in response.json()["message"]

    def chunks():  # no Content-Length: counted while it is read
        for i in range(0, len(big), 10_000):
            yield big[i:i + 10_000]

    response = httpx.post(cancer_server.url + "/v2/models/cancer/infer", content=chunks())
    assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"


def test_request_ids_are_checked(cancer_server):
    response = httpx.post(cancer_server.url + "/invocations", json={"instances": [[1.0] * 30]},
                          headers={"x-request-id": "x" * 300})
    assert response.status_code == 400 and "x-request-id header must be printable text" in response.json()["message"]


class NotLoaded:
    current = None
    status = {"ref": "cancer@production", "ready": False, "last_error": "loading"}


def test_a_server_without_a_model_yet_is_live_but_not_ready():
    with ServerThread(create_app(NotLoaded(), ServingSettings())) as server:
        assert httpx.get(server.url + "/v2/health/live").status_code == 200
        for path in ("/v2/health/ready", "/v2/models/cancer", "/ping", "/health", "/openapi.json"):
            response = httpx.get(server.url + path)
            assert response.status_code == 503 and response.headers["x-modelcycle-model-version"] == "none", path
        response = httpx.post(server.url + "/v2/models/cancer/infer", json={"inputs": []})
        assert response.status_code == 503 and response.json()["code"] == "NOT_READY"
        assert httpx.post(server.url + "/invocations", json={"instances": []}).status_code == 503


def test_the_request_timeout_is_504(serving_store):
    from modelcycle.serving.runtime import ServedModel

    native = ServedModel.load("cancer@production", backend="native", store=serving_store.store)
    app = create_app(StaticHolder(native), ServingSettings(request_timeout_s=0.0005, max_batch_delay_ms=50))
    X = serving_store.models["cancer"].X[:1]
    with ServerThread(app) as server:
        response = httpx.post(server.url + "/v2/models/cancer/infer", json=_v2_columns(X))
        assert response.status_code == 504 and response.json()["code"] == "TIMEOUT"
        assert "request timeout of 0.0005 s" in response.json()["error"]


def test_predictions_are_logged_with_checked_inputs(cancer_server, serving_store):
    X = serving_store.models["cancer"].X[:2]
    httpx.post(cancer_server.url + "/v2/models/cancer/infer", json={"id": "one", **_v2_columns(X)})
    httpx.post(cancer_server.url + "/invocations", json={"instances": [[1.0]]}, headers={"x-request-id": "two"})
    httpx.get(cancer_server.url + "/v2/health/ready")  # not a prediction: not logged
    first, second = cancer_server.log.records
    assert (first["request_id"], first["model"], first["version"], first["endpoint"], first["status"]) == (
        "one", "cancer", 1, "v2_infer", 200)
    assert first["inputs"]["mean area"].tolist() == X["mean area"].tolist() and first["latency_ms"] > 0
    assert first["outputs"]["predict"].shape == (2,)
    assert (second["request_id"], second["endpoint"], second["status"], second["inputs"], second["outputs"]) == (
        "two", "invocations", 400, None, None)


def test_a_failed_prediction_is_logged_under_the_request_id_its_answer_names(cancer_server):
    """Both predicting endpoints, the same way: a refused request without an id of its own gets
    one, in its x-request-id header and in its log record (feedback joins on it)."""
    answers = [httpx.post(cancer_server.url + "/v2/models/cancer/infer", json={"inputs": "no"}),
               httpx.post(cancer_server.url + "/invocations", json={"instances": [[1.0]]})]
    assert [a.status_code for a in answers] == [400, 400]
    records = cancer_server.log.records
    assert [r["endpoint"] for r in records] == ["v2_infer", "invocations"]
    for answer, record in zip(answers, records):
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
        assert record["request_id"] == answer.headers["x-request-id"] and record["status"] == 400
    assert answers[0].headers["x-request-id"] != answers[1].headers["x-request-id"]


def test_paths_near_the_predicting_ones_are_routed_as_before(cancer_server):
    """The predicting endpoints skip Starlette's router; paths that only look like them do not."""
    for path, status in [("/v2/models//infer", 404), ("/v2/models/cancer/versions//infer", 404),
                         ("/v2/models/cancer/versions/2/infer", 404), ("/v2/models/other/infer", 404),
                         ("/v2/models/cancer/infer/x", 404)]:
        response = httpx.post(cancer_server.url + path, json={"instances": [[1.0] * 30]})
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/json", path
    for path in ("/v2/models/cancer/infer/", "/invocations/"):  # Starlette's redirect to the path without the slash
        response = httpx.post(cancer_server.url + path, json={"instances": [[1.0] * 30]})
        assert response.status_code == 307 and response.headers["location"].endswith(path.rstrip("/")), path
    response = httpx.get(cancer_server.url + "/v2/models/cancer/infer")
    assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_an_unexpected_error_while_predicting_is_a_json_500_counted_and_logged(served_models, monkeypatch):
    from prometheus_client.parser import text_string_to_metric_families

    from modelcycle.serving import codecs

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    def answered_500(text: str) -> float:
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "modelcycle_serving_requests_total" and s.labels.get("endpoint") == "invocations"
                   and s.labels.get("status") == "500")

    class Recorded:
        def __init__(self):
            self.statuses = []

        def log(self, request_id, time_ms, name, version, endpoint, status, *args, **kwargs):
            self.statuses.append((endpoint, status, bool(request_id)))

    monkeypatch.setattr(codecs, "encode_predictions", broken)
    log = Recorded()
    with ServerThread(create_app(StaticHolder(served_models["cancer"]), ServingSettings(), log)) as server:
        before = answered_500(httpx.get(server.url + "/metrics").text)
        response = httpx.post(server.url + "/invocations", json={"instances": [[1.0] * 30]})
        assert response.status_code == 500 and response.headers["content-type"] == "application/json"
        assert response.json() == {"error": "INTERNAL_ERROR",
                                   "message": "Internal error (RuntimeError); see the server log."}
        assert response.headers["x-request-id"] and response.headers["x-modelcycle-model-version"] == "1"
        assert answered_500(httpx.get(server.url + "/metrics").text) == before + 1
        assert log.statuses == [("invocations", 500, True)]


def test_a_failing_log_never_fails_a_request(served_models):
    class Broken:
        def log(self, *args, **kwargs):
            raise OSError("disk full")

    with ServerThread(create_app(StaticHolder(served_models["cancer"]), ServingSettings(), Broken())) as server:
        response = httpx.post(server.url + "/invocations", json={"instances": [[1.0] * 30]})
        assert response.status_code == 200


def test_openapi_shows_the_signature_and_a_working_example(cancer_server, serving_store):
    spec = httpx.get(cancer_server.url + "/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "cancer" in spec["info"]["title"]
    request = spec["components"]["schemas"]["InvocationsRequest"]
    records = next(o for o in request["oneOf"] if "dataframe_records" in o["properties"])
    columns = records["properties"]["dataframe_records"]["items"]["properties"]
    assert list(columns) == list(serving_store.models["cancer"].X.columns)
    assert columns["mean radius"]["type"] == "number"
    v2 = spec["components"]["schemas"]["InferenceRequest"]["properties"]["inputs"]["items"]
    assert "A column of the model (mean radius, mean texture," in v2["properties"]["name"]["description"]
    assert "mean radius (FP64)" in v2["description"]
    infer = spec["paths"]["/v2/models/{name}/infer"]["post"]
    for example in infer["requestBody"]["content"]["application/json"]["examples"].values():
        response = httpx.post(cancer_server.url + "/v2/models/cancer/infer", json=example["value"])
        assert response.status_code == 200, response.text
    invocations = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    for example in invocations["application/json"]["examples"].values():
        assert httpx.post(cancer_server.url + "/invocations", json=example["value"]).status_code == 200
    response = httpx.post(cancer_server.url + "/invocations", content=invocations["text/csv"]["example"],
                          headers={"content-type": "text/csv"})
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2


def test_docs_work_offline(cancer_server):
    page = httpx.get(cancer_server.url + "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "modelcycle model server: cancer version 1" in page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.text)  # nothing from another host
    assert "mean radius" in page.text  # the signature is in the page itself


def test_the_tensor_models_openapi(serving_store, serve):
    server = serve(serving_store.models["digits"].ref)
    spec = httpx.get(server.url + "/openapi.json").json()
    for example in spec["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"][
            "examples"].values():
        response = httpx.post(server.url + "/invocations", json=example["value"])
        assert response.status_code == 200, (example, response.text)


def test_an_unexpected_error_is_a_json_500_not_a_page(served_models):
    from starlette.routing import Route

    async def broken(request):
        raise RuntimeError("a bug")

    app = create_app(StaticHolder(served_models["cancer"]), ServingSettings(), routes=[Route("/broken", broken)])
    with ServerThread(app) as server:
        response = httpx.get(server.url + "/broken")
        assert response.status_code == 500 and response.headers["content-type"] == "application/json"
        assert response.json() == {"error": "INTERNAL_ERROR",
                                   "message": "Internal error (RuntimeError); see the server log."}


def test_rows_with_nested_values_of_uneven_lengths_are_a_400_naming_the_column(serve, serving_store):
    import httpx

    server = serve("cancer@production")
    row = [1.0] * 30
    ragged = [row, row[:29] + [[1.0, 2.0]], row]
    for body in ({"instances": ragged}, {"dataframe_split": {"columns": serving_store.models["cancer"].columns,
                                                             "data": ragged}}):
        r = httpx.post(f"{server.url}/invocations", json=body)
        assert r.status_code == 400, r.text
        assert "worst fractal dimension" in r.json()["message"]


def test_feedback_is_recorded_for_the_served_model_and_refused_for_another(serve, serving_store, tmp_path, monkeypatch):
    import httpx

    import modelcycle as mc

    monkeypatch.setenv("MODELCYCLE_PREDICTION_LOG_URI", str(tmp_path / "log"))
    server = serve("cancer@production")
    r = httpx.post(f"{server.url}/feedback", json=[{"request_id": "r1", "label": 1}, {"key": "k2", "label": 0}])
    assert r.status_code == 201 and r.json() == {"model": "cancer", "recorded": 2}
    r = httpx.post(f"{server.url}/feedback", json={"request_id": "r3", "label": 1, "model": "other"})
    assert r.status_code == 400 and "'other'" in r.json()["message"]
    r = httpx.post(f"{server.url}/feedback", json={"request_id": "r3"})
    assert r.status_code == 400 and "label" in r.json()["message"]
    from modelcycle.serving.feedback import _fs  # noqa: F401  (the labels are files under the log's URI)

    assert list((tmp_path / "log").rglob("*.parquet")) and mc.read_predictions("cancer").empty


def test_feedback_posts_are_gathered_into_one_file_by_the_logs_writer(served_models, tmp_path):
    """Each POST /feedback was a Parquet file of its own; with a prediction log, its writer
    stores the labels of many requests in one file, when it writes its segments."""
    import pyarrow.parquet as pq

    from modelcycle.serving.predlog import PredictionLog

    log = PredictionLog(str(tmp_path / "log"))
    try:
        with ServerThread(create_app(StaticHolder(served_models["cancer"]), ServingSettings(), log)) as server:
            for i in range(5):
                r = httpx.post(f"{server.url}/feedback", json=[{"request_id": f"r{i}", "label": 1},
                                                              {"key": f"k{i}", "label": 0}])
                assert r.status_code == 201 and r.json() == {"model": "cancer", "recorded": 2}
            assert list((tmp_path / "log").rglob("*.parquet")) == []  # not yet written: queued
            assert log.flush()
    finally:
        log.close()
    files = list((tmp_path / "log" / "feedback").rglob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert sorted(table.column("request_id").drop_null().to_pylist()) == [f"r{i}" for i in range(5)]
    assert table.num_rows == 10

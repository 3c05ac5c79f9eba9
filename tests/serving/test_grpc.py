"""The V2 protocol over gRPC, driven by an unmodified V2 client (tritonclient.grpc), with the
semantics and errors of the REST endpoints."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import free_port

grpcclient = pytest.importorskip("tritonclient.grpc", reason="tritonclient[grpc] is in the test extra")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def grpc_server(_serving_store_template, tmp_path_factory):
    """The worker app of `modelcycle serve cancer@production --grpc-port P`, in this process."""
    from modelcycle.serving.app import ServerThread
    from modelcycle.serving.server import ServeOptions, build_app
    from modelcycle.store import open_store

    template = _serving_store_template
    servers = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELCYCLE_HOME", str(tmp_path_factory.mktemp("grpc-home")))
        patch.setenv("MODELCYCLE_SERVE_PREDICTION_LOG", "0")
        store = open_store(template.tracking_uri, template.artifact_uri)
        for name in ("cancer", "digits", "fruit", "diabetes"):
            port = free_port()
            app = build_app(ServeOptions(ref=f"{name}@production", grpc_port=port), store=store)
            servers[name] = (ServerThread(app), grpcclient.InferenceServerClient(f"127.0.0.1:{port}"))
        yield {name: client for name, (_, client) in servers.items()}, template.models
        for server, client in servers.values():
            client.close()
            server.stop()


def _input(name, array, datatype):
    tensor = grpcclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


def test_health_and_metadata(grpc_server):
    clients, _ = grpc_server
    client = clients["cancer"]
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cancer") and client.is_model_ready("cancer", "1")
    assert not client.is_model_ready("cancer", "7") and not client.is_model_ready("other")
    assert client.get_server_metadata().name == "modelcycle"
    meta = client.get_model_metadata("cancer")
    assert meta.versions == ["1"] and len(meta.inputs) == 30 and {o.name for o in meta.outputs} == {
        "predict", "predict_proba"}


def test_a_table_model_takes_one_tensor_or_one_input_per_column(grpc_server):
    clients, models = grpc_server
    model = models["cancer"]
    rows = model.X.to_numpy()[:25]
    whole = clients["cancer"].infer("cancer", [_input("input", rows, "FP64")])
    assert whole.get_response().model_version == "1"
    np.testing.assert_array_equal(whole.as_numpy("predict"), model.estimator.predict(model.X[:25]))
    np.testing.assert_allclose(whole.as_numpy("predict_proba"), model.estimator.predict_proba(model.X[:25]), atol=1e-5)
    per_column = clients["cancer"].infer(
        "cancer", [_input(c, rows[:, j].astype(np.float32), "FP32") for j, c in enumerate(model.columns)],
        outputs=[grpcclient.InferRequestedOutput("predict")], request_id="abc-1")
    assert per_column.get_response().id == "abc-1"
    assert per_column.as_numpy("predict_proba") is None
    np.testing.assert_array_equal(per_column.as_numpy("predict"), whole.as_numpy("predict"))


def test_a_tensor_model_and_a_model_of_text_columns(grpc_server):
    clients, models = grpc_server
    digits = models["digits"]
    got = clients["digits"].infer("digits", [_input("input", digits.X[:40], "FP32")])
    np.testing.assert_array_equal(got.as_numpy("predict"), digits.estimator.predict(digits.X[:40]))
    fruit = models["fruit"]
    X = fruit.X[:30]
    inputs = [_input("color", X["color"].to_numpy(dtype=object), "BYTES"),
              _input("size", X["size"].to_numpy(dtype=object), "BYTES"),
              _input("weight", X["weight"].to_numpy(), "FP64"),
              _input("count", X["count"].to_numpy().astype(np.int32), "INT32")]
    got = clients["fruit"].infer("fruit", inputs)
    labels = [v.decode() if isinstance(v, bytes) else v for v in got.as_numpy("predict")]
    assert labels == list(fruit.estimator.predict(X))


def test_a_regressor_answers_its_values(grpc_server):
    clients, models = grpc_server
    model = models["diabetes"]
    got = clients["diabetes"].infer("diabetes", [_input("input", model.X.to_numpy()[:10], "FP64")])
    np.testing.assert_allclose(got.as_numpy("predict"), model.estimator.predict(model.X[:10]), rtol=1e-4)


@pytest.mark.parametrize("make, status, words", [
    (lambda rows: ("other", [_input("input", rows, "FP64")]), "StatusCode.NOT_FOUND", "other"),
    (lambda rows: ("cancer", [_input("input", rows[:, :5], "FP64")]), "StatusCode.INVALID_ARGUMENT", "[n, 30]"),
    (lambda rows: ("cancer", [_input("mean radius", rows[:, 0], "FP64")]), "StatusCode.INVALID_ARGUMENT",
     "mean texture"),
    (lambda rows: ("cancer", [_input("input", rows.astype(np.float16), "FP16")]), None, None),
    (lambda rows: ("cancer", [_input("input", np.array([[b"x"] * 30], dtype=object), "BYTES")]),
     "StatusCode.INVALID_ARGUMENT", "double"),
])
def test_bad_requests_get_the_status_and_message_of_rest(grpc_server, make, status, words):
    clients, models = grpc_server
    name, inputs = make(models["cancer"].X.to_numpy()[:3])
    if status is None:  # FP16 is a V2 datatype: it widens to the model's doubles
        assert clients["cancer"].infer(name, inputs).as_numpy("predict").shape == (3,)
        return
    with pytest.raises(InferenceServerException) as caught:
        clients["cancer"].infer(name, inputs)
    assert caught.value.status() == status
    assert words in caught.value.message()


def test_malformed_raw_contents_are_refused_not_crashed_on(grpc_server):
    """A hand-made request whose raw bytes do not match the declared shape."""
    import grpc

    from modelcycle.serving import proto

    clients, _ = grpc_server
    channel = grpc.insecure_channel(clients["cancer"]._channel._channel.target().decode())
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=proto.ModelInferRequest.SerializeToString,
                                response_deserializer=proto.ModelInferResponse.FromString)
    for build in (lambda r: r.raw_input_contents.append(b"\x00" * 7),
                  lambda r: (r.raw_input_contents.append(b"\x00" * 240), r.raw_input_contents.append(b"")),
                  lambda r: None):
        request = proto.ModelInferRequest(model_name="cancer")
        request.inputs.add(name="input", datatype="FP64", shape=[1, 30])
        build(request)
        with pytest.raises(grpc.RpcError) as caught:
            infer(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    request = proto.ModelInferRequest(model_name="cancer")
    request.inputs.add(name="input", datatype="FP64", shape=[-1, 30])
    with pytest.raises(grpc.RpcError) as caught:
        infer(request, timeout=10)
    assert "negative" in caught.value.details()
    channel.close()


def test_an_unexpected_error_is_an_internal_status_with_our_message(grpc_server, monkeypatch):
    from modelcycle.serving import codecs

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    clients, models = grpc_server
    monkeypatch.setattr(codecs, "select_outputs", broken)
    with pytest.raises(InferenceServerException) as caught:
        clients["cancer"].infer("cancer", [_input("input", models["cancer"].X.to_numpy()[:1], "FP64")])
    assert caught.value.status() == "StatusCode.INTERNAL"
    assert caught.value.message() == "Internal error (RuntimeError); see the server log."


def test_out_of_range_integers_and_too_many_dimensions_are_invalid_and_counted(grpc_server):
    """As REST answers them: a 400's status with the same words; and every refused request,
    whether refused while its tensors are decoded or after, is counted on /metrics."""
    import grpc
    from prometheus_client.parser import text_string_to_metric_families

    from modelcycle.serving import proto
    from modelcycle.serving.metrics import render

    def refused() -> float:
        return sum(s.value for f in text_string_to_metric_families(render()[0].decode()) for s in f.samples
                   if s.name == "modelcycle_serving_requests_total" and s.labels.get("endpoint") == "grpc"
                   and s.labels.get("status") == "400")

    clients, _ = grpc_server
    channel = grpc.insecure_channel(clients["cancer"]._channel._channel.target().decode())
    infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                                request_serializer=proto.ModelInferRequest.SerializeToString,
                                response_deserializer=proto.ModelInferResponse.FromString)
    before = refused()
    for datatype, field, value, words in [("INT8", "int_contents", 300, "INT8 holds -128 to 127"),
                                          ("UINT16", "uint_contents", 70000, "UINT16 holds 0 to 65535"),
                                          ("INT16", "int_contents", -70000, "INT16 holds -32768 to 32767")]:
        request = proto.ModelInferRequest(model_name="cancer")
        tensor = request.inputs.add(name="input", datatype=datatype, shape=[1, 30])
        getattr(tensor.contents, field).extend([value] * 30)
        with pytest.raises(grpc.RpcError) as caught:
            infer(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        assert words in caught.value.details()
    request = proto.ModelInferRequest(model_name="cancer")
    request.inputs.add(name="input", datatype="FP64", shape=[1] * 65 + [30]).contents.fp64_contents.extend([1.0] * 30)
    with pytest.raises(grpc.RpcError) as caught:
        infer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "at most 64 dimensions" in caught.value.details()
    request = proto.ModelInferRequest(model_name="cancer", id="a\x00b")
    request.inputs.add(name="input", datatype="FP64", shape=[1, 30]).contents.fp64_contents.extend([1.0] * 30)
    with pytest.raises(grpc.RpcError) as caught:
        infer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused() == before + 5

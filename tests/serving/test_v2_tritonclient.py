"""tritonclient.http, unmodified, against the REST V2 endpoints: health, metadata and inference
for the classifier, the regressor, the tensor model and the string-column model, in JSON and in
the binary tensor extension, with answers checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

tritonhttp = pytest.importorskip("tritonclient.http", reason="tritonclient[http] is a test dependency")
from tritonclient.utils import InferenceServerException  # noqa: E402


def _client(server):
    return tritonhttp.InferenceServerClient(server.url.removeprefix("http://"), connection_timeout=10,
                                            network_timeout=30)


def _column_inputs(X, binary: bool) -> list:
    inputs = []
    for column in X.columns:
        values = X[column].to_numpy()
        if values.dtype.kind in "OU":
            values = values.astype(object)
            tensor = tritonhttp.InferInput(column, [len(values)], "BYTES")
        else:
            tensor = tritonhttp.InferInput(column, [len(values), 1], "FP64" if values.dtype.kind == "f" else "INT64")
            values = values.reshape(-1, 1)
        tensor.set_data_from_numpy(values, binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("binary", [True, False])
def test_the_classifier(serving_store, serve, binary):
    model = serving_store.models["cancer"]
    server = serve(model.ref)
    client = _client(server)
    try:
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("cancer") and client.is_model_ready("cancer", "1")
        assert not client.is_model_ready("cancer", "2") and not client.is_model_ready("fraud")
        assert client.get_server_metadata()["name"] == "modelcycle"
        metadata = client.get_model_metadata("cancer")
        assert metadata["versions"] == ["1"] and metadata["inputs"][0] == {"name": "mean radius", "datatype": "FP64",
                                                                           "shape": [-1]}
        X = model.X[:7]
        outputs = [tritonhttp.InferRequestedOutput("predict", binary_data=binary),
                   tritonhttp.InferRequestedOutput("predict_proba", binary_data=binary)]
        result = client.infer("cancer", _column_inputs(X, binary), outputs=outputs, request_id="triton-1")
        np.testing.assert_array_equal(result.as_numpy("predict"), model.estimator.predict(X))
        np.testing.assert_allclose(result.as_numpy("predict_proba"), model.estimator.predict_proba(X), atol=1e-5)
        response = result.get_response()
        assert response["model_version"] == "1" and response["id"] == "triton-1"
        # one [n, k] tensor, a version, and the default outputs (all binary, as tritonclient asks)
        tensor = tritonhttp.InferInput("input", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X.to_numpy(np.float32), binary_data=binary)
        result = client.infer("cancer", [tensor], model_version="1")
        np.testing.assert_array_equal(result.as_numpy("predict"), model.estimator.predict(X))
    finally:
        client.close()


def test_the_regressor(serving_store, serve):
    model = serving_store.models["diabetes"]
    server = serve(model.ref)
    client = _client(server)
    try:
        X = model.X
        result = client.infer("diabetes", _column_inputs(X, True))
        np.testing.assert_allclose(result.as_numpy("predict"), model.estimator.predict(X), rtol=1e-5)
        assert result.as_numpy("predict_proba") is None
    finally:
        client.close()


@pytest.mark.parametrize("binary", [True, False])
def test_the_tensor_model(serving_store, serve, binary):
    model = serving_store.models["digits"]
    server = serve(model.ref)
    client = _client(server)
    try:
        X = model.X[:25]
        tensor = tritonhttp.InferInput("pixels", list(X.shape), "FP32")
        tensor.set_data_from_numpy(X, binary_data=binary)
        result = client.infer("digits", [tensor], outputs=[tritonhttp.InferRequestedOutput("predict", binary)])
        np.testing.assert_array_equal(result.as_numpy("predict"), model.estimator.predict(X))
        tensor = tritonhttp.InferInput("pixels", list(X.shape), "UINT8")  # any datatype that converts
        tensor.set_data_from_numpy(X.astype(np.uint8), binary_data=binary)
        result = client.infer("digits", [tensor])
        np.testing.assert_array_equal(result.as_numpy("predict"), model.estimator.predict(X.astype(np.uint8)))
    finally:
        client.close()


def test_string_columns_in_and_string_labels_out(serving_store, serve):
    model = serving_store.models["fruit"]
    server = serve(model.ref)
    client = _client(server)
    try:
        X = model.X[:10]
        for binary in (True, False):
            result = client.infer("fruit", _column_inputs(X, binary),
                                  outputs=[tritonhttp.InferRequestedOutput("predict", binary_data=binary)])
            labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("predict").ravel()]
            assert labels == model.estimator.predict(X).tolist()
    finally:
        client.close()


def test_errors_reach_the_client_with_their_message(serving_store, serve):
    model = serving_store.models["cancer"]
    server = serve(model.ref)
    client = _client(server)
    try:
        X = model.X[:2]
        inputs = _column_inputs(X.drop(columns=["mean area"]), True)
        with pytest.raises(InferenceServerException) as caught:
            client.infer("cancer", inputs)
        assert caught.value.status() == "400" and "Missing column 'mean area'" in caught.value.message()
        wrong = tritonhttp.InferInput("mean radius", [2], "BYTES")
        wrong.set_data_from_numpy(np.array([b"a", b"b"], dtype=object))
        with pytest.raises(InferenceServerException) as caught:
            client.infer("cancer", [wrong, *_column_inputs(X.drop(columns=["mean radius"]), True)])
        assert "Column 'mean radius' must be double; got string" in caught.value.message()
        with pytest.raises(InferenceServerException) as caught:
            client.infer("fraud", inputs)
        assert caught.value.status() == "404" and "No model 'fraud' is served here" in caught.value.message()
        with pytest.raises(InferenceServerException) as caught:
            client.get_model_metadata("cancer", "9")
        assert caught.value.status() == "404"
    finally:
        client.close()

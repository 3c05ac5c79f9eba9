"""Codecs: V2 bodies in every datatype (JSON and the binary tensor extension, checked against
tritonclient's own serialisation) and MLflow scoring bodies, to the model's inputs and back."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from tritonclient.utils import deserialize_bytes_tensor, np_to_triton_dtype, serialize_byte_tensor

from modelcycle.exceptions import InvalidInput
from modelcycle.serving import codecs

ALL_DTYPES = ["BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16", "FP32",
              "FP64", "BYTES"]


@pytest.fixture(scope="module")
def digits(served_models):
    return served_models["digits"]


def _v2(*inputs, **extra) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def _values(datatype: str, n: int) -> np.ndarray:
    if datatype == "BOOL":
        return np.arange(n) % 2 == 0
    if datatype == "BYTES":
        return np.array([f"value {i} é" for i in range(n)], dtype=object)
    return (np.arange(n) % 100).astype(codecs.V2_DTYPES[datatype])


@pytest.mark.parametrize("datatype", ALL_DTYPES)
def test_every_v2_datatype_decodes_from_json_and_from_binary(datatype, served_models):
    from modelcycle.serving.codecs import _binary_tensor, _json_tensor

    values = _values(datatype, 6).reshape(2, 3)
    data = values.ravel().tolist()
    decoded = _json_tensor(data, datatype, (2, 3), "Input 'x'")
    assert decoded.shape == (2, 3) and decoded.tolist() == values.tolist()
    assert datatype == "BYTES" or decoded.dtype == codecs.V2_DTYPES[datatype]
    nested = _json_tensor(values.tolist(), datatype, (2, 3), "Input 'x'")  # nested lists are row-major too
    assert nested.tolist() == values.tolist()
    if datatype == "BYTES":
        raw = serialize_byte_tensor(np.array([v.encode() for v in values.ravel()], dtype=object)).item()
    else:
        raw = values.tobytes()
        assert np_to_triton_dtype(values.dtype) == datatype  # the same names as tritonclient's
    assert _binary_tensor(memoryview(raw), datatype, (2, 3), "Input 'x'").tolist() == values.tolist()


@pytest.mark.parametrize("datatype, data, message", [
    ("INT8", [1, 300], "Input 'x': INT8 holds -128 to 127; 'data' has 300."),
    ("UINT8", [-1, 2], "Input 'x': UINT8 holds 0 to 255; 'data' has -1."),
    ("FP16", [1.0, 70000.0], "Input 'x': FP16 holds up to ±65504; 'data' has 70000.0."),
    ("FP32", [1e39, 1.0], "Input 'x': FP32 holds up to ±3.4028e+38; 'data' has 1e+39."),
    ("INT32", [1.5, 2], "datatype INT32 takes whole numbers; 'data' has fractional numbers (values like 1.5, 2.0)"),
    ("FP32", ["a", "b"], "datatype FP32 takes numbers; 'data' has strings"),
    ("FP64", [1.0, None], "datatype FP64 takes numbers; 'data' has null"),
    ("BOOL", [1, 0], "datatype BOOL takes true or false; 'data' has int64"),
    ("BYTES", [1, 2], "datatype BYTES takes strings"),
    ("FP64", [1.0, 2.0, 3.0], "shape [2] takes 2 values; 'data' has 3"),
    ("FP64", [[1.0], [2.0, 3.0]], "'data' must be a flat list of FP64 values, or nested lists of one length per level"),
])
def test_bad_v2_data_is_refused_with_what_was_wrong(datatype, data, message):
    from modelcycle.serving.codecs import _json_tensor

    with pytest.raises(InvalidInput) as caught:
        _json_tensor(data, datatype, (2,), "Input 'x'")
    assert message in caught.value.message


def test_a_table_model_takes_one_input_per_column_or_one_tensor(served_models, serving_store):
    served = served_models["cancer"]
    X = serving_store.models["cancer"].X[:4]
    per_column = codecs.decode_v2(_v2(*[{"name": c, "shape": [4], "datatype": "FP64", "data": X[c].tolist()}
                                        for c in X.columns]), served)
    as_n_by_1 = codecs.decode_v2(_v2(*[{"name": c, "shape": [4, 1], "datatype": "FP32",
                                        "data": X[c].tolist()} for c in X.columns]), served)
    tensor = codecs.decode_v2(_v2({"name": "input-0", "shape": [4, 30], "datatype": "FP64",
                                   "data": X.to_numpy().ravel().tolist()}), served)
    for request in (per_column, as_n_by_1, tensor):
        checked = served.check(request.inputs)
        np.testing.assert_allclose(checked["mean area"], X["mean area"], rtol=1e-6)
        assert request.outputs is None and request.binary_outputs == set()
    with pytest.raises(InvalidInput, match="Unknown input 'radius': the model 'cancer' takes one input per column"):
        codecs.decode_v2(_v2({"name": "radius", "shape": [1], "datatype": "FP64", "data": [1.0]},
                             {"name": "mean area", "shape": [1], "datatype": "FP64", "data": [1.0]}), served)


def test_a_tensor_model_takes_its_tensor(digits, serving_store):
    X = serving_store.models["digits"].X[:3]
    request = codecs.decode_v2(_v2({"name": "anything", "shape": [3, 64], "datatype": "FP32",
                                    "data": X.ravel().tolist()}), digits)
    np.testing.assert_array_equal(digits.check(request.inputs), X)
    with pytest.raises(InvalidInput, match="The model 'digits' takes one tensor"):
        codecs.decode_v2(_v2({"name": "a", "shape": [1], "datatype": "FP32", "data": [1]},
                             {"name": "b", "shape": [1], "datatype": "FP32", "data": [1]}), digits)


def test_requested_outputs_and_binary_outputs(served_models):
    served = served_models["cancer"]
    tensor = {"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}
    request = codecs.decode_v2(_v2(tensor, outputs=[{"name": "predict_proba", "parameters": {"binary_data": True}}]),
                               served)
    assert request.outputs == ["predict_proba"] and request.binary_outputs == {"predict_proba"}
    request = codecs.decode_v2(_v2(tensor, parameters={"binary_data_output": True}), served)
    assert request.outputs is None and request.binary_outputs == {"predict", "predict_proba"}
    with pytest.raises(InvalidInput, match="unknown output 'scores'; the model 'cancer' gives predict, predict_proba"):
        codecs.decode_v2(_v2(tensor, outputs=[{"name": "scores"}]), served)


def test_binary_inputs_follow_the_json_header(served_models):
    served = served_models["fruit"]
    colors = np.array([b"red", b"yellow"], dtype=object)
    raw_colors = serialize_byte_tensor(colors).item()
    weights = np.array([170.0, 120.0])
    header = _v2({"name": "color", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw_colors)}},
                 {"name": "size", "shape": [2], "datatype": "BYTES", "data": ["M", "S"]},
                 {"name": "weight", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}},
                 {"name": "count", "shape": [2], "datatype": "INT64", "data": [3, 4]})
    request = codecs.decode_v2(header + raw_colors + weights.tobytes(), served, header_length=len(header))
    checked = served.check(request.inputs)
    assert checked["color"].tolist() == ["red", "yellow"] and checked["weight"].tolist() == [170.0, 120.0]
    with pytest.raises(InvalidInput, match="Input .color.: binary_data_size 17 runs past the 3 bytes"):
        codecs.decode_v2(header + b"abc", served, header_length=len(header))
    with pytest.raises(InvalidInput, match="bytes of binary data that no input claims"):
        codecs.decode_v2(header + raw_colors + weights.tobytes() + b"x", served, header_length=len(header))
    with pytest.raises(InvalidInput, match="has binary_data_size but the request has no Inference-Header-Content-Length"):
        codecs.decode_v2(header, served)


def test_v2_responses_in_json_and_binary(served_models):
    served = served_models["fruit"]
    outputs = {"predict": np.array(["apple", "pear"], dtype=object),
               "predict_proba": np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], dtype=np.float32)}
    body, header_length = codecs.encode_v2(served, "abc", outputs)
    assert header_length is None
    response = orjson.loads(body)
    assert response["model_name"] == "fruit" and response["model_version"] == "1" and response["id"] == "abc"
    assert response["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [2], "data": ["apple", "pear"]},
        {"name": "predict_proba", "datatype": "FP32", "shape": [2, 3], "data": [0.5, 0.25, 0.25, 0.1, 0.8, 0.1]}]
    body, header_length = codecs.encode_v2(served, "abc", outputs, ["predict", "predict_proba"],
                                           {"predict", "predict_proba"})
    header = orjson.loads(body[:header_length])
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    blob = body[header_length:]
    labels = deserialize_bytes_tensor(blob[:sizes[0]])
    assert [v.decode() for v in labels] == ["apple", "pear"]
    np.testing.assert_array_equal(np.frombuffer(blob[sizes[0]:], dtype=np.float32).reshape(2, 3), outputs["predict_proba"])


@pytest.mark.parametrize("body", [
    b"{not json", b"[1, 2]", b'{"inputs": []}', b'{"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}',
    b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}]}',
    b'{"inputs": [{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}]}',
    b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]}',
    b'{"id": 5, "inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": [1]}]}',
])
def test_malformed_v2_requests_are_invalid_input(body, served_models):
    with pytest.raises(InvalidInput):
        codecs.decode_v2(body, served_models["cancer"])


# ---------------------------------------------------------------------- MLflow /invocations
def _invocation_bodies(X) -> dict[str, bytes]:
    columns = list(X.columns)
    records = X.to_dict(orient="records")
    return {
        "dataframe_split": orjson.dumps({"dataframe_split": {"columns": columns, "data": X.values.tolist()}}),
        "dataframe_split with index": orjson.dumps({"dataframe_split": {"index": list(range(len(X))), "columns": columns,
                                                                       "data": X.values.tolist()}}),
        "dataframe_records": orjson.dumps({"dataframe_records": records}),
        "instances": orjson.dumps({"instances": records}),
        "inputs": orjson.dumps({"inputs": {c: X[c].tolist() for c in columns}, "params": {}}),
    }


def test_every_invocations_format_gives_the_same_inputs(served_models, serving_store):
    for name in ("cancer", "fruit"):
        served, X = served_models[name], serving_store.models[name].X[:3]
        expected = serving_store.models[name].estimator.predict(X)
        bodies = _invocation_bodies(X)
        for fmt, body in bodies.items():
            inputs = served.check(codecs.decode_invocations(body, "application/json", served))
            np.testing.assert_array_equal(served.predict(inputs)["predict"], expected, err_msg=f"{name} {fmt}")
        csv = X.to_csv(index=False).encode()
        inputs = served.check(codecs.decode_invocations(csv, "text/csv; charset=utf-8", served))
        np.testing.assert_array_equal(served.predict(inputs)["predict"], expected)
    # lists of rows, in signature order
    served, X = served_models["cancer"], serving_store.models["cancer"].X[:2]
    rows = orjson.dumps({"instances": X.values.tolist()})
    assert served.rows(served.check(codecs.decode_invocations(rows, "application/json", served))) == 2


def test_a_tensor_model_takes_instances_and_inputs(digits, serving_store):
    X = serving_store.models["digits"].X[:2]
    for key in ("instances", "inputs"):
        inputs = codecs.decode_invocations(orjson.dumps({key: X.tolist()}), "application/json", digits)
        np.testing.assert_array_equal(digits.check(inputs), X)
    inputs = codecs.decode_invocations(orjson.dumps({"dataframe_split": {"data": X.tolist()}}), "application/json",
                                       digits)
    np.testing.assert_array_equal(digits.check(inputs), X)


@pytest.mark.parametrize("body, content_type, message", [
    (b'{"dataframe_split": {}, "instances": []}', "application/json",
     "exactly one of dataframe_split, dataframe_records, instances, inputs (and optionally params); got 'dataframe_split', 'instances'"),
    (b'{"rows": []}', "application/json", "got 'rows'"),
    (b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', "application/json",
     "dataframe_split.data: row 0 must be a list of 1 values, one per column; got [1, 2]"),
    (b'{"dataframe_records": [1]}', "application/json", "record 0 must be an object of column: value"),
    (b'{"dataframe_split": "x"}', "application/json", "dataframe_split must be an object with 'columns'"),
    (b"color,size\nred", "text/csv", "CSV line 2 has 1 fields; the header has 2"),
    (b"color,size,weight,count\nred,M,heavy,1", "text/csv", "Column 'weight' must be double; got 'heavy' in the CSV"),
    (b"", "text/csv", "The CSV body is empty"),
    (b'color,size\nred,"M', "text/csv", "The CSV body cannot be read"),
    (b"{}", "text/plain", "Content-Type 'text/plain' is not supported"),
    (b"{", "application/json", "The request body is not valid JSON"),
])
def test_bad_invocations_bodies(served_models, body, content_type, message):
    with pytest.raises(InvalidInput) as caught:
        codecs.decode_invocations(body, content_type, served_models["fruit"])
    assert message in caught.value.message


def test_unsupported_media_type_is_415(served_models):
    with pytest.raises(codecs.UnsupportedMediaType) as caught:
        codecs.decode_invocations(b"{}", "application/x-www-form-urlencoded", served_models["cancer"])
    assert caught.value.http_status == 415


def test_predictions_in_mlflow_format():
    assert orjson.loads(codecs.encode_predictions({"predict": np.array([1, 0])})) == {"predictions": [1, 0]}
    assert orjson.loads(codecs.encode_predictions({"predict": np.array(["a"], dtype=object)})) == {"predictions": ["a"]}
    assert orjson.loads(codecs.encode_predictions({"predict": np.array([0.5], dtype=np.float32)})) == {
        "predictions": [0.5]}


def test_model_metadata_lists_columns_with_v2_datatypes(served_models):
    metadata = codecs.model_metadata(served_models["fruit"])
    assert metadata["name"] == "fruit" and metadata["versions"] == ["1"] and metadata["platform"] == "onnx_sklearn"
    assert metadata["inputs"] == [{"name": "color", "datatype": "BYTES", "shape": [-1]},
                                  {"name": "size", "datatype": "BYTES", "shape": [-1]},
                                  {"name": "weight", "datatype": "FP64", "shape": [-1]},
                                  {"name": "count", "datatype": "INT64", "shape": [-1]}]
    assert metadata["outputs"] == [{"name": "predict", "datatype": "BYTES", "shape": [-1]},
                                   {"name": "predict_proba", "datatype": "FP32", "shape": [-1, 3]}]
    tensor = codecs.model_metadata(served_models["digits"])
    assert tensor["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]

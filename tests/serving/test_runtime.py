"""ServedModel: loading by reference with each backend, predictions checked against
scikit-learn's on held-out rows, and inputs checked against the signature without pandas."""

from __future__ import annotations

import numpy as np
import pytest

from modelcycle.exceptions import InvalidInput
from modelcycle.serving.runtime import ServedModel, conform_column


def _columns(X) -> dict[str, np.ndarray]:
    return {c: X[c].to_numpy() for c in X.columns}


@pytest.mark.parametrize("_serving_store_template", ["sqlite", "postgresql"], indirect=True)
def test_load_pins_the_reference_and_predicts_like_sklearn(serving_store):
    model = serving_store.models["cancer"]
    served = ServedModel.load("cancer@champion", store=serving_store.store)
    assert (served.name, served.version, served.version_text, served.backend) == ("cancer", 1, "1", "onnx")
    assert served.uri == "cancer@champion" and served.task == "classification" and served.classes == [0, 1]
    assert served.load_seconds > 0 and served.outputs == ["predict", "predict_proba"]
    outputs = served.predict(served.check(_columns(model.X)))
    np.testing.assert_array_equal(outputs["predict"], model.estimator.predict(model.X))
    np.testing.assert_allclose(outputs["predict_proba"], model.estimator.predict_proba(model.X), atol=1e-5)
    assert served.output_dtypes["predict_proba"] == (np.dtype(np.float32), (2,))


def test_native_backend_predicts_like_sklearn(serving_store):
    model = serving_store.models["fruit"]
    served = ServedModel.load(model.ref, backend="native", store=serving_store.store)
    assert served.backend == "native"
    outputs = served.predict(served.check(_columns(model.X)))
    np.testing.assert_array_equal(outputs["predict"], model.estimator.predict(model.X))
    np.testing.assert_allclose(outputs["predict_proba"], model.estimator.predict_proba(model.X))


def test_every_model_kind_predicts_like_sklearn(served_models, serving_store):
    for name in ("diabetes", "digits", "fruit"):
        model, served = serving_store.models[name], served_models[name]
        assert served.backend == "onnx", name
        inputs = model.X if served.tensor is not None else _columns(model.X)
        outputs = served.predict(served.check(inputs))
        expected = model.estimator.predict(model.X)
        if name == "diabetes":
            np.testing.assert_allclose(outputs["predict"], expected, rtol=1e-5)
            assert list(outputs) == ["predict"]
        else:
            np.testing.assert_array_equal(outputs["predict"], expected)
            np.testing.assert_allclose(outputs["predict_proba"], model.estimator.predict_proba(model.X), atol=1e-4)


def test_a_table_model_takes_an_n_by_k_tensor(served_models, serving_store):
    model, served = serving_store.models["cancer"], served_models["cancer"]
    checked = served.check(model.X.to_numpy())
    assert list(checked) == list(model.X.columns)
    np.testing.assert_array_equal(served.predict(checked)["predict"], model.estimator.predict(model.X))


def test_extra_columns_are_dropped_and_n_by_1_columns_flattened(served_models, serving_store):
    X = serving_store.models["fruit"].X[:3]
    columns = {c: X[c].to_numpy().reshape(-1, 1) for c in X.columns} | {"extra": np.arange(3)}
    checked = served_models["fruit"].check(columns)
    assert list(checked) == ["color", "size", "weight", "count"] and checked["weight"].shape == (3,)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.pop("weight"), "Missing column 'weight': the model takes color: string, size: string, weight: double"),
    (lambda c: c.update(weight=np.array(["heavy"] * 3)), "Column 'weight' must be double; got string"),
    (lambda c: c.update(color=np.array([1, 2, 3])), "Column 'color' must be string; got integer (int64) (values like 1, 2, 3)"),
    (lambda c: c.update(count=np.array([1.5, 2.0, 3.0])), "Column 'count' must be long; got float"),
    (lambda c: c.update(weight=np.array([True, False, True])), "Column 'weight' must be double; got boolean"),
    (lambda c: c.update(count=np.array([True, False, True])), "Column 'count' must be long; got boolean"),
    (lambda c: c.update(count=np.array([2 ** 63, 1, 1], dtype=np.uint64)),
     "Column 'count' must be long (int64, -9223372036854775808 to 9223372036854775807); got 9223372036854775808, which is out of range"),
    (lambda c: c.update(weight=np.ones((3, 2))), "Column 'weight' takes one value per row (shape [n] or [n, 1]); got shape [3, 2]"),
    (lambda c: c.update(weight=np.ones(2)), "Column 'weight' has 2 values and column 'color' has 3"),
    (lambda c: c.update(count=np.array([1, None, 3], dtype=object)), "Column 'count' must be long; got null None"),
    (lambda c: c.update(color=np.array(["red", None, "red"], dtype=object)), "Column 'color' must be string; got null"),
])
def test_bad_columns_name_the_column_what_it_takes_and_what_came(served_models, serving_store, change, message):
    X = serving_store.models["fruit"].X[:3]
    columns = _columns(X)
    change(columns)
    with pytest.raises(InvalidInput) as caught:
        served_models["fruit"].check(columns)
    assert message in caught.value.message


def test_a_null_in_a_number_column_is_a_missing_value(served_models, serving_store):
    X = serving_store.models["fruit"].X[:2]
    columns = _columns(X) | {"weight": np.array([None, 1.5], dtype=object)}
    weight = served_models["fruit"].check(columns)["weight"]
    assert weight.dtype == np.float64 and np.isnan(weight[0]) and weight[1] == 1.5


def test_integers_are_narrowed_only_when_they_fit():
    assert conform_column("n", "integer", np.array([1, 2 ** 31 - 1])).dtype == np.int32
    with pytest.raises(InvalidInput, match=r"Column 'n' must be integer \(int32, -2147483648 to 2147483647\); "
                                           r"got 2147483648, which is out of range"):
        conform_column("n", "integer", np.array([1, 2 ** 31]))
    assert conform_column("b", "boolean", np.array([0, 1])).tolist() == [False, True]
    with pytest.raises(InvalidInput, match="Column 'b' must be boolean"):
        conform_column("b", "boolean", np.array([0, 2]))
    assert conform_column("t", "datetime", np.array(["2024-05-01T12:00:00"])).dtype == np.dtype("datetime64[ns]")
    with pytest.raises(InvalidInput, match="Column 't' must be a datetime"):
        conform_column("t", "datetime", np.array(["yesterday"]))


def test_tensor_inputs_are_checked(served_models, serving_store):
    served = served_models["digits"]
    X = serving_store.models["digits"].X
    assert served.check(X[:2].astype(np.float64)).dtype == np.float32  # widened types convert
    assert served.check(X[:2].astype(np.int64)).dtype == np.float32
    with pytest.raises(InvalidInput, match=r"The model takes a tensor of shape \[-1, 64\] \(-1: any size\); got shape \[2, 63\]"):
        served.check(X[:2, :63])
    with pytest.raises(InvalidInput, match="The model takes a tensor of float32; got string"):
        served.check(np.array([["a"] * 64]))
    with pytest.raises(InvalidInput, match="no rows"):
        served.check(X[:0])


def test_values_beyond_float32_are_refused_by_the_onnx_form(served_models, serving_store):
    X = serving_store.models["cancer"].X[:2]
    columns = _columns(X) | {"mean area": np.array([1e39, 1.0])}
    served = served_models["cancer"]
    with pytest.raises(InvalidInput, match="The value 1e\\+39 in column 'mean area' is beyond the range of float32"):
        served.predict(served.check(columns))
    infinite = _columns(X) | {"mean area": np.array([np.inf, 1.0])}
    assert served.predict(served.check(infinite))["predict"].shape == (2,)  # not finite to begin with: the model decides


def test_warm_up_uses_the_input_example(served_models):
    served = served_models["fruit"]
    assert served.rows(served.example) == 20 and set(served.example) == {"color", "size", "weight", "count"}
    assert served.output_dtypes["predict"][0].kind in "OU"


def test_unknown_backend_and_unknown_model(serving_store):
    with pytest.raises(InvalidInput, match="backend must be auto, onnx or native; got 'tensorflow'"):
        ServedModel.load("cancer@production", backend="tensorflow", store=serving_store.store)
    from modelcycle.exceptions import NotFound

    with pytest.raises(NotFound):
        ServedModel.load("nosuchmodel@production", store=serving_store.store)

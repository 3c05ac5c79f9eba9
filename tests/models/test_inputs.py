"""Inputs as users have them: DataFrames with column labels that are not strings, numbers held
in object columns, missing values. Each is handled, or refused saying what to do; none reaches
scikit-learn to fail there with its own error, and none gives a silent wrong answer."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import modelcycle as mc
from modelcycle.models import ColumnSpec

pytestmark = pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.normal(40, 10, 200), "income": rng.normal(50, 15, 200),
                      "visits": rng.integers(0, 20, 200).astype(np.int64)})
    y = ((X["age"] - 40) / 10 + (X["income"] - 50) / 15 + rng.normal(0, 0.5, 200) > 0).astype(int).to_numpy()
    return X, y


def _log(model, example, name="model", **kwargs):
    with mc.start_run(experiment="inputs"):
        return mc.log_model(model, name, input_example=example, **kwargs)


# ---------------------------------------------------------------------------- column labels
def test_column_labels_that_are_not_strings_are_refused_saying_what_to_do(tracking, data):
    X, y = data
    unnamed = pd.DataFrame(X.to_numpy())  # labels 0, 1, 2: a frame made from an array
    model = LogisticRegression(max_iter=500).fit(unnamed, y)
    with mc.start_run(experiment="inputs") as run:
        with pytest.raises(mc.InvalidInput, match=re.escape(
                "The input_example's column labels must be strings (they name the signature's columns); got "
                "0, 1, 2 (int). Name the columns and fit the model on the named frame (e.g. X.columns = "
                "[f'x{i}' for i in X.columns]), or pass the example as an array (X.to_numpy())")):
            mc.log_model(model, "model", input_example=unnamed.head(10))
        with pytest.raises(mc.InvalidInput, match=r"column labels must be strings .* got 1 \(int\)"):
            mc.log_model(model, "model", input_example=X.head(10).set_axis(["age", 1, "visits"], axis=1))
        with pytest.raises(mc.InvalidInput, match="The input_example has the column 'age' twice"):
            mc.log_model(model, "model", input_example=X.head(10).set_axis(["age", "age", "visits"], axis=1))
    assert tracking.list_artifacts(run.id) == []  # refused before anything was stored

    info = _log(model, unnamed.to_numpy()[:10])  # as an array, it works
    np.testing.assert_array_equal(mc.load_model(info.uri).predict(unnamed.to_numpy()), model.predict(unnamed))


def test_a_frame_with_unnamed_columns_is_told_the_model_takes_named_ones(tracking, data):
    X, y = data
    X = X.astype(np.float64)
    loaded = mc.load_model(_log(LogisticRegression(max_iter=500).fit(X, y), X.head(10)).uri)
    with pytest.raises(mc.InvalidInput, match=r"Missing columns 'age', 'income', 'visits': the model takes age, "
                                              r"income, visits; the data's columns are labelled 0, 1, 2 \(int\)"):
        loaded.predict(pd.DataFrame(X.to_numpy()))
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), loaded.predict(X))  # an array goes by position


# ---------------------------------------------------------------------------- numbers in object columns
def test_numbers_in_object_columns_are_numbers(tracking, data):
    X, y = data
    model = LogisticRegression(max_iter=500).fit(X, y)
    as_objects = X.astype(object)  # e.g. rows read from JSON records, or a frame built row by row
    info = _log(model, as_objects.head(20))
    assert info.manifest.signature.inputs == [ColumnSpec("age", "double"), ColumnSpec("income", "double"),
                                              ColumnSpec("visits", "long")]
    assert info.manifest.onnx["file"] == "model.onnx"  # numeric columns: the converter takes them
    expected = model.predict_proba(X)
    for backend, tolerance in (("native", 1e-12), ("onnx", 1e-4)):
        loaded = mc.load_model(info.uri, backend=backend)
        np.testing.assert_allclose(loaded.predict_proba(X), expected, atol=tolerance)
        np.testing.assert_allclose(loaded.predict_proba(as_objects), expected, atol=tolerance)

    mixed = as_objects.head(3).copy()
    mixed.loc[1, "visits"] = "seven"
    with pytest.raises(mc.InvalidInput, match=r"Column 'visits' must be long; got string"):
        mc.load_model(info.uri).predict(mixed)


# ---------------------------------------------------------------------------- missing values
def test_missing_values_a_model_refuses_are_an_error_that_says_what_to_do(tracking, data):
    X, y = data
    model = LogisticRegression(max_iter=500).fit(X, y)
    info = _log(model, X.head(20))
    assert info.manifest.missing_values == {"refused": ["age", "income"]}  # the float columns; visits is int
    holes = X.head(5).copy()
    holes.loc[[1, 3], "income"] = np.nan
    for backend in ("native", "onnx"):  # ONNX would compute on, and answer something
        with pytest.raises(mc.InvalidInput, match=re.escape(
                "Column 'income' has missing values (2 rows, the first row 1), which this LogisticRegression "
                "does not accept. Impute them (e.g. a SimpleImputer step in the pipeline) or drop those rows "
                "before predicting.")):
            mc.load_model(info.uri, backend=backend).predict(holes)

    with mc.start_run(experiment="inputs"):
        with pytest.raises(mc.InvalidInput, match=re.escape(
                "The model could not predict on its input_example, which has missing values in 'income' (2 rows): "
                "this LogisticRegression does not accept them. Pass an example without missing values "
                "(example.dropna()), or impute them in the model")):
            mc.log_model(model, "model", input_example=holes)


def test_models_that_take_missing_values_get_them(tracking, data):
    X, y = data
    holes = X.copy()
    holes.loc[::7, "age"] = np.nan
    boosted = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(holes, y)
    info = _log(boosted, holes.head(20), onnx=False)
    assert info.manifest.missing_values == {"refused": []}
    np.testing.assert_allclose(mc.load_model(info.uri).predict_proba(holes), boosted.predict_proba(holes))

    # An imputer for one column only: missing values are refused exactly where they would fail.
    partial = make_pipeline(make_column_transformer((SimpleImputer(), ["age"]), remainder="passthrough"),
                            LogisticRegression(max_iter=500)).fit(holes, y)
    info = _log(partial, X.head(20), "partial", onnx=False)
    assert info.manifest.missing_values == {"refused": ["income"]}
    loaded = mc.load_model(info.uri)
    np.testing.assert_allclose(loaded.predict_proba(holes), partial.predict_proba(holes))
    with pytest.raises(mc.InvalidInput, match=r"Column 'income' has missing values \(1 row, the first row 0\)"):
        loaded.predict(X.head(3).assign(income=[np.nan, 1.0, 2.0]))


def test_a_tensor_with_missing_values_is_refused_where_the_model_refuses_them(tracking, data):
    X, y = data
    array = X.to_numpy()
    model = LogisticRegression(max_iter=500).fit(array, y)
    info = _log(model, array[:20])
    assert info.manifest.missing_values == {"refused": ["*"]}
    holes = array[:4].copy()
    holes[2, 1] = np.nan
    with pytest.raises(mc.InvalidInput, match=re.escape(
            "The input has missing values (1 row, the first row 2), which this LogisticRegression does not accept")):
        mc.load_model(info.uri, backend="onnx").predict(holes)

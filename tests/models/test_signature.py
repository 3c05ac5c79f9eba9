"""Inputs are converted to the signature's types only where no value changes on the way: a value
the target type cannot hold is an error that names the column (or the tensor), never a wrapped
integer or an infinite float."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import modelcycle as mc
from modelcycle.models.signature import ColumnSpec, Signature, TensorSpec, enforce

INT32_MAX = np.iinfo(np.int32).max
INT64_MAX = np.iinfo(np.int64).max


def _columns(**types: str) -> Signature:
    return Signature([ColumnSpec(name, kind) for name, kind in types.items()])


# ---------------------------------------------------------------------------- columns
def test_an_integer_beyond_int32_is_refused_naming_the_column():
    signature = _columns(count="integer")
    with pytest.raises(mc.InvalidInput, match=r"Column 'count' has 3000000000 \(row 2\), outside the range of "
                                              r"integer \(-2147483648 to 2147483647\)"):
        enforce(signature, pd.DataFrame({"count": np.array([1, 2, 3_000_000_000], dtype=np.int64)}))
    with pytest.raises(mc.InvalidInput, match=r"Column 'count' has -2147483649 \(row 0\)"):
        enforce(signature, pd.DataFrame({"count": np.array([-(2**31) - 1], dtype=np.int64)}))
    edge = enforce(signature, pd.DataFrame({"count": np.array([-(2**31), INT32_MAX], dtype=np.int64)}))
    assert edge["count"].dtype == np.int32 and edge["count"].tolist() == [-(2**31), INT32_MAX]


def test_an_unsigned_integer_beyond_int64_is_refused():
    signature = _columns(id="long")
    with pytest.raises(mc.InvalidInput, match=r"Column 'id' has 9223372036854775808 \(row 1\), outside the "
                                              r"range of long"):
        enforce(signature, pd.DataFrame({"id": np.array([5, 2**63], dtype=np.uint64)}))
    fits = enforce(signature, pd.DataFrame({"id": np.array([5, INT64_MAX], dtype=np.uint64)}))
    assert fits["id"].tolist() == [5, INT64_MAX]
    small = enforce(_columns(id="integer"), pd.DataFrame({"id": np.array([7, 4_000_000_000], dtype=np.uint32)})
                    .head(1))
    assert small["id"].dtype == np.int32 and small["id"].tolist() == [7]
    with pytest.raises(mc.InvalidInput, match=r"Column 'id' has 4000000000 \(row 1\)"):
        enforce(_columns(id="integer"), pd.DataFrame({"id": np.array([7, 4_000_000_000], dtype=np.uint32)}))


def test_a_double_beyond_float32_is_refused_and_infinities_and_nan_pass():
    signature = _columns(ratio="float")
    with pytest.raises(mc.InvalidInput, match=r"Column 'ratio' has -1e\+39 \(row 1\), outside the range of float"):
        enforce(signature, pd.DataFrame({"ratio": [0.5, -1e39]}))
    kept = enforce(signature, pd.DataFrame({"ratio": [0.5, np.inf, -np.inf, np.nan, 3e38]}))
    assert kept["ratio"].dtype == np.float32
    assert kept["ratio"].tolist()[:3] == [0.5, np.inf, -np.inf] and np.isnan(kept["ratio"][3])
    assert np.isfinite(kept["ratio"][4])


def test_a_missing_value_in_an_integer_column_is_refused_naming_the_column():
    with pytest.raises(mc.InvalidInput, match=r"Column 'count' has a missing value \(row 1\); the model takes "
                                              r"integer"):
        enforce(_columns(count="integer"), pd.DataFrame({"count": pd.array([1, None], dtype="Int64")}))
    converted = enforce(_columns(count="integer"), pd.DataFrame({"count": pd.array([1, 2], dtype="Int64")}))
    assert converted["count"].dtype == np.int32 and converted["count"].tolist() == [1, 2]


# ---------------------------------------------------------------------------- tensors
@pytest.mark.parametrize("dtype, values, shown", [
    ("int32", np.array([[1], [3_000_000_000]], dtype=np.int64), "3000000000"),
    ("int64", np.array([[1], [2**63]], dtype=np.uint64), "9223372036854775808"),
    ("uint8", np.array([[1], [-1]], dtype=np.int64), "-1"),
    ("uint16", np.array([[1], [70_000]], dtype=np.int64), "70000"),
    ("float32", np.array([[1.0], [1e39]]), "1e+39"),
])
def test_a_tensor_value_its_dtype_cannot_hold_is_refused(dtype, values, shown):
    signature = Signature(TensorSpec(dtype, (-1, 1)))
    with pytest.raises(mc.InvalidInput, match=rf"The tensor has {re.escape(shown)} at \[1, 0\], outside the "
                                              rf"range of {dtype}"):
        enforce(signature, values)


def test_a_tensor_converts_where_every_value_fits():
    assert enforce(Signature(TensorSpec("int32", (-1, 2))), np.array([[1, -2]], dtype=np.int64)).dtype == np.int32
    assert enforce(Signature(TensorSpec("uint8", (-1, 2))), np.array([[0, 255]], dtype=np.int64)).tolist() == [[0, 255]]
    assert enforce(Signature(TensorSpec("float32", (-1, 1))), np.array([[np.inf], [1.5]])).dtype == np.float32
    assert enforce(Signature(TensorSpec("float64", (-1, 1))), np.array([[2**62]], dtype=np.int64)).dtype == np.float64
    with pytest.raises(mc.InvalidInput, match="does not convert without loss"):
        enforce(Signature(TensorSpec("int64", (-1, 1))), np.array([[1.5]]))


# ---------------------------------------------------------------------------- through a logged model
class Echo:
    """Returns its first column: what the model was given."""

    def predict(self, X):
        return np.asarray(X)[:, 0]


@pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)
def test_a_loaded_model_refuses_an_integer_beyond_its_signature(tracking):
    example = pd.DataFrame({"count": np.array([1, 2], dtype=np.int32)})
    with mc.start_run(experiment="signature"):
        info = mc.log_model(Echo(), "echo", input_example=example)
    assert info.manifest.signature.inputs == [ColumnSpec("count", "integer")]
    loaded = mc.load_model(info.uri)
    assert loaded.predict(pd.DataFrame({"count": [7, INT32_MAX]})).tolist() == [7, INT32_MAX]
    with pytest.raises(mc.InvalidInput, match=r"Column 'count' has 3000000000 \(row 0\)"):
        loaded.predict(pd.DataFrame({"count": [3_000_000_000]}))
    with pytest.raises(mc.InvalidInput, match=r"Column 'count' has 3000000000 \(row 0\)"):
        loaded.predict([{"count": 3_000_000_000}])



@pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)
def test_the_onnx_form_refuses_a_double_beyond_float32(tracking):
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"a": np.linspace(0, 1, 20), "b": np.linspace(1, 3, 20)})
    model = LinearRegression().fit(X, X["a"] * 2 + X["b"])
    with mc.start_run(experiment="signature"):
        info = mc.log_model(model, "linear", input_example=X)
    onnx = mc.load_model(info.uri, backend="onnx")
    np.testing.assert_allclose(onnx.predict(X), model.predict(X), atol=1e-4)
    with pytest.raises(mc.InvalidInput, match=r"has 1e\+39 at \[1, 1\], beyond the range of float32.*"
                                              r"backend='native'"):
        onnx.predict(X.head(2).assign(b=[1.0, 1e39]))
    assert mc.load_model(info.uri).predict(X.head(2).assign(b=[1.0, 1e39]))[1] > 1e38

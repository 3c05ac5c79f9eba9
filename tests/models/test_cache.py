"""Model files are cached locally by digest; a cached file is checked against that digest every
time it is used, so a file replaced in the cache is neither unpickled nor loaded."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle import config

pytestmark = pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)


class _Marker:
    """Unpickling it leaves a file behind: proof that a pickle from the cache was run."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _cached(digest: str):
    (path,) = (config.home() / "cache" / "blobs" / digest[:2]).glob(f"{digest}.*")
    return path


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True, as_frame=True)


def test_a_pickle_replaced_in_the_cache_is_not_unpickled(tracking, cancer, tmp_path):
    X, y = cancer
    deep = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    with mc.start_run(experiment="cache"):
        info = mc.log_model(deep, "model", input_example=X.head(10))
    expected = deep.predict_proba(X)
    np.testing.assert_allclose(mc.load_model(info.uri).predict_proba(X), expected)  # fills the cache
    cached = _cached(info.manifest.files["model.pkl"]["sha256"])
    original = cached.read_bytes()

    cached.write_bytes(pickle.dumps(stump))  # another model under the same name
    np.testing.assert_allclose(mc.load_model(info.uri).predict_proba(X), expected)
    assert cached.read_bytes() == original  # fetched again from the store

    marker = tmp_path / "unpickled"
    cached.write_bytes(pickle.dumps(_Marker(str(marker))))
    np.testing.assert_allclose(mc.load_model(info.uri).predict_proba(X), expected)
    assert not marker.exists()


def test_an_onnx_file_replaced_in_the_cache_is_not_loaded(tracking, cancer):
    X, y = cancer
    deep = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    with mc.start_run(experiment="cache"):
        info = mc.log_model(deep, "model", input_example=X.head(10))
    onnx = mc.load_model(info.uri, backend="onnx")
    cached = _cached(info.manifest.files["model.onnx"]["sha256"])
    cached.write_bytes(b"not an onnx model")
    again = mc.load_model(info.uri, backend="onnx")
    np.testing.assert_array_equal(again.predict(X), onnx.predict(X))

"""Fixtures and helpers of the prediction log, feedback and batch tests: an S3 API on loopback
(moto's server) and small models logged to the test's store."""

from __future__ import annotations

import glob
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def s3_bucket(monkeypatch):
    """A real S3 API (moto's server) on a free loopback port with a bucket ``mc-log``; yields
    the endpoint. s3fs in this process and in subprocesses talks to it."""
    from tests.conftest import start_s3

    endpoint, server = start_s3(monkeypatch, "mc-log", "prediction logs")
    yield endpoint
    server.stop()


def s3_keys(endpoint: str, prefix: str = "") -> list[str]:
    import boto3

    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="mc-log", Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def segments(root) -> list[str]:
    return sorted(glob.glob(f"{root}/model=*/date=*/*.parquet"))


def read_all(root) -> pa.Table:
    tables = [pq.read_table(f) for f in segments(root)]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def now_ms() -> int:
    return int(time.time() * 1000)


def columns(n: int, start: float = 0.0) -> dict[str, np.ndarray]:
    return {"amount": np.arange(n, dtype=np.float64) + start, "country": np.array(["fr", "de"] * n, dtype=object)[:n]}


def outputs(n: int) -> dict[str, np.ndarray]:
    return {"predict": np.arange(n) % 2, "predict_proba": np.tile([[0.25, 0.75]], (n, 1))}


@pytest.fixture(scope="session")
def model_store(tmp_path_factory):
    """A store with registered models, made once per session: ``cancer`` (a random forest on
    scikit-learn's breast-cancer data, 30 double columns, classes 0 and 1), ``linear`` (a
    regression on 3 columns, two of them integers) and ``mixed`` (a classifier on a text and a
    number column, string classes) and ``nonneg`` (a Python model that raises on negative
    amounts). Returns (tracking URI, artifact URI)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.compose import make_column_transformer
    import pandas as pd

    import modelcycle as mc

    root = tmp_path_factory.mktemp("model-store")
    uris = (f"sqlite:///{root / 'mc.db'}", str(root / "artifacts"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODELCYCLE_HOME", str(root / "home"))
        mc.set_tracking_uri(*uris)
        try:
            X, y = load_breast_cancer(return_X_y=True, as_frame=True)
            forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(X, y)
            rng = np.random.default_rng(0)
            lin_X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.integers(0, 10, 200), "c": rng.integers(0, 5, 200)})
            linear = LinearRegression().fit(lin_X, lin_X.a * 2 + lin_X.b - lin_X.c)
            mixed_X = pd.DataFrame({"country": rng.choice(["fr", "de", "it"], 300), "amount": rng.normal(size=300)})
            mixed_y = np.where(mixed_X.amount > 0, "yes", "no")
            mixed = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["country"]),
                                                          remainder="passthrough"),
                                  LogisticRegression()).fit(mixed_X, mixed_y)
            with mc.start_run(experiment="serving-models"):
                mc.log_model(forest, "cancer", input_example=X.head(20), registered_model_name="cancer")
                mc.log_model(linear, "linear", input_example=lin_X.head(20), registered_model_name="linear")
                mc.log_model(mixed, "mixed", input_example=mixed_X.head(20), registered_model_name="mixed")
                mc.log_model(NonNegative(), "nonneg", input_example=pd.DataFrame({"amount": [1.0, 2.5]}),
                             registered_model_name="nonneg")
        finally:
            mc.set_tracking_uri(None)
    return uris


@pytest.fixture
def models(model_store):
    """mc.* pointed at the session's model store for this test."""
    import modelcycle as mc

    mc.set_tracking_uri(*model_store)
    yield model_store
    mc.set_tracking_uri(None)


def cancer_frame(rows: int, seed: int = 0):
    """``rows`` rows like the breast-cancer data (its rows resampled with noise)."""
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    rng = np.random.default_rng(seed)
    picked = X.to_numpy()[rng.integers(0, len(X), rows)]
    return pd.DataFrame(picked * rng.normal(1, 0.02, picked.shape), columns=X.columns)


class NonNegative:
    """A plain Python model that refuses negative amounts, as models with input checks of
    their own do: batch scoring must find the rows it fails on."""

    def predict(self, X):
        amounts = np.asarray(X["amount"], dtype=np.float64)
        if (amounts < 0).any():
            raise ValueError(f"amount must be >= 0; got {amounts[amounts < 0][0]}")
        return amounts * 2

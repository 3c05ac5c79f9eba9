"""Fixtures of the rollout tests: a store with a small classifier registered twice (version 1 in
Production, version 2 the challenger), and servers of a deployment on free loopback ports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (X["a"] + 0.5 * X["b"] + rng.normal(scale=0.3, size=n) > 0).astype(int)
    return X, y


@pytest.fixture
def fraud_store(tmp_path):
    """(tracking URI, artifact URI, store) with fraud v1 (Production) and v2 (alias challenger)."""
    import modelcycle as mc
    from modelcycle.registry import promote, register_model, set_alias
    from modelcycle.store import open_store
    from sklearn.linear_model import LogisticRegression

    uri, artifacts = f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts")
    mc.set_tracking_uri(uri, artifacts)
    X, y = _data(300, 0)
    for c in (1.0, 0.5):
        with mc.start_run(experiment="fraud"):
            info = mc.log_model(LogisticRegression(C=c).fit(X, y), "model", input_example=X[:5])
        register_model(info.uri, "fraud")
    promote("fraud", 1, force=True)
    set_alias("fraud", "challenger", 2)
    yield uri, artifacts, open_store(uri, artifacts)
    mc.set_tracking_uri(None)


def rows(n: int, seed: int = 1) -> list[dict]:
    X, _ = _data(n, seed)
    return X.to_dict("records")


class Faulty:
    """A real loaded model made to fail on some inputs (column a above ``threshold``) or to be slow."""

    def __init__(self, model, threshold: float | None = None, delay_s: float = 0.0):
        import time

        real = model.predict

        def predict(inputs):
            if delay_s:
                time.sleep(delay_s)
            if threshold is not None and (np.asarray(inputs["a"]) > threshold).any():
                raise RuntimeError("the candidate cannot score this row")
            return real(inputs)

        model.predict = predict
        self.model = model

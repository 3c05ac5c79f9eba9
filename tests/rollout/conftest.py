"""Fixtures of the rollout tests: a store with a small classifier registered twice (version 1 in
Production, version 2 the challenger), and servers of a deployment on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
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

    uri, artifacts = f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts")
    yield _register(uri, artifacts)
    mc.set_tracking_uri(None)


@pytest.fixture
def fraud_postgres(postgres_uri, tmp_path):
    """The same on PostgreSQL, emptied first: what several server processes share."""
    import modelcycle as mc
    from modelcycle.store import open_store
    from tests.conftest import _truncate

    artifacts = str(tmp_path / "artifacts")
    open_store(postgres_uri, artifacts)  # creates the schema on first use
    _truncate(postgres_uri)
    yield _register(postgres_uri, artifacts)
    mc.set_tracking_uri(None)


@pytest.fixture(params=["sqlite", "postgresql"])
def fraud_any(request):
    """``fraud_store`` or ``fraud_postgres``: the tests of what the database decides run on both."""
    return request.getfixturevalue("fraud_store" if request.param == "sqlite" else "fraud_postgres")


def _register(uri: str, artifacts: str):
    import modelcycle as mc
    from modelcycle.registry import promote, register_model, set_alias
    from modelcycle.store import open_store
    from sklearn.linear_model import LogisticRegression

    mc.set_tracking_uri(uri, artifacts)
    X, y = _data(300, 0)
    for c in (1.0, 0.5):
        with mc.start_run(experiment="fraud"):
            info = mc.log_model(LogisticRegression(C=c).fit(X, y), "model", input_example=X[:5])
        register_model(info.uri, "fraud")
    promote("fraud", 1, force=True)
    set_alias("fraud", "challenger", 2)
    return uri, artifacts, open_store(uri, artifacts)


def serve_deployment(store, name: str, bad: dict | None = None, log=None, refresh_s: float = 0.2,
                     watch: bool = True, lead: bool = True, worker: str = "w1"):
    """(holder, ServerThread) of the deployment ``name`` in this process; ``bad``: Faulty's
    arguments for version 2; ``log``: a PredictionLog; ``watch=False``: the test calls
    ``holder.check()`` itself; ``lead=False``: a worker that never runs the analysis."""
    from modelcycle.rollout.holder import DeploymentHolder
    from modelcycle.serving.app import ServerThread, create_app
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.serving.settings import ServingSettings

    def load(uri):
        model = ServedModel.load(uri, store=store)
        if bad is not None and uri.endswith("/2"):
            Faulty(model, **bad)
        return model

    holder = DeploymentHolder(name, store, load, refresh_interval_s=refresh_s, worker=worker, lead=lead)
    holder.load_initial()
    if watch:
        holder.start_watching()
    return holder, ServerThread(create_app(holder, ServingSettings(), log))


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


class ServeProcess:
    """`modelcycle serve --deployment NAME` in a process of its own, on a free port."""

    def __init__(self, name: str, uri: str, artifacts: str, refresh_s: float = 0.2, env: dict | None = None):
        from tests.conftest import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(artifacts).parent / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelcycle", "serve", "--deployment", name, "--port", str(self.port),
             "--refresh-interval", str(refresh_s)],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "MODELCYCLE_TRACKING_URI": uri, "MODELCYCLE_ARTIFACT_URI": artifacts, **(env or {})})

    @property
    def owner_suffix(self) -> str:
        return f":{self.proc.pid}"  # a worker's lease owner is host:pid

    def wait_ready(self, timeout_s: float = 45.0) -> ServeProcess:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready in {timeout_s:g} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

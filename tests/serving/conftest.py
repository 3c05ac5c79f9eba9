"""Fixtures of the serving tests: real models trained on scikit-learn's datasets, logged and
registered in a real store (SQLite; PostgreSQL with ``indirect`` parametrisation), and the model
server's app on a free loopback port in a real uvicorn server.

    serving_store            the store with the models below, mc.* pointed at it (read-only use)
    fresh_serving_store      a private copy of it (SQLite), for tests that move aliases or register
    serve                    serve(ref_or_served_model, settings=None, log=None) -> ServerThread (.url)

Models (``serving_store.models[name]``; ``.estimator`` is the fitted scikit-learn model, ``.X``
held-out rows it was not trained on):

    cancer    RandomForestClassifier(100 trees) on breast-cancer, 30 double columns; version 1 in
              Production and alias champion
    diabetes  RandomForestRegressor on diabetes, 10 double columns; Production
    digits    LogisticRegression on digits as one float32 tensor [-1, 64]; Production
    fruit     a pipeline over string columns (color, size) and numbers (weight: double,
              count: long) with string labels; Production
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

TRAIN_ROWS = {"cancer": 500, "diabetes": 400, "digits": 1600, "fruit": 300}


@dataclass
class ServingModel:
    name: str
    estimator: Any
    X: pd.DataFrame | np.ndarray  # held-out rows
    version: int = 1

    @property
    def ref(self) -> str:
        return f"{self.name}@production"

    @property
    def columns(self) -> list[str] | None:
        return list(self.X.columns) if isinstance(self.X, pd.DataFrame) else None


@dataclass
class ServingStore:
    tracking_uri: str
    artifact_uri: str
    models: dict[str, ServingModel] = field(default_factory=dict)
    store: Any = None

    def open(self):
        import modelcycle as mc
        from modelcycle.store import open_store

        mc.set_tracking_uri(self.tracking_uri, self.artifact_uri)
        self.store = open_store(self.tracking_uri, self.artifact_uri)
        return self


def fruit_data(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "yellow"], n)
    size = rng.choice(["S", "M", "L"], n)
    weight = rng.normal(150, 40, n).round(1)
    count = rng.integers(1, 12, n).astype(np.int64)
    X = pd.DataFrame({"color": color, "size": size, "weight": weight, "count": count})
    label = np.where(color == "yellow", "banana", np.where((color == "red") & (weight > 140), "apple", "pear"))
    flip = rng.random(n) < 0.05
    label[flip] = rng.choice(["apple", "pear", "banana"], int(flip.sum()))
    return X, label


def train_models() -> dict[str, tuple[Any, Any, Any]]:
    """name -> (estimator, training rows, held-out rows)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    out = {}
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    n = TRAIN_ROWS["cancer"]
    out["cancer"] = (RandomForestClassifier(n_estimators=100, random_state=0).fit(X[:n], y[:n]), X[:n], X[n:])
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    n = TRAIN_ROWS["diabetes"]
    out["diabetes"] = (RandomForestRegressor(n_estimators=30, max_depth=6, random_state=0).fit(X[:n], y[:n]),
                       X[:n], X[n:])
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    n = TRAIN_ROWS["digits"]
    out["digits"] = (make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(X[:n], y[:n]), X[:n], X[n:])
    X, y = fruit_data(400)
    n = TRAIN_ROWS["fruit"]
    pipeline = make_pipeline(
        ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), ["color", "size"])],
                          remainder="passthrough"),
        LogisticRegression(max_iter=1000))
    out["fruit"] = (pipeline.fit(X[:n], y[:n]), X[:n], X[n:].reset_index(drop=True))
    return out


def log_models(tracking_uri: str, artifact_uri: str, trained: dict) -> ServingStore:
    """Log and register every trained model, each version 1 in Production (cancer also under
    the alias champion)."""
    import modelcycle as mc
    from modelcycle.registry import promote, register_model, set_alias

    served = ServingStore(tracking_uri, artifact_uri)
    mc.set_tracking_uri(tracking_uri, artifact_uri)
    try:
        for name, (estimator, train, held_out) in trained.items():
            with mc.start_run(experiment="serving"):
                info = mc.log_model(estimator, "model", input_example=train[:20])
            assert info.manifest.has_onnx, f"{name} has no ONNX form: {info.manifest.onnx.get('reason')}"
            version = register_model(info.uri, name)
            promote(name, version.version, to="production", force=True)
            if name == "cancer":
                set_alias(name, "champion", version.version)
            served.models[name] = ServingModel(name, estimator, held_out, version.version)
    finally:
        while mc.active_run() is not None:
            mc.end_run()
        mc.set_tracking_uri(None)
    return served


@pytest.fixture(scope="session")
def trained_models():
    return train_models()


@pytest.fixture(scope="session")
def _serving_store_template(request, tmp_path_factory, trained_models):
    kind = getattr(request, "param", "sqlite")
    root = tmp_path_factory.mktemp(f"serving-{kind}")
    if kind == "sqlite":
        uri = f"sqlite:///{root / 'mc.db'}"
    elif kind == "postgresql":
        from modelcycle.store import open_store
        from tests.conftest import _truncate

        uri = request.getfixturevalue("postgres_uri")
        open_store(uri, str(root / "artifacts"))
        _truncate(uri)
    else:
        raise ValueError(f"serving_store is sqlite or postgresql; got {kind!r}")
    from modelcycle.store import clear_store_cache

    served = log_models(uri, str(root / "artifacts"), trained_models)
    clear_store_cache()
    return served


@pytest.fixture
def serving_store(request, _serving_store_template):
    """The shared store of the serving models, mc.* pointed at it. Do not change its registry:
    use fresh_serving_store for that. Parametrise ``_serving_store_template`` indirectly with
    "postgresql" for the PostgreSQL variant."""
    import modelcycle as mc

    template = _serving_store_template
    served = ServingStore(template.tracking_uri, template.artifact_uri, dict(template.models)).open()
    yield served
    mc.set_tracking_uri(None)


@pytest.fixture
def fresh_serving_store(tmp_path, trained_models, request):
    """A private SQLite copy of the serving store (the database file and the artifact folder),
    for tests that register versions or move aliases."""
    import modelcycle as mc

    template = request.getfixturevalue("_serving_store_template")
    if not template.tracking_uri.startswith("sqlite:///"):
        served = log_models(template.tracking_uri, template.artifact_uri, trained_models)
    else:
        source_db = Path(template.tracking_uri[len("sqlite:///"):])
        db = tmp_path / "serving.db"
        shutil.copy(source_db, db)
        for suffix in ("-wal", "-shm"):
            if source_db.with_name(source_db.name + suffix).exists():
                shutil.copy(source_db.with_name(source_db.name + suffix), db.with_name(db.name + suffix))
        artifacts = tmp_path / "artifacts"
        shutil.copytree(template.artifact_uri, artifacts)
        served = ServingStore(f"sqlite:///{db}", str(artifacts), dict(template.models))
    yield served.open()
    mc.set_tracking_uri(None)


@pytest.fixture
def serve(serving_store):
    """serve(ref or ServedModel, settings=None, log=None, backend="auto") -> a running ServerThread
    (``.url``) serving it; stopped after the test."""
    from modelcycle.serving.app import ServerThread, StaticHolder, create_app
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.serving.settings import ServingSettings

    servers = []

    def start(model, settings: ServingSettings | None = None, log=None, backend: str = "auto", store=None):
        if isinstance(model, str):
            model = ServedModel.load(model, backend=backend, store=store or serving_store.store)
        app = create_app(StaticHolder(model), settings or ServingSettings(), log)
        server = ServerThread(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def served_models(_serving_store_template, tmp_path_factory) -> dict:
    """name -> ServedModel (auto backend: ONNX) of every serving model, loaded once per session
    (read-only: share them, don't change them)."""
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.store import open_store

    template = _serving_store_template
    with pytest.MonkeyPatch.context() as patch:  # the model cache goes to a folder of its own
        patch.setenv("MODELCYCLE_HOME", str(tmp_path_factory.mktemp("served-home")))
        store = open_store(template.tracking_uri, template.artifact_uri)
        return {name: ServedModel.load(m.ref, store=store) for name, m in template.models.items()}

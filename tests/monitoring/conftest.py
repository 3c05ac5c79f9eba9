"""A model version trained on a stored dataset, and a day of its traffic in the prediction log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.serving.predlog import PredictionLog

T0 = 1_764_460_800_000  # 2025-11-30T00:00:00Z
HOUR = 3_600_000
FEATURES = ("x1", "x2", "x3", "cat")


def sample(rng: np.random.Generator, n: int, drifted: bool = False) -> dict[str, np.ndarray]:
    shift = 1.0 if drifted else 0.0
    return {"x1": rng.normal(shift, 1.0, n), "x2": rng.normal(5.0 + 2 * shift, 2.0, n),
            "x3": rng.exponential(1.0, n),
            "cat": rng.choice(np.array(["a", "b", "c"]), n, p=(0.2, 0.3, 0.5) if drifted else (0.5, 0.3, 0.2))}


def probability(x: dict[str, np.ndarray]) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(x["x1"] + 0.5 * (x["x2"] - 5.0))))


@pytest.fixture
def monitored(tmp_path):
    """(store, log uri): model "fraud" v1 from a run that used "transactions"@1 as train."""
    import modelcycle as mc
    from modelcycle.store import open_store

    uri, art = f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts")
    mc.set_tracking_uri(uri, art)
    store = open_store(uri, art)
    run = store.create_run(store.create_experiment("fraud").id)
    rng = np.random.default_rng(0)
    train = sample(rng, 20_000)
    frame = pd.DataFrame(train)
    frame["label"] = rng.random(20_000) < probability(train)
    mc.log_dataset(frame, "transactions", run_id=run.id)
    store.create_model_version("fraud", run.id, "model", "tester")
    yield store, str(tmp_path / "predictions")
    mc.set_tracking_uri(None)


class Overconfident:
    """A classifier of x1 and x2 whose probabilities are sharper than the truth's (the logit of
    ``probability`` times 3): its predictions are right as often, its confidence is not."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-3.0 * (frame["x1"].to_numpy() + 0.5 * (frame["x2"].to_numpy() - 5.0))))
        return np.column_stack([1 - p, p])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(np.int64)


@pytest.fixture
def modelled(tmp_path):
    """(store, log uri, model): "fraud" v1 is a logged Overconfident model whose run trained on
    "transactions"@1 and was evaluated (mc.evaluate) on "transactions-eval"@1."""
    yield from _modelled(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"), tmp_path)


@pytest.fixture
def modelled_on(store_uris, tmp_path):
    """``modelled`` on each backend: SQLite, PostgreSQL and through the tracking server."""
    yield from _modelled(*store_uris, tmp_path)


def _modelled(uri: str, art: str, tmp_path):
    import modelcycle as mc
    from modelcycle.store import open_store

    mc.set_tracking_uri(uri, art)
    store = open_store(uri, art)
    rng = np.random.default_rng(0)
    model = Overconfident()
    with mc.start_run(experiment="fraud") as run:
        for name, rows in (("transactions", 20_000), ("transactions-eval", 5_000)):
            x = sample(rng, rows)
            frame = pd.DataFrame(x)
            frame["label"] = (rng.random(rows) < probability(x)).astype(np.int64)
            if name == "transactions":
                mc.log_dataset(frame, name)
            else:
                mc.evaluate(model, frame, "label", features=list(FEATURES), dataset_name=name, plots=False,
                            report=False)
        mc.log_model(model, "model", input_example=frame[list(FEATURES)].head(5))
    mc.register_model(f"runs:/{run.id}/model", "fraud")
    yield store, str(tmp_path / "predictions"), model
    mc.set_tracking_uri(None)


def log_traffic(uri: str, hours, rows_per_hour: int = 2000, drift_from: int | None = None, seed: int = 1,
                version: int | None = 1, errors_per_hour: int = 2, request_rows: int = 50,
                label_share: float = 0.5, start: int = T0, model=None) -> pd.DataFrame:
    """Requests of ``request_rows`` rows spread over each hour, some errors; labels for a share of
    the requests, drawn from the true probability. The outputs are ``model``'s (a classifier of
    FEATURES), else the true probability's (a calibrated model). Returns the labels."""
    from modelcycle.serving.feedback import log_feedback

    rng = np.random.default_rng(seed)
    labels = []
    with PredictionLog(uri, max_segment_age_s=3600) as log:
        for hour in hours:
            drifted = drift_from is not None and hour >= drift_from
            requests = rows_per_hour // request_rows
            for i in range(requests):
                t = start + hour * HOUR + int((i + 0.5) * HOUR / (requests + errors_per_hour))
                x = sample(rng, request_rows, drifted)
                p = probability(x)
                if model is None:
                    outputs = {"predict": (p > 0.5).astype(np.int64), "predict_proba": np.column_stack([1 - p, p])}
                else:
                    frame = pd.DataFrame(x)
                    outputs = {"predict": np.asarray(model.predict(frame)), "predict_proba": model.predict_proba(frame)}
                rid = f"h{hour}-r{i}"
                log.log(rid, t, "fraud", version, "v2_infer", 200, float(rng.gamma(2.0, 5.0)), x, outputs)
                if rng.random() < label_share:
                    labels.append((rid, t, (rng.random(request_rows) < p).astype(np.int64)))
            for j in range(errors_per_hour):
                t = start + hour * HOUR + int((requests + j + 0.5) * HOUR / (requests + errors_per_hour))
                log.log(f"h{hour}-e{j}", t, "fraud", version, "v2_infer", 500, 1.0, None, None)
    rows = [(rid, r, int(v), t + 60_000) for rid, t, ys in labels for r, v in enumerate(ys)]
    frame = pd.DataFrame(rows, columns=["request_id", "row", "label", "time"])
    if len(frame):
        log_feedback("fraud", frame["label"].tolist(), request_ids=frame["request_id"].tolist(),
                     rows=frame["row"].tolist(), time=frame["time"].tolist(), uri=uri)
    return frame

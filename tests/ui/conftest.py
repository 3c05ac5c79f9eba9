"""The web UI in a real browser: one `modelcycle server` subprocess and one headless chromium for
the whole session, real data logged into the server through `mc`, and a fresh page per test whose
console errors and uncaught exceptions fail the test."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field

import pytest

from tests.conftest import ServerProcess
from tests.ui.helpers import CHROMIUM_MISSING, PLAYWRIGHT_MISSING, ConsoleLog

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000  # of every wait of Playwright's; a page that takes longer is a failure here
LONG_HISTORY = 20_000  # points of one metric: more than a chart has pixels, so it is downsampled
STAGES = 60  # boosting stages: each logs a point of the validation loss
MODEL = "cancer"
DEPLOYMENT = "cancer-web"
SCRIPT_TAG = "<script>window.__injected = 1</script>"  # stored as text; a page must show it, not run it


@dataclass
class UIData:
    """What the session's server holds, by the names the tests look for."""

    url: str
    experiment_id: str  # "breast-cancer": the boosting and logistic runs, the long history, a failed run
    iris_experiment_id: str
    runs: dict[str, str] = field(default_factory=dict)  # run name -> id
    model: str = MODEL
    deployment: str = DEPLOYMENT
    production_version: int = 0
    dataset: str = "breast-cancer"
    dataset_versions: int = 0
    long_history_run: str = ""
    long_history_key: str = "loss"
    long_history_points: int = LONG_HISTORY


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui-server")
    env = {**os.environ, "MODELCYCLE_HOME": str(root / "home")}
    env.pop("MODELCYCLE_TRACKING_URI", None)
    env.pop("MODELCYCLE_ARTIFACT_URI", None)
    server = ServerProcess(f"sqlite:///{root / 'ui.db'}", str(root / "artifacts"), env=env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ui_data(ui_server, tmp_path_factory) -> UIData:
    """Real runs logged through the server the pages are served by, with `mc` pointed at it by
    MODELCYCLE_TRACKING_URI, as a user's training script would be."""
    import modelcycle as mc
    from modelcycle.store import clear_store_cache
    from modelcycle.tracking import fluent

    home = tmp_path_factory.mktemp("ui-client-home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MODELCYCLE_TRACKING_URI", ui_server.url)
        env.setenv("MODELCYCLE_HOME", str(home))
        env.delenv("MODELCYCLE_ARTIFACT_URI", raising=False)
        clear_store_cache()
        fluent.set_tracking_uri(None)
        fluent.set_experiment(None)
        try:
            data = _log_everything(mc, ui_server.url, home)
        finally:
            while mc.active_run() is not None:
                mc.end_run()
            clear_store_cache()
            fluent.set_tracking_uri(None)
    return data


def _log_everything(mc, url: str, home) -> UIData:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer, load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    client = mc.Client()
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    train, test = X_train.assign(target=y_train), X_test.assign(target=y_test)
    experiment = client.get_or_create_experiment("breast-cancer")
    data = UIData(url=url, experiment_id=str(experiment.id), iris_experiment_id="")

    def scores(model) -> dict[str, float]:
        proba = model.predict_proba(X_test)[:, 1]
        predicted = model.predict(X_test)
        return {"accuracy": accuracy_score(y_test, predicted), "f1": f1_score(y_test, predicted),
                "roc_auc": roc_auc_score(y_test, proba), "log_loss": loss(proba)}

    labels = y_test.to_numpy()

    def loss(proba) -> float:  # sklearn's log_loss validates its input at 50 ms a call: too slow per stage
        p = np.clip(proba, 1e-15, 1 - 1e-15)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    logged = {}

    def with_data() -> None:
        """The train and eval sets, logged once and linked to each run after."""
        run_id = mc.active_run().id
        for frame, name, role in ((train, "breast-cancer", "train"), (test, "breast-cancer-eval", "eval")):
            if name in logged:
                client.store.link_dataset(run_id, name, logged[name].version, role)
            else:
                logged[name] = mc.log_dataset(frame, name, role=role)

    # Version 1 of the model, the first in Production: a one-split tree.
    with mc.start_run(experiment="breast-cancer", name="stump", tags={"team": "oncology"}) as run:
        with_data()
        stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train)
        mc.log_params({"model": "DecisionTreeClassifier", "max_depth": 1})
        mc.log_metrics(scores(stump))
        stump_info = mc.log_model(stump, "model", input_example=X_train.head(5), onnx=False)
        data.runs["stump"] = run.id

    for C in (0.01, 1.0):
        name = f"logistic-C{C:g}"
        with mc.start_run(experiment="breast-cancer", name=name, tags={"team": "oncology"}) as run:
            with_data()
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500)).fit(X_train, y_train)
            mc.log_params({"model": "LogisticRegression", "C": C, "max_iter": 500})
            mc.log_metrics(scores(model))
            if C == 0.01:
                weak_info = mc.log_model(model, "model", input_example=X_train.head(5), onnx=False)
            data.runs[name] = run.id

    boosted = {}
    for learning_rate, depth in ((0.05, 2), (0.1, 3), (0.3, 2)):
        name = f"boost-lr{learning_rate:g}-d{depth}"
        tags = {"team": "vision" if depth == 3 else "oncology", "note": SCRIPT_TAG}
        with mc.start_run(experiment="breast-cancer", name=name, tags=tags) as run:
            with_data()
            model = GradientBoostingClassifier(n_estimators=STAGES, learning_rate=learning_rate, max_depth=depth,
                                               random_state=0).fit(X_train, y_train)
            mc.log_params({"model": "GradientBoostingClassifier", "learning_rate": learning_rate,
                           "max_depth": depth, "n_estimators": STAGES})
            # The validation loss after each stage: a real training curve.
            now = int(time.time() * 1000)
            curve = [mc.Metric("val_loss", loss(proba[:, 1]), stage, now + stage)
                     for stage, proba in enumerate(model.staged_predict_proba(X_test))]
            client.log_batch(run.id, metrics=curve)
            mc.log_metrics(scores(model))
            boosted[name] = (run.id, model)
            data.runs[name] = run.id

    best_name = max(boosted, key=lambda n: scores(boosted[n][1])["roc_auc"])
    best_id, best = boosted[best_name]
    with mc.start_run(run_id=best_id):
        best_info = mc.log_model(best, "model", input_example=X_train.head(5), onnx=False)
        mc.log_text("Trained on 70% of the breast-cancer data, stratified.\n", "notes.txt")
        mc.log_dict({"learning_rate": best.learning_rate, "stages": STAGES}, "config.json")
        mc.log_text(X_test.assign(target=y_test, proba=best.predict_proba(X_test)[:, 1]).head(100).to_csv(index=False),
                    "eval/predictions.csv")
        mc.log_text("<html><body><h1>Evaluation</h1><script>document.title = 'ran'</script></body></html>",
                    "eval/report.html")
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        figure, axes = plt.subplots(figsize=(4, 3))
        axes.plot([m.value for m in client.get_metric_history(best_id, "val_loss")])
        axes.set_xlabel("stage")
        axes.set_ylabel("validation log loss")
        mc.log_figure(figure, "eval/val_loss.png")
        plt.close(figure)

    # A long history: more points than a chart is wide.
    with mc.start_run(experiment="breast-cancer", name="long-history", tags={"team": "vision"}) as run:
        rng = np.random.default_rng(0)
        steps = np.arange(LONG_HISTORY)
        values = np.exp(-steps / 4000) + rng.normal(0, 0.02, LONG_HISTORY)
        now = int(time.time() * 1000)
        client.log_batch(run.id, metrics=[mc.Metric("loss", float(v), int(s), now + int(s))
                                          for s, v in zip(steps, values)], params={"model": "synthetic"})
        data.long_history_run = run.id
        data.runs["long-history"] = run.id

    failed = client.create_run("breast-cancer", name="diverged", tags={"team": "vision"})
    client.log_batch(failed.id, metrics=[mc.Metric("val_loss", float("nan"), 0, int(time.time() * 1000))],
                     params={"model": "GradientBoostingClassifier", "learning_rate": 5.0})
    client.end_run(failed.id, "FAILED")
    data.runs["diverged"] = failed.id

    # A second version of the data: the same columns, more rows, two of them drifted.
    drifted = pd.concat([train, train.head(100)], ignore_index=True)
    drifted["mean radius"] = drifted["mean radius"] * 1.3
    drifted["mean texture"] = drifted["mean texture"] + 5
    mc.log_dataset(drifted, "breast-cancer", role="train", run_id=data.runs["long-history"])
    data.dataset_versions = 2

    # The registry: the stump in Production first, then the best boosted model through the
    # roc_auc gate on the same eval set; a weaker model forced past the gate, and a rollback to
    # the boosted one; aliases on the first two.
    v1 = mc.register_model(stump_info, MODEL, description="a one-split tree: the baseline")
    mc.promote(MODEL, v1.version, reason="the first model")
    mc.set_alias(MODEL, "baseline", v1.version, reason="kept to compare against")
    mc.set_promotion_policy(MODEL, metric="roc_auc")
    v2 = mc.register_model(best_info, MODEL, description=f"gradient boosting ({best_name})")
    mc.promote(MODEL, v2.version, to="staging", reason="candidate")
    mc.promote(MODEL, v2.version, reason="beats the stump on the eval set")
    mc.set_alias(MODEL, "champion", v2.version, reason="in Production")
    v3 = mc.register_model(weak_info, MODEL, description="a strongly regularised logistic regression")
    mc.promote(MODEL, v3.version, force=True, reason="to see it serve")
    mc.rollback(MODEL, reason="the forced version is worse")
    data.production_version = v2.version

    # A deployment of version 1 with a canary of the champion waiting for its first step.
    from modelcycle.rollout import strategies
    from modelcycle.tracking.context import current_user

    strategies.create(client.store, DEPLOYMENT, f"{MODEL}/{v1.version}", current_user(), "the baseline serves")
    strategies.canary(client.store, DEPLOYMENT, f"{MODEL}@champion", [25.0, 50.0, 100.0], current_user(), 60,
                      reason="the boosted model, step by step")

    iris = load_iris(as_frame=True)
    iris_experiment = client.get_or_create_experiment("iris")
    data.iris_experiment_id = str(iris_experiment.id)
    for depth in (1, 2, 3):
        with mc.start_run(experiment="iris", name=f"tree-d{depth}") as run:
            if depth == 1:
                iris_version = mc.log_dataset(iris.frame, "iris", role="train")
            else:
                client.store.link_dataset(run.id, "iris", iris_version.version, "train")
            model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(iris.data, iris.target)
            mc.log_params({"max_depth": depth})
            mc.log_metric("accuracy", accuracy_score(iris.target, model.predict(iris.data)))
            data.runs[f"iris-d{depth}"] = run.id
    for name in ("empty-a", "empty-b"):
        client.get_or_create_experiment(name)
    return data


@pytest.fixture(scope="module")
def browser():
    """One headless Debian chromium for a test file (Playwright drives it; it downloads no browser).
    Not for the session: while Playwright's sync API runs, its event loop is this thread's, and a
    later test's asyncio.run in the same worker process would fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(PLAYWRIGHT_MISSING)
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip(CHROMIUM_MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser, ui_server, console):
    """A page in a fresh browser context (own storage) with the server as its base URL. Any console
    error or uncaught exception on it fails the test, unless the test allowed it."""
    context = browser.new_context(base_url=ui_server.url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    console.watch(page)
    yield page
    context.close()
    unexpected = console.unexpected()
    assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)


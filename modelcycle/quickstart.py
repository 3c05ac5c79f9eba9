"""`modelcycle quickstart`: a small real experiment, end to end, on the embedded store."""

from __future__ import annotations

import time
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from modelcycle import config
from modelcycle.render import console, emit

CANDIDATES = [  # (run name, model kind, params)
    ("logreg-C0.01", "logreg", {"C": 0.01}),
    ("logreg-C0.1", "logreg", {"C": 0.1}),
    ("logreg-C1", "logreg", {"C": 1.0}),
    ("forest-depth3", "random_forest", {"n_estimators": 100, "max_depth": 3}),
    ("forest-depth8", "random_forest", {"n_estimators": 100, "max_depth": 8}),
    ("boosting-lr0.05", "gradient_boosting", {"n_estimators": 150, "learning_rate": 0.05, "max_depth": 2}),
    ("boosting-lr0.3", "gradient_boosting", {"n_estimators": 150, "learning_rate": 0.3, "max_depth": 3}),
]


def _build(kind: str, params: dict):
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, **params))
    if kind == "random_forest":
        return RandomForestClassifier(random_state=0, n_jobs=1, **params)
    return GradientBoostingClassifier(random_state=0, **params)


def _train_one(kind: str, params: dict, data) -> None:
    """Train, evaluate and log one model into the active run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import (
        ConfusionMatrixDisplay, accuracy_score, f1_score, log_loss, roc_auc_score,
    )

    import modelcycle as mc

    X_train, X_test, y_train, y_test, feature_names = data
    mc.log_params({"model": kind, **params})
    mc.set_tag("dataset", "sklearn.datasets.load_breast_cancer")
    started = time.perf_counter()
    model = _build(kind, params).fit(X_train, y_train)
    mc.log_metric("fit_seconds", time.perf_counter() - started)
    if kind == "gradient_boosting":
        # Validation loss after each boosting stage: a curve, not just a number.
        for step, proba in enumerate(model.staged_predict_proba(X_test)):
            mc.log_metric("val_log_loss", log_loss(y_test, proba[:, 1]), step=step)
    proba = model.predict_proba(X_test)[:, 1]
    predicted = (proba >= 0.5).astype(int)
    mc.log_metrics({
        "accuracy": accuracy_score(y_test, predicted),
        "roc_auc": roc_auc_score(y_test, proba),
        "f1": f1_score(y_test, predicted),
        "log_loss": log_loss(y_test, proba),
    })
    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(y_test, predicted, ax=ax, colorbar=False)
    ax.set_title(f"{kind} {params}", fontsize=8)
    mc.log_figure(fig, "plots/confusion_matrix.png")
    plt.close(fig)
    estimator = model[-1] if hasattr(model, "steps") else model
    weights = getattr(estimator, "feature_importances_", None)
    if weights is None:
        weights = np.abs(estimator.coef_[0])
    ranked = sorted(zip(feature_names, map(float, weights)), key=lambda p: -p[1])
    mc.log_dict(dict(ranked[:10]), "feature_importance.json")
    mc.log_model(model, "model", input_example=X_test.head(20))


def _frame(X, y):
    frame = X.copy()
    frame["target"] = y
    return frame


MODEL_NAME = "breast-cancer"


def _registry_demo(ranked_runs, X_test) -> dict:
    """Register the best model and promote it through the gates; show a worse one refused."""
    import numpy as np

    import modelcycle as mc
    from modelcycle.registry import PromotionRefused

    best, worst = ranked_runs[0], ranked_runs[-1]
    champion = mc.register_model(f"runs:/{best.id}/model", MODEL_NAME,
                                 description=f"{best.name}: the best roc_auc of the sweep")
    mc.set_promotion_policy(MODEL_NAME, metric="roc_auc", min_delta=0.0)
    promotion = mc.promote(MODEL_NAME, champion.version, reason="best of the quickstart sweep")
    mc.set_alias(MODEL_NAME, "champion", champion.version)
    challenger = mc.register_model(f"runs:/{worst.id}/model", MODEL_NAME,
                                   description=f"{worst.name}: the weakest of the sweep")
    mc.set_alias(MODEL_NAME, "challenger", challenger.version)
    try:
        mc.promote(MODEL_NAME, challenger.version, reason="try the weakest model")
        refusal = None
    except PromotionRefused as refused:
        refusal = refused
    native = mc.load_model(f"models:/{MODEL_NAME}@production")
    onnx = mc.load_model(f"models:/{MODEL_NAME}@production", backend="onnx")
    agree = int(np.sum(native.predict(X_test) == onnx.predict(X_test)))
    return {"champion": champion, "champion_run": best, "promotion": promotion, "challenger": challenger,
            "challenger_run": worst, "refusal": refusal, "lineage": mc.lineage(f"{MODEL_NAME}@production"),
            "onnx_agree": agree, "rows": len(X_test), "onnx_diff": native.manifest.onnx.get("max_abs_diff")}


def _print_registry(r: dict) -> None:
    champion, challenger, lineage = r["champion"], r["challenger"], r["lineage"]
    gates = r["promotion"].gates
    checked = "; ".join(f"{g.rule}: {g.detail}" for g in gates.results) if gates and gates.results else \
        "nothing to compare against yet"
    refusal = r["refusal"]
    data = ", ".join(f"{d['dataset']} ({d['role']})" for d in lineage["datasets"])
    code = lineage["code"]["commit"] or "no git commit (not run from a repository)"
    console.print(Text.assemble(
        "\nRegistry: ", (MODEL_NAME, "bold"), f" version {champion.version} ({r['champion_run'].name}) is in "
        f"Production, alias champion. Gates: {checked}.\n"
        f"  Version {challenger.version} ({r['challenger_run'].name}, alias challenger) was ",
        *((("refused", "red"), f": {refusal.report.summary()}.") if refusal else ("promoted.",)),
        f"\n  Lineage: {MODEL_NAME}@production ← run {lineage['run']['id'][:12]} ← {data} ← {code}"
        f"\n  Loaded {MODEL_NAME}@production natively and as ONNX: {r['onnx_agree']} of {r['rows']} predictions agree "
        f"(probabilities within {r['onnx_diff']:.1g} on the example checked at logging)."))


def _serving_demo(X_test, y_test) -> dict:
    """Serve Production in this process on a free port, ask it over V2 and /invocations, and
    score the eval rows in batch."""
    import httpx
    import pandas as pd

    from modelcycle.serving.app import ServerThread, create_app
    from modelcycle.serving.batch import predict_batch
    from modelcycle.serving.holder import ModelHolder, Ref, store_resolver
    from modelcycle.serving.predlog import PredictionLog
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.tracking.fluent import client

    store = client().store
    ref = Ref.parse(f"{MODEL_NAME}@production")
    holder = ModelHolder(ref, lambda uri: ServedModel.load(uri, store=store), store_resolver(ref, store))
    holder.load_initial()
    row = X_test.head(1)
    with PredictionLog() as log, ServerThread(create_app(holder, log=log)) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        v2 = http.post(f"/v2/models/{MODEL_NAME}/infer", json={"inputs": [
            {"name": column, "datatype": "FP64", "shape": [1], "data": [float(row[column].iloc[0])]}
            for column in row.columns]})
        invocations = http.post("/invocations", json={"dataframe_split": {
            "columns": list(X_test.columns), "data": X_test.head(3).to_numpy().tolist()}})
        served_version = v2.headers.get("x-modelcycle-model-version")
    eval_file = Path(config.home()) / "quickstart" / "eval.parquet"
    X_test.assign(target=y_test.to_numpy()).to_parquet(eval_file, index=False)
    scored_file = eval_file.with_name("eval-scored.parquet")
    batch = predict_batch(f"{MODEL_NAME}@production", str(eval_file), str(scored_file), progress=False)
    scored = pd.read_parquet(scored_file, columns=["target", "prediction"])
    from modelcycle.serving.feedback import read_predictions

    logged = read_predictions(MODEL_NAME)
    return {"url": server.url, "v2": v2.json(), "invocations": invocations.json(), "version": served_version,
            "batch": batch, "eval_file": eval_file, "scored_file": scored_file, "logged": len(logged),
            "log_uri": log.uri,
            "batch_accuracy": float((scored["prediction"] == scored["target"]).mean())}


def _print_serving(s: dict) -> None:
    outputs = {o["name"]: o["data"] for o in s["v2"]["outputs"]}
    proba = outputs.get("predict_proba", [None, None])
    batch = s["batch"]
    console.print(Text.assemble(
        "\nServing: ", (f"{MODEL_NAME}@production", "bold"), f" answered on {s['url']} as version {s['version']}:\n"
        f"  V2  POST /v2/models/{MODEL_NAME}/infer  -> predict {outputs['predict']}, predict_proba "
        f"{[round(p, 3) for p in proba]}\n"
        f"  MLflow  POST /invocations (3 rows)     -> {s['invocations']}\n"
        f"  Batch: {batch.scored} eval rows scored in {batch.seconds:.2f} s ({batch.backend}), accuracy "
        f"{s['batch_accuracy']:.3f} -> {s['scored_file']}\n"
        f"  Prediction log: {s['logged']} rows of the two requests, as Parquet under {s['log_uri']} "
        "(mc.read_predictions)"))


def run_quickstart(experiment: str = "quickstart") -> list[str]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    import modelcycle as mc
    from modelcycle.tracking.fluent import client as fluent_client
    from modelcycle.tracking.plots import plot_metric_histories

    console.print(Text.assemble(("modelcycle quickstart", "bold"), f"  store: {config.tracking_uri()}"))
    bunch = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.25, random_state=42, stratify=bunch.target)
    data = (X_train, X_test, y_train, y_test, list(bunch.feature_names))
    client = fluent_client()
    run_ids = []
    with mc.start_run(experiment=experiment, name="model-sweep") as parent:
        mc.log_params({"candidates": len(CANDIDATES), "test_size": 0.25})
        train_set = mc.log_dataset(_frame(X_train, y_train), name="breast-cancer-train", role="train")
        eval_set = mc.log_dataset(_frame(X_test, y_test), name="breast-cancer-eval", role="eval")
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("Training models", total=len(CANDIDATES))
            for name, kind, params in CANDIDATES:
                progress.update(task, description=f"Training {name}")
                with mc.start_run(name=name, nested=True) as run:
                    for dataset, role in ((train_set, "train"), (eval_set, "eval")):
                        client.store.link_dataset(run.id, dataset.name, dataset.version, role)
                    _train_one(kind, params, data)
                run_ids.append(run.id)
                progress.advance(task)
        page = client.search_runs(experiment, filter=f"parent_id = '{parent.id}'",
                                  order_by=["metrics.roc_auc desc", "metrics.log_loss asc"])
        best = page.runs[0]
        mc.log_metrics({"best_roc_auc": best.metrics["roc_auc"].value})
        mc.set_tag("best_run", best.id)
        curves = {r.name: {"val_log_loss": client.get_metric_history(r.id, "val_log_loss")}
                  for r in page.runs if "val_log_loss" in r.metrics}
        plot_path = Path(config.home()) / "quickstart" / "val_log_loss.png"
        plot_metric_histories(curves, plot_path)
        mc.log_artifact(plot_path, "plots")

    # A fresh batch arrives: the lab recalibrated an instrument and two measurements now read
    # higher. Validate it against the training data's stored schema and profile.
    fresh = _frame(X_test, y_test)
    fresh["mean radius"] *= 1.25
    fresh["worst area"] *= 1.4
    validation = mc.validate(fresh, against=train_set.ref)
    report_path = Path(config.home()) / "quickstart" / "fresh-batch-validation.html"
    from modelcycle.data.report import render_html

    report_path.write_text(render_html(validation, f"Fresh batch against {train_set.ref}"), encoding="utf-8")

    registry = _registry_demo(page.runs, X_test)
    serving = _serving_demo(X_test, y_test)

    rows = [{"run_id": r.id, "name": r.name, "model": r.params.get("model"),
             **{k: r.metrics[k].value for k in ("roc_auc", "accuracy", "f1", "log_loss")}}
            for r in page.runs]
    emit(rows, ["run_id", "name", "model", "roc_auc", "accuracy", "f1", "log_loss"], "table",
         title=f"Experiment {experiment!r}: {len(rows)} runs, best first")
    drifted = validation.drift.drifted_columns if validation.drift else []
    console.print(Text.assemble(
        "\nData: trained on ", (train_set.ref, "bold"), f" ({train_set.num_rows} rows), evaluated on ",
        (eval_set.ref, "bold"), f". A fresh batch checked against {train_set.ref}: "
        f"{len(validation.errors)} errors, {len(validation.warnings)} warnings; "
        f"{len(drifted)} of {len(validation.drift.columns) if validation.drift else 0} columns drifted"
        + (f" ({', '.join(drifted)})" if drifted else "") + f".\n  Drift report: {report_path}"))
    _print_registry(registry)
    _print_serving(serving)
    console.print(Text.assemble(
        "\nBest: ", (best.name, "bold"), f" (roc_auc {best.metrics['roc_auc'].value:.4f}).  "
        f"Validation-loss curves: {plot_path}\n\n"
        "What next:\n"
        f"  modelcycle runs ls --experiment {experiment} --order-by 'metrics.roc_auc desc'\n"
        f"  modelcycle runs ls --filter \"metrics.roc_auc > 0.99 and params.model = 'logreg'\"\n"
        f"  modelcycle runs show {best.id}\n"
        f"  modelcycle runs compare {' '.join(r.id for r in page.runs[:2])} --plot compare.png\n"
        f"  modelcycle data show {train_set.ref}\n"
        f"  modelcycle data lineage {train_set.ref}\n"
        f"  modelcycle models versions {MODEL_NAME}\n"
        f"  modelcycle models lineage {MODEL_NAME}@production\n"
        f"  modelcycle models history {MODEL_NAME}\n"
        f"  modelcycle models promote {MODEL_NAME} {registry['challenger'].version} --force -m 'why'   # recorded\n"
        "  modelcycle server            # REST API and /docs on http://127.0.0.1:5050\n"
        f"  modelcycle serve {MODEL_NAME}@production --workers 2 --grpc-port 8081   # V2 REST + gRPC, /docs, /metrics\n"
        f"  modelcycle predict {MODEL_NAME}@production {serving['eval_file']} -o scored.csv"
    ))
    return run_ids

"""`modelcycle quickstart`: a small real experiment, end to end, on the embedded store."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

from modelcycle import config
from modelcycle.render import console, emit, fmt_value

MODEL_NAME = "breast-cancer"
SENSITIVE = "radius_band"  # derived below: stands in for a protected attribute the data does not have
SEARCH = {  # the forest's search space, as the training spec writes it
    "n_estimators": {"low": 20, "high": 100},
    "max_depth": {"low": 2, "high": 10},
    "max_features": {"choices": ["sqrt", "log2"]},
    "min_samples_leaf": {"low": 1, "high": 5},
}
TRIALS = 8
FOLDS = 3


def _frame(X, y):
    frame = X.copy()
    frame["target"] = y
    return frame


def _radius_band(radius):
    """Tumour size in three bands (by mean radius): a column to measure fairness gaps across.
    The data has no protected attribute; a binned feature stands in for one."""
    import pandas as pd

    return pd.cut(radius, [0, 12, 15, float("inf")], right=False, labels=["small", "medium", "large"]).astype(str)


def _spec(train_ref: str, eval_ref: str, experiment: str) -> dict:
    return {
        "name": "forest-search", "experiment": experiment,
        "data": {"train": train_ref, "target": "target", "eval": eval_ref},
        "model": {"class": "sklearn.ensemble.RandomForestClassifier", "params": {"n_jobs": 1, "random_state": 0}},
        "search": {"space": SEARCH, "n_trials": TRIALS, "seed": 0},
        "cv": FOLDS, "metrics": ["roc_auc", "accuracy", "f1", "neg_log_loss"],
        "evaluation": {"slices": [SENSITIVE], "sensitive": [SENSITIVE]},
        "register": {"name": MODEL_NAME, "policy": {"metric": "roc_auc", "significance": 0.05}},
    }


def _champion(experiment: str, train_set, eval_set, X_train, y_train):
    """Version 1, in Production before the search: a one-split tree, evaluated on the eval set."""
    from sklearn.tree import DecisionTreeClassifier

    import modelcycle as mc

    with mc.start_run(experiment=experiment, name="baseline-stump") as run:
        mc.log_params({"model": "DecisionTreeClassifier", "max_depth": 1})
        mc.Client().store.link_dataset(run.id, train_set.name, train_set.version, "train")
        stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train)
        info = mc.log_model(stump, "model", input_example=X_train.head(20))
        mc.evaluate(stump, eval_set.ref, "target", features=list(X_train.columns), plots=False, report=False)
    version = mc.register_model(info, MODEL_NAME, description="a one-split tree: the baseline to beat")
    mc.promote(MODEL_NAME, version.version, reason="the first model")
    mc.set_alias(MODEL_NAME, "champion", version.version)
    return version, run


def _print_search(experiment: str, trained, client) -> list:
    """The trials of the search, best first."""
    trials = client.search_runs(experiment, filter=f"parent_id = '{trained.search_run_id}'",
                                order_by=["metrics.roc_auc desc"]).runs
    trials = [t for t in trials if t.id != trained.run_id]
    names = list(SEARCH)
    rows = [{"run_id": t.id, "name": t.name, **{k: t.params.get(k) for k in names},
             "roc_auc": t.metrics["roc_auc"].value if "roc_auc" in t.metrics else None} for t in trials]
    emit(rows, ["run_id", "name", *names, "roc_auc"], "table",
         title=f"Search: {len(rows)} trials of a random forest, {FOLDS}-fold CV, best first")
    return trials


def _print_evaluation(evaluation) -> None:
    table = evaluation.slices[0]
    rows = [{SENSITIVE: r["group"], "rows": r["count"], "positives": r["positives"], "roc_auc": r["roc_auc"],
             "recall": r["recall"], "precision": r["precision"]} for r in table.rows]
    emit(rows, [SENSITIVE, "rows", "positives", "roc_auc", "recall", "precision"], "table",
         title=f"Evaluation on {evaluation.dataset} by {SENSITIVE}")
    fairness = evaluation.fairness[0]
    gaps = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in fairness.gaps().items())
    console.print(Text(f"Fairness across {SENSITIVE} (tumour size in three bands of mean radius, derived here to "
                       f"stand in for a protected attribute): {gaps}."
                       + (f" Left out: {'; '.join(fairness.undefined)}." if fairness.undefined else "")))


def _print_decision(trained) -> None:
    """The champion/challenger table the gate decided on, and its decision."""
    comparison = trained.evaluation.comparison
    better = {"candidate": "challenger", "baseline": "champion"}
    rows = [{"metric": r["metric"], "challenger": r["candidate"], "champion": r["baseline"],
             "difference": r["difference"], "better": better.get(r["better"], r["better"])} for r in comparison.rows]
    emit(rows, ["metric", "challenger", "champion", "difference", "better"], "table",
         title=f"Challenger (version {trained.version.version}) against the champion "
               f"(version {comparison.baseline_version}) on {trained.evaluation.dataset}")
    test = comparison.test
    console.print(Text(f"ROC AUC {test.difference:+.4f}, 95% CI {test.ci_low:+.4f} to {test.ci_high:+.4f}; DeLong "
                       f"p = {test.p_value:.3g} two-sided, {test.p_value_improvement:.3g} for an improvement."))
    details = "; ".join(f"{g.rule}: {g.detail}" for g in trained.gates.results)
    if trained.promoted:
        console.print(Text.assemble("Gate: ", ("promoted", "green"), f" version {trained.version.version} to "
                                    f"Production ({details})."))
    else:
        console.print(Text.assemble("Gate: ", ("refused", "red"), f" version {trained.version.version}: "
                                    f"{trained.refusal}."))


def _registry_demo(X_test) -> dict:
    import numpy as np

    import modelcycle as mc

    native = mc.load_model(f"models:/{MODEL_NAME}@production")
    onnx = mc.load_model(f"models:/{MODEL_NAME}@production", backend="onnx")
    agree = int(np.sum(native.predict(X_test) == onnx.predict(X_test)))
    return {"lineage": mc.lineage(f"{MODEL_NAME}@production"), "onnx_agree": agree, "rows": len(X_test),
            "onnx_diff": native.manifest.onnx.get("max_abs_diff"), "version": native.version.version}


def _print_registry(r: dict) -> None:
    lineage = r["lineage"]
    data = ", ".join(f"{d['dataset']} ({d['role']})" for d in lineage["datasets"])
    code = lineage["code"]["commit"] or "no git commit (not run from a repository)"
    console.print(Text.assemble(
        "\nRegistry: ", (f"{MODEL_NAME}@production", "bold"), f" is version {r['version']}."
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


CANARY = "breast-cancer-web"
CANARY_STEPS = [50.0, 100.0]
CANARY_INTERVAL_S = 1.5


def _canary_demo(X_test) -> dict:
    """A canary of the challenger against the baseline (version 1) on a deployment served in
    this process: traffic flows while the analysis decides each interval, until the canary is
    promoted or rolled back (or a deadline passes)."""
    import threading
    import time

    import httpx

    from modelcycle.rollout import strategies
    from modelcycle.rollout.holder import DeploymentHolder
    from modelcycle.serving.app import ServerThread, create_app
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.tracking.context import current_user
    from modelcycle.tracking.fluent import client

    store, user = client().store, current_user()
    strategies.create(store, CANARY, f"{MODEL_NAME}/1", user, "the baseline, serving all traffic")
    # Labels do not arrive within seconds here, so the checks are the error rate and p99 latency.
    checks = strategies.Checks(min_requests=10, max_auc_drop=None)
    strategies.canary(store, CANARY, f"{MODEL_NAME}@challenger", CANARY_STEPS, user, CANARY_INTERVAL_S,
                      max_failures=2, checks=checks, fallback=True, reason="the search's model, step by step")
    holder = DeploymentHolder(CANARY, store, lambda uri: ServedModel.load(uri, store=store), refresh_interval_s=0.25)
    holder.load_initial()
    holder.start_watching()
    rows = X_test.to_numpy().tolist()
    served: dict[str, int] = {}
    stop = threading.Event()

    def traffic(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i = 0
            while not stop.is_set():
                r = http.post("/invocations", json={"dataframe_split": {"columns": list(X_test.columns),
                                                                        "data": [rows[i % len(rows)]]}})
                key = f"{r.status_code} v{r.headers.get('x-modelcycle-model-version')}"
                served[key] = served.get(key, 0) + 1
                i += 1

    started = time.monotonic()
    try:
        with ServerThread(create_app(holder)) as server:
            sender = threading.Thread(target=traffic, args=(server.url,), daemon=True)
            sender.start()
            deadline = started + CANARY_INTERVAL_S * (len(CANARY_STEPS) + 3) + 5
            while store.get_deployment(CANARY).state not in ("promoted", "rolled_back") \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()
            sender.join()
    finally:
        holder.stop()
    return {"deployment": store.get_deployment(CANARY), "events": store.deployment_events(CANARY),
            "served": served, "seconds": time.monotonic() - started}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"  # None: that arm had no requests in the interval


def _print_canary(c: dict) -> None:
    d = c["deployment"]
    console.print(Text.assemble(
        "\nCanary: ", (f"{MODEL_NAME}@challenger", "bold"), f" against version 1 on deployment {CANARY}, steps "
        f"{', '.join(f'{s:g}%' for s in CANARY_STEPS)}, {CANARY_INTERVAL_S:g} s per step, in {c['seconds']:.1f} s; "
        f"requests answered: {', '.join(f'{k} x{n}' for k, n in sorted(c['served'].items()))}"))
    rows = []
    for e in c["events"]:
        n = e.numbers
        rows.append({"event": e.kind, "shares": "" if e.to_shares is None else
                     ", ".join(f"{arm} {share:g}%" for arm, share in e.to_shares.items()),
                     "candidate req": n.get("candidate_requests", ""),
                     "errors": n.get("candidate_errors", ""),
                     "p99 ms candidate/stable": "" if "candidate_p99_ms" not in n else
                     f"{_ms(n['candidate_p99_ms'])} / {_ms(n['stable_p99_ms'])}", "why": e.reason})
    emit(rows, ["event", "shares", "candidate req", "errors", "p99 ms candidate/stable", "why"], "table",
         title=f"Deployment {CANARY}: its history")
    outcome = {"promoted": ("promoted", "green"), "rolled_back": ("rolled back", "red")}.get(d.state, (d.state, ""))
    console.print(Text.assemble("Canary: ", outcome, f"; version {d.stable_version} serves all traffic of {CANARY}."))


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
    import yaml
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    import modelcycle as mc
    from modelcycle.tracking.fluent import client as fluent_client

    console.print(Text.assemble(("modelcycle quickstart", "bold"), f"  store: {config.tracking_uri()}"))
    bunch = load_breast_cancer(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.25, random_state=42, stratify=bunch.target)
    client = fluent_client()
    folder = Path(config.home()) / "quickstart"
    folder.mkdir(parents=True, exist_ok=True)
    train_set = mc.log_dataset(_frame(X_train, y_train), name="breast-cancer-train", role="train")
    eval_set = mc.log_dataset(_frame(X_test, y_test).assign(**{SENSITIVE: _radius_band(X_test["mean radius"])}),
                              name="breast-cancer-eval", role="eval")
    champion, champion_run = _champion(experiment, train_set, eval_set, X_train, y_train)

    # The search, its evaluation, registration and promotion, as `modelcycle train` runs them.
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(train_set.ref, eval_set.ref, experiment), sort_keys=False),
                         encoding="utf-8")
    trained = mc.train(spec_path, progress=console.is_terminal)
    if trained.promoted:
        mc.set_alias(MODEL_NAME, "champion", trained.version.version)
    mc.set_alias(MODEL_NAME, "challenger", trained.version.version)

    # A fresh batch arrives: the lab recalibrated an instrument and two measurements now read
    # higher. Validate it against the training data's stored schema and profile.
    fresh = _frame(X_test, y_test)
    fresh["mean radius"] *= 1.25
    fresh["worst area"] *= 1.4
    validation = mc.validate(fresh, against=train_set.ref)
    report_path = folder / "fresh-batch-validation.html"
    from modelcycle.data.report import render_html

    report_path.write_text(render_html(validation, f"Fresh batch against {train_set.ref}"), encoding="utf-8")

    registry = _registry_demo(X_test)
    serving = _serving_demo(X_test, y_test)
    canary = _canary_demo(X_test)

    trials = _print_search(experiment, trained, client)
    best = client.get_run(trained.run_id)
    params = ", ".join(f"{k}={fmt_value(v)}" for k, v in trained.best_params.items())
    console.print(Text.assemble("Best: ", (params, "bold"), f" (cross-validated roc_auc {trained.best_value:.4f}); "
                                f"refit on {train_set.ref} in run {best.name} ({best.id[:12]})."))
    _print_evaluation(trained.evaluation)
    _print_decision(trained)
    drifted = validation.drift.drifted_columns if validation.drift else []
    console.print(Text.assemble(
        "\nData: trained on ", (train_set.ref, "bold"), f" ({train_set.num_rows} rows), evaluated on ",
        (eval_set.ref, "bold"), f". A fresh batch checked against {train_set.ref}: "
        f"{len(validation.errors)} errors, {len(validation.warnings)} warnings; "
        f"{len(drifted)} of {len(validation.drift.columns) if validation.drift else 0} columns drifted"
        + (f" ({', '.join(drifted)})" if drifted else "") + f".\n  Drift report: {report_path}"))
    _print_registry(registry)
    _print_serving(serving)
    _print_canary(canary)
    report = Path(config.home()) / "quickstart" / "evaluation.html"
    report.write_bytes(client.read_artifact(trained.run_id, "evaluation/report.html"))
    console.print(Text.assemble(
        f"\nEvaluation report: {report}\n\n"
        "What next:\n"
        f"  modelcycle runs ls --experiment {experiment} --order-by 'metrics.roc_auc desc'\n"
        f"  modelcycle runs ls --filter \"metrics.roc_auc > 0.98 and params.max_features = 'sqrt'\"\n"
        f"  modelcycle runs show {trained.run_id}\n"
        f"  modelcycle runs compare {' '.join(t.id for t in trials[:2])} --plot compare.png\n"
        f"  modelcycle data show {train_set.ref}\n"
        f"  modelcycle data lineage {train_set.ref}\n"
        f"  modelcycle train --dry-run {spec_path}\n"
        f"  modelcycle train {spec_path}   # search again; the gate meets the new champion\n"
        f"  modelcycle models versions {MODEL_NAME}\n"
        f"  modelcycle models lineage {MODEL_NAME}@production\n"
        f"  modelcycle models history {MODEL_NAME}\n"
        "  modelcycle server            # REST API and /docs on http://127.0.0.1:5050\n"
        f"  modelcycle serve {MODEL_NAME}@production --workers 2 --grpc-port 8081   # V2 REST + gRPC, /docs, /metrics\n"
        f"  modelcycle predict {MODEL_NAME}@production {serving['eval_file']} -o scored.csv\n"
        f"  modelcycle deploy status {CANARY}"
    ))
    return [champion_run.id, trained.search_run_id, trained.run_id]

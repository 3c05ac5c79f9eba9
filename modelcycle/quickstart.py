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


DAY_HOURS, DRIFT_FROM_HOUR, ROWS_PER_HOUR, ROWS_PER_REQUEST = 24, 13, 100, 5
LABELLED_UNTIL_HOUR = 18  # labels come back for half the requests of the day's first 18 hours
RECALIBRATED = ("radius", "perimeter", "area", "texture")  # the afternoon's instrument reads 25% high


def _monitoring_demo(bunch) -> dict:
    """Yesterday's traffic on the Production model, logged as the server logs it: from 13:00 an
    instrument reads every size and texture measurement 25% high; labels come back for half the
    requests of the morning. Then one pass of the monitor with the built-in rules and the log
    notifier, and its report."""
    import logging
    from datetime import datetime, timedelta, timezone

    import numpy as np

    import modelcycle as mc
    from modelcycle.monitoring import Monitor
    from modelcycle.monitoring.alerts import dispatcher_for
    from modelcycle.monitoring.report import html_report
    from modelcycle.monitoring.rules import DEFAULT_RULES_YAML, load_rules
    from modelcycle.serving.predlog import PredictionLog
    from modelcycle.tracking.fluent import client

    store = client().store
    version = store.get_registered_model(MODEL_NAME).production_version
    model = mc.load_model(f"models:/{MODEL_NAME}/{version}")
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    day = int(midnight.timestamp() * 1000)
    rng = np.random.default_rng(12)
    X, y = bunch.data, bunch.target.to_numpy()
    drifted = [c for c in X.columns if any(word in c for word in RECALIBRATED)]
    rows = rng.integers(0, len(X), DAY_HOURS * ROWS_PER_HOUR)
    frame = X.iloc[rows].reset_index(drop=True)
    frame.loc[DRIFT_FROM_HOUR * ROWS_PER_HOUR:, drifted] *= 1.25
    predicted, proba = model.predict(frame), model.predict_proba(frame)  # as the server would have, in one call
    columns = {c: frame[c].to_numpy() for c in frame.columns}
    per_hour = ROWS_PER_HOUR // ROWS_PER_REQUEST
    ids, labels = [], []
    with PredictionLog() as log:
        for r in range(DAY_HOURS * per_hour):
            hour, part = r // per_hour, slice(r * ROWS_PER_REQUEST, (r + 1) * ROWS_PER_REQUEST)
            request, t = f"day-h{hour}-r{r % per_hour}", day + hour * 3_600_000 + (r % per_hour) * 3_600_000 // per_hour
            log.log(request, t, MODEL_NAME, version, "v2_infer", 200, float(rng.gamma(2.0, 2.0)),
                    {c: values[part] for c, values in columns.items()},
                    {"predict": predicted[part], "predict_proba": proba[part]})
            if hour < LABELLED_UNTIL_HOUR and rng.random() < 0.5:
                ids += [request] * ROWS_PER_REQUEST
                labels += y[rows[part]].tolist()
    mc.log_feedback(MODEL_NAME, labels, request_ids=ids,
                    rows=list(range(ROWS_PER_REQUEST)) * (len(ids) // ROWS_PER_REQUEST))
    rules = load_rules(DEFAULT_RULES_YAML + "notifications:\n  channels: [{type: log}]\n")
    heard: list[str] = []

    class Heard(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and record.getMessage().startswith("["):
                heard.append(record.getMessage())

    notifier = logging.getLogger("modelcycle.monitoring")
    handler = Heard()
    notifier.addHandler(handler)
    report = Path(config.home()) / "quickstart" / "monitor.html"
    try:
        with Monitor(MODEL_NAME, store, rules=rules, dispatcher=dispatcher_for(rules, store, MODEL_NAME)) as monitor:
            monitor.alerts.report = str(report)  # named in each notification
            windows = monitor.run_once()
    finally:
        notifier.removeHandler(handler)
    report.write_text(html_report(MODEL_NAME, store.monitor_results(MODEL_NAME)), encoding="utf-8")
    values = {(p.window_start, p.metric): p.value for p in store.monitor_results(
        MODEL_NAME, version=version, metrics=["drift_share", "accuracy", "estimated_accuracy", "labelled_share"])}
    return {"version": version, "day": day, "windows": windows, "evaluation": monitor.last_evaluation,
            "heard": heard, "report": report, "values": values, "labelled": len(labels), "drifted": drifted}


def _print_monitoring(m: dict) -> None:
    from modelcycle.render import fmt_time

    windows, values = m["windows"], m["values"]
    drifted = [w for w in windows if values.get((w.start, "drift_share"), 0) >= 0.3]
    console.print(Text.assemble(
        "\nMonitoring: ", (f"{MODEL_NAME} version {m['version']}", "bold"), f", yesterday's traffic: "
        f"{sum(w.rows for w in windows):,} predictions in {len(windows)} hourly windows, {m['labelled']:,} of them "
        f"labelled by feedback; from {DRIFT_FROM_HOUR}:00 {len(m['drifted'])} of the 30 measurements read 25% high."))
    rows = []
    for w in windows:
        hour = (w.start - m["day"]) // 3_600_000
        if hour in (0, DRIFT_FROM_HOUR - 1) or w in drifted[:2]:
            rows.append({"window": fmt_time(w.start), "rows": w.rows,
                         "drift_share": values.get((w.start, "drift_share")),
                         "accuracy": values.get((w.start, "accuracy")),
                         "estimated_accuracy": values.get((w.start, "estimated_accuracy"))})
    emit(rows, ["window", "rows", "drift_share", "accuracy", "estimated_accuracy"], "table",
         title="Some windows (accuracy from the labels that came back; estimated from the model's calibrated "
               "confidence where none did)")
    fired = [t for t in m["evaluation"].transitions if t.new == "firing"]
    alerts = ", ".join(f"{t.rule} fired in the window of {fmt_time(t.window_start)}" for t in fired) or "none"
    console.print(Text(f"Alerts: {alerts}; drift in {len(drifted)} windows, from "
                       f"{fmt_time(drifted[0].start) if drifted else '-'}."))
    for message in m["heard"][:1]:
        lines = [line for line in message.splitlines() if line.strip()]
        shown = lines[:1] + [line for line in lines if line.startswith(("Value", "Window"))]
        console.print(Text("Log notifier: " + "; ".join(shown)))
    console.print(Text(f"  Monitor report: {m['report']}\n"
                       f"  modelcycle monitor status {MODEL_NAME} --metric drift_share\n"
                       f"  modelcycle monitor alerts {MODEL_NAME}"))


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
    monitoring = _monitoring_demo(bunch)

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
    _print_monitoring(monitoring)
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
        f"  modelcycle serve {MODEL_NAME}@production --workers 2 --grpc-port 8081   # V2 REST + gRPC, /docs, /metrics\n"
        f"  modelcycle predict {MODEL_NAME}@production {serving['eval_file']} -o scored.csv\n"
        f"  modelcycle deploy status {CANARY}"
    ))
    ui = "http://127.0.0.1:5050"
    experiment_id = client.get_experiment(experiment).id
    console.print(Text.assemble(
        "\nIn the browser: ", ("modelcycle server", "bold"), f", then open {ui}/\n"
        f"  runs:        {ui}/experiments/{experiment_id}/runs\n"
        f"  best run:    {ui}/runs/{trained.run_id}\n"
        f"  model:       {ui}/models/{MODEL_NAME}\n"
        f"  dataset:     {ui}/datasets/{train_set.name}/versions/{train_set.version}\n"
        f"  deployment:  {ui}/deployments/{CANARY}"
    ))
    return [champion_run.id, trained.search_run_id, trained.run_id]

"""Training: the cost of tracking a hyperparameter search, modelcycle against Optuna with
MLflow's MLflowCallback, both on local SQLite, each side in its own process and venv.

    python bench/training.py            # full sizes; creates bench/.venvs/optuna-mlflow on first use
    python bench/training.py --quick    # small sizes, for a smoke run (nothing written)
    python bench/training.py --peer-python P   # an interpreter that has mlflow, optuna and optuna-integration

Tuning half. The same search on both sides: 200 trials of a decision tree on the breast-cancer
data (3 parameters, a 70/30 holdout), Optuna's TPE sampler with seed 0, the same Optuna and
scikit-learn versions, so both sides run the very same trials (checked: the sequence of
parameters and values is digested on each side). Each side times, in one process, each repeat
on new databases:
  - the search untracked (Optuna's in-memory study): the cost of the trials themselves;
  - modelcycle: mc.tune(objective, ...), the study a run and each trial a run in the SQLite
    store, which is also the study's only storage (resumable);
  - MLflow: an in-memory Optuna study with MLflowCallback logging each trial to MLflow's SQLite
    store, and, for the like-for-like durability, the same with the study in Optuna's own SQLite
    storage (RDBStorage), as its docs advise for a resumable study.
The tracking overhead per trial is (tracked seconds - untracked seconds) / trials, from the same
side and repeat. modelcycle runs twice: with its default synchronous=NORMAL and with
MODELCYCLE_SQLITE_SYNCHRONOUS=FULL (fsync on every commit, as MLflow's SQLite).

Evaluation half: see the marked section below (mc.evaluate against mlflow.models.evaluate).
Full runs write bench/results/training-<date>.txt and .json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tracking import side, write_results

HERE = Path(__file__).resolve().parent
PEER_VENV = HERE / ".venvs" / "optuna-mlflow"
MLFLOW_WANTED = "3.17.*"
FULL = {"trials": 200, "repeats": 3}
QUICK = {"trials": 30, "repeats": 1}
TARGET_OVERHEAD_RATIO = 10  # modelcycle's tracking overhead per trial at least this many times lower


# ---------------------------------------------------------------------- the search (both sides)
def objective_factory():
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)

    def objective(trial):
        model = DecisionTreeClassifier(max_depth=trial.suggest_int("max_depth", 1, 12),
                                       min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 30),
                                       criterion=trial.suggest_categorical("criterion", ["gini", "entropy"]),
                                       random_state=0)
        return model.fit(X_train, y_train).score(X_test, y_test)

    return objective


def digest(trials) -> str:
    """The trials' parameters and values in order: equal on both sides means the same work."""
    text = json.dumps([[t.number, sorted(t.params.items()), t.value] for t in trials])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def untracked(objective, n: int):
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=n)
    return study.trials


def versions(*names: str) -> dict:
    from importlib import metadata

    return {name: metadata.version(name) for name in names} | {"python": platform.python_version()}


# ---------------------------------------------------------------------- modelcycle side
def run_modelcycle(sizes: dict, workdir: Path) -> dict:
    import optuna

    import modelcycle as mc
    from modelcycle.store import open_store

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective, n = objective_factory(), sizes["trials"]
    untracked(objective, 5)  # imports and first calls out of the way
    results = {"untracked": [], "tracked": [], "untracked_cpu": [], "tracked_cpu": []}
    digests = set()
    for r in range(sizes["repeats"]):
        trials, wall, cpu = timed(lambda: untracked(objective, n))
        digests.add(digest(trials))
        results["untracked"].append(wall)
        results["untracked_cpu"].append(cpu)
        uri = f"sqlite:///{workdir / f'mc-{r}.db'}"
        mc.set_tracking_uri(uri, str(workdir / "artifacts"))
        open_store(uri, str(workdir / "artifacts"))  # the schema is made before the clock starts
        mc.tune(objective, n_trials=3, direction="maximize", seed=1, experiment="warm-up", progress=False)
        result, wall, cpu = timed(lambda: mc.tune(objective, n_trials=n, direction="maximize", sampler="tpe", seed=0,
                                                  experiment="bench", metric_name="accuracy", progress=False))
        digests.add(digest(result.study.trials))
        results["tracked"].append(wall)
        results["tracked_cpu"].append(cpu)
        runs = mc.Client().search_all_runs(["bench"], f"parent_id = '{result.run_id}'")
        assert len(runs) == n and len({r.tags["mc.trial.number"] for r in runs}) == n
    import sqlite3

    pragmas = sqlite3.connect(workdir / "mc-0.db")
    sqlite = {"journal_mode": pragmas.execute("PRAGMA journal_mode").fetchone()[0]}
    pragmas.close()
    return {"timings": results, "digests": sorted(digests), "sqlite": sqlite,
            "synchronous": os.environ.get("MODELCYCLE_SQLITE_SYNCHRONOUS", "NORMAL"),
            "versions": versions("optuna", "scikit-learn", "sqlalchemy") | {"modelcycle": mc.__version__}}


# ---------------------------------------------------------------------- MLflow side
def run_mlflow(sizes: dict, workdir: Path) -> dict:
    import logging

    import mlflow
    import optuna
    from optuna_integration.mlflow import MLflowCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    objective, n = objective_factory(), sizes["trials"]
    untracked(objective, 5)
    results = {k: [] for k in ("untracked", "callback", "callback_rdb", "untracked_cpu", "callback_cpu",
                               "callback_rdb_cpu")}
    digests = set()
    for r in range(sizes["repeats"]):
        trials, wall, cpu = timed(lambda: untracked(objective, n))
        digests.add(digest(trials))
        results["untracked"].append(wall)
        results["untracked_cpu"].append(cpu)
        for key, storage in (("callback", None), ("callback_rdb", f"sqlite:///{workdir / f'optuna-{r}.db'}")):
            uri = f"sqlite:///{workdir / f'mlflow-{key}-{r}.db'}"
            mlflow.set_tracking_uri(uri)
            mlflow.MlflowClient(uri).search_experiments()  # the schema is made before the clock starts
            callback = MLflowCallback(tracking_uri=uri, metric_name="accuracy", create_experiment=True)

            def search(storage=storage, callback=callback, key=key, r=r):
                study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                            storage=storage, study_name=f"bench-{key}-{r}")
                study.optimize(objective, n_trials=n, callbacks=[callback])
                return study

            study, wall, cpu = timed(search)
            digests.add(digest(study.trials))
            results[key].append(wall)
            results[f"{key}_cpu"].append(cpu)
            logged = mlflow.MlflowClient(uri).search_runs([mlflow.get_experiment_by_name(f"bench-{key}-{r}")
                                                           .experiment_id], max_results=5000)
            assert len(logged) == n, len(logged)
    return {"timings": results, "digests": sorted(digests),
            "versions": versions("optuna", "optuna-integration", "scikit-learn", "sqlalchemy") | {
                "mlflow": mlflow.__version__}}


# ---------------------------------------------------------------------- environments
def peer_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    python = PEER_VENV / "bin" / "python"
    check = "import mlflow, optuna, optuna_integration.mlflow, sklearn"
    if python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0:
        return str(python)
    print(f"Creating {PEER_VENV} (once)...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    ours = versions("optuna", "scikit-learn", "numpy")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"mlflow=={MLFLOW_WANTED}", "optuna-integration",
                    f"optuna=={ours['optuna']}", f"scikit-learn=={ours['scikit-learn']}", f"numpy=={ours['numpy']}"],
                   check=True)
    return str(python)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


# ---------------------------------------------------------------------- tuning half: report
def tuning_rows(ours: dict, ours_full: dict, peer: dict, n: int) -> tuple[list, dict]:
    med = statistics.median

    def overhead(side_results: dict, key: str, cpu: bool = False) -> float:
        suffix = "_cpu" if cpu else ""
        pairs = zip(side_results["timings"][key + suffix], side_results["timings"]["untracked" + suffix])
        return med([(tracked - base) / n for tracked, base in pairs])

    rows = []
    record: dict = {"overhead_ms_per_trial": {}, "overhead_cpu_ms_per_trial": {}, "trials_per_second": {},
                    "seconds": {}}
    for label, side_results, key in (
            ("modelcycle mc.tune", ours, "tracked"),
            ("  same, synchronous=FULL", ours_full, "tracked"),
            ("Optuna in memory + MLflowCallback", peer, "callback"),
            ("Optuna RDBStorage (SQLite) + MLflowCallback", peer, "callback_rdb")):
        seconds = med(side_results["timings"][key])
        name = label.strip()
        record["seconds"][name] = seconds
        record["overhead_ms_per_trial"][name] = overhead(side_results, key) * 1000
        record["overhead_cpu_ms_per_trial"][name] = overhead(side_results, key, cpu=True) * 1000
        record["trials_per_second"][name] = n / seconds
        rows.append((label, seconds, n / seconds, overhead(side_results, key) * 1000,
                     overhead(side_results, key, cpu=True) * 1000))
    record["untracked_seconds"] = {"modelcycle side": med(ours["timings"]["untracked"]),
                                   "MLflow side": med(peer["timings"]["untracked"])}
    ours_ms = record["overhead_ms_per_trial"]["modelcycle mc.tune"]
    record["ratios"] = {
        "vs_callback": record["overhead_ms_per_trial"]["Optuna in memory + MLflowCallback"] / ours_ms,
        "vs_callback_rdb": record["overhead_ms_per_trial"]["Optuna RDBStorage (SQLite) + MLflowCallback"] / ours_ms,
    }
    record["target"] = {"ratio": TARGET_OVERHEAD_RATIO, "met": record["ratios"]["vs_callback"] >= TARGET_OVERHEAD_RATIO}
    record["same_trials"] = len(set(ours["digests"]) | set(ours_full["digests"]) | set(peer["digests"])) == 1
    return rows, record


# ---------------------------------------------------------------------- evaluation half
# ====================================================================== EVALUATION HALF ====
# mc.evaluate of a 100-tree random forest on 100,000 rows against mlflow.models.evaluate with the
# default evaluator (target: at least 5x faster). Each side, in its own process and venv, makes
# the same data (make_classification, seed 0: 20,000 rows to train on, 100,000 to evaluate),
# fits the same forest (scikit-learn, random_state 0, n_jobs 1: the same trees, checked by a
# digest of its probabilities), logs it as a model in its own store (untimed), then times
# evaluate(model URI, DataFrame, target) inside a run: a first call (imports, cold caches) and
# EVAL_REPEATS more, each into a new run. MLflow computes its default metrics and five plots
# (ROC, precision-recall, lift, calibration, confusion matrix); SHAP is not installed in its
# venv, so its explainability step is skipped, as in a plain `pip install mlflow`. modelcycle
# computes its metrics, the table by threshold, four plots and the HTML report, and is timed a
# second way, storing the DataFrame as a dataset version (dataset_name=): MLflow records only
# a digest of the data. The headline metrics of both sides are compared.
EVAL_SIZES = {"train_rows": 20_000, "eval_rows": 100_000, "features": 20, "trees": 100}
EVAL_QUICK = {"train_rows": 2_000, "eval_rows": 10_000, "features": 20, "trees": 20}
EVAL_REPEATS = 5
TARGET_EVALUATE_SPEEDUP = 5


def evaluation_data(sizes: dict):
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    n_train, n_eval = sizes["train_rows"], sizes["eval_rows"]
    X, y = make_classification(n_samples=n_train + n_eval, n_features=sizes["features"], n_informative=8,
                               flip_y=0.05, random_state=0)
    columns = [f"f{i}" for i in range(sizes["features"])]
    train = pd.DataFrame(X[:n_train], columns=columns)
    evaluation = pd.DataFrame(X[n_train:], columns=columns).assign(label=y[n_train:])
    forest = RandomForestClassifier(n_estimators=sizes["trees"], random_state=0, n_jobs=1).fit(train, y[:n_train])
    proba = forest.predict_proba(evaluation[columns])
    check = hashlib.sha256(np.ascontiguousarray(proba).tobytes()).hexdigest()[:16]
    return forest, evaluation, columns, check


def _eval_sizes(quick: bool) -> dict:
    return EVAL_QUICK if quick else EVAL_SIZES


def run_modelcycle_evaluate(sizes: dict, workdir: Path) -> dict:
    import modelcycle as mc

    quick = sizes is QUICK
    forest, evaluation, columns, check = evaluation_data(_eval_sizes(quick))
    with mc.start_run(experiment="bench") as run:
        info = mc.log_model(forest, "model", input_example=evaluation[columns].head(5), onnx=False)
    timings: dict[str, list[float]] = {}
    result = None
    for key, count, options in (("first", 1, {}), ("evaluate", EVAL_REPEATS, {}),
                                ("evaluate_stored", 1 if quick else 2, {"dataset_name": "bench-eval"})):
        for _ in range(count):
            with mc.start_run(experiment="bench"):
                (result, wall, cpu) = timed(lambda options=options: mc.evaluate(info.uri, evaluation, "label",
                                                                                 **options))
            timings.setdefault(key, []).append(wall)
            timings.setdefault(key + "_cpu", []).append(cpu)
    assert run.id and result.dataset == "bench-eval@1"
    return {"timings": timings, "check": check, "rows": result.rows,
            "metrics": {k: result.metrics[k] for k in ("accuracy", "roc_auc", "log_loss", "f1", "precision", "recall")},
            "artifacts": result.artifacts,
            "versions": {"modelcycle": mc.__version__, **versions("scikit-learn", "numpy", "pandas", "matplotlib")}}


def run_mlflow_evaluate(sizes: dict, workdir: Path) -> dict:
    import logging
    import warnings

    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    quick = sizes is QUICK
    forest, evaluation, columns, check = evaluation_data(_eval_sizes(quick))
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    # artifacts in the side's folder: by default MLflow puts them under ./mlruns of the caller
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("bench", artifact_location=str(workdir / "mlruns")))
    with mlflow.start_run():
        uri = mlflow.sklearn.log_model(forest, name="model", serialization_format="cloudpickle",
                                       input_example=evaluation[columns].head(5)).model_uri
    timings: dict[str, list[float]] = {}
    result = None
    for key, count in (("first", 1), ("evaluate", EVAL_REPEATS)):
        for _ in range(count):
            with mlflow.start_run():
                (result, wall, cpu) = timed(lambda: mlflow.models.evaluate(
                    uri, evaluation, targets="label", model_type="classifier", evaluators=["default"]))
            timings.setdefault(key, []).append(wall)
            timings.setdefault(key + "_cpu", []).append(cpu)
    names = {"accuracy": "accuracy_score", "roc_auc": "roc_auc", "log_loss": "log_loss", "f1": "f1_score",
             "precision": "precision_score", "recall": "recall_score"}
    return {"timings": timings, "check": check, "metrics": {k: result.metrics[v] for k, v in names.items()},
            "artifacts": sorted(result.artifacts),
            "versions": {"mlflow": mlflow.__version__, **versions("scikit-learn", "numpy", "pandas", "matplotlib")}}


EVALUATION_SIDES = {"modelcycle-evaluate": run_modelcycle_evaluate, "mlflow-evaluate": run_mlflow_evaluate}


def evaluation_half(args, peer: str) -> tuple[list, dict] | None:
    from rich.table import Table

    progress = __import__("rich.console", fromlist=["Console"]).Console(stderr=True)
    progress.print("Running mc.evaluate...", style="dim")
    ours = side(sys.executable, "modelcycle-evaluate", args.quick, script=__file__)
    progress.print(f"Running mlflow.models.evaluate ({peer})...", style="dim")
    theirs = side(peer, "mlflow-evaluate", args.quick, script=__file__)
    med = statistics.median
    sizes = _eval_sizes(args.quick)
    mc_s, ml_s = med(ours["timings"]["evaluate"]), med(theirs["timings"]["evaluate"])
    record = {
        "sizes": sizes, "repeats": EVAL_REPEATS, "same_model": ours["check"] == theirs["check"],
        "seconds": {"modelcycle": mc_s, "modelcycle_first": ours["timings"]["first"][0],
                    "modelcycle_stored_dataset": med(ours["timings"]["evaluate_stored"]),
                    "mlflow": ml_s, "mlflow_first": theirs["timings"]["first"][0]},
        "speedup": ml_s / mc_s, "speedup_first": theirs["timings"]["first"][0] / ours["timings"]["first"][0],
        "speedup_stored_dataset": ml_s / med(ours["timings"]["evaluate_stored"]),
        "metrics": {"modelcycle": ours["metrics"], "mlflow": theirs["metrics"]},
        "metrics_agree": all(abs(ours["metrics"][k] - theirs["metrics"][k]) <= 1e-9 * max(1.0, abs(theirs["metrics"][k]))
                             for k in ours["metrics"]),
        "modelcycle": ours, "mlflow": theirs,
    }
    record["target"] = {"speedup": TARGET_EVALUATE_SPEEDUP, "met": record["speedup"] >= TARGET_EVALUATE_SPEEDUP}
    rows_label = f"{sizes['trees']}-tree forest, {sizes['eval_rows']:,} rows"
    table = Table(title=f"Evaluating a {rows_label}: mc.evaluate (modelcycle {ours['versions']['modelcycle']}) and "
                        f"mlflow.models.evaluate, default evaluator (MLflow {theirs['versions']['mlflow']})")
    for column in ("call", "modelcycle s", "MLflow s", "speed-up", "target"):
        table.add_column(column, justify="left" if column == "call" else "right", no_wrap=True)
    verdict = f">= {TARGET_EVALUATE_SPEEDUP}x " + ("met" if record["target"]["met"] else "MISSED")
    table.add_row(f"evaluate(URI, DataFrame), median of {EVAL_REPEATS}", f"{mc_s:.2f}", f"{ml_s:.2f}",
                  f"{record['speedup']:.1f}x", verdict)
    mc_min, ml_min = min(ours["timings"]["evaluate"]), min(theirs["timings"]["evaluate"])
    record["seconds"].update({"modelcycle_best": mc_min, "mlflow_best": ml_min})
    record["speedup_best"] = ml_min / mc_min
    mc_cpu, ml_cpu = med(ours["timings"]["evaluate_cpu"]), med(theirs["timings"]["evaluate_cpu"])
    record["cpu_seconds"] = {"modelcycle": mc_cpu, "mlflow": ml_cpu}
    record["speedup_cpu"] = ml_cpu / mc_cpu
    table.add_row(f"  best of {EVAL_REPEATS}", f"{mc_min:.2f}", f"{ml_min:.2f}", f"{record['speedup_best']:.1f}x", "")
    table.add_row("  CPU seconds of the process, median", f"{mc_cpu:.2f}", f"{ml_cpu:.2f}",
                  f"{record['speedup_cpu']:.1f}x", "")
    table.add_row("  first call in the process", f"{record['seconds']['modelcycle_first']:.2f}",
                  f"{record['seconds']['mlflow_first']:.2f}", f"{record['speedup_first']:.1f}x", "")
    table.add_row("  modelcycle also storing the rows (dataset_name=)",
                  f"{record['seconds']['modelcycle_stored_dataset']:.2f}", f"{ml_s:.2f}",
                  f"{record['speedup_stored_dataset']:.1f}x", "")
    table.caption = "speed-up = MLflow seconds / modelcycle seconds"
    agree = "agree" if record["metrics_agree"] else "DIFFER"
    notes = (f"Same forest on both sides: {'yes' if record['same_model'] else 'NO'} (probability digest "
             f"{ours['check']}). Headline metrics {agree}: " + ", ".join(
                 f"{k} {ours['metrics'][k]:.6g}/{theirs['metrics'][k]:.6g}" for k in ours["metrics"])
             + f". MLflow logged {', '.join(theirs['artifacts'])}; modelcycle "
             + ", ".join(a.removeprefix("evaluation/") for a in ours["artifacts"]) + ".")
    return [table, notes], record
# ====================================================================== END EVALUATION HALF


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, nothing written")
    parser.add_argument("--peer-python", help="a Python with mlflow, optuna and optuna-integration "
                                              "(default: bench/.venvs/optuna-mlflow)")
    parser.add_argument("--side", choices=["modelcycle", "mlflow", *EVALUATION_SIDES], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.side:
        run = EVALUATION_SIDES.get(args.side) or (run_modelcycle if args.side == "modelcycle" else run_mlflow)
        print(json.dumps(run(sizes, Path(args.workdir))))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=150)
    progress = Console(stderr=True)
    peer = peer_python(args.peer_python)
    uptime_before = uptime()
    progress.print("Running modelcycle (synchronous=NORMAL)...", style="dim")
    ours = side(sys.executable, "modelcycle", args.quick, script=__file__)
    progress.print("Running modelcycle (MODELCYCLE_SQLITE_SYNCHRONOUS=FULL)...", style="dim")
    ours_full = side(sys.executable, "modelcycle", args.quick, {"MODELCYCLE_SQLITE_SYNCHRONOUS": "FULL"},
                     script=__file__)
    progress.print(f"Running Optuna + MLflowCallback ({peer})...", style="dim")
    theirs = side(peer, "mlflow", args.quick, script=__file__)
    evaluation = evaluation_half(args, peer)
    uptime_after = uptime()

    n = sizes["trials"]
    rows, record = tuning_rows(ours, ours_full, theirs, n)
    mv, pv = ours["versions"], theirs["versions"]
    table = Table(title=f"Tracking a {n}-trial Optuna search on local SQLite: modelcycle {mv['modelcycle']} and "
                        f"MLflow {pv['mlflow']} (optuna-integration {pv['optuna-integration']})")
    for column in ("search", "seconds", "trials/s", "tracking overhead ms/trial", "same, CPU ms/trial"):
        table.add_column(column, justify="left" if column == "search" else "right", no_wrap=True)
    for label, seconds, rate, overhead, overhead_cpu in rows:
        table.add_row(label, f"{seconds:.2f}", f"{rate:,.0f}", f"{overhead:.2f}", f"{overhead_cpu:.2f}")
    ratio, ratio_rdb = record["ratios"]["vs_callback"], record["ratios"]["vs_callback_rdb"]
    table.caption = (f"untracked, the same trials: {record['untracked_seconds']['modelcycle side']:.2f} s "
                     f"(modelcycle's side), {record['untracked_seconds']['MLflow side']:.2f} s (MLflow's side)")
    console.print(table)
    verdict = "met" if record["target"]["met"] else "MISSED"
    console.print(f"Tracking overhead per trial: modelcycle {ratio:.1f}x lower than MLflowCallback on an in-memory "
                  f"study, {ratio_rdb:.1f}x lower than MLflowCallback on a study in Optuna's SQLite storage "
                  f"(target >= {TARGET_OVERHEAD_RATIO}x: {verdict}). Same trials on every side: "
                  f"{'yes' if record['same_trials'] else 'NO'} (digests {sorted(set(ours['digests'] + theirs['digests']))}).")
    console.print(f"Each figure is the median of {sizes['repeats']} repeats, each on new databases; the overhead is "
                  "tracked minus untracked seconds of the same repeat on the same side, over the trials. "
                  f"modelcycle: journal_mode={ours['sqlite']['journal_mode']}, synchronous NORMAL (and FULL); MLflow "
                  "and Optuna's RDBStorage keep SQLite's defaults (rollback journal, synchronous FULL).")
    console.print(f"Versions: optuna {mv['optuna']} / {pv['optuna']}, scikit-learn {mv['scikit-learn']} / "
                  f"{pv['scikit-learn']}, SQLAlchemy {mv['sqlalchemy']} / {pv['sqlalchemy']}, Python {mv['python']} / "
                  f"{pv['python']}. {os.cpu_count()} CPUs, {platform.platform()}, shared with other work.")
    console.print(f"uptime before: {uptime_before}")
    console.print(f"uptime after:  {uptime_after}")
    result = {"date": datetime.date.today().isoformat(), "sizes": sizes,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "uptime_before": uptime_before, "uptime_after": uptime_after},
              "tuning": {**record, "modelcycle": ours, "modelcycle_synchronous_full": ours_full, "mlflow": theirs}}
    if evaluation is not None:
        eval_rows, eval_record = evaluation
        result["evaluation"] = eval_record
        for row in eval_rows:
            console.print(row)
    if not args.quick:
        write_results(console, result, "training")


if __name__ == "__main__":
    main()

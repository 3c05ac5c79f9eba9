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

from tracking import side

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
# Placeholder: mc.evaluate of a 100-tree forest on 100,000 rows against mlflow.models.evaluate
# with the default evaluator (target: at least 5x faster). Add its side functions here (run
# through side() like the tuning half, listed in EVALUATION_SIDES by their --side name) and
# return (rows, record) from evaluation_half(); main() prints the rows and stores the record
# under "evaluation" in the same results files. None: not measured yet.
EVALUATION_SIDES: dict = {}


def evaluation_half(args, peer: str) -> tuple[list, dict] | None:
    return None
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
        stem = HERE / "results" / f"training-{result['date']}"
        stem.with_suffix(".txt").write_text(console.export_text(clear=False))
        stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Results written to {stem}.txt and .json")


if __name__ == "__main__":
    main()

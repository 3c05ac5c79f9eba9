"""Model logging, registry and loading: modelcycle and MLflow side by side, both on local SQLite.

    python bench/models.py                      # full run; creates bench/.venv-mlflow on first use
    python bench/models.py --quick              # fewer repetitions and calls, for a smoke run (nothing written)
    python bench/models.py --mlflow-python P    # use an existing interpreter that has mlflow

Workload, the same on both sides: a RandomForestClassifier(n_estimators=100, random_state=0)
trained on scikit-learn's breast-cancer data (a DataFrame, 569 rows x 30 columns) before the clock
starts, then, timed call by call:
  1. log it in a new run, with the first 20 rows as input example
     (modelcycle: mc.log_model, which also writes and checks an ONNX form;
      MLflow: mlflow.sklearn.log_model, once with serialization_format="cloudpickle" and once with
      its default, skops);
  2. register it as the next version of "bench-forest";
  3. load that version back by models:/bench-forest/<version> (modelcycle: mc.load_model, native;
     MLflow: mlflow.sklearn.load_model), and check it predicts the trained model's labels.
This is done once (the first repetition, kept apart: it includes the imports each library makes on
first use) and then 3 more times (1 with --quick) in the same process, each registering a new
version; the table gives the medians of those. Then, untimed in the totals: load times of the other forms
(modelcycle ONNX, MLflow pyfunc) and predict latency of every loaded form, for single rows and for
1,000-row batches sampled with replacement from the data.

Each side runs in its own subprocess and its own fresh temporary folder (SQLite database and
artifact folder in it), one after the other; MLflow runs from its own virtual environment.
modelcycle keeps a cache of fetched model files under MODELCYCLE_HOME, keyed by content; it is
emptied before each repetition (untimed), since every repetition logs the same bytes and a new
model would not be in it. Full runs write bench/results/models-<date>.txt and .json, which record
the modelcycle measured (its folder, commit and uncommitted changes): to measure a clean commit
while the work tree has edits, run this file from a `git worktree` of it with PYTHONPATH set to
that worktree. Helpers (timings, SQLite pragmas, the MLflow virtualenv) come from tracking.py.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tracking import Timings, mlflow_python, side as run_side, sqlite_pragmas, write_results

HERE = Path(__file__).resolve().parent

FULL = {"repeats": 3, "single_calls": 200, "batch_calls": 20}
QUICK = {"repeats": 1, "single_calls": 20, "batch_calls": 3}
BATCH_ROWS = 1_000
EXAMPLE_ROWS = 20
MODEL_NAME = "bench-forest"
SKOPS_TRUSTED = ["sklearn.tree._tree.Tree"]
STEPS = ("log", "register", "load")


# ---------------------------------------------------------------------- shared by both sides
def workload():
    """The data, the trained model and the rows to predict: the same on both sides."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)
    return X, model, np.random.default_rng(0)


def predict_inputs(X, rng, sizes: dict) -> dict:
    """Rows sampled with replacement, as DataFrames built before any clock starts."""
    return {"single": [X.iloc[rng.integers(0, len(X), 1)] for _ in range(sizes["single_calls"])],
            "batch": [X.iloc[rng.integers(0, len(X), BATCH_ROWS)] for _ in range(sizes["batch_calls"])]}


def predict_latency(predict, inputs: dict) -> dict:
    """Median seconds of one predict call on 1 row and on BATCH_ROWS rows, after a warm-up call."""
    out = {}
    for kind, frames in inputs.items():
        predict(frames[0])
        seconds = []
        for frame in frames:
            start = time.perf_counter()
            predict(frame)
            seconds.append(time.perf_counter() - start)
        out[kind] = statistics.median(seconds)
    return out


def repetitions(sizes: dict, timings: Timings, one, before=None) -> list:
    """The first repetition (keys <step>_first) and then sizes["repeats"] more (keys <step>).
    ``one(record)`` runs log, register and load through record(step, fn)."""
    results = []
    for r in range(1 + sizes["repeats"]):
        if before:
            before()
        suffix = "_first" if r == 0 else ""
        results.append(one(lambda step, fn, suffix=suffix: timings.measure(step + suffix, fn)))
        for clock in (timings.wall, timings.cpu):
            clock.setdefault("total" + suffix, []).append(sum(clock[step + suffix][-1] for step in STEPS))
    return results


def mismatches(a, b) -> int:
    import numpy as np

    return int(np.sum(np.asarray(a).astype(str) != np.asarray(b).astype(str)))


def machine_versions() -> dict:
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


def source_state(package: Path) -> dict:
    """Which modelcycle was measured: its folder, and the commit and uncommitted changes there."""
    def git(*args):
        out = subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, check=False)
        return out.stdout.strip() if out.returncode == 0 else None
    changed = git("status", "--porcelain", "--", ".")
    return {"package": str(package), "commit": git("rev-parse", "HEAD"),
            "uncommitted_changes": None if changed is None else changed.splitlines()}


def dist_versions(*names: str) -> dict:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ---------------------------------------------------------------------- modelcycle side
def run_modelcycle(sizes: dict, workdir: Path, variant: str) -> dict:
    X, model, rng = workload()  # numpy, pandas and scikit-learn are imported here, before the package
    start = time.perf_counter()
    import modelcycle as mc
    import_seconds = time.perf_counter() - start
    expected = model.predict(X)
    inputs = predict_inputs(X, rng, sizes)
    timings = Timings()
    mc.set_experiment("models")
    client = mc.Client()
    client.get_or_create_experiment("models")  # the database is made before the clock starts
    cache = Path(os.environ["MODELCYCLE_HOME"]) / "cache"

    def one(record):
        def log():
            with mc.start_run():
                return mc.log_model(model, "model", input_example=X.head(EXAMPLE_ROWS))
        info = record("log", log)
        version = record("register", lambda: mc.register_model(info.uri, MODEL_NAME))
        loaded = record("load", lambda: mc.load_model(f"models:/{MODEL_NAME}/{version.version}"))
        assert mismatches(loaded.predict(X), expected) == 0, "the loaded model predicts other labels"
        return info, version, loaded

    results = repetitions(sizes, timings, one, before=lambda: shutil.rmtree(cache, ignore_errors=True))
    info, version, native = results[-1]
    onnx = timings.measure("load_onnx", lambda: mc.load_model(f"models:/{MODEL_NAME}/{version.version}",
                                                              backend="onnx"))
    checks = {"versions_registered": [v.version for _, v, _ in results], "rows": len(X),
              "onnx_form": info.manifest.onnx.get("file"), "onnx_reason": info.manifest.onnx.get("reason"),
              "onnx_label_mismatches": mismatches(onnx.predict(X), expected),
              "files": {name: meta["size"] for name, meta in info.manifest.files.items()}}
    predict = {"sklearn estimator (in process)": predict_latency(model.predict, inputs),
               "modelcycle native": predict_latency(native.predict, inputs),
               "modelcycle ONNX": predict_latency(onnx.predict, inputs)}

    raw = client.store.engine.raw_connection()
    try:
        pragmas = sqlite_pragmas(lambda sql: raw.cursor().execute(sql).fetchone()[0])
    finally:
        raw.close()
    return {"timings": timings.summary(), "checks": checks, "predict": predict, "sqlite": pragmas,
            "import_seconds": import_seconds, "source": source_state(Path(mc.__file__).resolve().parent),
            "versions": {"modelcycle": mc.__version__, **machine_versions(),
                         **dist_versions("scikit-learn", "onnxruntime", "skl2onnx", "onnx", "cloudpickle",
                                         "numpy", "pandas", "sqlalchemy")}}


# ---------------------------------------------------------------------- MLflow side
def run_mlflow(sizes: dict, workdir: Path, variant: str) -> dict:
    X, model, rng = workload()  # numpy, pandas and scikit-learn are imported here, before the package
    start = time.perf_counter()
    import mlflow
    import_seconds = time.perf_counter() - start
    expected = model.predict(X)
    inputs = predict_inputs(X, rng, sizes)
    timings = Timings()
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    # The database (MLflow creates its tables here) and the experiment, before the clock starts.
    experiment = mlflow.create_experiment("models", artifact_location=(workdir / "mlartifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    options = ({"serialization_format": "cloudpickle"} if variant == "cloudpickle"
               else {"skops_trusted_types": SKOPS_TRUSTED})  # skops is MLflow's default

    def one(record):
        def log():
            with mlflow.start_run():
                return mlflow.sklearn.log_model(model, name="model", input_example=X.head(EXAMPLE_ROWS),
                                                **options)
        info = record("log", log)
        version = record("register", lambda: mlflow.register_model(info.model_uri, MODEL_NAME))
        loaded = record("load", lambda: mlflow.sklearn.load_model(f"models:/{MODEL_NAME}/{version.version}"))
        assert mismatches(loaded.predict(X), expected) == 0, "the loaded model predicts other labels"
        return info, version, loaded

    results = repetitions(sizes, timings, one)
    info, version, _ = results[-1]
    pyfunc = timings.measure("load_pyfunc", lambda: mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version.version}"))
    assert mismatches(pyfunc.predict(X), expected) == 0
    flavor = info.flavors.get("sklearn", {})
    checks = {"versions_registered": [int(v.version) for _, v, _ in results],
              "serialization_format": flavor.get("serialization_format"),
              "model_file": flavor.get("pickled_model")}
    predict = {f"MLflow pyfunc ({variant})": predict_latency(pyfunc.predict, inputs)}
    if variant == "cloudpickle":
        predict["sklearn estimator (in process)"] = predict_latency(model.predict, inputs)

    pragmas = {}
    try:  # the tracking store's own engine, so its connection settings apply
        from mlflow.tracking._tracking_service.utils import _get_store

        with _get_store().engine.connect() as conn:
            pragmas = sqlite_pragmas(lambda sql: conn.exec_driver_sql(sql).scalar())
    except Exception as exc:  # an internal API  # noqa: BLE001
        pragmas = {"error": repr(exc)}
    return {"timings": timings.summary(), "checks": checks, "predict": predict, "sqlite": pragmas,
            "import_seconds": import_seconds,
            "versions": {"mlflow": mlflow.__version__, **machine_versions(),
                         **dist_versions("scikit-learn", "skops", "cloudpickle", "numpy", "pandas",
                                         "sqlalchemy")}}


# ---------------------------------------------------------------------- driver
def side(python: str, name: str, variant: str, quick: bool) -> dict:
    return run_side(python, name, quick, script=__file__, extra=("--variant", variant), in_workdir=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and calls, nothing written")
    parser.add_argument("--mlflow-python", help="a Python that has mlflow (default: bench/.venv-mlflow)")
    parser.add_argument("--side", choices=["modelcycle", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.side:
        run = run_modelcycle if args.side == "modelcycle" else run_mlflow
        print(json.dumps(run(sizes, Path(args.workdir), args.variant)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=150)
    progress = Console(stderr=True)  # not part of the recorded results
    python = mlflow_python(args.mlflow_python)
    load_before = os.getloadavg()
    progress.print("Running modelcycle...", style="dim")
    ours = side(sys.executable, "modelcycle", "native", args.quick)
    peers = {}
    for variant in ("cloudpickle", "skops"):
        progress.print(f"Running MLflow, {variant} ({python})...", style="dim")
        peers[variant] = side(python, "mlflow", variant, args.quick)
    load_after = os.getloadavg()

    mv, fv = ours["versions"], peers["cloudpickle"]["versions"]
    reps = sizes["repeats"]
    record = {"date": datetime.date.today().isoformat(), "sizes": sizes, "batch_rows": BATCH_ROWS,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_1min_before_after": [load_before[0], load_after[0]]},
              "modelcycle": ours, "mlflow_cloudpickle": peers["cloudpickle"], "mlflow_skops": peers["skops"],
              "ratios": {}, "ratios_first": {}}

    def med(result, key):
        return statistics.median(result["timings"]["wall"][key])

    # ------------------------------------------------------------- log + register + load
    table = Table(title=f"Log, register and load a 100-tree random forest on local SQLite: "
                        f"modelcycle {mv['modelcycle']} and MLflow {fv['mlflow']}")
    for column in ("", "log s", "register s", "load s", "total s", "first: total s", "speed-up",
                   "speed-up, first"):
        table.add_column(column, justify="left" if not column else "right", no_wrap=True)
    rows = [("modelcycle (native + ONNX form)", ours)] + \
        [(f"MLflow {variant}", peers[variant]) for variant in ("cloudpickle", "skops")]
    mine_total, mine_first = med(ours, "total"), med(ours, "total_first")
    for label, result in rows:
        total, first = med(result, "total"), med(result, "total_first")
        ratio = ratio_first = ""
        if result is not ours:
            variant = label.split()[-1]
            record["ratios"][variant] = round(total / mine_total, 2)
            record["ratios_first"][variant] = round(first / mine_first, 2)
            ratio, ratio_first = f"{total / mine_total:.1f}x", f"{first / mine_first:.1f}x"
        table.add_row(label, *(f"{med(result, step):.3f}" for step in STEPS), f"{total:.3f}", f"{first:.3f}",
                      ratio, ratio_first)
    table.caption = (f"Medians of {reps} repetitions after the first, each a new registered version; "
                     "speed-up = MLflow total / modelcycle total. Target: >= 5x. "
                     "The issue's reference for MLflow 3.17: 4.5 s (cloudpickle), 7.2 s (skops).")
    console.print(table)
    targets = {v: r >= 5 for v, r in record["ratios"].items()}
    record["targets"] = {"target": 5, "met": targets}
    console.print("Target >= 5x: " + ", ".join(
        f"MLflow {v}: {record['ratios'][v]:.1f}x {'met' if ok else 'MISSED'}" for v, ok in targets.items()) + ".")

    # ------------------------------------------------------------- first repetition, per step
    first = Table(title="First repetition alone (includes the imports each library makes on first use)")
    for column in ("", "log s", "register s", "load s", "total s", "speed-up", "package import s",
                   "total + import s", "speed-up"):
        first.add_column(column, justify="left" if not column else "right", no_wrap=True)
    mine_cold = mine_first + ours["import_seconds"]
    record["ratios_first_with_import"] = {}
    for label, result in rows:
        total, cold = med(result, "total_first"), med(result, "total_first") + result["import_seconds"]
        ratio = ratio_cold = ""
        if result is not ours:
            variant = label.split()[-1]
            record["ratios_first_with_import"][variant] = round(cold / mine_cold, 2)
            ratio, ratio_cold = f"{total / mine_first:.1f}x", f"{cold / mine_cold:.1f}x"
        first.add_row(label, *(f"{med(result, step + '_first'):.3f}" for step in STEPS), f"{total:.3f}", ratio,
                      f"{result['import_seconds']:.3f}", f"{cold:.3f}", ratio_cold)
    first.caption = ("Package import: import modelcycle / import mlflow, made after numpy, pandas and "
                     "scikit-learn are loaded and the model trained, and before the first repetition; the "
                     "submodules each library loads on first use (modelcycle: its model code, skl2onnx, "
                     "onnx, onnxruntime; MLflow: mlflow.sklearn, skops...) are in the first repetition.")
    console.print(first)

    # ------------------------------------------------------------- other loads, predict latency
    latency = Table(title=f"Predict latency of the loaded model (median of {sizes['single_calls']} single-row "
                          f"calls and {sizes['batch_calls']} calls of {BATCH_ROWS:,} rows, after a warm-up call)")
    for column in ("loaded as", "load s", "1 row ms", f"{BATCH_ROWS:,} rows ms", f"{BATCH_ROWS:,}-row rate"):
        latency.add_column(column, justify="left" if column == "loaded as" else "right", no_wrap=True)
    entries = [  # label, predict latency, load seconds
        ("sklearn estimator (in process)", ours["predict"]["sklearn estimator (in process)"], None),
        ("modelcycle native", ours["predict"]["modelcycle native"], med(ours, "load")),
        ("modelcycle ONNX", ours["predict"]["modelcycle ONNX"], ours["timings"]["wall"]["load_onnx"][0]),
        *((f"MLflow pyfunc ({v})", peers[v]["predict"][f"MLflow pyfunc ({v})"],
           peers[v]["timings"]["wall"]["load_pyfunc"][0]) for v in ("cloudpickle", "skops")),
        ("sklearn estimator (in process, MLflow's venv)",
         peers["cloudpickle"]["predict"]["sklearn estimator (in process)"], None),
    ]
    for label, p, load in entries:
        latency.add_row(label, "" if load is None else f"{load:.3f}", f"{p['single'] * 1e3:.2f}",
                        f"{p['batch'] * 1e3:.2f}", f"{BATCH_ROWS / p['batch']:,.0f} rows/s")
    latency.caption = ("load s: modelcycle native is the median above; the others one load each, of the "
                       "last version, after the repetitions. MLflow's pyfunc checks inputs against the "
                       "logged signature, as modelcycle's loaded model does.")
    console.print(latency)
    record["predict"] = {label: {**p, "load_seconds": load} for label, p, load in entries}

    oc = ours["checks"]
    console.print(
        f"Checks: every loaded model (native, each repetition) predicted the trained model's labels on all "
        f"{oc['rows']} rows. modelcycle's ONNX form ({oc['onnx_form'] or 'none: ' + str(oc['onnx_reason'])}) "
        f"differs from them on {oc['onnx_label_mismatches']} rows. modelcycle's model files: "
        + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in oc["files"].items()) + ". Versions registered: "
        f"modelcycle {oc['versions_registered']}, MLflow {peers['cloudpickle']['checks']['versions_registered']} "
        f"per variant (MLflow serialization_format as logged: "
        f"{peers['cloudpickle']['checks']['serialization_format']}, {peers['skops']['checks']['serialization_format']}"
        f"; skops loads with skops_trusted_types={SKOPS_TRUSTED}).")
    sv, src = peers["skops"]["versions"], ours["source"]
    console.print(
        f"modelcycle measured from {src['package']}, commit {(src['commit'] or 'unknown')[:12]}"
        + (f", with uncommitted changes to {len(src['uncommitted_changes'])} files"
           if src["uncommitted_changes"] else "") + ".")
    console.print(
        f"Versions: modelcycle {mv['modelcycle']} (scikit-learn {mv['scikit-learn']}, onnxruntime "
        f"{mv['onnxruntime']}, skl2onnx {mv['skl2onnx']}, cloudpickle {mv['cloudpickle']}, numpy {mv['numpy']}, "
        f"pandas {mv['pandas']}, Python {mv['python']}, SQLite {mv['sqlite']}); MLflow {fv['mlflow']} "
        f"(scikit-learn {fv['scikit-learn']}, skops {sv['skops']}, cloudpickle {fv['cloudpickle']}, numpy "
        f"{fv['numpy']}, pandas {fv['pandas']}, Python {fv['python']}, SQLite {fv['sqlite']}). "
        f"{record['machine']['cpus']} CPUs, {record['machine']['platform']}, 1-minute load "
        f"{load_before[0]:.2f} before and {load_after[0]:.2f} after.")
    mp, fp = ours["sqlite"], peers["cloudpickle"]["sqlite"]
    console.print(
        "Durability: both sides on SQLite with a local artifact folder, each call committed when it returns. "
        f"modelcycle: WAL with synchronous=NORMAL by default (read back: journal_mode={mp.get('journal_mode')}, "
        f"synchronous={mp.get('synchronous')}): a committed call survives a crash of the process, the last "
        "commits may be lost on power failure; each artifact file is fsynced and renamed into place before "
        "its row is written. MLflow keeps SQLite's defaults "
        f"(journal_mode={fp.get('journal_mode')}, synchronous={fp.get('synchronous')}: every commit fsynced); "
        "its local artifact repository copies files without fsync.")
    if not args.quick:
        write_results(console, record, "models")


if __name__ == "__main__":
    main()

"""Monitoring: `modelcycle monitor run` over a day of predictions against Evidently's
DataDriftPreset computed per window.

    python bench/monitoring.py           # 1,000,000 predictions; writes bench/results/monitoring-<date>.txt/.json
    python bench/monitoring.py --quick   # 48,000 predictions and a 10,000-row training table, for a smoke run (nothing written)

The data are bench/drift.py's: 20 features (15 numerical of five kinds, 5 categorical with 10
categories of uneven frequency); from hour 12 on, num_0, num_1, num_7, cat_0 and cat_1 drift as
they do there. A setup process trains a scikit-learn pipeline (one-hot and scaling, then a
logistic regression) on a 200,000-row training table logged with mc.log_dataset (which stores its
profile: the monitor's reference) and an evaluation table, registers it as "fraud" and puts it in
Production; then it scores 24 hours of traffic, 10 rows a request plus a few failed requests, and
writes every request through modelcycle.serving.predlog.PredictionLog, as the model server does.

Each side runs in its own process, imports excluded from its wall time, and reports its peak
memory (VmHWM: interpreter and libraries included):
  - modelcycle: `modelcycle monitor run fraud` (the CLI, in process) with the built-in rules:
    every window's drift against the stored training profile, output drift against the model's
    scores on its evaluation data, quality, health and CBPE, stored in the store; the flagged
    windows and columns are read back from the store;
  - Evidently 0.7.23 (bench/.venv-evidently, made on first use; it needs pandas below 3): reads
    the same Parquet segments and the training table, and runs Report([DataDriftPreset()]) per
    hourly window against the training table.
Then one more hour is logged and each side computes that window alone, in a fresh process: the
cost of one new window once the rest are done.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drift import CATEGORICAL, DRIFTED, EVIDENTLY_VENV, NUMERICAL, evidently_python, make_chunk, peak_mib
from tracking import write_results

HERE = Path(__file__).resolve().parent
MODEL = "fraud"
HOURS = 24
DRIFT_FROM = 12
HOUR_MS = 3_600_000
FULL = {"predictions": 1_000_000, "train_rows": 200_000, "eval_rows": 50_000}
QUICK = {"predictions": 48_000, "train_rows": 10_000, "eval_rows": 5_000}
REQUEST_ROWS = 10
ERRORS_PER_MILLE = 1  # failed requests per 1,000 (the error-rate rule fires above 1%)
FEATURES = NUMERICAL + CATEGORICAL
WIDTH = 160
# What `monitor run` imports on its way, imported before its clock starts (as Evidently's side
# imports evidently first).
IMPORTED_FIRST = ("duckdb", "sqlalchemy", "modelcycle.store.sql", "modelcycle.cli.monitor", "modelcycle.monitoring.monitor",
                  "modelcycle.monitoring.alerts", "modelcycle.monitoring.channels", "modelcycle.monitoring.actions",
                  "modelcycle.serving.feedback", "modelcycle.data.drift", "modelcycle.data.validate",
                  "modelcycle.models.api", "modelcycle.data.datasets")


def day_start_ms() -> int:
    """Midnight (UTC) two days ago: every window of the day, and the hour after it, are finished."""
    today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((today - datetime.timedelta(days=2)).timestamp() * 1000)


def mc_env(workdir: Path) -> dict:
    return {"MODELCYCLE_HOME": str(workdir / "home"), "MODELCYCLE_TRACKING_URI": f"sqlite:///{workdir / 'mc.db'}",
            "MODELCYCLE_ARTIFACT_URI": str(workdir / "artifacts"),
            "MODELCYCLE_PREDICTION_LOG_URI": str(workdir / "predictions")}


def use_this_checkout() -> None:
    sys.path.insert(0, str(HERE.parent))


# ---------------------------------------------------------------------- data and model
def features(rows: int, seed: int, chunk: int, drifted: bool):
    """bench/drift.py's table as a DataFrame, with a label the model can learn."""
    import numpy as np

    frame = make_chunk(rows, seed, chunk, drifted).to_pandas()
    rng = np.random.default_rng([seed, chunk, 7])
    logit = (0.8 * (frame["num_0"] - 0) + 0.02 * (frame["num_2"] - 50) - 0.3 * (frame["num_3"] - 2)
             + np.where(frame["cat_0"].isin(["v8", "v9"]), 1.0, -0.5))
    frame["label"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


def pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prepare = ColumnTransformer([("num", StandardScaler(), NUMERICAL),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)])
    return Pipeline([("prepare", prepare), ("model", LogisticRegression(max_iter=500))])


def hour_rows(total: int, hour: int) -> int:
    return total // HOURS + (1 if hour < total % HOURS else 0)


def log_hours(log, model, hours, total: int, t0: int) -> int:
    """Score each hour's rows with the model and log them as requests of REQUEST_ROWS rows spread
    over the hour, with a few failed requests, as the server records them."""
    import numpy as np

    logged = 0
    for hour in hours:
        rows = hour_rows(total, hour)
        frame = features(rows, seed=10, chunk=hour, drifted=hour >= DRIFT_FROM)
        X = frame[FEATURES]
        predicted, proba = model.predict(X), model.predict_proba(X)
        columns = {name: (X[name].to_numpy(dtype=np.float64) if name in NUMERICAL else X[name].to_numpy(dtype=object))
                   for name in FEATURES}
        requests = -(-rows // REQUEST_ROWS)
        errors = max(1, requests * ERRORS_PER_MILLE // 1000)
        spacing = HOUR_MS / (requests + errors)
        latency = np.random.default_rng([hour, 3]).gamma(2.0, 2.5, requests)
        for i in range(requests):
            part = slice(i * REQUEST_ROWS, min(rows, (i + 1) * REQUEST_ROWS))
            inputs = {name: values[part] for name, values in columns.items()}
            outputs = {"predict": predicted[part], "predict_proba": proba[part]}
            log.log(f"h{hour}-r{i}", t0 + hour * HOUR_MS + int(i * spacing), MODEL, 1, "v2_infer", 200,
                    float(latency[i]), inputs, outputs)
        for j in range(errors):
            log.log(f"h{hour}-e{j}", t0 + hour * HOUR_MS + int((requests + j) * spacing), MODEL, 1, "v2_infer", 500,
                    1.0, None, None)
        logged += rows
    return logged


def side_setup(workdir: Path, plan: dict) -> dict:
    use_this_checkout()
    import joblib

    import modelcycle as mc
    from modelcycle.serving.predlog import PredictionLog

    started = time.perf_counter()
    train = features(plan["train_rows"], seed=1, chunk=0, drifted=False)
    evaluation = features(plan["eval_rows"], seed=2, chunk=0, drifted=False)
    train[FEATURES].to_parquet(workdir / "reference.parquet", index=False)  # Evidently's reference: the same rows
    with mc.start_run(experiment="bench-monitoring") as run:
        mc.log_dataset(train, name="transactions", role="train")
        model = pipeline().fit(train[FEATURES], train["label"])
        mc.log_model(model, "model", input_example=train[FEATURES].head(5))
        mc.evaluate(model, evaluation, "label", features=FEATURES, dataset_name="transactions-eval", plots=False,
                    report=False)
    version = mc.register_model(f"runs:/{run.id}/model", MODEL)
    mc.promote(MODEL, version.version, reason="benchmark")
    joblib.dump(model, workdir / "model.joblib")
    t0 = day_start_ms()
    with PredictionLog(str(workdir / "predictions"), max_segment_age_s=3600, on_full="wait") as log:
        logged = log_hours(log, model, range(HOURS), plan["predictions"], t0)
    stats = log.stats()
    if stats["dropped"] or stats["records_lost"]:  # enqueued faster than written: the log must hold them all
        raise SystemExit(f"The prediction log dropped {stats['dropped']} and lost {stats['records_lost']} requests.")
    return {"t0": t0, "logged_rows": logged, "segments": stats["segments_written"], "dropped": stats["dropped"],
            "log_bytes": sum(f.stat().st_size for f in (workdir / "predictions").rglob("*.parquet")),
            "seconds": time.perf_counter() - started, "version": version.version}


def side_log_next(workdir: Path, plan: dict) -> dict:
    """The hour after the day: one more window to compute."""
    use_this_checkout()
    import joblib

    from modelcycle.serving.predlog import PredictionLog

    t0 = json.loads((workdir / "setup.json").read_text())["t0"]
    model = joblib.load(workdir / "model.joblib")
    with PredictionLog(str(workdir / "predictions"), max_segment_age_s=3600, on_full="wait") as log:
        logged = log_hours(log, model, [HOURS], plan["predictions"], t0)
    if log.stats()["dropped"]:
        raise SystemExit(f"The prediction log dropped {log.stats()['dropped']} requests.")
    return {"logged_rows": logged}


# ---------------------------------------------------------------------- modelcycle side
def side_modelcycle(workdir: Path, plan: dict) -> dict:
    use_this_checkout()
    import numpy  # noqa: F401  imports are left out of the timings on both sides
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import sklearn  # noqa: F401

    import modelcycle
    from modelcycle.cli import app
    from modelcycle.store import open_store

    for module in IMPORTED_FIRST:
        importlib.import_module(module)

    before = peak_mib()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        app(["monitor", "run", MODEL], standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_mib()
    env = mc_env(workdir)
    store = open_store(env["MODELCYCLE_TRACKING_URI"], env["MODELCYCLE_ARTIFACT_URI"])
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak, "peak_mib_before": before,
            "version": modelcycle.__version__,
            **flagged_windows(store, json.loads((workdir / "setup.json").read_text())["t0"])}


def flagged_windows(store, t0: int) -> dict:
    points = store.monitor_results(MODEL, version=1)
    windows: dict[int, dict] = {}
    for p in points:
        if p.window_start < t0:
            continue  # the version's outputs reference (window 0), not a window of the day
        w = windows.setdefault((p.window_start - t0) // HOUR_MS, {"columns": [], "output_columns": []})
        if p.metric.startswith("drifted.") and p.value == 1.0:
            w["columns"].append(p.metric[len("drifted."):])
        elif p.metric == "dataset_drift":
            w["dataset_drifted"] = p.value == 1.0
        elif p.metric == "drift_share":
            w["share"] = p.value
        elif p.metric == "rows":
            w["rows"] = p.value
        elif p.metric.startswith("output_drift."):
            w.setdefault("output_scores", {})[p.metric[len("output_drift."):]] = p.value
            if p.labels.get("drifted"):
                w["output_columns"].append(p.metric[len("output_drift."):])
        elif p.metric in ("estimated_roc_auc", "estimated_accuracy"):
            w[p.metric] = p.value
    alerts = [{"rule": e.data["rule"], "new": e.data["new"], "hour": (e.data["window_start"] - t0) // HOUR_MS}
              for e in store.monitor_events(MODEL, kind="alert")]
    return {"windows": {str(h): {**w, "columns": sorted(w["columns"], key=FEATURES.index)}
                        for h, w in sorted(windows.items())}, "alerts": alerts}


# ---------------------------------------------------------------------- Evidently side
def side_evidently(workdir: Path, plan: dict, hours: str) -> dict:
    import evidently
    import pandas as pd
    import pyarrow.dataset as ds
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    t0 = json.loads((workdir / "setup.json").read_text())["t0"]
    wanted = [int(h) for h in hours.split(",")]
    before = peak_mib()
    start, cpu = time.perf_counter(), time.process_time()
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    reference = Dataset.from_pandas(pd.read_parquet(workdir / "reference.parquet"), data_definition=definition)
    segments = sorted(str(p) for p in (workdir / "predictions").rglob("*.parquet"))
    log = ds.dataset(segments, format="parquet")
    time_field = ds.field("time")
    windows, per_window = {}, []
    for hour in wanted:
        begun = time.perf_counter()
        low = pd.Timestamp(t0 + hour * HOUR_MS, unit="ms", tz="UTC")
        high = pd.Timestamp(t0 + (hour + 1) * HOUR_MS, unit="ms", tz="UTC")
        rows = log.to_table(columns=["status"] + [f"input.{c}" for c in FEATURES],
                            filter=(time_field >= low) & (time_field < high) & (ds.field("status") < 400)).to_pandas()
        current = rows.drop(columns="status").rename(columns=lambda c: c[len("input."):])
        snapshot = Report([DataDriftPreset()]).run(Dataset.from_pandas(current, data_definition=definition), reference)
        columns, dataset_drifted, share = [], None, None
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config.get("type", "").endswith("ValueDrift"):
                method, threshold, score = config["method"], config["threshold"], metric["value"]
                if (score < threshold) if "p_value" in method else (score >= threshold):
                    columns.append(config["column"])
            elif config.get("type", "").endswith("DriftedColumnsCount"):
                share = metric["value"]["share"]
                dataset_drifted = share >= config["drift_share"]
        windows[str(hour)] = {"rows": len(current), "columns": sorted(columns, key=FEATURES.index),
                              "dataset_drifted": dataset_drifted, "share": share}
        per_window.append(time.perf_counter() - begun)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak_mib(), "peak_mib_before": before,
            "version": evidently.__version__,
            "window_seconds": per_window, "windows": windows}


# ---------------------------------------------------------------------- driver
def run_side(python: str, name: str, workdir: Path, quick: bool, *extra: str) -> dict:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}, **mc_env(workdir),
           "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"}
    args = [python, __file__, "--side", name, "--workdir", str(workdir), *extra] + (["--quick"] if quick else [])
    out = subprocess.run(args, env=env, cwd=workdir, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{name} side failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def busy_processes() -> list[str]:
    """What else used the CPU: processes at 5% or more over their lifetime (ps' %CPU)."""
    out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                         check=False).stdout.splitlines()[1:]
    busy = []
    for line in out:
        parts = line.split(None, 1)
        if len(parts) == 2 and float(parts[0]) >= 5.0 and "monitoring.py" not in parts[1] \
                and not parts[1].startswith("ps "):
            busy.append(f"{parts[0]}% {parts[1][:90]}")
    return busy[:8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="48,000 predictions; nothing written")
    parser.add_argument("--side", choices=["setup", "log-next", "modelcycle", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--hours", help=argparse.SUPPRESS)
    parser.add_argument("--evidently-python", help=f"a Python with Evidently 0.7.23 (default: {EVIDENTLY_VENV})")
    parser.add_argument("--peer-from", help="a results .json of an earlier full run: reuse its Evidently side "
                                            "(the same data: seeds and sizes are fixed) and measure modelcycle only")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.side:
        workdir = Path(args.workdir)
        result = {"setup": lambda: side_setup(workdir, plan), "log-next": lambda: side_log_next(workdir, plan),
                  "modelcycle": lambda: side_modelcycle(workdir, plan),
                  "evidently": lambda: side_evidently(workdir, plan, args.hours)}[args.side]()
        print(json.dumps(result))
        return

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    peer = json.loads(Path(args.peer_from).read_text()) if args.peer_from else None
    python = None if peer else evidently_python(args.evidently_python)
    record: dict = {"date": datetime.date.today().isoformat(), "plan": plan, "hours": HOURS, "drift_from": DRIFT_FROM,
                    "drifted": DRIFTED, "request_rows": REQUEST_ROWS,
                    "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "uptime_before": uptime(),
                                "busy_before": busy_processes()}}
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        workdir = Path(tmp)
        progress(f"Training the model, logging its datasets and {plan['predictions']:,} predictions over {HOURS} hours...")
        setup = run_side(sys.executable, "setup", workdir, args.quick)
        (workdir / "setup.json").write_text(json.dumps(setup))
        record["setup"] = setup
        progress(f"  modelcycle monitor run over {HOURS} windows...")
        record["modelcycle"] = run_side(sys.executable, "modelcycle", workdir, args.quick)
        if peer:
            record["evidently"] = peer["evidently"]
            record["peer_from"] = {"file": Path(args.peer_from).name, "machine": peer["machine"]}
        else:
            progress(f"  Evidently DataDriftPreset over {HOURS} windows...")
            record["evidently"] = run_side(python, "evidently", workdir, args.quick, "--hours",
                                           ",".join(map(str, range(HOURS))))
        progress("Logging one more hour...")
        run_side(sys.executable, "log-next", workdir, args.quick)
        progress("  modelcycle monitor run for the new window...")
        record["modelcycle_next"] = run_side(sys.executable, "modelcycle", workdir, args.quick)
        if peer:
            record["evidently_next"] = peer["evidently_next"]
        else:
            progress("  Evidently for the new window...")
            record["evidently_next"] = run_side(python, "evidently", workdir, args.quick, "--hours", str(HOURS))
    record["machine"].update(uptime_after=uptime(), busy_after=busy_processes())
    from models import source_state

    record["modelcycle_source"] = source_state(HERE.parent / "modelcycle")
    report(record, args.quick)


def verdicts(windows: dict) -> dict:
    drifted = [int(h) for h, w in windows.items() if w["columns"]]
    return {"flagged_hours": drifted, "false_before_drift": [h for h in drifted if h < DRIFT_FROM],
            "missed_after_drift": [h for h in range(DRIFT_FROM, HOURS) if str(h) in windows and h not in drifted],
            "dataset_drift_hours": [int(h) for h, w in windows.items() if w.get("dataset_drifted")]}


def hours_text(hours: list[int]) -> str:
    if not hours:
        return "none"
    runs, start = [], hours[0]
    for a, b in zip(hours, hours[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(runs)


def columns_text(windows: dict) -> str:
    """The columns flagged, grouped over the hours that flagged the same ones."""
    groups: dict[tuple, list[int]] = {}
    for h, w in windows.items():
        if w["columns"]:
            groups.setdefault(tuple(w["columns"]), []).append(int(h))
    return "; ".join(f"hours {hours_text(hs)}: {', '.join(cols)}" for cols, hs in groups.items()) or "none"


def report(record: dict, quick: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    ours, peer = record["modelcycle"], record["evidently"]
    ours_next, peer_next = record["modelcycle_next"], record["evidently_next"]
    for side in (ours, peer):
        side.update(verdicts(side["windows"]))
    record["speed_up"] = peer["seconds"] / ours["seconds"]
    record["memory_ratio"] = peer["peak_mib"] / ours["peak_mib"]
    record["next_speed_up"] = peer_next["seconds"] / ours_next["seconds"]
    same = ours["flagged_hours"] == peer["flagged_hours"]
    record["targets"] = {"speed_up_30x": record["speed_up"] >= 30, "lower_peak_memory": record["memory_ratio"] > 1,
                         "same_drifted_windows": same, "no_false_before_drift": not ours["false_before_drift"]}

    console = Console(record=True, width=WIDTH)
    setup = record["setup"]
    table = Table(title=f"Monitoring {setup['logged_rows']:,} predictions of {len(FEATURES)} features "
                        f"({len(NUMERICAL)} numerical, {len(CATEGORICAL)} categorical) in {HOURS} hourly windows, "
                        f"drift from hour {DRIFT_FROM}: modelcycle {ours['version']} against Evidently "
                        f"{peer['version']} DataDriftPreset")
    for column in ("side", "wall s", "speed-up", "peak MiB", "memory ratio", "new window s", "windows flagged",
                   "false before hour 12", "missed from hour 12", "dataset drift"):
        table.add_column(column, justify="right")
    table.add_row("modelcycle monitor run", f"{ours['seconds']:.2f}", f"{record['speed_up']:.1f}x",
                  f"{ours['peak_mib']:,.0f}", f"{record['memory_ratio']:.1f}x", f"{ours_next['seconds']:.2f}",
                  hours_text(ours["flagged_hours"]), hours_text(ours["false_before_drift"]),
                  hours_text(ours["missed_after_drift"]), hours_text(ours["dataset_drift_hours"]))
    table.add_row("Evidently DataDriftPreset", f"{peer['seconds']:.2f}", "", f"{peer['peak_mib']:,.0f}", "",
                  f"{peer_next['seconds']:.2f}", hours_text(peer["flagged_hours"]),
                  hours_text(peer["false_before_drift"]), hours_text(peer["missed_after_drift"]),
                  hours_text(peer["dataset_drift_hours"]))
    console.print(table)
    console.print(f"Columns flagged: modelcycle {columns_text(ours['windows'])}; Evidently "
                  f"{columns_text(peer['windows'])} (injected: {', '.join(DRIFTED)}).")
    outputs = {h: w["output_columns"] for h, w in ours["windows"].items() if w.get("output_columns")}
    scores = {int(h): w.get("output_scores", {}).get("score") for h, w in ours["windows"].items()}
    before = [v for h, v in scores.items() if v is not None and h < DRIFT_FROM]
    after = [v for h, v in scores.items() if v is not None and h >= DRIFT_FROM]
    console.print(f"modelcycle also computed per window: output drift against the model's scores on its evaluation "
                  f"data (flagged in hours {hours_text(sorted(int(h) for h in outputs))}; the score's Wasserstein "
                  f"distance, threshold 0.1: {min_max_of(before)} before hour {DRIFT_FROM}, {min_max_of(after)} "
                  f"from it), quality, health, CBPE "
                  f"(estimated ROC AUC {min_max(ours['windows'], 'estimated_roc_auc')}); alerts: "
                  + (", ".join(f"{a['rule']} {a['new']} at hour {a['hour']}" for a in ours["alerts"]) or "none") + ".")
    console.print(f"One new window once the day is done: modelcycle {ours_next['seconds']:.2f} s (a fresh `monitor "
                  f"run`, peak {ours_next['peak_mib']:,.0f} MiB), Evidently {peer_next['seconds']:.2f} s (peak "
                  f"{peer_next['peak_mib']:,.0f} MiB): {record['next_speed_up']:.1f}x. Evidently per window: "
                  f"{min(peer['window_seconds']):.2f} to {max(peer['window_seconds']):.2f} s.")
    console.print(f"Setup (not measured): {setup['logged_rows']:,} rows in {setup['segments']} segments "
                  f"({setup['log_bytes'] / 2**20:,.0f} MiB of Parquet), {record['plan']['train_rows']:,} training rows, "
                  f"{setup['seconds']:.0f} s.")
    cpu = [side.get("cpu_seconds") for side in (ours, peer)]
    if None not in cpu:
        console.print(f"CPU seconds (the process's, all its threads): modelcycle {cpu[0]:.1f}, Evidently {cpu[1]:.1f}: "
                      f"{cpu[1] / cpu[0]:.1f}x.")
    if record.get("peer_from"):
        console.print(f"Evidently's side is that of {record['peer_from']['file']} (same data; measured before: "
                      f"`{record['peer_from']['machine']['uptime_before']}`), reused with --peer-from.")
    machine = record["machine"]
    console.print(f"Machine: {machine['cpus']} cores, {machine['platform']}; shared with other work: before "
                  f"`{machine['uptime_before']}`, after `{machine['uptime_after']}`; busy processes before: "
                  f"{'; '.join(machine['busy_before']) or 'none'}; after: {'; '.join(machine['busy_after']) or 'none'}.")
    console.print(f"Targets: >= 30x faster ({record['speed_up']:.1f}x), lower peak memory "
                  f"({record['memory_ratio']:.1f}x lower), the same drifted windows "
                  f"({'yes' if same else 'no'}), no false ones before hour {DRIFT_FROM} "
                  f"({'none' if not ours['false_before_drift'] else hours_text(ours['false_before_drift'])}).")
    if not quick:
        write_results(console, record, "monitoring")


def min_max_of(values: list) -> str:
    return f"{min(values):.3f} to {max(values):.3f}" if values else "n/a"


def min_max(windows: dict, metric: str) -> str:
    values = [w[metric] for w in windows.values() if w.get(metric) == w.get(metric) and metric in w]
    return f"{min(values):.3f} to {max(values):.3f}" if values else "n/a"


if __name__ == "__main__":
    main()

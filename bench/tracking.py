"""Tracking throughput: modelcycle and MLflow side by side, both on local SQLite.

    python bench/tracking.py                      # full sizes; creates bench/.venv-mlflow on first use
    python bench/tracking.py --quick              # small sizes, for a smoke run (nothing written)
    python bench/tracking.py --mlflow-python P    # use an existing interpreter that has mlflow

Workloads (the same seeded values on both sides):
  1. synchronous log_metric calls to one run, each committed when the call returns;
  2. metric points through the batch API: modelcycle in one Client.log_batch call (and, in an
     extra row, in calls of 1,000 like MLflow), MLflow in MlflowClient.log_batch calls of 1,000
     (its limit per call);
  3. runs created with the fluent API: start_run, log_params (5), log_metrics (5), end_run;
  4. one filtered search returning every matching run (median of several, after a first call);
  5. reading a whole metric history (median of several, after a first call).

Each side runs in its own subprocess and its own fresh temporary folder, one after the other;
MLflow runs from its own virtual environment. modelcycle is run twice: with its default
synchronous=NORMAL, and with MODELCYCLE_SQLITE_SYNCHRONOUS=FULL. Only the calls under test are
timed: the values to log are built beforehand, the first run and the database are set up before.
Full runs write bench/results/tracking-<date>.txt and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW_WANTED = (3, 17)  # the release line the reference figures were taken with

FULL = {"sync": 5_000, "batch": 100_000, "runs": 2_000, "history": 100_000,
        "write_repeats": 3, "search_repeats": 5, "history_repeats": 3}
QUICK = {"sync": 300, "batch": 5_000, "runs": 100, "history": 5_000,
         "write_repeats": 1, "search_repeats": 2, "history_repeats": 2}
CHUNK = 1_000  # MLflow's limit of metrics per log_batch call
PARAM_VALUES = "abc"
FILTER = "metrics.m0 > 0.5 and params.p0 = 'a'"


def write_results(console, record: dict, name: str) -> None:
    """bench/results/<name>-<date>.txt (what ``console`` recorded) and .json (``record``)."""
    stem = HERE / "results" / f"{name}-{record['date']}"
    stem.parent.mkdir(exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    stem.with_suffix(".txt").write_text(console.export_text(clear=False))
    console.print(f"Results written to {stem}.txt and .json")


@contextlib.contextmanager
def running(argv: list[str], ready_url: str, log: Path, env: dict, cwd: Path | None = None,
            timeout_s: float = 180, grace_s: float = 20):
    """A server started in its own process group, ready when ``ready_url`` answers 200 (a
    RuntimeError with its log's tail when it exits first or is not ready in ``timeout_s``); the
    whole group (a server's workers are its children) is stopped on exit, killed after ``grace_s``."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                   start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {process.returncode} before it was ready:\n"
                                   + log.read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} was not ready after {timeout_s:g} s:\n"
                                   + log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Timings:
    """Wall and CPU seconds of every measured call, by workload; the table uses the median wall."""

    def __init__(self):
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def measure(self, key: str, fn):
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn()
        self.wall.setdefault(key, []).append(time.perf_counter() - wall)
        self.cpu.setdefault(key, []).append(time.process_time() - cpu)
        return result

    def reads(self, key: str, fn, repeats: int):
        """A first call (kept apart as <key>_first), then ``repeats`` more."""
        result = self.measure(key + "_first", fn)
        for _ in range(repeats):
            result = self.measure(key, fn)
        return result

    def summary(self) -> dict:
        return {"median": {k: statistics.median(v) for k, v in self.wall.items()},
                "wall": self.wall, "cpu": self.cpu}


def workload_data(sizes: dict) -> dict:
    """Every value both sides log, from one seed: the timed loops only make the calls."""
    rng = random.Random(0)
    runs = [({f"p{j}": rng.choice(PARAM_VALUES) for j in range(5)},
             {f"m{j}": rng.random() for j in range(5)}) for _ in range(sizes["runs"])]
    return {
        "sync": [1.0 / (i + 1) for i in range(sizes["sync"])],
        "batch": [rng.random() for _ in range(sizes["batch"])],
        "runs": runs,
        "expected_matches": sum(1 for p, m in runs if m["m0"] > 0.5 and p["p0"] == "a"),
        "history": [float(i) for i in range(sizes["history"])],
    }


def sqlite_pragmas(execute) -> dict:
    levels = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": execute("PRAGMA journal_mode"),
            "synchronous": levels.get(execute("PRAGMA synchronous"), "?")}


# The write workloads are repeated, each time on a new database file (so a repeat does not
# write into tables the previous one filled); runs, search and history share one database.

# ---------------------------------------------------------------------- modelcycle side
def run_modelcycle(sizes: dict, workdir: Path) -> dict:
    import sqlalchemy

    import modelcycle as mc

    data = workload_data(sizes)
    timings, checks = Timings(), {}

    def use_db(name: str | None):
        """A new database for one repeat; None: the one MODELCYCLE_TRACKING_URI names."""
        mc.set_tracking_uri(None if name is None else f"sqlite:///{workdir / name}.db",
                            None if name is None else str(workdir / "artifacts"))
        return mc.Client()

    for r in range(sizes["write_repeats"]):
        use_db(f"sync-{r}")
        with mc.start_run(experiment="sync") as run:
            def sync():
                for i, value in enumerate(data["sync"]):
                    mc.log_metric("loss", value, step=i)
            timings.measure("sync_log_metric", sync)
            # Read back on a separate plain connection: every call had committed.
            other = sqlite3.connect(workdir / f"sync-{r}.db")
            committed = other.execute("SELECT sum(num_points) FROM metric_chunks WHERE run_id = ?",
                                      (run.id,)).fetchone()[0]
            other.close()
        assert committed == sizes["sync"], committed
        checks["sync_rows_committed"] = committed

    now = int(time.time() * 1000)
    points = [mc.Metric("x", value, i, now) for i, value in enumerate(data["batch"])]
    for key, chunk in (("batch_points", len(points)), ("batch_points_chunked", CHUNK)):
        for r in range(sizes["write_repeats"]):
            client = use_db(f"{key}-{r}")
            with mc.start_run(experiment="batch") as run:
                def batch(client=client, run=run, chunk=chunk):
                    for start in range(0, len(points), chunk):
                        client.log_batch(run.id, metrics=points[start:start + chunk])
                timings.measure(key, batch)
            assert len(client.get_metric_history(run.id, "x")) == sizes["batch"]

    client = use_db(None)  # MODELCYCLE_TRACKING_URI / MODELCYCLE_ARTIFACT_URI, set by the driver
    assert client.store.db_uri == os.environ["MODELCYCLE_TRACKING_URI"]
    client.get_or_create_experiment("many")  # created before the clock starts, as on MLflow's side

    def create_runs():
        for params, metrics in data["runs"]:
            mc.start_run(experiment="many")
            mc.log_params(params)
            mc.log_metrics(metrics)
            mc.end_run()
    timings.measure("create_runs", create_runs)

    found = timings.reads("search", lambda: client.search_all_runs(experiments=["many"], filter=FILTER),
                          sizes["search_repeats"])
    checks["search_matches"] = len(found)
    assert len(found) == data["expected_matches"], (len(found), data["expected_matches"])
    assert all(r.metrics["m0"].value > 0.5 and r.params["p0"] == "a" for r in found)

    with mc.start_run(experiment="history") as run:
        client.log_batch(run.id, metrics=[mc.Metric("h", v, i, now) for i, v in enumerate(data["history"])])
    history = timings.reads("read_history", lambda: client.get_metric_history(run.id, "h"),
                            sizes["history_repeats"])
    assert [m.value for m in history] == data["history"]
    assert [m.step for m in history] == list(range(sizes["history"]))

    raw = client.store.engine.raw_connection()
    try:
        pragmas = sqlite_pragmas(lambda sql: raw.cursor().execute(sql).fetchone()[0])
    finally:
        raw.close()
    return {"timings": timings.summary(), "checks": checks, "sqlite": pragmas,
            "versions": {"modelcycle": mc.__version__, "sqlalchemy": sqlalchemy.__version__,
                         **common_versions()}}


# ---------------------------------------------------------------------- MLflow side
def run_mlflow(sizes: dict, workdir: Path) -> dict:
    import mlflow
    import sqlalchemy
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    data = workload_data(sizes)
    timings, checks = Timings(), {}

    def use_db(name: str, experiment: str):
        """A new database (MLflow creates its tables here, untimed) and an experiment in it."""
        mlflow.set_tracking_uri(f"sqlite:///{workdir / name}.db")
        experiment_id = mlflow.set_experiment(experiment).experiment_id
        return MlflowClient(), experiment_id

    for r in range(sizes["write_repeats"]):
        client, _ = use_db(f"sync-{r}", "sync")
        with mlflow.start_run() as run:
            def sync():
                for i, value in enumerate(data["sync"]):
                    mlflow.log_metric("loss", value, step=i)
            timings.measure("sync_log_metric", sync)
        committed = len(client.get_metric_history(run.info.run_id, "loss"))
        assert committed == sizes["sync"], committed
        checks["sync_rows_committed"] = committed

    now = int(time.time() * 1000)
    points = [Metric("x", value, now, i) for i, value in enumerate(data["batch"])]
    for r in range(sizes["write_repeats"]):
        client, _ = use_db(f"batch-{r}", "batch")
        with mlflow.start_run() as run:
            def batch(client=client, run=run):
                for start in range(0, len(points), CHUNK):
                    client.log_batch(run.info.run_id, metrics=points[start:start + CHUNK])
            timings.measure("batch_points", batch)
        assert len(client.get_metric_history(run.info.run_id, "x")) == sizes["batch"]

    client, many = use_db("mlflow", "many")

    def create_runs():
        for params, metrics in data["runs"]:
            mlflow.start_run()
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.end_run()
    timings.measure("create_runs", create_runs)

    def search():
        found, token = [], None
        while True:
            page = client.search_runs([many], FILTER, max_results=10_000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found
    found = timings.reads("search", search, sizes["search_repeats"])
    checks["search_matches"] = len(found)
    assert len(found) == data["expected_matches"], (len(found), data["expected_matches"])

    mlflow.set_experiment("history")
    with mlflow.start_run() as run:
        history_points = [Metric("h", v, now, i) for i, v in enumerate(data["history"])]
        for start in range(0, len(history_points), CHUNK):
            client.log_batch(run.info.run_id, metrics=history_points[start:start + CHUNK])
    history = timings.reads("read_history", lambda: client.get_metric_history(run.info.run_id, "h"),
                            sizes["history_repeats"])
    assert sorted(m.value for m in history) == data["history"]

    pragmas = {}
    try:  # the tracking store's own engine, so its connection settings apply
        from mlflow.tracking._tracking_service.utils import _get_store

        with _get_store().engine.connect() as conn:
            pragmas = sqlite_pragmas(lambda sql: conn.exec_driver_sql(sql).scalar())
    except (ImportError, AttributeError, sqlalchemy.exc.SQLAlchemyError) as exc:  # an internal API
        pragmas = {"error": repr(exc)}
    timings.wall["batch_points_chunked"] = timings.wall["batch_points"]  # MLflow has only this way
    return {"timings": timings.summary(), "checks": checks, "sqlite": pragmas,
            "versions": {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__,
                         **common_versions()}}


def common_versions() -> dict:
    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


# ---------------------------------------------------------------------- MLflow environment
def pip_versions(python: str) -> list[tuple[int, ...]]:
    out = subprocess.run([python, "-m", "pip", "index", "versions", "mlflow"],
                         capture_output=True, text=True, check=False)
    match = re.search(r"Available versions:\s*(.+)", out.stdout)
    if not match:
        return []
    return [tuple(int(p) for p in v.split(".")) for v in (s.strip() for s in match.group(1).split(","))
            if re.fullmatch(r"\d+\.\d+\.\d+", v)]


def nearest_mlflow(versions: list[tuple[int, ...]]) -> str:
    """The newest patch of the wanted line, else the newest patch of the nearest line."""
    wanted = MLFLOW_WANTED[0] * 1000 + MLFLOW_WANTED[1]
    line = min({v[:2] for v in versions}, key=lambda l: (abs(l[0] * 1000 + l[1] - wanted), -l[1]))
    return ".".join(map(str, max(v for v in versions if v[:2] == line)))


def mlflow_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import mlflow"],
                                          capture_output=True, check=False).returncode == 0:
        return str(python)
    print(f"Creating {MLFLOW_VENV} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    spec = "mlflow=={}.{}.*".format(*MLFLOW_WANTED)
    if subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec], check=False).returncode != 0:
        versions = pip_versions(str(python))
        if not versions:
            raise SystemExit(f"Could not install {spec}, nor list the published MLflow versions.")
        spec = f"mlflow=={nearest_mlflow(versions)}"
        print(f"{spec.split('==')[0]} {MLFLOW_WANTED[0]}.{MLFLOW_WANTED[1]} is not available; "
              f"installing the nearest release, {spec}", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec], check=True)
    return str(python)


# ---------------------------------------------------------------------- driver
def side(python: str, name: str, quick: bool, env_extra: dict | None = None, script: str = __file__,
         extra: tuple[str, ...] = (), in_workdir: bool = False) -> dict:
    """The results of one side: ``script --side name`` run by ``python`` in its own process and
    temporary folder (also its working directory with ``in_workdir``)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{Path(script).stem}-{name}-") as tmp:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MODELCYCLE_", "MLFLOW_"))},
               "MODELCYCLE_HOME": tmp,
               "MODELCYCLE_TRACKING_URI": f"sqlite:///{tmp}/mc.db",  # absolute path: four slashes
               "MODELCYCLE_ARTIFACT_URI": f"{tmp}/artifacts",
               "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
               "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
               "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
               **(env_extra or {})}
        args = [python, script, "--side", name, *extra, "--workdir", tmp] + (["--quick"] if quick else [])
        out = subprocess.run(args, env=env, cwd=tmp if in_workdir else None, capture_output=True, text=True,
                             check=False)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join([name, *extra])} side failed:\n{out.stderr[-4000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, nothing written")
    parser.add_argument("--mlflow-python", help="a Python that has mlflow (default: bench/.venv-mlflow)")
    parser.add_argument("--side", choices=["modelcycle", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.side:
        run = run_modelcycle if args.side == "modelcycle" else run_mlflow
        print(json.dumps(run(sizes, Path(args.workdir))))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=150)
    progress = Console(stderr=True)  # not part of the recorded results
    python = mlflow_python(args.mlflow_python)
    load_before = os.getloadavg()
    progress.print("Running modelcycle (synchronous=NORMAL)...", style="dim")
    ours = side(sys.executable, "modelcycle", args.quick)
    progress.print("Running modelcycle (MODELCYCLE_SQLITE_SYNCHRONOUS=FULL)...", style="dim")
    ours_full = side(sys.executable, "modelcycle", args.quick, {"MODELCYCLE_SQLITE_SYNCHRONOUS": "FULL"})
    progress.print(f"Running MLflow ({python})...", style="dim")
    peer = side(python, "mlflow", args.quick)

    load_after = os.getloadavg()
    mc_t, ml_t = ours["timings"]["median"], peer["timings"]["median"]
    n_sync, n_batch, n_runs, n_hist = sizes["sync"], sizes["batch"], sizes["runs"], sizes["history"]
    rows = [
        # key, label, which modelcycle run, count, unit, target
        ("sync_log_metric", f"{n_sync:,} synchronous log_metric calls", ours, n_sync, "calls/s", 30),
        ("sync_log_metric_full", "  same, modelcycle with synchronous=FULL", ours_full, n_sync,
         "calls/s", None),
        ("batch_points", f"{n_batch:,} points via log_batch, modelcycle 1 call", ours, n_batch,
         "points/s", 30),
        ("batch_points_chunked", f"  same, modelcycle in calls of {CHUNK:,} too", ours, n_batch,
         "points/s", None),
        ("create_runs", f"{n_runs:,} runs, 5 params + 5 metrics each", ours, n_runs, "runs/s", 10),
        ("search", f"filtered search over the {n_runs:,} runs", ours, None, None, 10),
        ("read_history", f"read a {n_hist:,}-point metric history", ours, n_hist, "points/s", 10),
    ]
    mv, fv = ours["versions"], peer["versions"]
    table = Table(title=f"Tracking on local SQLite: modelcycle {mv['modelcycle']} and MLflow {fv['mlflow']}")
    for column in ("workload", "modelcycle s", "MLflow s", "modelcycle rate", "MLflow rate",
                   "speed-up", "target"):
        table.add_column(column, justify="left" if column == "workload" else "right", no_wrap=True)
    table.caption = "speed-up = MLflow seconds / modelcycle seconds: modelcycle is that many times faster"
    record = {"date": datetime.date.today().isoformat(), "sizes": sizes, "filter": FILTER,
              "batch_chunk_mlflow": CHUNK, "machine": {"platform": platform.platform(),
                                                       "cpus": os.cpu_count(),
                                                       "load_1min_before_after": [load_before[0], load_after[0]]},
              "modelcycle": ours, "modelcycle_synchronous_full": ours_full, "mlflow": peer,
              "ratios": {}, "ratios_cpu_seconds": {}, "targets": {}}
    for key, label, which, count, unit, target in rows:
        base = key.removesuffix("_full")
        mine, theirs = which["timings"]["median"][base], ml_t[base]
        ratio = theirs / mine
        record["ratios"][key] = round(ratio, 2)
        # The same ratio in CPU seconds of each side's process: less moved by other load on the
        # machine, but blind to time spent waiting for the disk (fsync).
        cpu_key = base if base in peer["timings"]["cpu"] else "batch_points"
        record["ratios_cpu_seconds"][key] = round(
            statistics.median(peer["timings"]["cpu"][cpu_key]) / statistics.median(which["timings"]["cpu"][base]), 2)
        if target:
            record["targets"][key] = {"target": target, "met": ratio >= target}
        def rate(seconds, count=count, unit=unit):
            return f"{count / seconds:,.0f} {unit}" if count else ""
        verdict = "" if target is None else (f">= {target}x " + ("met" if ratio >= target else "MISSED"))
        table.add_row(label, f"{mine:.3f}", f"{theirs:.3f}", rate(mine), rate(theirs),
                      f"{ratio:.1f}x", verdict)
    console.print(table)
    console.print(
        f"Versions: modelcycle {mv['modelcycle']} (SQLAlchemy {mv['sqlalchemy']}, Python {mv['python']}, "
        f"SQLite {mv['sqlite']}); MLflow {fv['mlflow']} (SQLAlchemy {fv['sqlalchemy']}, "
        f"Python {fv['python']}, SQLite {fv['sqlite']}). {record['machine']['cpus']} CPUs, "
        f"{record['machine']['platform']}, 1-minute load {load_before[0]:.2f} before and "
        f"{load_after[0]:.2f} after.")
    console.print(
        f"Batch: MLflow takes at most {CHUNK:,} metrics per log_batch call, so it logs the "
        f"{n_batch:,} points in {n_batch // CHUNK} calls; modelcycle logs them in one call "
        f"(row 3) and, for the like-for-like figure, in {n_batch // CHUNK} calls of {CHUNK:,} (row 4).")
    console.print(
        f"Search: `{FILTER}`, every match returned (MLflow paginated); modelcycle "
        f"{ours['checks']['search_matches']} runs, MLflow {peer['checks']['search_matches']}, as "
        f"computed from the seeded values. Sync and batch rows are the median of {sizes['write_repeats']} repeats, each on a "
        f"new database; search and history rows the median of "
        f"{sizes['search_repeats']} and {sizes['history_repeats']} calls after a first one "
        f"(first calls: modelcycle {mc_t['search_first']:.3f} s / {mc_t['read_history_first']:.3f} s, "
        f"MLflow {ml_t['search_first']:.3f} s / {ml_t['read_history_first']:.3f} s).")
    mp, fp, ffp = ours["sqlite"], peer["sqlite"], ours_full["sqlite"]
    console.print(
        "Durability: every call on both sides has committed when it returns (modelcycle's points were "
        "counted on a separate connection right after the loop). modelcycle's SQLite runs in WAL mode "
        f"with synchronous=NORMAL by default (read back: journal_mode={mp.get('journal_mode')}, "
        f"synchronous={mp.get('synchronous')}): a committed call survives a crash of the process, the "
        "last commits may be lost on power failure. MODELCYCLE_SQLITE_SYNCHRONOUS=FULL "
        f"(journal_mode={ffp.get('journal_mode')}, synchronous={ffp.get('synchronous')}) fsyncs every "
        "commit, like MLflow's SQLite, which keeps SQLite's defaults "
        f"(journal_mode={fp.get('journal_mode')}, synchronous={fp.get('synchronous')}).")
    if not args.quick:
        write_results(console, record, "tracking")


if __name__ == "__main__":
    main()

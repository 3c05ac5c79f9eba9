"""Web UI: how soon an experiment's runs page is usable and a long metric history is drawn, in
modelcycle's UI and in MLflow's, in the same headless chromium, on the same data.

    python bench/ui.py                      # full sizes; creates bench/.venvs/mlflow-ui on first use
    python bench/ui.py --quick              # 500 runs and a 50,000-point history (nothing written)
    python bench/ui.py --data DIR           # keep the logged stores in DIR and reuse them on the next run
    python bench/ui.py --mlflow-python P    # an interpreter that has mlflow 3.x
    python bench/ui.py --shots DIR          # a screenshot of every measured page when it was ready
    python bench/ui.py --quick --only mlflow   # one side's pages (partial runs write nothing)

Data (the same seeded values on both sides, each logged through its own Python API to its own
local SQLite file): one experiment of 10,000 finished runs, each with 50 params and 50 metrics,
and one more run with a single metric of 1,000,000 points. modelcycle logs each run with
Client.create_run, one Client.log_batch and Client.end_run, and the long history in one log_batch call;
MLflow (the newest 3.x release pip installs, in bench/.venvs/mlflow-ui) with
MlflowClient.create_run, log_batch and set_terminated, and the long history in log_batch calls
of 1,000 points (its limit per call). The logging is timed too and reported beside the pages.

Pages: `modelcycle server` and `mlflow server` (each with its default workers: 1 and 4; uvicorn's
worker health check given 60 s on MLflow's, as a busy machine otherwise has its workers killed
mid-request) on loopback, both on their SQLite files. For each page, one warm-up load and then several timed
loads, each in a new tab of one browser context (the static files cached after the warm-up, as
for anyone who has opened the UI before). A load is timed by the page's own clock
(performance.now(), from the start of the navigation) to the first animation frame in which
  - runs page: the first row of the runs table is on screen and the page's scripts have run
    (DOMContentLoaded has fired), so the row can be clicked, selected or moved to;
  - history chart: the chart of the 1,000,000-point metric has been drawn.
modelcycle: /experiments/<id>/runs (its first <tbody> row) and /runs/<id> (the chart element
charts.js marks with data-drawn once uPlot has drawn it). MLflow: the experiment's runs page
(#/experiments/<id>, its first grid row) and the metric page of the run (#/metric/<key>?runs=...,
the plotted line of its chart). Targets: each modelcycle page under 1 s, and 10x faster than
MLflow's. Full runs write bench/results/ui-<date>.txt and .json.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tracking import running, write_results

HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venvs" / "mlflow-ui"
MLFLOW_SPEC = "mlflow>=3,<4"  # the newest 3.x that pip can install here
FULL = {"runs": 10_000, "params": 50, "metrics": 50, "history": 1_000_000, "loads": 5}
QUICK = {"runs": 500, "params": 50, "metrics": 50, "history": 50_000, "loads": 2}
MLFLOW_CHUNK = 1_000  # MLflow's limit of metrics per log_batch call
EXPERIMENT = "ui-bench"
HISTORY_RUN = "long-history"
HISTORY_KEY = "loss"
USER = "bench"
VIEWPORT = {"width": 1440, "height": 900}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"]
START_TIMEOUT_S = 180
# uvicorn restarts a worker that does not answer its supervisor's ping within 5 s; on a busy
# machine MLflow's workers miss it while they serve the page, and are killed mid-request.
MLFLOW_HEALTHCHECK_S = 60
READY_TIMEOUT_MS = 300_000  # a page not ready in 5 minutes counts as not ready
TARGET_S = 1.0
TARGET_RATIO = 10.0
WIDTH = 150


# ---------------------------------------------------------------------- data (both sides)
def run_values(sizes: dict, i: int) -> tuple[dict[str, str], dict[str, float]]:
    """Params and final metrics of run ``i``: the same on both sides, without a shared RNG state."""
    import random

    rng = random.Random(i)
    params = {f"p{j:02d}": rng.choice(("a", "b", "c", "d")) + str(rng.randrange(100))
              for j in range(sizes["params"])}
    metrics = {f"m{j:02d}": rng.random() for j in range(sizes["metrics"])}
    return params, metrics


def history_values(points: int):
    """A noisy decaying loss: steps 0..points-1."""
    import numpy as np

    rng = np.random.default_rng(0)
    steps = np.arange(points)
    return (np.exp(-steps / (points / 5)) + rng.normal(0, 0.02, points)).tolist()


def timed(fn) -> tuple[object, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# ---------------------------------------------------------------------- modelcycle side
def log_modelcycle(sizes: dict, workdir: Path) -> dict:
    import modelcycle as mc

    mc.set_tracking_uri(f"sqlite:///{workdir / 'mc.db'}", str(workdir / "mc-artifacts"))
    client = mc.Client()
    experiment = client.get_or_create_experiment(EXPERIMENT)

    def runs():
        for i in range(sizes["runs"]):
            params, metrics = run_values(sizes, i)
            now = int(time.time() * 1000)
            run = client.create_run(experiment.id, f"run-{i:05d}", {"mc.user": USER}, capture_context=False)
            client.log_batch(run.id, [mc.Metric(k, v, 0, now) for k, v in metrics.items()], params)
            client.end_run(run.id)
    _, runs_s = timed(runs)

    values = history_values(sizes["history"])
    run = client.create_run(experiment.id, HISTORY_RUN, {"mc.user": USER}, capture_context=False)
    now = int(time.time() * 1000)
    points = [mc.Metric(HISTORY_KEY, v, i, now + i) for i, v in enumerate(values)]
    _, history_s = timed(lambda: client.log_batch(run.id, points))
    client.end_run(run.id)
    assert len(client.get_metric_history(run.id, HISTORY_KEY)) == sizes["history"]
    return {"experiment_id": str(experiment.id), "history_run_id": run.id, "log_runs_s": runs_s,
            "log_history_s": history_s, "versions": {"modelcycle": mc.__version__, **common_versions()}}


# ---------------------------------------------------------------------- MLflow side
def log_mlflow(sizes: dict, workdir: Path) -> dict:
    """The experiment and its database made here; the runs logged by ``sizes["jobs"]`` processes
    at once, each a slice of them, into the same database (in WAL mode meanwhile, so they wait for
    each other's commits instead of failing on a locked file); the long history after them."""
    import sqlite3

    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    db = workdir / "mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    client = MlflowClient()
    experiment_id = client.create_experiment(EXPERIMENT, artifact_location=(workdir / "mlflow-artifacts").as_uri())
    journal = sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0]
    sqlite3.connect(db).execute("PRAGMA journal_mode=WAL").fetchone()

    jobs, n = sizes["jobs"], sizes["runs"]
    bounds = [(n * j // jobs, n * (j + 1) // jobs) for j in range(jobs)]

    def runs():
        workers = [subprocess.Popen([sys.executable, __file__, "--side", "log-mlflow-runs", "--workdir", str(workdir),
                                     "--sizes", json.dumps({**sizes, "experiment_id": experiment_id,
                                                            "first": a, "last": b})],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                   for a, b in bounds]
        failed = [w.communicate()[1][-3000:] for w in workers if w.wait() != 0]
        if failed:
            raise SystemExit("an MLflow logging process failed:\n" + "\n".join(failed))
    _, runs_s = timed(runs)

    values = history_values(sizes["history"])
    run = client.create_run(experiment_id, run_name=HISTORY_RUN, tags={"mlflow.user": USER})
    now = int(time.time() * 1000)
    points = [Metric(HISTORY_KEY, v, now + i, i) for i, v in enumerate(values)]

    def history():
        for start in range(0, len(points), MLFLOW_CHUNK):
            client.log_batch(run.info.run_id, metrics=points[start:start + MLFLOW_CHUNK])
    _, history_s = timed(history)
    client.set_terminated(run.info.run_id, "FINISHED")
    mlflow.tracking._tracking_service.utils._get_store().engine.dispose()
    check = sqlite3.connect(db)
    counts = [check.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("runs", "params", "metrics")]
    expected = [n + 1, n * sizes["params"], n * sizes["metrics"] + sizes["history"]]
    assert counts == expected, f"MLflow's database has {counts} runs, params, metric points, not {expected}"
    check.execute(f"PRAGMA journal_mode={journal}").fetchone()  # as MLflow made it
    check.close()
    return {"experiment_id": str(experiment_id), "history_run_id": run.info.run_id, "log_runs_s": runs_s,
            "log_history_s": history_s, "jobs": jobs, "journal_mode": journal,
            "versions": {"mlflow": mlflow.__version__, **common_versions()}}


def log_mlflow_runs(sizes: dict, workdir: Path) -> dict:
    """Runs first..last-1 of the experiment, through MlflowClient: create_run, one log_batch of
    the run's params and metrics, set_terminated."""
    import mlflow
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    client = MlflowClient()
    for i in range(sizes["first"], sizes["last"]):
        params, metrics = run_values(sizes, i)
        now = int(time.time() * 1000)
        run = client.create_run(sizes["experiment_id"], run_name=f"run-{i:05d}", tags={"mlflow.user": USER})
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                         params=[Param(k, v) for k, v in params.items()])
        client.set_terminated(run.info.run_id, "FINISHED")
    return {}


def common_versions() -> dict:
    import sqlite3

    return {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}


SIDES = {"log-modelcycle": log_modelcycle, "log-mlflow": log_mlflow, "log-mlflow-runs": log_mlflow_runs}


# ---------------------------------------------------------------------- MLflow environment
def mlflow_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import mlflow"], capture_output=True,
                                          check=False).returncode == 0:
        return str(python)
    print(f"Creating {MLFLOW_VENV} (once)...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", MLFLOW_SPEC], check=True)
    return str(python)


def logged(python: str, side: str, sizes: dict, data: Path) -> dict:
    """The data of one side, logged by ``python`` in its own process, or read back from an
    earlier run that logged the same sizes into ``data``."""
    folder = data / side.removeprefix("log-")
    marker = folder / "logged.json"
    wanted = {k: sizes[k] for k in ("runs", "params", "metrics", "history")}
    if marker.exists():
        record = json.loads(marker.read_text())
        if record.get("sizes") == wanted:
            record["reused"] = True
            return record
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("MODELCYCLE_", "MLFLOW_"))},
           "MODELCYCLE_HOME": str(folder / "home"), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
           "MLFLOW_ENABLE_ASYNC_LOGGING": "false"}
    args = [python, __file__, "--side", side, "--workdir", str(folder), "--sizes",
            json.dumps({**wanted, "jobs": sizes["jobs"]})]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{side} failed:\n{out.stderr[-4000:]}")
    record = {**json.loads(out.stdout.strip().splitlines()[-1]), "sizes": wanted, "folder": str(folder)}
    marker.write_text(json.dumps(record, indent=2))
    return {**record, "reused": False}


# ---------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server(args: list[str], health: str, log: Path):
    """A server in a process group of its own, answering ``health`` before it is used; the whole
    group is ended afterwards (MLflow's workers are its children)."""
    return running(args, health, log, {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"},
                   timeout_s=START_TIMEOUT_S)


# ---------------------------------------------------------------------- the browser
# Runs at the start of every document of the measured tab, before the page's own scripts: each
# animation frame (the last step before a paint) checks whether the page is ready, and keeps the
# page's clock at the first frame it is.
PROBE = """
(() => {
  if (window !== window.top) return;
  const selector = %s, needsLoaded = %s;
  let loaded = false;
  document.addEventListener("DOMContentLoaded", () => { loaded = true; });
  const onScreen = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < innerHeight && r.left < innerWidth;
  };
  const frame = () => {
    if ((loaded || !needsLoaded) && Array.from(document.querySelectorAll(selector)).some(onScreen)) {
      window.__benchReady = performance.now();
      return;
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
})();
"""


def measure(browser, url: str, selector: str, loads: int, shots: Path | None, name: str) -> dict:
    """One warm-up load of ``url`` and ``loads`` timed ones, each in a new tab of one context: the
    page's own clock from the start of its navigation to the first frame showing ``selector``
    (with DOMContentLoaded fired)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(PROBE % (json.dumps(selector), "true"))
    times, walls, errors = [], [], []
    try:
        for i in range(loads + 1):
            tab = context.new_page()
            tab.on("pageerror", lambda e: errors.append(str(e)[:300]))
            started = time.perf_counter()
            tab.goto(url, wait_until="commit", timeout=READY_TIMEOUT_MS)
            tab.wait_for_function("window.__benchReady !== undefined", polling=50, timeout=READY_TIMEOUT_MS)
            walls.append(time.perf_counter() - started)
            times.append(tab.evaluate("window.__benchReady") / 1000)
            if shots is not None and i == loads:
                shots.mkdir(parents=True, exist_ok=True)
                tab.screenshot(path=str(shots / f"{name}.png"))
            tab.close()
    finally:
        context.close()
    return {"url": url, "selector": selector, "warmup_s": times[0], "loads_s": times[1:],
            "median_s": statistics.median(times[1:]), "wall_s": walls, "page_errors": errors[:5]}


def launch_browser(playwright):
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)


# What each page is waited for. MLflow 3 opens an experiment on its GenAI overview unless the
# address asks for the classic workflow; its runs table is an AG Grid of <div role=row>s, its
# metric chart a Plotly SVG whose line is a <path class="js-line"> with a non-empty "d".
MC_RUNS_ROW = "table tbody tr a[href]"
MC_CHART = "[data-drawn]"
ML_RUNS_ROW = ".ag-row a[href*='/runs/']"  # the run's name, in the grid's pinned column
ML_CHART = ".js-plotly-plot .scatterlayer .trace path.js-line[d]:not([d=''])"


def mlflow_metric_url(base: str, run_id: str, experiment_id: str) -> str:
    """MLflow's metric page, as its run page links to it (Routes.getMetricPageRoute)."""
    q = urllib.parse.quote
    return (f"{base}/#/metric?runs={q(json.dumps([run_id]))}&metric={q(json.dumps(HISTORY_KEY))}"
            f"&experiments={q(json.dumps([experiment_id]))}&plot_metric_keys={q(json.dumps([HISTORY_KEY]))}"
            "&plot_layout=%7B%7D&x_axis=step&y_axis_scale=linear&line_smoothness=1&show_point=false"
            "&deselected_curves=%5B%5D&last_linear_y_axis_range=%5B%5D")


def _cpu_ticks() -> dict[int, tuple[int, str]]:
    """CPU ticks (user + system) so far of every process, with its command line."""
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError):
            continue  # ended meanwhile
        ticks[int(stat.parent.name)] = (int(fields[11]) + int(fields[12]), command)
    return ticks


def sample_cpu(seconds: float = 2.0) -> dict:
    """How busy the machine was over ``seconds``, and the processes that used it (other than this
    script): what shared the cores with the measurement."""
    def total():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]
    (all0, idle0), before = total(), _cpu_ticks()
    time.sleep(seconds)
    (all1, idle1), after = total(), _cpu_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (ticks, command) in after.items():
        share = (ticks - before.get(pid, (ticks, ""))[0]) / hz / seconds
        if pid != os.getpid() and share >= 0.05:
            words = command.split() or [f"pid {pid}"]
            busy.append((share, " ".join([Path(words[0]).name, *words[1:5]])[:60]))
    return {"busy_fraction": round(1 - (idle1 - idle0) / max(1, all1 - all0), 3),
            "busy_processes": [f"{name} {share:.0%}" for share, name in sorted(busy, reverse=True)[:8]]}


# ---------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 loads; nothing written")
    parser.add_argument("--data", help="folder for the logged stores, kept and reused (default: a temporary one)")
    parser.add_argument("--mlflow-python", help="a Python that has mlflow 3.x (default: bench/.venvs/mlflow-ui)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="processes logging MLflow's runs at once (default: one per core)")
    parser.add_argument("--shots", help="folder for a screenshot of each measured page when it was ready")
    parser.add_argument("--only", choices=["modelcycle", "mlflow"], help="measure one side's pages (nothing written)")
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps(SIDES[args.side](json.loads(args.sizes), Path(args.workdir))))
        return

    from playwright.sync_api import sync_playwright
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, width=WIDTH)
    progress = Console(stderr=True)
    sizes = {**(QUICK if args.quick else FULL), "jobs": args.jobs}
    python = mlflow_python(args.mlflow_python)
    shots = Path(args.shots) if args.shots else None
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "before": sample_cpu(),
               "load_1min_before": os.getloadavg()[0]}
    with contextlib.ExitStack() as stack:
        data = Path(args.data) if args.data else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ui-")))
        progress.print(f"Logging {sizes['runs']:,} runs and a {sizes['history']:,}-point history to modelcycle...",
                       style="dim")
        ours = logged(sys.executable, "log-modelcycle", sizes, data)
        progress.print(f"... and to MLflow ({sizes['jobs']} processes for the runs)...", style="dim")
        peer = logged(python, "log-mlflow", sizes, data)

        mc_dir, ml_dir = data / "modelcycle", data / "mlflow"
        mc_port, ml_port = free_port(), free_port()
        mc_url, ml_url = f"http://127.0.0.1:{mc_port}", f"http://127.0.0.1:{ml_port}"
        mlflow_bin = str(Path(python).parent / "mlflow")
        progress.print("Starting modelcycle server and mlflow server...", style="dim")
        stack.enter_context(server([
            sys.executable, "-m", "modelcycle", "server", "--store", f"sqlite:///{mc_dir / 'mc.db'}",
            "--artifacts", str(mc_dir / "mc-artifacts"), "--host", "127.0.0.1", "--port", str(mc_port)],
            f"{mc_url}/api/health", data / "modelcycle-server.log"))
        stack.enter_context(server([
            mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{ml_dir / 'mlflow.db'}",
            "--default-artifact-root", (ml_dir / "mlflow-artifacts").as_uri(), "--host", "127.0.0.1",
            "--port", str(ml_port), "--uvicorn-opts", f"--timeout-worker-healthcheck {MLFLOW_HEALTHCHECK_S}"],
            f"{ml_url}/health", data / "mlflow-server.log"))
        pages = {
            "mc_runs": (f"{mc_url}/experiments/{ours['experiment_id']}/runs", MC_RUNS_ROW),
            "ml_runs": (f"{ml_url}/#/experiments/{peer['experiment_id']}/runs?workflowType=machine_learning",
                        ML_RUNS_ROW),
            "mc_chart": (f"{mc_url}/runs/{ours['history_run_id']}", MC_CHART),
            "ml_chart": (mlflow_metric_url(ml_url, peer["history_run_id"], peer["experiment_id"]), ML_CHART),
        }
        results = {}
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            version = browser.version
            for key, (url, selector) in pages.items():
                if args.only and not key.startswith({"modelcycle": "mc_", "mlflow": "ml_"}[args.only]):
                    continue
                progress.print(f"Loading {key} ({sizes['loads']} timed loads after a warm-up)...", style="dim")
                results[key] = measure(browser, url, selector, sizes["loads"], shots, key)
            browser.close()
    machine.update({"after": sample_cpu(), "load_1min_after": os.getloadavg()[0]})
    if args.only:
        print(json.dumps(results, indent=2))
        return

    rows = [("runs page usable", "mc_runs", "ml_runs"), ("history chart drawn", "mc_chart", "ml_chart")]
    record = {"date": datetime.date.today().isoformat(), "sizes": sizes, "quick": args.quick, "machine": machine,
              "chromium": version, "logging": {"modelcycle": ours, "mlflow": peer}, "pages": results,
              "targets": {}}
    table = Table(title=f"Web UI in headless chromium {version}: modelcycle {ours['versions']['modelcycle']} and MLflow "
                        f"{peer['versions']['mlflow']}; seconds, median of {sizes['loads']} loads after a warm-up")
    for column in ("page", "modelcycle", "MLflow", "speed-up", "modelcycle < 1 s", "speed-up >= 10x"):
        table.add_column(column, justify="left" if column == "page" else "right", no_wrap=True)
    for label, mine, theirs in rows:
        a, b = results[mine]["median_s"], results[theirs]["median_s"]
        ratio = b / a
        record["targets"][mine] = {"seconds": a, "mlflow_seconds": b, "ratio": ratio, "under_1s": a < TARGET_S,
                                   "ratio_10x": ratio >= TARGET_RATIO, "met": a < TARGET_S and ratio >= TARGET_RATIO}
        table.add_row(label, f"{a:.3f}", f"{b:.3f}", f"{ratio:.1f}x", "met" if a < TARGET_S else "MISSED",
                      "met" if ratio >= TARGET_RATIO else "MISSED")
    console.print(table)
    console.print(
        f"Data: one experiment of {sizes['runs']:,} runs x {sizes['params']} params x {sizes['metrics']} metrics, and a "
        f"run with one metric of {sizes['history']:,} points. Runs page usable: its first row on screen with the "
        "page's scripts run; chart drawn: modelcycle's chart element marked data-drawn, MLflow's Plotly line "
        "drawn.", markup=False, highlight=False)
    for key, result in results.items():
        console.print(f"  {key}: loads {', '.join(f'{t:.3f}' for t in result['loads_s'])} s "
                      f"(warm-up {result['warmup_s']:.3f} s)", markup=False, highlight=False)
    console.print(
        f"Logging: modelcycle {ours['log_runs_s']:.1f} s for the {sizes['runs']:,} runs (one process; "
        f"create_run, log_batch, end_run each) and {ours['log_history_s']:.1f} s for the {sizes['history']:,} "
        f"points (one log_batch); MLflow {peer['log_runs_s']:.1f} s for the runs ({peer['jobs']} processes at "
        f"once) and {peer['log_history_s']:.1f} s for the points (log_batch calls of {MLFLOW_CHUNK:,})."
        + (" Stores reused from an earlier run of this script." if ours["reused"] or peer["reused"] else ""),
        markup=False, highlight=False)
    before, after = machine["before"], machine["after"]
    console.print(
        f"Machine: {machine['cpus']} cores, {machine['platform']}; the browser, both servers and this script "
        f"share them. Before: {before['busy_fraction']:.0%} busy, 1-minute load {machine['load_1min_before']:.2f}"
        f"{' (' + ', '.join(before['busy_processes']) + ')' if before['busy_processes'] else ''}; after: "
        f"{after['busy_fraction']:.0%} busy, load {machine['load_1min_after']:.2f}"
        f"{' (' + ', '.join(after['busy_processes']) + ')' if after['busy_processes'] else ''}.",
        markup=False, highlight=False)
    console.print(
        "Servers: modelcycle server with its default 1 worker; mlflow server with its default 4 workers (uvicorn), "
        f"their health check given {MLFLOW_HEALTHCHECK_S} s instead of 5 (under load uvicorn killed the busy ones), "
        "both on loopback over their SQLite files. Each load is a new tab in one browser context, after a "
        "warm-up load, so static files come from the browser's cache; the time is the page's own clock from "
        "the start of the navigation to the first animation frame showing the element.", markup=False,
        highlight=False)
    if not args.quick:
        write_results(console, record, "ui")


if __name__ == "__main__":
    main()

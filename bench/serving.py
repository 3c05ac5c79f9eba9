"""Serving: modelcycle's model server, `mlflow models serve` and MLServer on one model and machine.

    python bench/serving.py                  # full: 30 s per load; writes bench/results/serving-<date>.txt/.json
    python bench/serving.py --quick          # 5 s per load and smaller batch files, for a smoke run (nothing written)
    python bench/serving.py --only mlflow,mlserver   # some of the servers (mlflow, mlserver, modelcycle)
    python bench/serving.py --no-batch       # the online part alone (partial runs write nothing)
    python bench/serving.py --profile uvicorn,1,on   # py-spy over one modelcycle server under load
    python bench/serving.py --quick --only modelcycle --no-batch --config uvicorn,2,on   # one configuration
    PYTHONPATH=/tmp/wt python bench/serving.py   # measure the modelcycle of a `git worktree add /tmp/wt`

One model: a RandomForestClassifier(n_estimators=100, random_state=0) trained on scikit-learn's
breast-cancer data (569 rows x 30 columns), pickled once with joblib and served from those bytes by
  - modelcycle: logged with mc.log_model (which adds its ONNX form), registered as "cancer" and
    promoted to Production, served by `modelcycle serve cancer@production`;
  - MLflow: saved with mlflow.sklearn.save_model (cloudpickle), served by `mlflow models serve
    --env-manager local`, from its own virtual environment (bench/.venvs/mlflow, the newest
    mlflow pip installs);
  - MLServer: model.joblib and a model-settings.json for its scikit-learn runtime, served by
    `mlserver start`, from its own virtual environment (bench/.venvs/mlserver: mlserver and
    mlserver-sklearn). Its default parallel inference workers crash on start here ("There is no
    current event loop"), so it runs with parallel_workers 0 (inference in the server process).
Each server binds 127.0.0.1 on a free port and is driven by wrk (Debian's package) with one row
per request: 50 and then 100 connections, each for 30 s (5 s with --quick) after a warm-up at the
same load. wrk runs on the same 2 cores as the server. Bodies: V2 infer (one FP64 [1, 30]
tensor) for modelcycle and MLServer; MLflow's /invocations with dataframe_split for MLflow, and
the same body to modelcycle's /invocations for a like-for-like row. Every server's answer to
that body is checked against the trained model's label before its load starts.

Batch scoring, 1,000,000 rows sampled from the data (100,000 with --quick): modelcycle's
predict_batch (Parquet in, Parquet out) against MLflow's pyfunc predict on the same model and
rows (in memory; and with its Parquet read and write, for the like-for-like figure); then the peak
memory (RSS) of the process scoring 10,000,000 rows (1,000,000 with --quick) from Parquet with
modelcycle.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tracking import running, side, write_results

HERE = Path(__file__).resolve().parent
VENVS = HERE / ".venvs"
PEER_PACKAGES = {  # each peer's own virtual environment; scikit-learn as in ours, so the pickle loads
    "mlflow": ["mlflow"],
    "mlserver": ["mlserver", "mlserver-sklearn"],
}
MODEL_NAME = "cancer"
REF = f"{MODEL_NAME}@production"
FULL = {"seconds": 30, "warmup": 5, "batch_rows": 1_000_000, "memory_rows": 10_000_000}
QUICK = {"seconds": 5, "warmup": 2, "batch_rows": 100_000, "memory_rows": 1_000_000}
CONNECTIONS = (50, 100)
WRK_THREADS = 2
WRK_TIMEOUT_S = 10
CHUNK_ROWS = 1_000_000  # rows per write when making the Parquet files
START_TIMEOUT_S = 180
BATCH_REPEATS = 3  # batch calls per side; the fastest counts
WIDTH = 200  # of the printed results


# ---------------------------------------------------------------------- environments
def dist_versions(python: str, *names: str) -> dict:
    code = ("import json, sys\nfrom importlib import metadata\nout = {}\nfor n in sys.argv[1:]:\n"
            "    try:\n        out[n] = metadata.version(n)\n"
            "    except metadata.PackageNotFoundError:\n        out[n] = None\nprint(json.dumps(out))")
    out = subprocess.run([python, "-c", code, *names], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def peer_python(name: str) -> str:
    """The Python of bench/.venvs/<name>, made and filled on first use."""
    python = VENVS / name / "bin" / "python"
    modules = {"mlflow": "mlflow", "mlserver": "mlserver_sklearn"}[name]
    if python.exists() and subprocess.run([str(python), "-c", f"import {modules}"], capture_output=True,
                                          check=False).returncode == 0:
        return str(python)
    print(f"Creating {python.parent.parent} (once)...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(python.parent.parent)], check=True)
    ours = dist_versions(sys.executable, "scikit-learn", "numpy")
    pins = [f"scikit-learn=={ours['scikit-learn']}", f"numpy=={ours['numpy']}"]
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES[name], *pins], check=True)
    return str(python)


def wrk_binary() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return wrk


def mc_env(workdir: Path) -> dict:
    """The store every modelcycle process of the benchmark reads: the one the setup filled."""
    return {"MODELCYCLE_HOME": str(workdir / "home"),
            "MODELCYCLE_TRACKING_URI": f"sqlite:///{workdir / 'mc.db'}",
            "MODELCYCLE_ARTIFACT_URI": str(workdir / "artifacts")}


# ---------------------------------------------------------------------- sides (subprocesses)
def workload():
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X, RandomForestClassifier(n_estimators=100, random_state=0).fit(X, y)


def write_rows(path: Path, X, rows: int, seed: int) -> None:
    """``rows`` rows sampled with replacement from X, written CHUNK_ROWS at a time (bounded memory)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    values = X.to_numpy()
    writer = None
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        chunk = values[rng.integers(0, len(values), n)]
        table = pa.table({name: chunk[:, j] for j, name in enumerate(X.columns)})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=CHUNK_ROWS)
    writer.close()


def side_setup(workdir: Path, sizes: dict) -> dict:
    """Train the model once, log and promote it in modelcycle's store, lay out MLServer's folder,
    write the request bodies and the batch files."""
    import joblib
    import numpy as np

    import modelcycle as mc

    X, model = workload()
    joblib.dump(model, workdir / "model.joblib")
    with mc.start_run(experiment="serving-bench"):
        info = mc.log_model(model, "model", input_example=X.head(20))
    version = mc.register_model(info.uri, MODEL_NAME)
    mc.promote(MODEL_NAME, version.version, reason="serving benchmark")

    served = workdir / "mlserver"
    served.mkdir()
    shutil.copy(workdir / "model.joblib", served / "model.joblib")
    (served / "model-settings.json").write_text(json.dumps({
        "name": MODEL_NAME, "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"}}))

    row = X.iloc[[0]]
    values = [float(v) for v in row.to_numpy()[0]]
    v2 = {"inputs": [{"name": "input-0", "shape": [1, len(values)], "datatype": "FP64", "data": values}]}
    split = {"dataframe_split": {"columns": list(X.columns), "data": [values]}}
    bodies = {"v2": v2, "dataframe_split": split}
    for name, body in bodies.items():
        (workdir / f"body-{name}.json").write_text(json.dumps(body))

    if sizes["batch_rows"]:
        write_rows(workdir / "batch.parquet", X, sizes["batch_rows"], seed=0)
        write_rows(workdir / "memory.parquet", X, sizes["memory_rows"], seed=1)
    return {"label": int(model.predict(row)[0]), "proba": model.predict_proba(row)[0].tolist(),
            "version": version.version, "onnx": info.manifest.onnx.get("file"),
            "columns": list(X.columns)}


def side_mlflow_save(workdir: Path, sizes: dict) -> dict:
    import joblib
    import mlflow

    X, _ = workload()
    model = joblib.load(workdir / "model.joblib")
    mlflow.sklearn.save_model(model, str(workdir / "mlflow-model"), input_example=X.head(20),
                              serialization_format="cloudpickle")
    return {"mlflow": mlflow.__version__}


def timed(fn, repeats: int) -> tuple[object, dict]:
    """``fn()`` ``repeats`` times: its last result, and the wall and CPU seconds of each call.
    Other work on the machine slows some calls; the report takes the fastest."""
    wall, cpu, result = [], [], None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        result = fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return result, {"wall": wall, "cpu": cpu, "best": min(wall)}


def side_mlflow_batch(workdir: Path, sizes: dict) -> dict:
    """MLflow's pyfunc predict on the batch rows: in memory, and with a Parquet read and write."""
    import mlflow
    import pandas as pd

    model = mlflow.pyfunc.load_model(str(workdir / "mlflow-model"))
    frame, read = timed(lambda: pd.read_parquet(workdir / "batch.parquet"), 1)
    model.predict(frame.head(1000))  # warm-up
    labels, predict = timed(lambda: model.predict(frame), BATCH_REPEATS)
    _, write = timed(lambda: pd.DataFrame({"prediction": labels}).to_parquet(
        workdir / "mlflow-predictions.parquet"), 1)
    return {"rows": len(frame), "read": read, "predict": predict, "write": write, "peak_rss_mb": peak_rss_mb()}


def side_modelcycle_batch(workdir: Path, sizes: dict, source: str) -> dict:
    """modelcycle's predict_batch from a Parquet file to a Parquet file (and, for the batch rows, on
    the rows in memory as MLflow's predict gets them), in a fresh process so its peak RSS is this
    work's. The model is loaded (untimed) first, as on MLflow's side."""
    import pyarrow.parquet as pq

    from modelcycle.serving import batch

    if hasattr(batch, "BatchModel"):  # what predict_batch(REF, ...) loads: the compiled forest where it can
        served, load = timed(lambda: batch.BatchModel.load(REF), 1)
    else:
        from modelcycle.serving.runtime import ServedModel

        served, load = timed(lambda: ServedModel.load(REF, onnx_threads=os.cpu_count() or 1), 1)
    predict_batch = batch.predict_batch
    before = peak_rss_mb()
    out = workdir / f"modelcycle-{source}-predictions.parquet"
    repeats = BATCH_REPEATS if source == "batch" else 1
    result, files = timed(lambda: predict_batch(served, str(workdir / f"{source}.parquet"), str(out),
                                                progress=False), repeats)
    peak = peak_rss_mb()
    written = pq.ParquetFile(out).metadata
    measured = {"rows": result.rows, "scored": result.scored, "bad": result.bad_count,
                "written_rows": written.num_rows, "written_columns": written.num_columns, "files": files,
                "backend": result.backend, "load": load, "peak_rss_mb_before": before, "peak_rss_mb": peak}
    if source == "batch":
        table = pq.read_table(workdir / f"{source}.parquet")
        in_memory, measured["in_memory"] = timed(lambda: predict_batch(served, table, progress=False), repeats)
        measured["in_memory_rows"] = in_memory.table.num_rows
    return measured


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started. VmHWM, not getrusage's ru_maxrss:
    Linux carries ru_maxrss over from the parent at fork, so a child would report at least the
    driver's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


SIDES = {"setup": side_setup, "mlflow-save": side_mlflow_save, "mlflow-batch": side_mlflow_batch,
         "modelcycle-batch": lambda w, s: side_modelcycle_batch(w, s, "batch"),
         "modelcycle-memory": lambda w, s: side_modelcycle_batch(w, s, "memory")}


# ---------------------------------------------------------------------- servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def tree_usage(pid: int) -> dict | None:
    """CPU seconds by process, and resident MB, of a process and all its descendants (the server's workers)."""
    try:
        import psutil

        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        cpu = {p.pid: (lambda t: t.user + t.system)(p.cpu_times()) for p in processes}
        return {"cpu": cpu, "rss_mb": sum(p.memory_info().rss for p in processes) / 2**20}
    except Exception:  # psutil missing, or the process gone  # noqa: BLE001
        return None


def usage_between(before: dict | None, after: dict | None, requests: int) -> dict:
    """The server's CPU time per answered request, and how it was shared among its processes
    (the busiest first: with several workers, an uneven share means the connections were not spread)."""
    if not before or not after or not requests:
        return {"server_rss_mb": after["rss_mb"] if after else None}
    spent = {pid: after["cpu"][pid] - before["cpu"].get(pid, 0.0) for pid in after["cpu"]}
    total = sum(spent.values())
    shares = sorted((v / total for v in spent.values() if total and v / total >= 0.01), reverse=True)
    return {"server_rss_mb": after["rss_mb"], "server_cpu_s": total,
            "server_cpu_ms_per_request": total * 1e3 / requests, "cpu_share_by_process": [round(x, 3) for x in shares]}


def peer_env(python: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELCYCLE_", "MLFLOW_", "MLSERVER_"))}
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"})
    return env


def mlflow_server(python: str, workdir: Path, workers: int):
    port = free_port()
    argv = [str(Path(python).parent / "mlflow"), "models", "serve", "-m", str(workdir / "mlflow-model"),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]
    base = f"http://127.0.0.1:{port}"
    return running(argv, f"{base}/ping", workdir / f"mlflow-{workers}.log", peer_env(python)), base


def mlserver_server(python: str, workdir: Path):
    port = free_port()
    folder = workdir / "mlserver"
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
        "parallel_workers": 0}))
    argv = [str(Path(python).parent / "mlserver"), "start", str(folder)]
    base = f"http://127.0.0.1:{port}"
    return (running(argv, f"{base}/v2/models/{MODEL_NAME}/ready", workdir / "mlserver.log",
                    peer_env(python), cwd=folder), base)


GRANIAN = VENVS / "granian" / "bin" / "granian"  # a venv over ours (--system-site-packages) with granian


def granian_binary() -> str:
    if not GRANIAN.exists():
        print(f"Creating {GRANIAN.parent.parent} (once)...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(GRANIAN.parent.parent)],
                       check=True)
        subprocess.run([str(GRANIAN.parent / "python"), "-m", "pip", "install", "--quiet", "granian"], check=True)
    return str(GRANIAN)


def mc_serve_help() -> str | None:
    """The help of `modelcycle serve`, or None while the command does not exist."""
    out = subprocess.run([sys.executable, "-m", "modelcycle", "serve", "--help"], capture_output=True, text=True,
                         check=False, env={**os.environ, "COLUMNS": "200"}, cwd=tempfile.gettempdir())
    return out.stdout if out.returncode == 0 else None


def modelcycle_server(workdir: Path, workers: int, batching: bool, http_server: str, tag: str,
                      extra_env: dict | None = None):
    """`modelcycle serve cancer@production`; with http_server "granian" (while the command cannot
    pick it), the same worker app (modelcycle.serving.server:app_from_env) under granian's CLI."""
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MODELCYCLE_")}, **mc_env(workdir)}
    if not batching:
        env["MODELCYCLE_SERVE_BATCHING"] = "0"
    env.update(extra_env or {})
    help_text = mc_serve_help() or ""
    own_choice = "--http-server" in help_text  # the command picks the HTTP server itself
    if http_server == "granian" and not own_choice:
        from modelcycle.serving.server import ServeOptions

        env.update(ServeOptions(ref=REF, host="127.0.0.1", port=port, workers=workers).to_env())
        if workers > 1:
            env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=workdir)
        argv = [granian_binary(), "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers), "--no-access-log", "--log-level", "warning",
                "modelcycle.serving.server:app_from_env"]
    elif help_text:
        argv = [sys.executable, "-m", "modelcycle", "serve", REF, "--host", "127.0.0.1", "--port", str(port),
                "--workers", str(workers)]
        if not batching and "--no-batching" in help_text:
            argv.append("--no-batching")
        if own_choice:
            argv += ["--http-server", http_server]
    else:  # before the command exists: the function it calls
        code = ("import sys\nfrom modelcycle.serving.server import ServeOptions, run\n"
                "run(ServeOptions(ref=sys.argv[1], host='127.0.0.1', port=int(sys.argv[2]), workers=int(sys.argv[3])))")
        argv = [sys.executable, "-c", code, REF, str(port), str(workers)]
    base = f"http://127.0.0.1:{port}"
    return running(argv, f"{base}/v2/health/ready", workdir / f"modelcycle-{tag}.log", env, cwd=workdir), base, argv


# ---------------------------------------------------------------------- wrk
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "duration_us": %%d, "bytes": %%d, "connect": %%d, "read": %%d, ' ..
    '"write": %%d, "status": %%d, "timeout": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, ' ..
    '"p999_us": %%d, "max_us": %%d, "mean_us": %%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def lua_script(workdir: Path, body_name: str) -> Path:
    path = workdir / f"wrk-{body_name}.lua"
    if not path.exists():
        path.write_text(LUA % (workdir / f"body-{body_name}.json").read_text())
    return path


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict:
    argv = [wrk_binary(), f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s",
            f"--timeout={WRK_TIMEOUT_S}s", "-s", str(script), url]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("BENCH "))
    result = json.loads(line[len("BENCH "):])
    errors = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    seconds_run = result["duration_us"] / 1e6
    return {**result, "errors": errors, "rps": result["requests"] / seconds_run,
            "p50_ms": result["p50_us"] / 1e3, "p99_ms": result["p99_us"] / 1e3}


def check_answer(kind: str, url: str, body: bytes, expected: dict) -> dict:
    """One request before the load: status 200 and the trained model's label."""
    status, headers, raw = http("POST", url, body)
    if status != 200:
        raise RuntimeError(f"{url} answered {status}: {raw[:500]!r}")
    answer = json.loads(raw)
    if kind == "v2":
        label = answer["outputs"][0]["data"][0]
    else:  # MLflow's {"predictions": [...]}
        label = answer["predictions"][0]
    if int(label) != expected["label"]:
        raise RuntimeError(f"{url} predicted {label!r}; the trained model says {expected['label']}")
    version = {k.lower(): v for k, v in headers.items()}.get("x-modelcycle-model-version")
    return {"label": label, "outputs": [o["name"] for o in answer.get("outputs", [])],
            **({"model_version_header": version} if version else {})}


def drive(base: str, path: str, kind: str, body_name: str, workdir: Path, sizes: dict, expected: dict,
          pid: int) -> dict:
    """The answer check, then for each connection count a warm-up and a measured wrk run."""
    url = base + path
    script = lua_script(workdir, body_name)
    checked = check_answer(kind, url, (workdir / f"body-{body_name}.json").read_bytes(), expected)
    runs = {}
    for connections in CONNECTIONS:
        wrk(url, script, connections, sizes["warmup"])
        load_before, usage_before = os.getloadavg()[0], tree_usage(pid)
        result = wrk(url, script, connections, sizes["seconds"])
        usage_after = tree_usage(pid)
        # CPU time the server spent per answered request: less moved by other load than req/s
        result.update({"load_1min_before": load_before, "load_1min_after": os.getloadavg()[0],
                       **usage_between(usage_before, usage_after, result["requests"])})
        runs[str(connections)] = result
        print(f"    {connections} connections: {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms, {result['errors']} errors, CPU shares "
              f"{result.get('cpu_share_by_process')}", file=sys.stderr, flush=True)
    return {"check": checked, "runs": runs}


# ---------------------------------------------------------------------- profile
PY_SPY = VENVS / "tools" / "bin" / "py-spy"


def py_spy_binary() -> str:
    if not PY_SPY.exists():
        print(f"Creating {PY_SPY.parent.parent} (once)...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PY_SPY.parent.parent)], check=True)
        subprocess.run([str(PY_SPY.parent / "python"), "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    return str(PY_SPY)


def profile(workdir: Path, sizes: dict, config: tuple, body: str, seconds: int, top: int = 25) -> None:
    """py-spy over every process of one modelcycle server while wrk drives it at 50 connections;
    prints the functions with the most samples (inclusive and self)."""
    http_server, workers, batching = config
    path = f"/v2/models/{MODEL_NAME}/infer" if body == "v2" else "/invocations"
    kind = "v2" if body == "v2" else "mlflow"
    context, base, _ = modelcycle_server(workdir, workers, batching, http_server, "profile")
    expected = json.loads((workdir / "expected.json").read_text())
    with context as process:
        url = base + path
        script = lua_script(workdir, body)
        check_answer(kind, url, (workdir / f"body-{body}.json").read_bytes(), expected)
        wrk(url, script, 50, sizes["warmup"])
        raw = workdir / "profile.txt"
        spy = subprocess.Popen([py_spy_binary(), "record", "--pid", str(process.pid), "--subprocesses",
                                "--nonblocking", "--duration", str(seconds), "--format", "raw", "--output", str(raw)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1)
        result = wrk(url, script, 50, seconds - 1)
        spy.wait()
    print(f"{result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms under py-spy")
    inclusive, own, total = {}, {}, 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + n
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"\nTop {top} by {title} samples ({total} samples):")
        for frame, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {100 * n / total:5.1f}%  {frame[:150]}")
    shutil.copy(raw, HERE / ".venvs" / "last-profile.txt")
    print(f"\nCollapsed stacks kept in {HERE / '.venvs' / 'last-profile.txt'}")


# ---------------------------------------------------------------------- driver
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s per load and smaller batch files; nothing written")
    parser.add_argument("--only", default="modelcycle,mlflow,mlserver", help="servers to measure, comma-separated")
    parser.add_argument("--no-batch", action="store_true", help="skip batch scoring")
    parser.add_argument("--no-online", action="store_true", help="skip the servers (batch scoring alone)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (server logs, files)")
    parser.add_argument("--config", metavar="HTTP,WORKERS,BATCHING", action="append",
                        help="measure only this modelcycle configuration (V2 infer), e.g. uvicorn,2,on; repeat for more")
    parser.add_argument("--profile", metavar="HTTP,WORKERS,BATCHING",
                        help="instead: profile one modelcycle server with py-spy under 50 connections, "
                             "e.g. uvicorn,1,on")
    parser.add_argument("--profile-body", default="v2", choices=["v2", "dataframe_split"], help=argparse.SUPPRESS)
    parser.add_argument("--render", metavar="JSON", help="instead: print a results file again (and rewrite its .txt)")
    parser.add_argument("--side", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--shared", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.side:
        if args.no_batch:
            sizes = {**sizes, "batch_rows": 0, "memory_rows": 0}
        print(json.dumps(SIDES[args.side](Path(args.shared), sizes)))
        return
    if args.render:
        from rich.console import Console

        console = Console(record=True, width=WIDTH)
        record = json.loads(Path(args.render).read_text())
        report(console, record)
        Path(args.render).with_suffix(".txt").write_text(console.export_text(clear=False))
        return
    wrk_binary()
    only = set(args.only.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        if args.profile:
            http_server, workers, batching = args.profile.split(",")
            (workdir / "expected.json").write_text(json.dumps(run_side(sys.executable, "setup", workdir, True,
                                                                       mc_env(workdir), batch=False)))
            profile(workdir, sizes, (http_server, int(workers), batching == "on"), args.profile_body,
                    sizes["seconds"] if args.quick else 20)
            return
        configs = [parse_config(c) for c in args.config] if args.config else None
        run(workdir, sizes, args.quick, set() if args.no_online else only, not args.no_batch,
            batch_modelcycle="modelcycle" in only, configs=configs)
    finally:
        if args.keep:
            print(f"Kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_side(python: str, name: str, workdir: Path, quick: bool, env: dict | None = None,
             batch: bool = True) -> dict:
    return side(python, name, quick, env_extra=env, script=__file__, in_workdir=True,
                extra=("--shared", str(workdir), *(() if batch else ("--no-batch",))))


def parse_config(text: str) -> tuple[str, int, bool]:
    try:
        http_server, workers, batching = text.split(",")
        if http_server not in MC_HTTP_SERVERS or batching not in ("on", "off"):
            raise ValueError
        return http_server, int(workers), batching == "on"
    except ValueError:
        raise SystemExit(f"--config takes HTTP,WORKERS,BATCHING such as uvicorn,2,on (HTTP: "
                         f"{' or '.join(MC_HTTP_SERVERS)}; BATCHING: on or off); got {text!r}") from None


def run(workdir: Path, sizes: dict, quick: bool, only: set[str], batch: bool, batch_modelcycle: bool,
        configs: list[tuple[str, int, bool]] | None = None) -> None:
    from rich.console import Console

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    uptime_before = uptime()
    progress("Training the model; logging it to modelcycle; writing MLServer's folder and the batch files...")
    expected = run_side(sys.executable, "setup", workdir, quick, mc_env(workdir), batch)
    pythons = {name: peer_python(name) for name in ("mlflow", "mlserver")
               if name in only or (name == "mlflow" and batch)}
    if "mlflow" in pythons:
        run_side(pythons["mlflow"], "mlflow-save", workdir, quick)
    online: list[dict] = []

    def measure(server: str, setup: str, config: dict, started, path: str, kind: str, body: str):
        label = f"{NAMES[server]}{' /invocations' if server == 'modelcycle' and body != 'v2' else ''}, {setup}"
        progress(f"  {label}")
        context, base = started[:2]
        with context as process:
            online.append({"server": server, "label": label, "setup": setup, "config": config, "endpoint": path,
                           "body": body,
                           **({"argv": started[2]} if len(started) > 2 else {}),
                           **drive(base, path, kind, body, workdir, sizes, expected, process.pid)})

    v2_path = f"/v2/models/{MODEL_NAME}/infer"
    if "mlflow" in only:
        for workers in (1, 2):
            measure("mlflow", f"{workers} worker{'s' * (workers > 1)}",
                    {"command": "mlflow models serve --env-manager local", "workers": workers,
                     "http": "uvicorn, h11", "batching": "none"},
                    mlflow_server(pythons["mlflow"], workdir, workers), "/invocations", "mlflow", "dataframe_split")
    if "mlserver" in only:
        measure("mlserver", "parallel_workers 0",
                {"command": "mlserver start", "workers": 1, "parallel_workers": 0,
                 "http": "uvicorn, h11, uvloop", "batching": "adaptive batching off (default)"},
                mlserver_server(pythons["mlserver"], workdir), v2_path, "v2", "v2")
    if "modelcycle" in only and configs:  # only these, on V2 infer
        for http_server, workers, batching in configs:
            tag = f"{http_server}-{workers}-{'batching' if batching else 'no-batching'}"
            measure("modelcycle", mc_setup(http_server, workers, batching), mc_config(http_server, workers, batching),
                    modelcycle_server(workdir, workers, batching, http_server, tag), v2_path, "v2", "v2")
    elif "modelcycle" in only:
        for http_server, workers, batching in MC_CONFIGS:
            tag = f"{http_server}-{workers}-{'batching' if batching else 'no-batching'}"
            measure("modelcycle", mc_setup(http_server, workers, batching), mc_config(http_server, workers, batching),
                    modelcycle_server(workdir, workers, batching, http_server, tag), v2_path, "v2", "v2")
        http_server, workers, batching = MC_HEADLINE
        measure("modelcycle", mc_setup(http_server, workers, batching),
                mc_config(http_server, workers, batching),
                modelcycle_server(workdir, workers, batching, http_server, "invocations"),
                "/invocations", "mlflow", "dataframe_split")
        # What the prediction log costs: the headline row without it.
        measure("modelcycle", mc_setup(http_server, workers, batching) + ", prediction log off",
                {**mc_config(http_server, workers, batching), "prediction_log": "off"},
                modelcycle_server(workdir, workers, batching, http_server, "no-log",
                                  {"MODELCYCLE_SERVE_PREDICTION_LOG": "0"}),
                f"/v2/models/{MODEL_NAME}/infer", "v2", "v2")

    batch_results = None
    if batch:
        progress(f"Batch: MLflow pyfunc predict on {sizes['batch_rows']:,} rows...")
        batch_results = {"mlflow": run_side(pythons["mlflow"], "mlflow-batch", workdir, quick)}
        if batch_modelcycle:
            progress(f"Batch: modelcycle predict_batch on {sizes['batch_rows']:,} rows...")
            batch_results["modelcycle"] = run_side(sys.executable, "modelcycle-batch", workdir, quick,
                                                   mc_env(workdir))
            batch_results["agreement"] = agreement(workdir)
            progress(f"Batch: modelcycle predict_batch on {sizes['memory_rows']:,} rows (peak memory)...")
            batch_results["memory"] = run_side(sys.executable, "modelcycle-memory", workdir, quick,
                                               mc_env(workdir))
    uptime_after = uptime()

    record = {"date": datetime.date.today().isoformat(), "sizes": sizes, "connections": list(CONNECTIONS),
              "wrk": {"threads": WRK_THREADS, "timeout_s": WRK_TIMEOUT_S, "version": wrk_version()},
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "uptime_before": uptime_before, "uptime_after": uptime_after},
              "expected": expected, "online": online, "batch": batch_results,
              "versions": versions(pythons)}
    complete = not quick and batch and only >= {"modelcycle", "mlflow", "mlserver"} and not configs  # partial runs write nothing
    stem = HERE / "results" / f"serving-{record['date']}"
    if complete:  # the measurements first, so that a fault in the report loses nothing (see --render)
        stem.parent.mkdir(exist_ok=True)
        stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    console = Console(record=True, width=WIDTH)
    report(console, record)
    if complete:
        write_results(console, record, "serving")  # the JSON again, with the ratios


MC_HTTP_SERVERS = ("uvicorn", "granian")
MC_CONFIGS = [(http_server, workers, batching) for http_server in MC_HTTP_SERVERS
              for workers in (1, 2) for batching in (True, False)]
MC_HEADLINE = ("uvicorn", 2, True)  # what `modelcycle serve REF --workers 2` runs: the targets' row
NAMES = {"modelcycle": "modelcycle", "mlflow": "MLflow", "mlserver": "MLServer"}


def short(setup: str) -> str:
    return (setup.replace("batching on", "batching").replace("batching off", "no batching")
            .replace("prediction log off", "no prediction log"))


def mc_setup(http_server: str, workers: int, batching: bool) -> str:
    return f"{workers} worker{'s' * (workers > 1)}, {http_server}, batching {'on' if batching else 'off'}"


def mc_config(http_server: str, workers: int, batching: bool) -> dict:
    return {"command": "modelcycle serve" if http_server == "uvicorn" or "--http-server" in (mc_serve_help() or "")
            else "granian --interface asgi --factory ...serving.server:app_from_env",
            "workers": workers, "http": "uvicorn, httptools, uvloop" if http_server == "uvicorn" else "granian",
            "batching": "on (defaults)" if batching else "off", "backend": "auto (ONNX)", "prediction_log": "on"}


def agreement(workdir: Path) -> dict:
    """Rows where modelcycle's batch predictions differ from MLflow's, on the same rows."""
    import pyarrow.parquet as pq

    mine = pq.read_table(workdir / "modelcycle-batch-predictions.parquet", columns=["prediction"])
    theirs = pq.read_table(workdir / "mlflow-predictions.parquet", columns=["prediction"])
    mine, theirs = mine.column(0).to_numpy(), theirs.column(0).to_numpy()
    return {"rows": len(mine), "mismatches": int((mine.astype(str) != theirs.astype(str)).sum())}


def measured_package() -> Path:
    """The modelcycle package the servers and sides import: this work tree's, or the one PYTHONPATH
    names (to measure a clean commit from a `git worktree` while this tree has edits)."""
    out = subprocess.run([sys.executable, "-c", "import modelcycle; print(modelcycle.__file__)"], capture_output=True,
                         text=True, check=True, cwd=tempfile.gettempdir())
    return Path(out.stdout.strip()).parent


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def wrk_version() -> str:
    out = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True, check=False)
    text = out.stdout or out.stderr
    return text.splitlines()[0].split(" Copyright")[0].strip() if text else "?"


def versions(pythons: dict) -> dict:
    out = {"modelcycle": {**dist_versions(sys.executable, "modelcycle", "uvicorn", "httptools", "uvloop",
                                          "starlette", "onnxruntime", "scikit-learn", "numpy", "pyarrow"),
                          "granian": dist_versions(str(GRANIAN.parent / "python"), "granian")["granian"]
                          if GRANIAN.exists() else None, "python": platform.python_version()}}
    if "mlflow" in pythons:
        out["mlflow"] = dist_versions(pythons["mlflow"], "mlflow", "uvicorn", "fastapi", "scikit-learn", "numpy",
                                      "pandas")
    if "mlserver" in pythons:
        out["mlserver"] = dist_versions(pythons["mlserver"], "mlserver", "mlserver-sklearn", "uvicorn", "fastapi",
                                        "uvloop", "scikit-learn", "numpy", "pandas")
    from models import source_state

    out["modelcycle_source"] = source_state(measured_package())
    return out


# ---------------------------------------------------------------------- report
def report(console, record: dict) -> None:
    from rich.table import Table

    online, sizes = record["online"], record["sizes"]

    def reference(server: str, connections: str):
        rows = [r for r in online if r["server"] == server]
        return rows[0]["runs"][connections]["rps"] if rows else None

    table = Table(title=f"Online: 1 row per request, {sizes['seconds']} s per load after a {sizes['warmup']} s "
                        f"warm-up (wrk, {WRK_THREADS} threads, on the same 2 cores as the server)")
    for column in ("server", "setup", "endpoint", "conns", "req/s", "p50 ms", "p99 ms", "errors", "vs MLflow",
                   "vs MLServer", "CPU ms/req", "CPU split %", "RSS MB", "load"):
        table.add_column(column, justify="left" if column in ("server", "setup", "endpoint") else "right",
                         no_wrap=True)
    ratios = {}
    for row in online:
        for connections, r in row["runs"].items():
            mlflow, mlserver = reference("mlflow", connections), reference("mlserver", connections)
            vs_mlflow = r["rps"] / mlflow if mlflow and row["server"] != "mlflow" else None
            vs_mlserver = r["rps"] / mlserver if mlserver and row["server"] != "mlserver" else None
            ratios.setdefault(row["label"], {})[connections] = {"vs_mlflow": vs_mlflow, "vs_mlserver": vs_mlserver}
            kinds = [f"{r[k]} {k}" for k in ("status", "timeout", "connect", "read", "write") if r[k]]
            table.add_row(NAMES[row["server"]], short(row["setup"]), "V2 infer" if row["body"] == "v2" else "/invocations",
                          connections, f"{r['rps']:,.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                          kinds[0] if len(kinds) == 1 else f"{r['errors']}" + (f" ({', '.join(kinds)})" if kinds else ""),
                          f"{vs_mlflow:.1f}x" if vs_mlflow else "", f"{vs_mlserver:.1f}x" if vs_mlserver else "",
                          f"{r['server_cpu_ms_per_request']:.2f}" if r.get("server_cpu_ms_per_request") else "",
                          "/".join(f"{100 * x:.0f}" for x in r.get("cpu_share_by_process") or []),
                          f"{r['server_rss_mb']:.0f}" if r.get("server_rss_mb") else "",
                          f"{r['load_1min_before']:.1f}")
        table.add_section()
    table.caption = ("errors: non-2xx answers (status), wrk timeouts (no answer within "
                     f"{WRK_TIMEOUT_S} s; not in the latencies), socket errors. vs MLflow / vs MLServer: req/s over "
                     "the peer's at the same connections (MLflow: 1 worker, its default). CPU ms/req: CPU time of the "
                     "server's processes during the load over the requests answered; CPU split: how that time was shared among "
                     "its processes (with 2 workers, 99/1 means one worker served nearly every connection). RSS: the server's "
                     "processes after the load. load: the machine's 1-minute load average before the load.")
    console.print(table)
    record["ratios"] = ratios
    configs = Table(title="Server configurations measured")
    for column in ("server", "command", "workers", "HTTP server", "batching", "prediction log"):
        configs.add_column(column, no_wrap=True)
    shown = set()
    for row in online:
        c = row["config"]
        cells = (NAMES[row["server"]], c["command"], str(c["workers"]), c["http"], c["batching"],
                 c.get("prediction_log", "none"))
        if cells not in shown:
            shown.add(cells)
            configs.add_row(*cells)
    configs.caption = ("h11: the peers' default installs have no httptools, so their uvicorn parses HTTP with "
                       "h11. MLServer's inference runs in its server process (parallel_workers 0).")
    console.print(configs)
    targets(console, record)
    lopsided = [f"{row['label']} at {c} connections ({'/'.join(f'{100 * x:.0f}' for x in r['cpu_share_by_process'])})"
                for row in online if row["config"]["workers"] > 1 for c, r in row["runs"].items()
                if (r.get("cpu_share_by_process") or [0])[0] > 0.9]
    if lopsided:
        console.print("One worker of 2 did over 90% of the work (the connections were not spread over the workers) in: "
                      + "; ".join(lopsided) + ".")
    if record["batch"]:
        batch_report(console, record)
    v, m = record["versions"], record["machine"]
    mc_v = v["modelcycle"]
    line = (f"Versions: modelcycle {mc_v['modelcycle']} (uvicorn {mc_v['uvicorn']}, httptools {mc_v['httptools']}, "
            f"uvloop {mc_v['uvloop']}, granian {mc_v['granian']}, onnxruntime {mc_v['onnxruntime']}, scikit-learn "
            f"{mc_v['scikit-learn']}, Python {mc_v['python']})")
    if "mlflow" in v:
        line += (f"; MLflow {v['mlflow']['mlflow']} (uvicorn {v['mlflow']['uvicorn']}, scikit-learn "
                 f"{v['mlflow']['scikit-learn']})")
    if "mlserver" in v:
        line += (f"; MLServer {v['mlserver']['mlserver']} with mlserver-sklearn {v['mlserver']['mlserver-sklearn']} "
                 f"(uvicorn {v['mlserver']['uvicorn']}, scikit-learn {v['mlserver']['scikit-learn']})")
    src = v["modelcycle_source"]
    console.print(line + f"; {record['wrk']['version']}. modelcycle measured from {src['package']}, commit "
                  f"{(src['commit'] or 'unknown')[:12]}" + (f" with uncommitted changes to "
                  f"{len(src['uncommitted_changes'])} files" if src["uncommitted_changes"] else "") + ".",
                  markup=False, highlight=False)
    console.print(f"Machine: {m['cpus']} CPUs, {m['platform']}; wrk and the server share the cores, and other "
                  f"work may run beside them. uptime before: {m['uptime_before']}; after: {m['uptime_after']}.",
                  markup=False, highlight=False)


def targets(console, record: dict) -> None:
    """The issue's targets, on the headline modelcycle row (`modelcycle serve --workers 2`)."""
    http_server, workers, batching = MC_HEADLINE
    rows = [r for r in record["online"] if r["server"] == "modelcycle" and r["body"] == "v2"
            and r["config"]["workers"] == workers and r["config"]["http"].startswith(http_server)
            and r["config"]["batching"].startswith("on" if batching else "off")
            and r["config"].get("prediction_log", "on") == "on"]
    if not rows:
        return
    label = rows[0]["label"]
    head, ratios, met, said = rows[0]["runs"], record["ratios"][label], {}, {}
    for key, name, bound in (("vs_mlflow", "100x MLflow's req/s", 100), ("vs_mlserver", "ahead of MLServer", 1)):
        if ratios["50"][key] is not None:
            met[name] = all(r[key] >= bound for r in ratios.values())
            said[name] = ", ".join(f"{r[key]:.1f}x at {c}" for c, r in ratios.items())
    met["p99 under 20 ms at 50 connections"] = head["50"]["p99_ms"] < 20
    said["p99 under 20 ms at 50 connections"] = f"{head['50']['p99_ms']:.1f} ms"
    met["0 errors"] = all(r["errors"] == 0 for r in head.values())
    said["0 errors"] = ", ".join(f"{r['errors']} at {c}" for c, r in head.items())
    record["targets"] = {"row": label, "met": met}
    console.print(f"Targets, on the row \"{label}\" (what `modelcycle serve REF --workers 2` runs): " + "; ".join(
        f"{name}: {said[name]}, {'met' if ok else 'MISSED'}" for name, ok in met.items()) + ".")


BACKENDS = {"compiled": "the forest's trees compiled with numba", "onnx": "onnxruntime", "native": "scikit-learn"}


def verdict(ratio: float) -> str:
    return f"{ratio:.1f}x, {'met' if ratio >= 3 else 'MISSED'}"


def batch_report(console, record: dict) -> None:
    from rich.table import Table

    b = record["batch"]
    ml = b["mlflow"]
    rows_n = ml["rows"]
    table = Table(title=f"Batch scoring, {rows_n:,} rows sampled from the data (fastest of {BATCH_REPEATS} calls)")
    for column in ("", "seconds", "CPU s", "rows/s", "vs MLflow predict", "peak RSS MB"):
        table.add_column(column, justify="left" if not column else "right", no_wrap=True)

    def cpu_of(t):
        return t["cpu"][t["wall"].index(t["best"])]

    predict_s = ml["predict"]["best"]
    predict_rate = rows_n / predict_s
    io_s = ml["read"]["best"] + predict_s + ml["write"]["best"]
    table.add_row("MLflow pyfunc predict (DataFrame in memory)", f"{predict_s:.2f}", f"{cpu_of(ml['predict']):.2f}",
                  f"{predict_rate:,.0f}", "", "")
    table.add_row("MLflow: read Parquet + pyfunc predict + write Parquet", f"{io_s:.2f}", "", f"{rows_n / io_s:,.0f}",
                  "", f"{ml['peak_rss_mb']:.0f}")
    if "modelcycle" in b:
        mc, mem = b["modelcycle"], b["memory"]
        memory_s, files_s = mc["in_memory"]["best"], mc["files"]["best"]
        memory_rate, rate = mc["in_memory_rows"] / memory_s, mc["rows"] / files_s
        ratios = {"in_memory": memory_rate / predict_rate, "file_vs_in_memory": rate / predict_rate,
                  "file_vs_file": rate * io_s / rows_n}
        b["ratios"] = ratios
        b["targets"] = {k: v >= 3 for k, v in ratios.items()}
        table.add_row("modelcycle predict_batch (Arrow table in memory)", f"{memory_s:.2f}",
                      f"{cpu_of(mc['in_memory']):.2f}", f"{memory_rate:,.0f}", f"{ratios['in_memory']:.1f}x", "")
        table.add_row("modelcycle predict_batch (Parquet in, Parquet out)", f"{files_s:.2f}",
                      f"{cpu_of(mc['files']):.2f}", f"{rate:,.0f}",
                      f"{ratios['file_vs_in_memory']:.1f}x ({ratios['file_vs_file']:.1f}x with I/O)",
                      f"{mc['peak_rss_mb']:.0f}")
        mem_s = mem["files"]["best"]
        table.add_row(f"modelcycle predict_batch, {mem['rows']:,} rows (1 call)", f"{mem_s:.2f}",
                      f"{cpu_of(mem['files']):.2f}", f"{mem['rows'] / mem_s:,.0f}", "", f"{mem['peak_rss_mb']:.0f}")
        a = b["agreement"]
        table.caption = (
            f"modelcycle's and MLflow's labels differ on {a['mismatches']} of {a['rows']:,} rows. "
            f"Target >= 3x MLflow's pyfunc predict: in memory against in memory {verdict(ratios['in_memory'])}; "
            f"Parquet to Parquet against its in-memory predict {verdict(ratios['file_vs_in_memory'])}; Parquet to "
            f"Parquet on both sides {verdict(ratios['file_vs_file'])}. Both sides load the model before the clock "
            f"starts (modelcycle {mc['load']['best']:.2f} s). modelcycle scores with its {mc['backend']} backend "
            f"({BACKENDS.get(mc['backend'], mc['backend'])}) on {record['machine']['cpus']} threads, MLflow with "
            f"scikit-learn's predict on one; CPU s: the scoring process's CPU time, all threads. modelcycle's output holds the input's columns, the label and the class "
            f"probabilities ({mc['written_columns']} columns), MLflow's the label. Input row groups of "
            f"{CHUNK_ROWS:,} rows. Peak RSS: the scoring process's peak resident memory (VmHWM; modelcycle's with "
            f"the model loaded, before scoring: {mem['peak_rss_mb_before']:.0f} MB).")
    console.print(table)


if __name__ == "__main__":
    main()

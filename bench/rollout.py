"""Rollout: the model server's throughput with a two-arm canary against the same server with one
model, in one run, and the cost of the routing decision per request.

    python bench/rollout.py            # 3 rounds of 15 s per side; writes bench/results/rollout-<date>.txt/.json
    python bench/rollout.py --quick    # 1 round of 4 s per side, for a smoke run (nothing written)

One model family: RandomForestClassifier(n_estimators=100) on scikit-learn's breast-cancer data,
trained with random_state 0 (version 1, Production) and 1 (version 2, the challenger), logged
with mc.log_model (which adds the ONNX form) in a store outside the work tree. Two servers run
side by side, one worker each, and are loaded in turn (A, B, A, B, ...) so that drift in the
machine's load falls on both alike:
  - single: `modelcycle serve cancer@production`;
  - canary: `modelcycle serve --deployment cancer-web`, a canary of version 2 at 50% (interval
    1 h, so the shares stay put while measured; the worker still refreshes the deployment, writes
    its counts to the store and holds the analysis lease, as in production).
wrk (Debian's package) drives each with one V2 row per request (an FP64 [1, 30] tensor), 50
connections, on the same 2 cores as the server; the ratio is of the medians over the rounds.
The routing cost is timed in this process over the real DeploymentHolder of that deployment:
Router.pick without and with a sticky key, and the whole per-request path outside the
prediction (route + the arm's counters).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONNECTIONS = 50
TARGET = 0.9

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %%d, "duration_us": %%d, "errors": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def setup(workdir: Path) -> dict:
    """The store: versions 1 and 2 of "cancer", and the deployment with its canary."""
    os.environ.update(env(workdir))
    import modelcycle as mc
    from modelcycle.rollout import strategies
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    for seed in (0, 1):
        with mc.start_run(experiment="bench-rollout"):
            info = mc.log_model(RandomForestClassifier(n_estimators=100, random_state=seed).fit(X, y), "model",
                                input_example=X.head(5))
        mc.register_model(info, "cancer")
    mc.promote("cancer", 1, force=True)
    mc.set_alias("cancer", "challenger", 2)
    store = mc.Client().store
    strategies.create(store, "cancer-web", "cancer@production", "bench")
    strategies.canary(store, "cancer-web", "cancer@challenger", [50, 100], "bench", 3600, 2)
    body = {"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 30],
                        "data": X.iloc[0].astype(float).tolist()}]}
    (workdir / "wrk.lua").write_text(LUA % json.dumps(body))
    return {"body": body, "row": X.iloc[[0]]}


def env(workdir: Path) -> dict:
    return {"MODELCYCLE_HOME": str(workdir / "home"), "MODELCYCLE_TRACKING_URI": f"sqlite:///{workdir / 'mc.db'}",
            "MODELCYCLE_ARTIFACT_URI": str(workdir / "artifacts")}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv: list[str], workdir: Path, tag: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(workdir / f"{tag}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "modelcycle", "serve", *argv, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env(workdir)})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the {tag} server exited:\n{(workdir / f'{tag}.log').read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the {tag} server was not ready in 90 s")


def versions_answering(url: str, body: dict, n: int = 200) -> dict[str, int]:
    seen: dict[str, int] = {}
    data = json.dumps(body).encode()
    for _ in range(n):
        request = urllib.request.Request(f"{url}/v2/models/cancer/infer", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            version = r.headers["x-modelcycle-model-version"]
            seen[version] = seen.get(version, 0) + 1
    return seen


def wrk(url: str, script: Path, seconds: float) -> dict:
    argv = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout=10s", "-s", str(script),
            f"{url}/v2/models/cancer/infer"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("BENCH "))[6:])
    return {"rps": result["requests"] / (result["duration_us"] / 1e6), "errors": result["errors"],
            "p50_ms": result["p50_us"] / 1e3, "p99_ms": result["p99_us"] / 1e3}


def routing_cost(workdir: Path, row) -> dict:
    """ns per call of the routing decision, over the deployment's real holder and models."""
    from modelcycle.rollout.holder import DeploymentHolder
    from modelcycle.rollout.router import Router
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.tracking.fluent import client

    store = client().store
    holder = DeploymentHolder("cancer-web", store, lambda uri: ServedModel.load(uri, store=store), lead=False)
    holder.load_initial()
    model = holder.current
    inputs = model.check({c: row[c].to_numpy() for c in row.columns})
    router = Router({"stable": 50.0, "candidate": 50.0}, "cancer-web")
    keys = [f"user-{i}" for i in range(1000)]

    def per_call(fn, number: int = 200_000) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e9

    def routed():
        routed = holder.route(model, inputs, None)
        holder.observe(routed.arm, routed.model.version, 0.001, False)

    it = iter(range(10**12))
    return {"pick_ns": per_call(lambda: router.pick(None)),
            "pick_sticky_ns": per_call(lambda: router.pick(keys[next(it) % 1000])),
            "route_and_count_ns": per_call(routed)}


def render(result: dict) -> str:
    lines = [f"Rollout bench, {result['date']} (modelcycle {result['modelcycle']}, commit {result['commit']}, "
             f"Python {result['python']}, {result['cpus']} cores)",
             f"uptime before: {result['uptime_before']}", f"uptime after:  {result['uptime_after']}", "",
             f"Throughput, wrk {CONNECTIONS} connections, one V2 row per request, {result['rounds']} rounds of "
             f"{result['seconds']:g} s per side, one worker each:"]
    for side in ("single", "canary"):
        rounds = result["sides"][side]
        per_round = ", ".join(f"{r['rps']:.0f}" for r in rounds)
        lines.append(f"  {side:7} req/s per round {per_round}; median "
                     f"{result['median'][side]:.0f}; p50 {statistics.median(r['p50_ms'] for r in rounds):.2f} ms, "
                     f"p99 {statistics.median(r['p99_ms'] for r in rounds):.2f} ms; errors "
                     f"{sum(r['errors'] for r in rounds)}")
    lines.append(f"  canary answered by versions {result['canary_versions']} (200 requests before the load)")
    verdict = "meets" if result["ratio"] >= TARGET else "misses"
    lines.append(f"  canary / single = {result['ratio']:.3f} ({verdict} the target of {TARGET})")
    c = result["routing"]
    lines += ["", "Routing decision per request (this process, best of 5 x 200,000 calls):",
              f"  Router.pick, no key:      {c['pick_ns']:.0f} ns",
              f"  Router.pick, sticky key:  {c['pick_sticky_ns']:.0f} ns (blake2b of salt and key)",
              f"  route + arm counters:     {c['route_and_count_ns']:.0f} ns (the whole path outside the prediction)",
              f"  = {c['route_and_count_ns'] / 1e3 / (1e6 / result['median']['single']) * 100:.2f}% of the single "
              f"server's time per request at its median rate"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 4 s per side; nothing written")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    rounds, seconds = (1, 4.0) if args.quick else (3, 15.0)
    before = uptime()
    workdir = Path(tempfile.mkdtemp(prefix="modelcycle-bench-rollout-"))
    procs = []
    try:
        made = setup(workdir)
        single, single_url = start(["cancer@production"], workdir, "single")
        procs.append(single)
        canary, canary_url = start(["--deployment", "cancer-web"], workdir, "canary")
        procs.append(canary)
        seen = versions_answering(canary_url, made["body"])
        if set(seen) != {"1", "2"}:
            raise SystemExit(f"the canary should answer with versions 1 and 2; it answered {seen}")
        script = workdir / "wrk.lua"
        for url in (single_url, canary_url):
            wrk(url, script, 2)  # warm-up
        sides: dict[str, list] = {"single": [], "canary": []}
        for _ in range(rounds):
            sides["single"].append(wrk(single_url, script, seconds))
            sides["canary"].append(wrk(canary_url, script, seconds))
        routing = routing_cost(workdir, made["row"])
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(15)
    import modelcycle

    median = {side: statistics.median(r["rps"] for r in rs) for side, rs in sides.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    result = {"date": datetime.date.today().isoformat(), "modelcycle": modelcycle.__version__, "commit": commit,
              "python": platform.python_version(), "cpus": os.cpu_count(), "uptime_before": before,
              "uptime_after": uptime(), "rounds": rounds, "seconds": seconds, "connections": CONNECTIONS,
              "sides": sides, "median": median, "ratio": median["canary"] / median["single"], "target": TARGET,
              "canary_versions": seen, "routing": routing}
    text = render(result)
    print(text, end="")
    shutil.rmtree(workdir, ignore_errors=True)
    if not args.quick:
        out = ROOT / "bench" / "results" / f"rollout-{result['date']}"
        out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        out.with_suffix(".txt").write_text(text)
        print(f"wrote {out}.txt and .json")


if __name__ == "__main__":
    main()

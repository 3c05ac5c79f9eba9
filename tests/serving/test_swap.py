"""`modelcycle serve` as users run it: worker processes on one port, a reference that moves while
traffic flows, a version that fails to load, a reference that does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import _truncate, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_store(request, tmp_path):
    """(tracking URI, artifact URI, held-out rows) of a store with two versions of "cancer":
    version 1 under the alias champion, version 2 registered beside it."""
    import modelcycle as mc
    from modelcycle.store import clear_store_cache, open_store
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    artifacts = str(tmp_path / "artifacts")
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'mc.db'}"
    else:
        uri = request.getfixturevalue("postgres_uri")
        open_store(uri, artifacts)
        _truncate(uri)
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    mc.set_tracking_uri(uri, artifacts)
    for trees in (5, 40):
        with mc.start_run(experiment="swap"):
            model = RandomForestClassifier(n_estimators=trees, random_state=0).fit(X[:400], y[:400])
            mc.register_model(mc.log_model(model, "model", input_example=X[:20]).uri, "cancer")
    mc.set_alias("cancer", "champion", 1)
    mc.set_tracking_uri(None)
    clear_store_cache()
    return uri, artifacts, X[400:]


class Serve:
    """`modelcycle serve` in a process of its own, stopped at the end of the test."""

    def __init__(self, tmp_path: Path, tracking_uri: str, artifact_uri: str, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri,
               "MODELCYCLE_SERVE_REFRESH_INTERVAL_S": "0.5", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "modelcycle", "serve", *args, "--port", str(self.port)],
                                     stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"modelcycle serve exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"modelcycle serve was not ready in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve_process(tmp_path):
    started = []

    def start(*args, **kwargs) -> Serve:
        server = Serve(tmp_path, *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _body(rows) -> dict:
    return {"inputs": [{"name": "input", "datatype": "FP64", "shape": list(rows.shape), "data": rows.ravel().tolist()}]}


def test_an_alias_moved_under_load_swaps_every_worker_without_a_failed_request(registry_store, serve_process,
                                                                                monkeypatch):
    tracking_uri, artifact_uri, held_out = registry_store
    server = serve_process(tracking_uri, artifact_uri, "cancer@champion", "--workers", "2")
    server.wait_ready()
    rows = held_out.to_numpy()[:1]
    results: list[tuple[float, int, str | None]] = []  # (time, status, version header)
    errors: list[str] = []
    stop = threading.Event()

    def load():
        with httpx.Client(base_url=server.url, timeout=10) as http:
            while not stop.is_set():
                try:
                    # A fresh connection now and then, so both workers take requests.
                    r = http.post("/v2/models/cancer/infer", json=_body(rows), headers={"connection": "close"})
                    results.append((time.monotonic(), r.status_code, r.headers.get("x-modelcycle-model-version")))
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    import modelcycle as mc

    monkeypatch.setenv("MODELCYCLE_HOME", str(Path(artifact_uri).parent / "client-home"))
    mc.set_tracking_uri(tracking_uri, artifact_uri)
    moved_at = time.monotonic()
    mc.set_alias("cancer", "champion", 2)
    mc.set_tracking_uri(None)
    deadline = moved_at + 20
    while time.monotonic() < deadline:  # until the last few seconds of answers all come from version 2
        recent = [v for t, _, v in results[-200:] if t > time.monotonic() - 1.5]
        if time.monotonic() > moved_at + 2.5 and recent and set(recent) == {"2"}:
            break
        time.sleep(0.25)
    settled = time.monotonic()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()

    assert not errors, errors[:5]
    statuses = Counter(status for _, status, _ in results)
    assert set(statuses) == {200}, statuses
    before = {v for t, _, v in results if t < moved_at}
    after = [v for t, _, v in results if t > settled]
    assert before == {"1"}
    assert after and set(after) == {"2"}, Counter(after)
    # Every worker swapped within the refresh interval plus a load: no answer from version 1
    # arrives long after the move.
    last_old = max(t for t, _, v in results if v == "1")
    assert last_old - moved_at < 10
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'modelcycle_serving_model_loaded{backend="onnx",model="cancer",version="2"} 2.0' in metrics


def test_a_version_that_fails_to_load_leaves_the_old_one_serving_and_says_why(registry_store, serve_process,
                                                                              tmp_path, monkeypatch):
    import modelcycle as mc

    tracking_uri, artifact_uri, held_out = registry_store
    server = serve_process(tracking_uri, artifact_uri, "cancer@champion")
    server.wait_ready()
    monkeypatch.setenv("MODELCYCLE_HOME", str(tmp_path / "client-home"))
    mc.set_tracking_uri(tracking_uri, artifact_uri)
    version = mc.get_model_version("cancer@2")
    onnx_file = next(f for f in mc.Client().store.list_artifact_files(version.run_id, version.artifact_path)
                     if f.path.endswith(".onnx"))
    blob = next(Path(artifact_uri).rglob(onnx_file.digest))
    blob.chmod(0o644)
    blob.write_bytes(b"not an onnx model")  # changed behind the store's back
    mc.set_alias("cancer", "champion", 2)
    mc.set_tracking_uri(None)

    deadline = time.monotonic() + 20
    metadata = {}
    while time.monotonic() < deadline:
        metadata = httpx.get(f"{server.url}/v2/models/cancer").json()
        if (metadata.get("status") or {}).get("last_error"):
            break
        time.sleep(0.3)
    assert "digest" in metadata["status"]["last_error"], metadata
    assert metadata["status"]["version"] == 1
    r = httpx.post(f"{server.url}/v2/models/cancer/infer", json=_body(held_out.to_numpy()[:2]))
    assert r.status_code == 200 and r.json()["model_version"] == "1"


def test_serve_refuses_a_reference_that_does_not_exist_before_starting(registry_store, tmp_path):
    tracking_uri, artifact_uri, _ = registry_store
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri}
    for ref, expected in (("cancer@nosuchalias", "nosuchalias"), ("nosuchmodel@production", "nosuchmodel"),
                          ("cancer/99", "99"), ("", "Name the model")):
        done = subprocess.run([sys.executable, "-m", "modelcycle", "serve", ref, "--port", str(free_port())],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode in (2, 3), (ref, done.returncode, done.stderr)
        assert expected in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_bad_serve_options_are_refused_with_the_option_named(registry_store):
    tracking_uri, artifact_uri, _ = registry_store
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri}
    port = free_port()
    for args, option in ((["--backend", "tensorflow"], "--backend"), (["--grpc-port", str(port)], "--grpc-port"),
                         (["--workers", "0"], "--workers"), (["--max-batch-size", "0"], "--max-batch-size")):
        done = subprocess.run([sys.executable, "-m", "modelcycle", "serve", "cancer@champion", "--port", str(port),
                               *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and option in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_another_server_listens_on_is_refused_before_serving(registry_store, workers):
    """A taken --port or --grpc-port is refused with the option named, before the "serving" line;
    gRPC's SO_REUSEPORT would otherwise let two servers share a port and split its requests."""
    import socket

    tracking_uri, artifact_uri, _ = registry_store
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri}
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as a gRPC server's socket is
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args, option in ((["--port", str(port)], "--port"),
                             (["--port", str(free_port()), "--grpc-port", str(port)], "--grpc-port")):
            done = subprocess.run([sys.executable, "-m", "modelcycle", "serve", "cancer@champion", "--workers",
                                   workers, *args], env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 2, (args, done.returncode, done.stdout, done.stderr)
            assert f"Cannot listen on 127.0.0.1:{port}" in done.stderr and option in done.stderr, done.stderr
            assert "serving" not in done.stdout and "Traceback" not in done.stderr


def test_two_servers_started_at_the_same_moment_on_one_port_one_wins(registry_store, tmp_path):
    """Both check the port before either listens: exactly one serves, the other is refused (and
    once the winner is gone, the port is free again)."""
    tracking_uri, artifact_uri, _ = registry_store
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri}
    port, grpc_port = free_port(), free_port()
    argv = [sys.executable, "-m", "modelcycle", "serve", "cancer@champion", "--workers", "2", "--port", str(port),
            "--grpc-port", str(grpc_port)]
    logs = [open(tmp_path / f"serve-{i}.log", "w+") for i in range(2)]
    procs = [subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs]
    try:
        deadline = time.monotonic() + 90
        while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.2)
        exited = [p for p in procs if p.poll() is not None]
        assert len(exited) == 1, "both servers are still running: they share the port"
        loser = procs.index(exited[0])
        logs[loser].seek(0)
        refused = logs[loser].read()
        assert exited[0].returncode == 2 and "Cannot listen on 127.0.0.1" in refused, refused
        assert "another modelcycle serve on this machine holds the port" in refused and "serving" not in refused
        winner = procs[1 - loser]
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert winner.poll() is None and httpx.get(f"http://127.0.0.1:{port}/ping").status_code == 200
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        for log in logs:
            log.close()


def test_workers_end_when_their_supervisor_is_killed(registry_store, tmp_path):
    """kill -9 of `modelcycle serve --workers 2` leaves no worker serving the port."""
    import signal

    tracking_uri, artifact_uri, _ = registry_store
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri}
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        supervisor = subprocess.Popen([sys.executable, "-m", "modelcycle", "serve", "cancer@champion", "--workers",
                                       "2", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(supervisor.pid)], capture_output=True,
                                              text=True).stdout.split()]
    assert len(workers) >= 2
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()

    def running(pid: int) -> bool:  # an ended process may stay a zombie where nothing reaps orphans
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(running(pid) for pid in workers):
        time.sleep(0.3)
    alive = [pid for pid in workers if running(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "workers outlived their supervisor"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2)


def _break_version(tracking_uri: str, artifact_uri: str, version: int) -> None:
    """Remove the model files of ``cancer`` ``version`` from the artifact store (blobs by hash)."""
    from modelcycle.store import open_store

    files = open_store(tracking_uri, artifact_uri).get_model_version("cancer", version).files
    for name in ("model.pkl", "model.onnx"):
        digest = files[name]
        for blob in Path(artifact_uri, "sha256", digest[:2], digest[2:4]).glob(f"*{digest[4:]}*"):
            blob.unlink()


@pytest.mark.parametrize("registry_store", ["sqlite"], indirect=True)
def test_a_worker_that_cannot_load_takes_no_connection_and_its_restarts_back_off(registry_store, tmp_path):
    """A broken version moved in while serving: the old one keeps serving. A worker that dies then
    starts again, cannot load the new version, and fails at start: it never took connections (no
    request is reset) and its restarts back off. When no worker can start, the server stops."""
    import signal

    tracking_uri, artifact_uri, rows = registry_store
    _break_version(tracking_uri, artifact_uri, 2)
    env = {**os.environ, "MODELCYCLE_TRACKING_URI": tracking_uri, "MODELCYCLE_ARTIFACT_URI": artifact_uri,
           "MODELCYCLE_HOME": str(tmp_path / "fresh-home")}  # no local copy of the model files
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "modelcycle", "serve", "cancer@champion", "--workers", "2",
                                   "--port", str(port), "--refresh-interval", "0.5"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.iloc[:1].values.tolist()}}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        import modelcycle as mc

        mc.set_tracking_uri(tracking_uri, artifact_uri)
        try:
            mc.set_alias("cancer", "champion", 2)
        finally:
            mc.set_tracking_uri(None)
        time.sleep(2)  # both workers tried version 2 and kept version 1
        workers = [int(p) for p in subprocess.run(["pgrep", "-f", "multiprocessing.spawn", "-P", str(server.pid)],
                                                  capture_output=True, text=True).stdout.split()]
        os.kill(workers[0], signal.SIGKILL)
        answers = []
        with httpx.Client() as client:
            end = time.monotonic() + 8
            while time.monotonic() < end:
                try:
                    answers.append(client.post(url + "/invocations", json=body, timeout=10).status_code)
                except httpx.HTTPError as exc:
                    answers.append(repr(exc))
                time.sleep(0.05)
        assert answers and set(answers) == {200}, [a for a in answers if a != 200][:3]
        restarts = log_path.read_text().count("starting another")
        assert 1 <= restarts <= 6, restarts  # 8 s of backing off, not a restart every half second
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)

    # served from the start, the broken version leaves no worker able to start: the server stops
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "modelcycle", "serve", "cancer/2", "--workers", "2", "--port",
                           str(free_port())], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert "every worker failed to start" in done.stderr and time.monotonic() - started < 120

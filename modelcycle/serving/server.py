"""`modelcycle serve`: the model server's processes.

The command resolves the reference once (so a typo fails before any worker starts), then hands
the settings to the workers through the environment: each worker process builds its own app
(``app_from_env``) with its own model holder, watcher, batcher and prediction-log writer, and
all of them share one listening socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass

from modelcycle.exceptions import InvalidInput

log = logging.getLogger("modelcycle.serving")

_ENV = "MODELCYCLE_SERVE_"


@dataclass(frozen=True)
class ServeOptions:
    ref: str | None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    grpc_port: int | None = None
    backend: str = "auto"
    tracking_uri: str | None = None
    artifact_uri: str | None = None
    deployment: str | None = None  # serve a deployment's arms instead of one reference

    def to_env(self) -> dict[str, str]:
        env = {f"{_ENV}REF": self.ref or "", f"{_ENV}BACKEND": self.backend, f"{_ENV}HOST": self.host}
        if self.deployment:
            env[f"{_ENV}DEPLOYMENT"] = self.deployment
        if self.grpc_port:
            env[f"{_ENV}GRPC_PORT"] = str(self.grpc_port)
        if self.tracking_uri:
            env["MODELCYCLE_TRACKING_URI"] = self.tracking_uri
        if self.artifact_uri:
            env["MODELCYCLE_ARTIFACT_URI"] = self.artifact_uri
        return env

    @classmethod
    def from_env(cls) -> ServeOptions:
        ref = os.environ.get(f"{_ENV}REF")
        deployment = os.environ.get(f"{_ENV}DEPLOYMENT") or None
        if not ref and not deployment:
            raise InvalidInput(f"{_ENV}REF names the model to serve; start the server with `modelcycle serve REF`.")
        grpc_port = os.environ.get(f"{_ENV}GRPC_PORT")
        return cls(ref=ref or None, deployment=deployment, backend=os.environ.get(f"{_ENV}BACKEND", "auto"),
                   host=os.environ.get(f"{_ENV}HOST", "127.0.0.1"), grpc_port=int(grpc_port) if grpc_port else None)


def build_app(options: ServeOptions, store=None):
    """The ASGI app of one worker: the model is loaded, and the watcher, the prediction log and
    the gRPC server started, in the app's lifespan (the worker accepts requests after that)."""
    from modelcycle import config
    from modelcycle.serving.app import create_app
    from modelcycle.serving.holder import ModelHolder, Ref, store_resolver
    from modelcycle.serving.predlog import PredictionLog
    from modelcycle.serving.runtime import ServedModel
    from modelcycle.serving.settings import ServingSettings

    settings = ServingSettings.from_env()
    if options.deployment:
        from modelcycle.rollout.holder import DeploymentHolder
        from modelcycle.tracking.fluent import client

        store = store or client().store
        holder = DeploymentHolder(options.deployment, store,
                                  load=lambda uri: ServedModel.load(uri, backend=options.backend, store=store),
                                  refresh_interval_s=settings.refresh_interval_s)
    else:
        ref = Ref.parse(options.ref)
        if store is None and ref.uri.startswith(("models:/", "runs:/")):
            from modelcycle.tracking.fluent import client

            store = client().store
        holder = ModelHolder(
            ref, load=lambda uri: ServedModel.load(uri, backend=options.backend, store=store),
            resolve=store_resolver(ref, store) if store is not None else None,
            refresh_interval_s=settings.refresh_interval_s)
    prediction_log = PredictionLog() if config.serve_prediction_log() else None
    grpc_server = None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        nonlocal grpc_server
        import asyncio
        import gc

        await asyncio.get_running_loop().run_in_executor(None, holder.load_initial)
        # The libraries and the model are never garbage: collections stop walking them (a full
        # collection of this process took 70-130 ms, a pause in every request it caught).
        gc.collect()
        gc.freeze()
        holder.start_watching()
        if options.grpc_port:
            from modelcycle.serving.grpc_server import start_grpc

            grpc_server = start_grpc(app.state.service, options.host, options.grpc_port, asyncio.get_running_loop())
        try:
            yield
        finally:
            if grpc_server is not None:
                grpc_server.stop(grace=2).wait(5)
            holder.stop()
            if prediction_log is not None:
                prediction_log.close()

    return create_app(holder, settings, prediction_log, lifespan=lifespan)


def app_from_env():
    """The uvicorn factory each worker process calls."""
    return build_app(ServeOptions.from_env())


def check_ref(options: ServeOptions) -> str:
    """What ``options.ref`` serves now, checked before any worker starts (a clear error otherwise)."""
    from modelcycle.serving.holder import Ref

    ref = Ref.parse(options.ref)
    if not ref.uri.startswith("models:/"):
        from modelcycle.models import read_manifest

        read_manifest(ref.uri)
        return ref.uri
    from modelcycle.models.uris import resolve_version
    from modelcycle.tracking.fluent import client

    version = resolve_version(client().store, ref.uri)
    return f"models:/{version.name}/{version.version}"


def run(options: ServeOptions) -> None:
    """Serve until interrupted. Several workers each listen on the port with SO_REUSEPORT, so
    the kernel spreads connections over them (one socket shared by all lets one busy worker take
    nearly every connection); their Prometheus metrics are summed through a folder of their own
    (removed at exit)."""
    import uvicorn

    from modelcycle.serving.app import uvicorn_options

    if options.backend not in ("auto", "onnx", "native"):
        raise InvalidInput(f"--backend must be auto, onnx or native; got {options.backend!r}.")
    os.environ.update(options.to_env())
    if options.workers == 1:
        uvicorn.run("modelcycle.serving.server:app_from_env", factory=True, host=options.host, port=options.port,
                    log_level="warning", access_log=False, timeout_graceful_shutdown=10, **uvicorn_options())
        return
    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="modelcycle-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        _supervise(options)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


_HELD_PORTS: dict[int, int] = {}  # port -> the descriptor of its lock file, held while this process serves


def check_ports(options: ServeOptions) -> None:
    """InvalidInput, naming the option, when the HTTP or gRPC port is another server's. The
    workers share their ports with SO_REUSEPORT, which would let a second `modelcycle serve`
    share them unnoticed (splitting the requests): each port is held by a lock file for this
    process's life (another `modelcycle serve` starting at the same moment finds it held; the
    kernel lets it go when the process dies, even by kill -9), and a bind without SO_REUSEPORT
    fails while anything listens on it."""
    import fcntl

    for port, option in ((options.port, "--port"), (options.grpc_port, "--grpc-port")):
        if not port:
            continue
        if port not in _HELD_PORTS:
            fd = os.open(os.path.join(tempfile.gettempdir(), f"modelcycle-serve-port-{port}.lock"),
                         os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise InvalidInput(f"Cannot listen on {options.host}:{port}: another modelcycle serve on this machine "
                                   f"holds the port. Choose another {option}.") from None
            _HELD_PORTS[port] = fd
        _listening_socket(options.host, port, listen=False, reuse_port=False, option=option).close()


def _listening_socket(host: str, port: int, listen: bool = True, reuse_port: bool = True, option: str = "--port"):
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another {option} or --host."
                           ) from None
    if listen:
        sock.listen(2048)
    return sock


def _end_with_parent(parent: int) -> None:
    """SIGTERM to this process when its parent dies (Linux), so that a supervisor killed with
    kill -9 leaves no worker serving its port; elsewhere, nothing."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(host: str, port: int, parent: int) -> None:
    import uvicorn

    from modelcycle.serving.app import uvicorn_options

    _end_with_parent(parent)

    config = uvicorn.Config("modelcycle.serving.server:app_from_env", factory=True, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=10, **uvicorn_options())
    # Bound, not listening: uvicorn listens once the model is loaded, so the kernel hands no
    # connection to a worker that is still loading (or fails to, and would reset them).
    uvicorn.Server(config).run(sockets=[_listening_socket(host, port, listen=False)])


QUICK_EXIT_S = 30  # a worker that exits sooner after its start failed to start
MAX_RESTART_DELAY_S = 30
GIVE_UP_AFTER = 4  # failed starts in a row of every worker, with none alive, stop the server


def _supervise(options: ServeOptions) -> None:
    """Start the workers, start again one that dies (later and later when it keeps failing at
    start), stop when none can start, and stop them all on SIGINT or SIGTERM."""
    import multiprocessing
    import signal
    import threading
    import time

    from modelcycle.serving import metrics

    # Held, never listened on: the port stays ours between worker restarts.
    check_ports(options)
    guard = _listening_socket(options.host, options.port, listen=False)
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    def start(i: int):
        process = context.Process(target=_worker, args=(options.host, options.port, os.getpid()),
                                  name=f"modelcycle-serve-{i}")
        process.start()
        return process

    workers = [start(i) for i in range(options.workers)]
    started = [time.monotonic()] * options.workers
    failures = [0] * options.workers  # exits in a row, each within QUICK_EXIT_S of its start
    restart_at: list[float | None] = [None] * options.workers
    try:
        while not stop.wait(0.5):
            now = time.monotonic()
            for i, process in enumerate(workers):
                if restart_at[i] is None and not process.is_alive():
                    failures[i] = failures[i] + 1 if now - started[i] < QUICK_EXIT_S else 0
                    delay = min(MAX_RESTART_DELAY_S, 0.5 * 2 ** max(0, failures[i] - 1)) if failures[i] else 0.0
                    log.warning("worker %s exited with %s; starting another%s", process.pid, process.exitcode,
                                f" in {delay:g} s" if delay else "")
                    metrics.mark_process_dead(process.pid)
                    restart_at[i] = now + delay
            if all(f >= GIVE_UP_AFTER for f in failures) and not any(p.is_alive() for p in workers):
                log.error("every worker failed to start %d times in a row; stopping (their errors are above)",
                          GIVE_UP_AFTER)
                raise SystemExit(3)  # as one worker's failed start exits
            for i, at in enumerate(restart_at):
                if at is not None and now >= at:
                    workers[i], started[i], restart_at[i] = start(i), now, None
    finally:
        for process in workers:
            if process.is_alive():
                process.terminate()  # uvicorn drains in-flight requests on SIGTERM
        for process in workers:
            process.join(15)
            if process.is_alive():
                process.kill()
                process.join()
        guard.close()

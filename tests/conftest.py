"""Shared fixtures: a store on SQLite, on PostgreSQL and through a real server on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from modelcycle.store import schema

# The CLI's tables take COLUMNS as their width when it is set; pytest-xdist's workers set it to 80.
# The tests read the width a command has without a terminal (or set COLUMNS themselves).
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)

POSTGRES_ADMIN_URI = os.environ.get(
    "MODELCYCLE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """No test touches ~/.modelcycle or another test's store."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MODELCYCLE_HOME", str(home))
    monkeypatch.delenv("MODELCYCLE_TRACKING_URI", raising=False)
    monkeypatch.delenv("MODELCYCLE_ARTIFACT_URI", raising=False)
    from modelcycle.store import clear_store_cache
    from modelcycle.tracking import fluent

    clear_store_cache()
    fluent.set_tracking_uri(None)
    fluent.set_experiment(None)
    yield
    fluent.end_run() if fluent.active_run() else None
    clear_store_cache()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_reason() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URI, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URI} ({type(exc).__name__}: {exc})"


_PG_SKIP: list[str | None] = []


@pytest.fixture(scope="session")
def postgres_uri():
    """A fresh database for this test session on the local PostgreSQL, dropped afterwards."""
    if not _PG_SKIP:
        _PG_SKIP.append(_postgres_reason())
    if _PG_SKIP[0]:
        pytest.skip(_PG_SKIP[0])
    name = f"mc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URI, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    uri = POSTGRES_ADMIN_URI.rsplit("/", 1)[0] + f"/{name}"
    yield uri
    from modelcycle.store import clear_store_cache

    clear_store_cache()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(uri: str) -> None:
    engine = create_engine(uri)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(t.name for t in schema.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(schema.metadata.sorted_tables):
                conn.execute(table.delete())
    engine.dispose()


class ServerProcess:
    def __init__(self, store_uri: str, artifact_uri: str, workers: int = 1, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store_uri = store_uri
        self.log = Path(artifact_uri).parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelcycle", "server", "--store", store_uri, "--artifacts",
             artifact_uri, "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            stdout=open(self.log, "wb"), stderr=subprocess.STDOUT, env=env or os.environ.copy(),
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in 60 s:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """One real server for the session, on SQLite; tests clear its tables before they start."""
    root = tmp_path_factory.mktemp("server")
    store_uri = f"sqlite:///{root / 'server.db'}"
    server = ServerProcess(store_uri, str(root / "artifacts"))
    yield server
    server.stop()


def empty_database(request, backend: str, folder: Path) -> str:
    """The URI of an empty store's database on ``backend`` ("sqlite", a file in ``folder``, or
    "postgresql", which skips where no server answers); its artifacts go in folder / "artifacts"."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'mc.db'}"
    uri = request.getfixturevalue("postgres_uri")
    from modelcycle.store import open_store

    open_store(uri, str(folder / "artifacts"))  # creates the schema on first use
    _truncate(uri)
    return uri


@pytest.fixture(params=["sqlite", "postgresql", "server"])
def store_uris(request, tmp_path) -> tuple[str, str]:
    """(tracking URI, artifact URI) of an empty store on each backend."""
    if request.param != "server":
        return empty_database(request, request.param, tmp_path), str(tmp_path / "artifacts")
    server = request.getfixturevalue("tracking_server")
    _truncate(server.store_uri)
    return server.url, str(tmp_path / "unused-artifacts")


@pytest.fixture
def store(store_uris):
    from modelcycle.store import open_store

    return open_store(*store_uris)


@pytest.fixture
def client(store):
    from modelcycle import Client

    return Client(store=store)


@pytest.fixture
def tracking(store_uris):
    """mc.* pointed at an empty store on each backend; the Client reads back what it wrote."""
    import modelcycle as mc

    mc.set_tracking_uri(*store_uris)
    yield mc.Client()
    while mc.active_run() is not None:
        mc.end_run()
    mc.set_tracking_uri(None)


def start_s3(monkeypatch, bucket: str, what: str):
    """A real S3 API (moto's server) on a free loopback port with ``bucket``: (endpoint, server).
    s3fs in this process and in subprocesses talks to it; stop the server after the test."""
    pytest.importorskip("s3fs", reason=f"s3fs is needed for s3:// {what} (pip install modelcycle[s3])")
    moto_server = pytest.importorskip("moto.server", reason="moto[server] provides a local S3 API for this test")
    boto3 = pytest.importorskip("boto3")
    import fsspec.config

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    # fsspec reads FSSPEC_* variables once, when it is imported: apply them again for this
    # process (a fresh process, like a tracking server, picks them up by itself).
    conf = {}
    fsspec.config.set_conf_env(conf)
    monkeypatch.setitem(fsspec.config.conf, "s3", conf["s3"])
    httpx.post(f"{endpoint}/moto-api/reset")  # moto keeps its buckets per process, across servers
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return endpoint, server

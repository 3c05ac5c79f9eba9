"""Content-addressed blobs: stored once, visible only when complete, on a folder or on S3."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from modelcycle.artifacts import BlobStore
from modelcycle.store.sql import SqlStore


def _blobs(root: Path) -> list[Path]:
    return [p for p in (root / "sha256").rglob("*") if p.is_file()] if (root / "sha256").exists() else []


def test_same_content_is_stored_once(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"same" * 1000)
    b.write_bytes(b"same" * 1000)
    first, second = store.put_file(a), store.put_file(b)
    assert first == second == (hashlib.sha256(b"same" * 1000).hexdigest(), 4000)
    assert len(_blobs(tmp_path / "blobs")) == 1
    assert b"".join(store.open(first[0])) == b"same" * 1000
    assert not list((tmp_path / "blobs" / "tmp").iterdir())  # no leftovers


def test_a_killed_upload_leaves_no_artifact(tmp_path):
    """A writer killed mid-copy (SIGKILL, no cleanup) leaves no blob and no listed artifact."""
    db, root = f"sqlite:///{tmp_path / 'mc.db'}", tmp_path / "art"
    store = SqlStore(db, str(root))
    run = store.create_run(store.create_experiment("kill").id)
    fifo = tmp_path / "source.fifo"
    os.mkfifo(fifo)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from modelcycle.store.sql import SqlStore
        SqlStore({db!r}, {str(root)!r}).log_artifact({run.id!r}, {str(fifo)!r}, "model.bin")
    """)])
    with open(fifo, "wb") as source:
        source.write(os.urandom(4 << 20))  # the child is now copying; the rest never comes
        source.flush()
        deadline = time.time() + 30
        while not any(p.stat().st_size for p in (root / "tmp").glob("*")) and time.time() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert _blobs(root) == []
    assert store.list_artifacts(run.id) == []
    store.close()


@pytest.fixture
def s3_bucket(monkeypatch):
    pytest.importorskip("s3fs", reason="s3fs is needed for s3:// artifact stores (pip install modelcycle[s3])")
    moto_server = pytest.importorskip("moto.server", reason="moto[server] provides a local S3 API for this test")
    import boto3

    from tests.conftest import free_port

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    import fsspec.config

    fsspec.config.set_conf_env(fsspec.config.conf)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="mc-artifacts")
    yield "s3://mc-artifacts/team"
    fsspec.config.conf.pop("s3", None)
    server.stop()


def test_artifacts_on_s3(s3_bucket, tmp_path):
    import fsspec

    store = SqlStore(f"sqlite:///{tmp_path / 'mc.db'}", s3_bucket)
    run = store.create_run(store.create_experiment("s3").id)
    payload = os.urandom(3 << 20)
    (tmp_path / "weights.bin").write_bytes(payload)
    info = store.log_artifact(run.id, tmp_path / "weights.bin", "model/weights.bin")
    store.log_artifact(run.id, tmp_path / "weights.bin", "copy.bin")
    assert info.digest == hashlib.sha256(payload).hexdigest()
    assert b"".join(store.open_artifact(run.id, "model/weights.bin")) == payload
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    assert len([p for p in fs.find("mc-artifacts/team/sha256")]) == 1  # stored once
    store.close()

"""Content-addressed blobs: stored once, visible only when complete, on a folder or on S3."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from modelcycle import NotFound
from modelcycle.artifacts import BlobStore
from modelcycle.store.sql import SqlStore


def _blobs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sha256").rglob("*") if p.is_file()) if (root / "sha256").exists() else []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- dedup
def test_a_blob_lives_at_its_digest(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    data = os.urandom(3 << 20)
    digest, size = store.put_file(_write(tmp_path / "f.bin", data))
    assert (digest, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert _blobs(tmp_path / "blobs") == [tmp_path / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest]
    assert b"".join(store.open(digest)) == data
    assert all(len(chunk) <= 1 << 20 for chunk in store.open(digest))  # streamed in chunks


def test_same_content_is_stored_once(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    a = _write(tmp_path / "a.bin", b"same" * 1000)
    b = _write(tmp_path / "b.bin", b"same" * 1000)
    first = store.put_file(a)
    (blob,) = _blobs(tmp_path / "blobs")
    inode = blob.stat().st_ino
    assert store.put_file(b) == first == (hashlib.sha256(b"same" * 1000).hexdigest(), 4000)
    assert _blobs(tmp_path / "blobs") == [blob] and blob.stat().st_ino == inode  # not rewritten
    store.put_file(_write(tmp_path / "c.bin", b"different"))
    assert len(_blobs(tmp_path / "blobs")) == 2
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []  # no leftovers


def test_writers_of_the_same_content_at_once_leave_one_blob(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    data = os.urandom(1 << 20)
    sources = [_write(tmp_path / f"src{i}", data) for i in range(8)]
    results, start = [], threading.Barrier(8)

    def put(source):
        start.wait()
        results.append(store.put_file(source))

    threads = [threading.Thread(target=put, args=(s,)) for s in sources]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(hashlib.sha256(data).hexdigest(), len(data))] * 8
    (blob,) = _blobs(tmp_path / "blobs")
    assert blob.read_bytes() == data
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_artifacts_with_the_same_content_share_one_blob(tmp_path):
    root = tmp_path / "art"
    store = SqlStore(f"sqlite:///{tmp_path / 'mc.db'}", str(root))
    try:
        payload = os.urandom(100_000)
        one = store.create_run(store.create_experiment("one").id)
        two = store.create_run(store.create_experiment("two").id)
        infos = [store.log_artifact(one.id, _write(tmp_path / "x", payload), "model.bin"),
                 store.log_artifact(one.id, _write(tmp_path / "y", payload), "copies/model.bin"),
                 store.log_artifact(two.id, _write(tmp_path / "z", payload), "elsewhere/m.bin")]
        assert {i.digest for i in infos} == {hashlib.sha256(payload).hexdigest()}
        assert len(_blobs(root)) == 1
        assert b"".join(store.open_artifact(two.id, "elsewhere/m.bin")) == payload
    finally:
        store.close()


def test_missing_source_and_missing_blob(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    with pytest.raises(NotFound):
        store.put_file(tmp_path / "does-not-exist")
    with pytest.raises(NotFound):
        b"".join(store.open("0" * 64))
    sql = SqlStore(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "blobs"))
    try:
        run = sql.create_run(sql.create_experiment("e").id)
        info = sql.log_artifact(run.id, _write(tmp_path / "f", b"content"), "f.txt")
        Path(store.path(info.digest)).unlink()  # removed behind the store's back
        with pytest.raises(NotFound, match="removed outside modelcycle"):
            b"".join(sql.open_artifact(run.id, "f.txt"))
    finally:
        sql.close()


def test_a_missing_blob_through_the_server_is_not_found(tmp_path):
    from modelcycle.store.rest import RestStore
    from tests.conftest import ServerProcess

    root = tmp_path / "artifacts"
    server = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", str(root))
    try:
        client = RestStore(server.url)
        run = client.create_run(client.create_experiment("e").id)
        info = client.log_artifact(run.id, _write(tmp_path / "f", b"content"), "f.txt")
        Path(BlobStore(str(root)).path(info.digest)).unlink()  # removed behind the store's back
        with pytest.raises(NotFound):
            b"".join(client.open_artifact(run.id, "f.txt"))
        client.close()
    finally:
        server.stop()


# ---------------------------------------------------------------------------- atomicity
def test_a_killed_upload_leaves_no_blob_and_no_artifact(tmp_path):
    """A process killed (SIGKILL: no cleanup at all) while it copies a file into the store
    leaves its partial copy in tmp/ only: no blob at a digest path, no artifact row."""
    db, root = f"sqlite:///{tmp_path / 'mc.db'}", tmp_path / "art"
    store = SqlStore(db, str(root))
    run = store.create_run(store.create_experiment("kill").id)
    fifo = tmp_path / "source.fifo"
    os.mkfifo(fifo)  # the source: data arrives only as fast as this test writes it
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        from modelcycle.store.sql import SqlStore
        SqlStore({db!r}, {str(root)!r}).log_artifact({run.id!r}, {str(fifo)!r}, "model/weights.bin")
    """)])
    try:
        with open(fifo, "wb") as source:
            source.write(os.urandom(4 << 20))  # returns once the child has read (nearly) all of it
            source.flush()
            deadline = time.time() + 30
            while time.time() < deadline and not any(p.stat().st_size for p in (root / "tmp").glob("*")):
                time.sleep(0.02)
            child.send_signal(signal.SIGKILL)  # mid-copy: the rest of the file never comes
            child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    leftovers = [p for p in (root / "tmp").iterdir()]
    assert leftovers and leftovers[0].stat().st_size >= 1 << 20  # the kill really was mid-write
    assert _blobs(root) == []
    assert store.list_artifacts(run.id) == [] and list(store.list_artifact_files(run.id)) == []
    with pytest.raises(NotFound):
        store.open_artifact(run.id, "model/weights.bin")

    # the leftover is never listed and does not disturb the next upload
    complete = os.urandom(2 << 20)
    info = store.log_artifact(run.id, _write(tmp_path / "w.bin", complete), "model/weights.bin")
    assert [i.path for i in store.list_artifact_files(run.id)] == ["model/weights.bin"]
    assert [p.name for p in _blobs(root)] == [info.digest]
    assert b"".join(store.open_artifact(run.id, "model/weights.bin")) == complete
    store.close()


# ---------------------------------------------------------------------------- S3
@pytest.fixture
def s3_endpoint(monkeypatch):
    """A real S3 API (moto's server) on a free local port, with a bucket ``mc-artifacts``."""
    from tests.conftest import start_s3

    endpoint, server = start_s3(monkeypatch, "mc-artifacts", "artifact stores")
    yield endpoint
    server.stop()


def _s3_objects(endpoint: str, prefix: str) -> list[str]:
    import boto3

    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="mc-artifacts", Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_artifacts_on_s3(s3_endpoint, tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path / 'mc.db'}", "s3://mc-artifacts/team")
    try:
        run = store.create_run(store.create_experiment("s3").id)
        payload = os.urandom(3 << 20)
        info = store.log_artifact(run.id, _write(tmp_path / "weights.bin", payload), "model/weights.bin")
        again = store.log_artifact(run.id, _write(tmp_path / "copy.bin", payload), "copy.bin")
        store.log_artifact(run.id, _write(tmp_path / "notes.txt", b"notes"), "model/notes.txt")
        assert info.digest == again.digest == hashlib.sha256(payload).hexdigest()
        assert sorted((i.path, i.is_dir) for i in store.list_artifacts(run.id)) == [
            ("copy.bin", False), ("model", True)]
        assert b"".join(store.open_artifact(run.id, "model/weights.bin")) == payload
        assert b"".join(store.open_artifact(run.id, "copy.bin")) == payload
        assert b"".join(store.open_artifact(run.id, "model/notes.txt")) == b"notes"
        assert _s3_objects(s3_endpoint, "team/") == sorted([
            _key("team", info.digest), _key("team", hashlib.sha256(b"notes").hexdigest()),
        ])  # the same content once, nothing outside sha256/
    finally:
        store.close()


def _key(prefix: str, digest: str) -> str:
    return f"{prefix}/sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def test_a_missing_blob_on_s3_is_not_found(s3_endpoint):
    with pytest.raises(NotFound):
        b"".join(BlobStore("s3://mc-artifacts/team").open("f" * 64))


def test_the_s3_endpoint_comes_from_the_environment_in_a_new_process(s3_endpoint, tmp_path):
    """FSSPEC_S3_ENDPOINT_URL alone (no code) points a fresh process at the endpoint."""
    db = f"sqlite:///{tmp_path / 'mc.db'}"
    script = textwrap.dedent(f"""
        from modelcycle.store.sql import SqlStore
        store = SqlStore({db!r}, "s3://mc-artifacts/env")
        run = store.create_run(store.create_experiment("env").id)
        store.log_artifact(run.id, {str(_write(tmp_path / "f.txt", b"from env"))!r}, "f.txt")
        print(run.id)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env=os.environ.copy(), check=False)
    assert out.returncode == 0, out.stderr
    assert _s3_objects(s3_endpoint, "env/") == [_key("env", hashlib.sha256(b"from env").hexdigest())]

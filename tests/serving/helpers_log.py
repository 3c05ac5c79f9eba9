"""Fixtures and helpers of the prediction log, feedback and batch tests: an S3 API on loopback
(moto's server) and small models logged to the test's store."""

from __future__ import annotations

import glob
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def s3_bucket(monkeypatch):
    """A real S3 API (moto's server) on a free loopback port with a bucket ``mc-log``; yields
    the endpoint. s3fs in this process and in subprocesses talks to it."""
    pytest.importorskip("s3fs", reason="s3fs is needed for s3:// prediction logs (pip install modelcycle[s3])")
    moto_server = pytest.importorskip("moto.server", reason="moto[server] provides a local S3 API for this test")
    boto3 = pytest.importorskip("boto3")
    import fsspec.config

    from tests.conftest import free_port

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "FSSPEC_S3_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(key, value)
    conf = {}
    fsspec.config.set_conf_env(conf)  # fsspec read FSSPEC_* once, at import
    monkeypatch.setitem(fsspec.config.conf, "s3", conf["s3"])
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="mc-log")
    yield endpoint
    server.stop()


def s3_keys(endpoint: str, prefix: str = "") -> list[str]:
    import boto3

    listing = boto3.client("s3", endpoint_url=endpoint).list_objects_v2(Bucket="mc-log", Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def segments(root) -> list[str]:
    return sorted(glob.glob(f"{root}/model=*/date=*/*.parquet"))


def read_all(root) -> pa.Table:
    tables = [pq.read_table(f) for f in segments(root)]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


def now_ms() -> int:
    return int(time.time() * 1000)


def columns(n: int, start: float = 0.0) -> dict[str, np.ndarray]:
    return {"amount": np.arange(n, dtype=np.float64) + start, "country": np.array(["fr", "de"] * n, dtype=object)[:n]}


def outputs(n: int) -> dict[str, np.ndarray]:
    return {"predict": np.arange(n) % 2, "predict_proba": np.tile([[0.25, 0.75]], (n, 1))}

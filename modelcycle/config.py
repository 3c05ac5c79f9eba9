"""Every setting in one place, each with its MODELCYCLE_* environment variable and default."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """MODELCYCLE_HOME: where the embedded store and artifacts live (default ~/.modelcycle)."""
    return Path(os.environ.get("MODELCYCLE_HOME") or Path.home() / ".modelcycle").expanduser()


# Set by mc.set_tracking_uri for this process; win over the environment.
_overrides: dict[str, str | None] = {"tracking_uri": None, "artifact_uri": None}


def set_overrides(tracking_uri: str | None, artifact_uri: str | None) -> None:
    _overrides["tracking_uri"] = tracking_uri
    _overrides["artifact_uri"] = artifact_uri


def tracking_uri() -> str:
    """MODELCYCLE_TRACKING_URI: a database URL (sqlite:///, postgresql+psycopg://) or a server (http://)."""
    return (_overrides["tracking_uri"] or os.environ.get("MODELCYCLE_TRACKING_URI")
            or f"sqlite:///{home() / 'modelcycle.db'}")


def artifact_uri() -> str:
    """MODELCYCLE_ARTIFACT_URI: a local folder or any fsspec URL (s3://bucket/prefix)."""
    return (_overrides["artifact_uri"] or os.environ.get("MODELCYCLE_ARTIFACT_URI")
            or str(home() / "artifacts"))


def sqlite_synchronous() -> str:
    """MODELCYCLE_SQLITE_SYNCHRONOUS: NORMAL (default; committed data survives a process crash,
    the last commits may be lost on power failure) or FULL (fsync on every commit)."""
    value = os.environ.get("MODELCYCLE_SQLITE_SYNCHRONOUS", "NORMAL").upper()
    if value not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        from modelcycle.exceptions import InvalidInput

        raise InvalidInput(
            f"MODELCYCLE_SQLITE_SYNCHRONOUS must be one of OFF, NORMAL, FULL, EXTRA; got {value!r}."
        )
    return value


def sqlite_busy_timeout_ms() -> int:
    """MODELCYCLE_SQLITE_BUSY_TIMEOUT_MS: how long a writer waits for another one (default 60000)."""
    return int(os.environ.get("MODELCYCLE_SQLITE_BUSY_TIMEOUT_MS", "60000"))


def http_timeout_s() -> float:
    """MODELCYCLE_HTTP_TIMEOUT: seconds the client waits for a tracking server (default 60)."""
    return float(os.environ.get("MODELCYCLE_HTTP_TIMEOUT", "60"))


def _setting(variable: str, default, kind, valid, expected: str):
    """The value of ``variable`` converted by ``kind``, or an error naming it and what it takes."""
    raw = os.environ.get(variable)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not valid(value):
        from modelcycle.exceptions import InvalidInput

        raise InvalidInput(f"{variable} must be {expected}; got {raw!r}.")
    return value


def prediction_log_uri() -> str:
    """MODELCYCLE_PREDICTION_LOG_URI: where the prediction log and feedback are written, a local
    folder or any fsspec URL (default {artifact_uri}/predictions)."""
    return os.environ.get("MODELCYCLE_PREDICTION_LOG_URI") or f"{artifact_uri().rstrip('/')}/predictions"


def prediction_log_queue_size() -> int:
    """MODELCYCLE_PREDICTION_LOG_QUEUE_SIZE: requests held in memory before the writer takes them (default 10000)."""
    return _setting("MODELCYCLE_PREDICTION_LOG_QUEUE_SIZE", 10_000, int, lambda v: v >= 1, "an integer >= 1")


def prediction_log_sample_rate() -> float:
    """MODELCYCLE_PREDICTION_LOG_SAMPLE_RATE: the share of requests logged, 0 to 1 (default 1)."""
    return _setting("MODELCYCLE_PREDICTION_LOG_SAMPLE_RATE", 1.0, float, lambda v: 0 <= v <= 1,
                    "a number from 0 to 1")


def prediction_log_segment_rows() -> int:
    """MODELCYCLE_PREDICTION_LOG_SEGMENT_ROWS: rows after which a segment is closed (default 100000)."""
    return _setting("MODELCYCLE_PREDICTION_LOG_SEGMENT_ROWS", 100_000, int, lambda v: v >= 1, "an integer >= 1")


def prediction_log_segment_bytes() -> int:
    """MODELCYCLE_PREDICTION_LOG_SEGMENT_BYTES: in-memory size after which a segment is closed (default 64 MiB)."""
    return _setting("MODELCYCLE_PREDICTION_LOG_SEGMENT_BYTES", 64 << 20, int, lambda v: v >= 1, "an integer >= 1")


def prediction_log_segment_age_s() -> float:
    """MODELCYCLE_PREDICTION_LOG_SEGMENT_AGE_S: seconds after which a segment is closed, which
    bounds what a killed server loses (default 60)."""
    return _setting("MODELCYCLE_PREDICTION_LOG_SEGMENT_AGE_S", 60.0, float, lambda v: v > 0, "a number > 0")


def prediction_log_on_full() -> str:
    """MODELCYCLE_PREDICTION_LOG_ON_FULL: what a request does when the log's queue is full:
    drop (the record is dropped and counted; default) or wait (the request waits for room)."""
    return _setting("MODELCYCLE_PREDICTION_LOG_ON_FULL", "drop", str.lower, lambda v: v in ("drop", "wait"),
                    "drop or wait")


# ---------------------------------------------------------------- model server (modelcycle serve)

def serve_max_batch_size() -> int:
    """MODELCYCLE_SERVE_MAX_BATCH_SIZE: most requests coalesced into one predict call (default 64)."""
    return _setting("MODELCYCLE_SERVE_MAX_BATCH_SIZE", 64, int, lambda v: v >= 1, "an integer >= 1")


def serve_max_batch_delay_ms() -> float:
    """MODELCYCLE_SERVE_MAX_BATCH_DELAY_MS: longest a request waits for others to join its batch
    when the server is busy (default 2). A request that arrives alone never waits."""
    return _setting("MODELCYCLE_SERVE_MAX_BATCH_DELAY_MS", 2.0, float, lambda v: 0 <= v < float("inf"),
                    "a number >= 0")


def serve_request_timeout_s() -> float:
    """MODELCYCLE_SERVE_REQUEST_TIMEOUT_S: longest a prediction may take, queueing included,
    before the server answers 504 (default 30)."""
    return _setting("MODELCYCLE_SERVE_REQUEST_TIMEOUT_S", 30.0, float, lambda v: 0 < v < float("inf"),
                    "a number > 0")


def serve_max_body_bytes() -> int:
    """MODELCYCLE_SERVE_MAX_BODY_BYTES: largest request body the model server reads; larger ones
    get 413 (default 16 MiB)."""
    return _setting("MODELCYCLE_SERVE_MAX_BODY_BYTES", 16 << 20, int, lambda v: v >= 1, "an integer >= 1")


def serve_onnx_threads() -> int:
    """MODELCYCLE_SERVE_ONNX_THREADS: onnxruntime threads per predict call in the model server
    (default 1: one-row requests run fastest on one thread, and workers are the unit of parallelism)."""
    return _setting("MODELCYCLE_SERVE_ONNX_THREADS", 1, int, lambda v: v >= 1, "an integer >= 1")


def _flag(variable: str, default: bool) -> bool:
    return _setting(variable, default, lambda v: {"1": True, "true": True, "0": False, "false": False}.get(v.lower()),
                    lambda v: v is not None, "1 or 0")


def serve_batching() -> bool:
    """MODELCYCLE_SERVE_BATCHING: 1 (default) coalesces concurrent requests into one predict call; 0 predicts each alone."""
    return _flag("MODELCYCLE_SERVE_BATCHING", True)


def serve_refresh_interval_s() -> float:
    """MODELCYCLE_SERVE_REFRESH_INTERVAL_S: seconds between a server's looks at the store for a
    moved reference (a promotion, an alias move, a rollback; default 5)."""
    return _setting("MODELCYCLE_SERVE_REFRESH_INTERVAL_S", 5.0, float, lambda v: 0 < v < float("inf"), "a number > 0")


def serve_prediction_log() -> bool:
    """MODELCYCLE_SERVE_PREDICTION_LOG: 1 (default) records every prediction in the prediction log; 0 records none."""
    return _flag("MODELCYCLE_SERVE_PREDICTION_LOG", True)

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

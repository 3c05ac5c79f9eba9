from __future__ import annotations

import os

import pytest


@pytest.fixture
def env(tmp_path) -> dict:
    """The environment of a `modelcycle` subprocess with its own, empty home."""
    e = os.environ.copy()
    e["MODELCYCLE_HOME"] = str(tmp_path / "home")
    e.pop("MODELCYCLE_TRACKING_URI", None)
    return e

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture
def env(tmp_path) -> dict:
    """The environment of a `modelcycle` subprocess with its own, empty home."""
    e = os.environ.copy()
    e["MODELCYCLE_HOME"] = str(tmp_path / "home")
    e.pop("MODELCYCLE_TRACKING_URI", None)
    return e


@pytest.fixture
def main_(capsys, monkeypatch):
    """`main()` in this process, as the console script runs it: (exit code, stdout, stderr)."""
    from modelcycle.cli import main
    from modelcycle.tracking import fluent

    def call(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["modelcycle", *args])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        finally:
            fluent.set_tracking_uri(None)  # --tracking-uri sets it for the process
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return call

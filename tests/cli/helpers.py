"""Running the `modelcycle` command as a real subprocess."""

from __future__ import annotations

import subprocess
import sys


def cli(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "modelcycle", *args], env=env, capture_output=True,
                         text=True, timeout=120)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\n{out.stdout}\n{out.stderr}")
    assert "Traceback" not in out.stderr
    return out

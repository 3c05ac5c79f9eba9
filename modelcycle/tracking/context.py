"""What a run records about where it ran: code version, entry point, user, host, environment.
Computed once per process: a subprocess per run would dominate the cost of starting one."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

TAG_PREFIX = "mc."
ML_LIBRARIES = (
    "modelcycle", "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "lightgbm", "catboost",
    "torch", "tensorflow", "onnx", "onnxruntime", "pyarrow", "statsmodels", "optuna",
)


def _entry_point() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else "")
    return str(Path(path).resolve()) if path and Path(path).exists() else (path or "<interactive>")


def _git(repo: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=8)
def _git_info(start: str) -> dict[str, str]:
    root = _git(Path(start), "rev-parse", "--show-toplevel")
    if not root:
        return {}
    info = {"source.git.repo": root}
    commit = _git(Path(root), "rev-parse", "HEAD")
    if commit:
        info["source.git.commit"] = commit
    branch = _git(Path(root), "rev-parse", "--abbrev-ref", "HEAD")
    if branch:
        info["source.git.branch"] = branch
    status = _git(Path(root), "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        info["source.git.dirty"] = "true" if status else "false"
    return info


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return os.environ.get("USER", "unknown")


@lru_cache(maxsize=1)
def _environment() -> dict[str, str]:
    env = {"python": platform.python_version(), "platform": platform.platform(), "user": current_user()}
    env["host"] = socket.gethostname()
    for name in ML_LIBRARIES:
        try:
            env[f"lib.{name}"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return env


def run_context_tags() -> dict[str, str]:
    entry = _entry_point()
    start = Path(entry).parent if Path(entry).exists() else Path.cwd()
    tags = {"source.entry_point": entry, **_git_info(str(start)), **_environment()}
    return {TAG_PREFIX + key: value for key, value in tags.items()}

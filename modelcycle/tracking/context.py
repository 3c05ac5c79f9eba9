"""What a run records about where it ran: code version, entry point, user, host, environment.
The environment is read once per process; the git state is read again only when the
repository's HEAD, index or the entry point changed (or a few seconds passed): a subprocess per
run would dominate the cost of starting one."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
import time
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


# An edit to a tracked file other than the entry point changes nothing git's files show until
# it is staged: the state is read again after this many seconds whatever the stamps say.
GIT_RECHECK_S = 2.0
_git_cache: dict[str, tuple[tuple, float, dict[str, str]]] = {}


def _stamp(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino  # git replaces files by rename: a new inode


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _git_dir(start: str) -> str | None:
    directory = start
    while True:
        candidate = os.path.join(directory, ".git")
        if os.path.isdir(candidate):
            return candidate
        if os.path.isfile(candidate):  # a worktree or submodule: "gitdir: <path>"
            pointer = _read(candidate) or ""
            return os.path.join(directory, pointer[len("gitdir:"):].strip()) if pointer.startswith("gitdir:") else None
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _git_stamps(start: str, entry: str) -> tuple:
    """What changes when a commit, checkout, staging or an edit of the entry point happens:
    HEAD, the ref it points at, the index, the entry point. A few stats and reads, no process."""
    git_dir = _git_dir(start)
    if git_dir is None:
        return (None, _stamp(entry))
    common = _read(os.path.join(git_dir, "commondir"))
    common_dir = os.path.join(git_dir, common) if common else git_dir
    head = _read(os.path.join(git_dir, "HEAD")) or ""
    ref = _read(os.path.join(common_dir, head[len("ref:"):].strip())) if head.startswith("ref:") else None
    return (git_dir, head, ref, _stamp(os.path.join(common_dir, "packed-refs")),
            _stamp(os.path.join(git_dir, "index")), _stamp(entry))


def _git_info(start: str, entry: str) -> dict[str, str]:
    stamps = _git_stamps(start, entry)  # before reading: a change meanwhile is seen next time
    now = time.monotonic()
    cached = _git_cache.get(start)
    if cached is not None and cached[0] == stamps and now - cached[1] < GIT_RECHECK_S:
        return cached[2]
    info = _read_git_info(start)
    _git_cache[start] = (stamps, now, info)
    return info


def _read_git_info(start: str) -> dict[str, str]:
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
    # Without optional locks git status does not rewrite the index, which would change its stamp.
    status = _git(Path(root), "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
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


ALERT_ENV_PREFIX = "MODELCYCLE_ALERT_"


def alert_tags() -> dict[str, str]:
    """``alert.model``, ``alert.rule``, ``alert.fingerprint``, ... from the MODELCYCLE_ALERT_*
    variables a monitor's retrain action starts its command with: a run it creates names the
    alert. Read at each run: they are not the process's for good."""
    return {"alert." + name[len(ALERT_ENV_PREFIX):].lower(): value for name, value in os.environ.items()
            if name.startswith(ALERT_ENV_PREFIX) and len(name) > len(ALERT_ENV_PREFIX) and value}


def run_context_tags() -> dict[str, str]:
    entry = _entry_point()
    start = Path(entry).parent if Path(entry).exists() else Path.cwd()
    tags = {"source.entry_point": entry, **_git_info(str(start), entry), **_environment(), **alert_tags()}
    return {TAG_PREFIX + key: value for key, value in tags.items()}

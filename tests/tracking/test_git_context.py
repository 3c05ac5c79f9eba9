"""The git state a run records is the state when the run starts, also for the second, third,
... run of one process: a commit or an edit in between is seen, and reading it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import modelcycle as mc
from modelcycle.tracking import context

pytestmark = pytest.mark.parametrize("store_uris", ["sqlite"], indirect=True)


def _git(repo, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t",
           "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository with two tracked files; the process's entry point is its train.py."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text("print('v1')\n")
    (repo / "features.py").write_text("COLUMNS = []\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "train.py", "features.py")
    _git(repo, "commit", "-qm", "first")
    monkeypatch.setattr(sys.modules["__main__"], "__file__", str(repo / "train.py"), raising=False)
    return repo


def _git_tags(tracking) -> tuple[str, str]:
    with mc.start_run(experiment="git") as run:
        pass
    tags = tracking.get_run(run.id).tags
    return tags["mc.source.git.commit"], tags["mc.source.git.dirty"]


def test_later_runs_of_one_process_see_commits_and_edits(tracking, repo):
    first = _git(repo, "rev-parse", "HEAD")
    assert _git_tags(tracking) == (first, "false")

    (repo / "train.py").write_text("print('v2')\n")  # the script itself, not yet committed
    assert _git_tags(tracking) == (first, "true")
    _git(repo, "commit", "-qam", "second")
    second = _git(repo, "rev-parse", "HEAD")
    assert second != first
    assert _git_tags(tracking) == (second, "false")

    (repo / "features.py").write_text("COLUMNS = ['a']\n")
    _git(repo, "add", "features.py")  # staged, not committed
    assert _git_tags(tracking) == (second, "true")
    _git(repo, "commit", "-qm", "third")
    assert _git_tags(tracking) == (_git(repo, "rev-parse", "HEAD"), "false")

    _git(repo, "checkout", "-q", first)  # a detached HEAD
    assert _git_tags(tracking) == (first, "false")


def test_runs_with_nothing_changed_run_no_git_command(tracking, repo, monkeypatch):
    calls = []
    real = context._git
    monkeypatch.setattr(context, "_git", lambda *args: calls.append(args) or real(*args))
    _git_tags(tracking)
    assert calls  # the first run reads the repository
    calls.clear()
    for _ in range(5):
        _git_tags(tracking)
    assert calls == []

"""Schemathesis, with all its checks, against a real server on SQLite and on PostgreSQL: the
OpenAPI schema says what the server does. Every status answered is documented, every request the schema allows is served,
every request it forbids is refused with a 4xx, and no request gets a 5xx.

The generators of the schema's own string formats (filters, order-by clauses, page tokens) and
the two reviewed exceptions are in schemathesis_hooks.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ServerProcess, _truncate

REPO = Path(__file__).resolve().parents[2]
CONFIG = """
hooks = "tests.server.schemathesis_hooks"
seed = 20261201
workers = 1

[cache]
enabled = false

[generation]
max-examples = {examples}
database = "none"

[phases.stateful]
max-steps = 30
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A real server on an empty store: the session's on SQLite, one of its own on PostgreSQL."""
    if request.param == "sqlite":
        server = request.getfixturevalue("tracking_server")
        _truncate(server.store_uri)
        yield server
        return
    uri = request.getfixturevalue("postgres_uri")
    server = ServerProcess(uri, str(tmp_path_factory.mktemp("pg-server") / "artifacts"))
    try:
        _truncate(uri)  # the server created the schema
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_schemathesis_finds_nothing(server, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(examples=10))
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color", "run",
         f"{server.url}/openapi.json", "--checks", "all", "--report", "json",
         "--report-json-path", str(report), "--request-timeout", "60"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600,
    )
    summary = result.stdout[-20_000:] + result.stderr[-5_000:]
    assert report.exists(), summary
    outcome = json.loads(report.read_text())
    assert outcome["complete"], summary
    assert outcome["failures"] == [] and outcome["errors"] == [], summary
    assert outcome["operations"]["tested"] == outcome["operations"]["total"] >= 46, summary
    assert result.returncode == 0, summary

"""The browser tests' own parts: the server the pages come from, the data in it, and the console
watch that fails a test on a page error."""

from __future__ import annotations

import json

import httpx


def test_the_browser_reaches_the_server(page, ui_server, console):
    console.allow(r"favicon\.ico")  # the API has no icon; the UI's pages name theirs
    response = page.goto("/api/health")
    assert response.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"


def test_the_logged_data_is_in_the_server(ui_data):
    body = {"experiment_ids": [int(ui_data.experiment_id)], "max_results": 100}
    runs = httpx.post(f"{ui_data.url}/api/runs/search", json=body, timeout=30).json()["runs"]
    assert {r["name"] for r in runs} == set(ui_data.runs) - {"iris-d1", "iris-d2", "iris-d3"}
    history = httpx.get(f"{ui_data.url}/api/runs/{ui_data.long_history_run}/metrics/history",
                        params={"key": ui_data.long_history_key}, timeout=30).json()
    assert len(history["values"]) == ui_data.long_history_points
    model = httpx.get(f"{ui_data.url}/api/registered-models/{ui_data.model}", timeout=30).json()
    assert model["name"] == ui_data.model


def test_console_errors_and_uncaught_exceptions_are_collected(page, console):
    page.set_content("<script>console.error('boom'); setTimeout(() => { throw new Error('bad') })</script>")
    page.wait_for_timeout(100)
    assert any("boom" in e for e in console.errors), console.errors
    assert any("uncaught Error: bad" in e for e in console.errors), console.errors
    console.allow("boom|bad")
    assert console.unexpected() == []

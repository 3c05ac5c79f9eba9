"""A run's page, its charts (downsampled on the server, re-fetched on zoom) and its artifacts."""

from __future__ import annotations

import re

import pytest

from tests.ui.helpers import PLAYWRIGHT_MISSING, shot

expect = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect


def best_run(ui_data) -> str:
    """The boosted run whose model is registered (version 2, in Production)."""
    import httpx

    version = httpx.get(f"{ui_data.url}/api/registered-models/{ui_data.model}/versions/{ui_data.production_version}",
                        timeout=30).json()
    return version["run_id"]


def test_the_run_page_shows_what_the_run_logged(page, ui_data):
    run_id = best_run(ui_data)
    page.goto(f"/runs/{run_id}")
    expect(page.locator("#params-table")).to_contain_text("learning_rate")
    metrics = page.locator("#metrics-table")
    for key in ("roc_auc", "accuracy", "val_loss"):
        expect(metrics).to_contain_text(key)
    # A tag holding markup is shown as text and never run.
    expect(page.locator("#tags-table")).to_contain_text("<script>window.__injected = 1</script>")
    assert page.evaluate("window.__injected") is None
    inputs = page.locator("#inputs-table")
    expect(inputs).to_contain_text("breast-cancer")
    expect(inputs.get_by_text("eval", exact=True)).to_be_visible()
    expect(page.locator("#models-table")).to_contain_text("GradientBoostingClassifier")
    versions = page.locator("#versions-table")
    expect(versions).to_contain_text(ui_data.model)
    expect(versions).to_contain_text("Production")
    expect(versions).to_contain_text("@champion")
    expect(page.locator("#environment")).to_contain_text("python")
    artifacts = page.locator("#artifact-list")
    for name in ("notes.txt", "config.json", "eval/", "model/"):
        expect(artifacts).to_contain_text(name)
    chart = page.locator('.chart[data-key="val_loss"]')
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-drawn", "1")
    expect(chart.locator(".caption")).to_contain_text("60 points")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "run")


def test_a_long_history_is_downsampled_says_so_and_zoom_fetches_the_range(page, ui_data):
    page.goto(f"/runs/{ui_data.long_history_run}")
    chart = page.locator(f'.chart[data-key="{ui_data.long_history_key}"]')
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-drawn", "1")
    total = ui_data.long_history_points
    assert int(chart.get_attribute("data-total")) == total
    shown = int(chart.get_attribute("data-points"))
    assert 0 < shown < total
    expect(chart.locator(".caption")).to_contain_text(f"{shown:,} of {total:,} points")
    shot(page, "run-long-history")

    # Dragging across the middle of the plot asks the server for that range only.
    plot = chart.locator(".u-over")
    box = plot.bounding_box()
    y = box["y"] + box["height"] / 2
    pattern = re.compile(rf"/api/runs/{ui_data.long_history_run}/metrics/history\?.*start=")
    with page.expect_response(lambda r: bool(pattern.search(r.url))) as zoomed:
        page.mouse.move(box["x"] + box["width"] * 0.4, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
        page.mouse.up()
    body = zoomed.value.json()
    assert zoomed.value.status == 200
    assert body["count_all"] == total
    assert 0 < body["total"] < total
    expect(chart.locator(".caption")).to_contain_text("in this range")
    expect(chart).not_to_have_attribute("data-total", str(total))
    assert int(chart.get_attribute("data-total")) == body["total"]
    # A double-click shows the whole history again (from the points it fetched first).
    plot.dblclick()
    expect(chart).to_have_attribute("data-total", str(total))
    expect(chart.locator(".caption")).not_to_contain_text("in this range")


def test_chart_settings_are_kept_in_the_address(page, ui_data):
    page.goto(f"/runs/{ui_data.long_history_run}")
    chart = page.locator(f'.chart[data-key="{ui_data.long_history_key}"]')
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-drawn", "1")
    page.locator("[data-chart-controls] select[name=x]").select_option("relative")
    page.wait_for_url(re.compile(r"[?&]x=relative"))
    expect(chart).to_have_attribute("data-drawn", "1")
    page.reload()
    expect(page.locator("[data-chart-controls] select[name=x]")).to_have_value("relative")


def test_the_artifact_browser_previews_and_downloads(page, ui_data, console):
    run_id = best_run(ui_data)
    page.goto(f"/runs/{run_id}/artifacts?path=notes.txt")
    expect(page.locator("#text-preview")).to_contain_text("Trained on 70%")
    download = page.locator("#download")
    assert download.get_attribute("href").startswith(f"/api/runs/{run_id}/artifacts/")

    page.goto(f"/runs/{run_id}/artifacts?path=eval/predictions.csv")
    table = page.locator("#table-preview")
    expect(table.locator("thead")).to_contain_text("proba")
    expect(table.locator("tbody tr")).to_have_count(50)

    page.goto(f"/runs/{run_id}/artifacts?path=eval/val_loss.png")
    image = page.locator("img.preview")
    expect(image).to_be_visible()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", image.element_handle())

    # The report's script is blocked by the sandbox; chromium says so on the console.
    console.allow(r"Blocked script execution in .*sandboxed")
    page.goto(f"/runs/{run_id}/artifacts?path=eval/report.html")
    frame = page.locator("iframe.preview")
    expect(frame).to_have_attribute("sandbox", "")
    inner = page.frame_locator("iframe.preview")
    expect(inner.locator("h1")).to_have_text("Evaluation")
    assert page.frames[1].evaluate("document.title") != "ran"

    page.goto(f"/runs/{run_id}/artifacts?path=model")
    expect(page.locator(".viewer")).to_contain_text("GradientBoostingClassifier")
    shot(page, "artifacts")


def test_an_unknown_run_is_a_404_page(page, ui_data, console):
    console.allow(r"status of 404")
    response = page.goto("/runs/" + "0" * 32)
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("0" * 32)

"""Dark mode follows the system; the theme button overrides it, and the choice survives a reload."""

from __future__ import annotations

import pytest

from tests.ui.helpers import PLAYWRIGHT_MISSING, shot

expect = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

DARK_BG = "rgb(20, 22, 27)"  # --bg of the dark theme, app.css
LIGHT_BG = "rgb(255, 255, 255)"


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_the_theme_follows_the_system(page, ui_data):
    page.emulate_media(color_scheme="dark")
    page.goto(f"/experiments/{ui_data.experiment_id}/runs")
    assert background(page) == DARK_BG
    shot(page, "runs-dark")
    page.emulate_media(color_scheme="light")
    assert background(page) == LIGHT_BG


def test_an_override_sticks_after_a_reload(page, ui_data):
    page.emulate_media(color_scheme="dark")
    page.goto(f"/experiments/{ui_data.experiment_id}/runs")
    toggle = page.locator("#theme-toggle")
    # The order is: follow the system, dark, light.
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == LIGHT_BG  # light although the system is dark
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == LIGHT_BG
    page.goto("/models")  # and on every page
    assert background(page) == LIGHT_BG
    toggle.click()  # back to following the system
    expect(page.locator("html")).not_to_have_attribute("data-theme", "light")
    page.reload()
    assert background(page) == DARK_BG


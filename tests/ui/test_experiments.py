"""The experiments list."""

from __future__ import annotations

import pytest

from tests.ui.helpers import PLAYWRIGHT_MISSING, shot

expect = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect


def test_the_home_page_lists_the_experiments(page, ui_data):
    page.goto("/")
    assert page.url.endswith("/experiments")
    names = page.locator("table tbody tr td:first-child a")
    listed = set(names.all_inner_texts())
    assert {"breast-cancer", "iris", "empty-a", "empty-b"} <= listed
    shot(page, "experiments")


def test_search_narrows_the_list_and_stays_in_the_url(page, ui_data):
    page.goto("/experiments")
    page.keyboard.press("/")
    search = page.locator("input[type=search]")
    expect(search).to_be_focused()
    search.fill("empty")
    search.press("Enter")
    page.wait_for_url("**/experiments?q=empty*")
    expect(page.locator("table tbody tr td:first-child a")).to_have_text(["empty-a", "empty-b"])
    page.reload()
    expect(page.locator("table tbody tr td:first-child a")).to_have_text(["empty-a", "empty-b"])
    expect(search).to_have_value("empty")


def test_enter_on_a_row_opens_the_experiment(page, ui_data):
    page.goto("/experiments?q=breast")
    page.locator("body").press("j")
    focused = page.locator("table tbody tr:focus")
    expect(focused).to_contain_text("breast-cancer")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/experiments/{ui_data.experiment_id}/runs*")

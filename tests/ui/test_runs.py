"""The runs table of an experiment: filter, sort, columns, selection, keyboard; its state in the URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.ui.helpers import PLAYWRIGHT_MISSING, shot

expect = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect

NAMES = "#runs tbody tr td.name a"
BREAST_CANCER_RUNS = 8  # stump, two logistic, three boosted, long-history, diverged


def runs_url(ui_data, **query) -> str:
    from urllib.parse import urlencode

    return f"/experiments/{ui_data.experiment_id}/runs" + (f"?{urlencode(query)}" if query else "")


def api_names(ui_data, filter: str | None = None, order_by: list[str] | None = None) -> list[str]:
    body = {"experiment_ids": [int(ui_data.experiment_id)], "filter": filter, "order_by": order_by or [],
            "max_results": 100}
    response = httpx.post(f"{ui_data.url}/api/runs/search", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return [r["name"] for r in response.json()["runs"]]


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_the_runs_table_shows_every_run_with_its_fixed_columns(page, ui_data):
    page.goto(runs_url(ui_data))
    names = page.locator(NAMES)
    expect(names).to_have_count(BREAST_CANCER_RUNS)
    assert sorted(names.all_inner_texts()) == sorted(api_names(ui_data))
    headers = page.locator("#runs thead tr").first.inner_text()
    for header in ("Run", "Status", "Started", "Duration", "User", "Commit"):
        assert header in headers
    diverged = page.locator("#runs tbody tr", has=page.get_by_role("link", name="diverged", exact=True))
    expect(diverged.locator(".badge")).to_have_text("failed")
    # A metric column has its last, min and max.
    expect(page.locator("#runs thead tr.sub th").first).to_have_text("last")
    shot(page, "runs")


def test_a_filter_survives_a_reload_and_matches_the_api(page, ui_data):
    text = "params.model = 'GradientBoostingClassifier' and metrics.roc_auc > 0.9"
    page.goto(runs_url(ui_data))
    box = page.locator("#filter")
    box.fill(text)
    box.press("Enter")
    page.wait_for_url(re.compile(r"[?&]filter="))
    assert query(page)["filter"] == [text]
    expected = api_names(ui_data, text)
    assert len(expected) == 3  # the boosted runs; the diverged one has no roc_auc
    names = page.locator(NAMES)
    expect(names).to_have_count(len(expected))
    shown = names.all_inner_texts()
    assert sorted(shown) == sorted(expected)
    page.reload()
    expect(names).to_have_count(len(expected))
    assert names.all_inner_texts() == shown
    expect(page.locator("#filter")).to_have_value(text)


def test_or_in_a_filter(page, ui_data):
    text = "tags.team = 'vision' or params.model = 'DecisionTreeClassifier'"
    page.goto(runs_url(ui_data, filter=text))
    expected = api_names(ui_data, text)
    assert set(expected) == {"stump", "boost-lr0.1-d3", "long-history", "diverged"}
    assert sorted(page.locator(NAMES).all_inner_texts()) == sorted(expected)


def test_a_malformed_filter_says_what_and_where(page, ui_data, console):
    console.allow(r"status of 400")  # the page itself answers 400 Bad Request, as it should
    page.goto(runs_url(ui_data))
    box = page.locator("#filter")
    box.fill("metrics.roc_auc >> 0.9")
    box.press("Enter")
    problem = page.locator("[data-problem=filter]")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("Filter")
    caret = problem.locator("pre.caret")
    lines = caret.inner_text().split("\n")
    assert lines[0] == "metrics.roc_auc >> 0.9"
    # The caret stands under the second '>', where the expression stops making sense.
    assert lines[1].index("^") in (16, 17), lines
    expect(box).to_have_attribute("aria-invalid", "true")
    shot(page, "runs-filter-error")
    # The address holds the malformed filter: a reload shows the same error, from the server.
    response = page.reload()
    assert response.status == 400
    expect(page.locator("[data-problem=filter] pre.caret")).to_have_text(caret.inner_text())


def test_sorting_by_a_header_is_in_the_url_and_matches_the_api(page, ui_data):
    page.goto(runs_url(ui_data))
    page.locator("#runs thead a.sort", has_text="Run").click()
    page.wait_for_url(re.compile(r"[?&]order_by="))
    order = query(page)["order_by"][0]
    names = page.locator(NAMES)
    expect(names.first).to_have_text(api_names(ui_data, order_by=[order])[0])
    assert names.all_inner_texts() == api_names(ui_data, order_by=[order])
    first_order = names.all_inner_texts()
    assert first_order in (sorted(first_order), sorted(first_order, reverse=True))
    page.locator("#runs thead a.sort", has_text="Run").click()
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query).get("order_by", [""])[0] != order)
    expect(names.first).to_have_text(first_order[-1])
    assert names.all_inner_texts() == first_order[::-1]
    page.reload()
    assert names.all_inner_texts() == first_order[::-1]


def test_columns_are_picked_from_a_search_and_kept_in_the_url(page, ui_data):
    page.goto(runs_url(ui_data))
    assert page.locator('#runs th[data-column="params.learning_rate"]').count() == 0
    page.locator("#column-picker summary").click()
    search = page.locator("#column-search")
    expect(search).to_be_focused()
    search.fill("learning")
    option = page.locator("#column-list label", has_text="learning_rate")
    expect(option).to_have_count(1)
    option.locator("input").check()
    header = page.locator('#runs th[data-column="params.learning_rate"]')
    expect(header).to_be_visible()
    page.wait_for_url(re.compile(r"[?&]columns=[^&]*learning_rate"))
    boosted = page.locator("#runs tbody tr", has=page.get_by_role("link", name="boost-lr0.3-d2", exact=True))
    column = page.locator("#runs thead th").evaluate_all(
        "(ths, key) => ths.findIndex(th => th.dataset.column === key)", "params.learning_rate")
    assert column >= 0
    assert "0.3" in boosted.inner_text()
    page.reload()
    expect(header).to_be_visible()
    # Removing it again.
    header.locator("a.drop").click()
    expect(header).to_have_count(0)
    assert "learning_rate" not in (query(page).get("columns") or [""])[0]


def test_two_selected_runs_are_compared(page, ui_data):
    page.goto(runs_url(ui_data, filter="params.model = 'GradientBoostingClassifier' and metrics.roc_auc > 0"))
    compare = page.locator("#compare")
    expect(compare).to_be_disabled()
    for name in ("boost-lr0.05-d2", "boost-lr0.1-d3"):
        page.locator("#runs tbody tr", has=page.get_by_role("link", name=name, exact=True)).locator(
            "input[type=checkbox]").check()
    expect(compare).to_be_enabled()
    expect(compare).to_have_text("Compare 2")
    assert len(query(page)["selected"][0].split(",")) == 2
    compare.click()
    page.wait_for_url("**/compare?runs=*")
    expect(page.locator("h1")).to_have_text("Compare 2 runs")
    differing = set(page.locator("#params-compare tbody tr.diff td.key").all_inner_texts())
    assert {"learning_rate", "max_depth"} <= differing
    assert "n_estimators" not in differing  # 60 in both
    chart = page.locator('#charts .chart[data-key="val_loss"]')
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-drawn", "1")
    assert chart.locator("canvas").count() >= 1
    for other in ("#parallel-chart", "#scatter-chart"):
        page.locator(other).scroll_into_view_if_needed()
        expect(page.locator(other)).to_have_attribute("data-drawn", "1")
    page.locator("#charts").scroll_into_view_if_needed()
    shot(page, "compare")


def test_keyboard_moves_through_rows_opens_one_and_slash_searches(page, ui_data):
    page.goto(runs_url(ui_data))
    names = page.locator(NAMES).all_inner_texts()
    page.locator("h1").click()  # the focus on the page, not in a box
    page.keyboard.press("j")
    expect(page.locator("#runs tbody tr:focus")).to_contain_text(names[0])
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#runs tbody tr:focus")).to_contain_text(names[2])
    page.keyboard.press("k")
    expect(page.locator("#runs tbody tr:focus")).to_contain_text(names[1])
    page.keyboard.press("ArrowDown")
    expect(page.locator("#runs tbody tr:focus")).to_contain_text(names[2])
    page.keyboard.press("x")  # selects the focused row
    expect(page.locator("#runs tbody tr:focus input[type=checkbox]")).to_be_checked()
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.press("Escape")
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/runs/{ui_data.runs[names[0]]}*")
    expect(page.locator("h1")).to_have_text(names[0])


def long_filter() -> str:
    """A filter whose address passes 2,000 characters: the boosted runs and the diverged one."""
    others = ", ".join(f"'model-{i:04d}'" for i in range(180))
    return f"params.model in ('GradientBoostingClassifier', {others})"


def test_a_saved_view_shows_the_same_rows_at_its_short_address(page, ui_data):
    from urllib.parse import urlencode

    text = long_filter()
    saved = httpx.post(f"{ui_data.url}/api/views", timeout=30,
                       json={"query": runs_url(ui_data) + "?" + urlencode({"filter": text})})
    assert saved.status_code in (200, 201), saved.text
    page.goto(f"/v/{saved.json()['id']}")
    names = page.locator(NAMES)
    expect(names).to_have_count(4)
    assert sorted(names.all_inner_texts()) == sorted(api_names(ui_data, text))
    expect(page.locator("#filter")).to_have_value(text)


def test_a_filter_too_long_for_an_address_is_saved_and_linked_by_a_short_id(page, ui_data):
    text = long_filter()
    page.goto(runs_url(ui_data))
    box = page.locator("#filter")
    box.fill(text)
    box.press("Enter")
    page.wait_for_url(re.compile(r"/v/[^/?]+$"), timeout=5_000)
    names = page.locator(NAMES)
    expect(names).to_have_count(4)
    page.reload()
    expect(names).to_have_count(4)
    expect(page.locator("#filter")).to_have_value(text)

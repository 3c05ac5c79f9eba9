"""Datasets, the registry with its audit and lineage, deployments and monitoring."""

from __future__ import annotations

import re

import pytest

from tests.ui.helpers import PLAYWRIGHT_MISSING, shot

expect = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING).expect


def test_lineage_from_the_production_version_to_its_dataset(page, ui_data):
    page.goto("/models")
    page.locator("#models").get_by_role("link", name=ui_data.model, exact=True).click()
    page.wait_for_url(f"**/models/{ui_data.model}")
    versions = page.locator("#model-versions")
    expect(versions).to_contain_text("Production")
    expect(versions).to_contain_text("Archived")
    expect(page.locator("main")).to_contain_text("@champion")
    expect(page.locator("main")).to_contain_text("@baseline")
    # Which version held Production when: v1, v2, v3 (forced), v2 again (a rollback), newest first.
    intervals = page.locator("#production-intervals tbody tr")
    expect(intervals).to_have_count(4)
    assert [row.split()[0] for row in intervals.all_inner_texts()] == ["v2", "v3", "v2", "v1"]
    expect(intervals.first).to_contain_text("now")
    expect(intervals.first.locator(".badge.rollback")).to_be_visible()
    expect(intervals.nth(1).locator(".badge.forced")).to_be_visible()
    # The audit timeline: who moved which stage or alias, when and why; the forced promotion
    # with the numbers of the gate it overrode.
    audit = page.locator("#audit")
    expect(audit).to_contain_text("beats the stump on the eval set")
    expect(audit).to_contain_text("the forced version is worse")
    forced = audit.locator("li", has_text="to see it serve")
    expect(forced).to_contain_text("roc_auc")
    expect(audit).to_contain_text("@champion")
    shot(page, "model")

    page.locator(".card", has_text="Production").get_by_role("link").click()
    page.wait_for_url(f"**/models/{ui_data.model}/versions/{ui_data.production_version}")
    expect(page.locator("h1")).to_contain_text("Production")
    chain = page.locator(".lineage-chain")
    expect(chain.locator("[data-lineage=run]")).to_have_count(1)
    expect(chain.locator("[data-lineage=commit]")).to_have_count(1)
    shot(page, "model-version")
    train = chain.locator("[data-lineage=dataset]", has_text="breast-cancer v1")
    expect(train).to_have_count(1)
    train.click()
    page.wait_for_url("**/datasets/breast-cancer/versions/1")
    expect(page.locator("#profile")).to_contain_text("mean radius")
    # Back along the lineage: the runs that used this version, and the model versions made from them.
    expect(page.locator("#dataset-models [data-lineage=model]", has_text=f"v{ui_data.production_version}")).to_have_count(1)
    expect(page.locator("#dataset-runs [data-lineage=run]").first).to_be_visible()
    shot(page, "dataset-version")


def test_the_run_of_a_version_is_one_click_away(page, ui_data):
    page.goto(f"/models/{ui_data.model}/versions/{ui_data.production_version}")
    page.locator(".lineage-chain [data-lineage=run]").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]{32}"))
    expect(page.locator("#versions-table")).to_contain_text(ui_data.model)


def test_datasets_versions_and_drift_between_two(page, ui_data):
    page.goto("/datasets")
    listed = page.locator("#datasets tbody tr td:first-child a")
    assert {"breast-cancer", "breast-cancer-eval", "iris"} <= set(listed.all_inner_texts())
    page.locator("#datasets").get_by_role("link", name="breast-cancer", exact=True).click()
    page.wait_for_url("**/datasets/breast-cancer")
    expect(page.locator("#versions tbody tr")).to_have_count(ui_data.dataset_versions)
    page.get_by_role("link", name="drift from v1").click()
    page.wait_for_url("**/datasets/breast-cancer/diff?a=1&b=2")
    drifted = page.locator("#drift tbody tr.drifted")
    expect(drifted.first).to_be_visible()
    assert any("mean radius" in row for row in drifted.all_inner_texts())
    shot(page, "dataset-drift")


def test_a_deployment_shows_its_versions_and_canary(page, ui_data):
    page.goto("/deployments")
    page.locator("#deployments").get_by_role("link", name=ui_data.deployment).click()
    page.wait_for_url(f"**/deployments/{ui_data.deployment}")
    main = page.locator("main")
    expect(main).to_contain_text("canary")
    expect(main).to_contain_text(f"{ui_data.model}")
    expect(page.locator("#events")).to_contain_text("the boosted model, step by step")
    shot(page, "deployment")


def test_the_monitoring_page_of_a_model_without_traffic(page, ui_data):
    response = page.goto(f"/monitoring/{ui_data.model}")
    assert response.status == 200
    expect(page.locator("h1")).to_contain_text(ui_data.model)
    expect(page.locator("#alerts")).to_be_visible()


@pytest.mark.parametrize("path", ["/models/no-such-model", "/datasets/no-such-data", "/deployments/no-such"])
def test_unknown_names_are_404_pages(page, ui_data, console, path):
    console.allow(r"status of 404")
    response = page.goto(path)
    assert response.status == 404
    expect(page.locator("main")).to_contain_text("no-such")

"""The UI's pages under hostile or unusual addresses, on SQLite and PostgreSQL: every bad value
is a 4xx page naming it, a page's size stays bounded by what it shows, and partial (htmx)
answers are never mistaken for the page at the same address."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from modelcycle.server.app import create_app
from modelcycle.server.ui.pages_runs import MAX_TABLE_COLUMNS
from modelcycle.store.entities import Metric
from modelcycle.store.sql import SqlStore
from tests.conftest import empty_database

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def logged(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"ui-attacks-{request.param}")
    store = SqlStore(empty_database(request, request.param, root), str(root / "artifacts"))
    kept = store.create_experiment("kept")
    gone = store.create_experiment("gone")
    runs = {}
    for name in ("alive", "removed"):
        run = store.create_run(kept.id, name)
        store.log_batch(run.id, [Metric("loss", 0.5, 0, 1)], params={f"p{i}": str(i) for i in range(5)})
        runs[name] = run.id
    store.delete_run(runs["removed"])
    store.create_run(gone.id, "in-gone")
    store.delete_experiment(gone.id)
    yield TestClient(create_app(store), raise_server_exceptions=False), {"kept": kept.id, "gone": gone.id, **runs}
    store.close()


def test_a_partial_answer_and_the_page_vary_by_the_htmx_header(logged):
    """The table part and the whole page share an address (pushed into the history): a cache
    that keyed them by address alone would give the part back for a reload or Back."""
    client, facts = logged
    whole = client.get(f"/experiments/{facts['kept']}/runs", headers=HTML)
    part = client.get(f"/experiments/{facts['kept']}/runs", headers={**HTML, "HX-Request": "true"})
    assert whole.status_code == part.status_code == 200
    assert "<html" in whole.text and "<html" not in part.text
    for response in (whole, part):
        assert "hx-request" in response.headers.get("vary", "").lower()


def test_too_many_table_columns_is_a_400_naming_the_limit(logged):
    """Each shown column links to the table without it and sorted by it, so the page grows with
    the square of the columns: 1,000 of them made 48 MB of HTML for one run."""
    client, facts = logged
    url = f"/experiments/{facts['kept']}/runs?columns="
    many = client.get(url + ",".join(f"params.p{i}" for i in range(1000)), headers=HTML)
    assert many.status_code == 400 and f"at most {MAX_TABLE_COLUMNS} columns" in many.text
    assert "got 1000" in many.text and len(many.content) < 200_000
    most = client.get(url + ",".join(f"params.p{i}" for i in range(MAX_TABLE_COLUMNS)), headers=HTML)
    assert most.status_code == 200 and len(most.content) < 5_000_000


def test_deleted_experiments_and_runs_are_listed_in_their_view(logged):
    client, facts = logged
    listed = lambda html, id_: f'href="/experiments/{id_}/runs' in html  # noqa: E731
    active = client.get("/experiments", headers=HTML).text
    assert listed(active, facts["kept"]) and not listed(active, facts["gone"])
    deleted = client.get("/experiments?view=deleted", headers=HTML).text
    assert listed(deleted, facts["gone"]) and not listed(deleted, facts["kept"])
    every = client.get("/experiments?view=all", headers=HTML).text
    assert listed(every, facts["gone"]) and listed(every, facts["kept"])

    runs = f"/experiments/{facts['kept']}/runs"
    shown = lambda html: {n for n in ("alive", "removed") if f'href="/runs/{facts[n]}"' in html}  # noqa: E731
    assert shown(client.get(runs, headers=HTML).text) == {"alive"}
    assert shown(client.get(runs + "?view=deleted", headers=HTML).text) == {"removed"}
    all_runs = client.get(runs + "?view=all&filter=name%20!%3D%20'x'", headers=HTML).text
    assert shown(all_runs) == {"alive", "removed"}
    assert 'name="view" value="all"' in all_runs  # the filter form keeps the view
    assert "view=all" in client.get(runs + "?view=all&order_by=name", headers=HTML).text.split("sort", 1)[1]

    gone = client.get(f"/experiments/{facts['gone']}/runs", headers=HTML)
    assert gone.status_code == 200 and 'class="badge deleted"' in gone.text


@pytest.mark.parametrize("url", ["/experiments?view=bogus", "/experiments/{kept}/runs?view=%00"])
def test_an_unknown_view_is_a_400_page_naming_it(logged, url):
    client, facts = logged
    response = client.get(url.format(**facts), headers=HTML)
    assert response.status_code == 400 and "text/html" in response.headers["content-type"]
    assert "view" in response.text and "active, deleted or all" in response.text


@pytest.mark.parametrize("url", ["/experiments", "/experiments/{kept}/runs", "/runs/{alive}", "/compare?runs={alive}",
                                 "/datasets", "/models", "/deployments"])
def test_pages_answer_head_as_they_answer_get(logged, url):
    """Link checkers, uptime probes and `curl -I` ask HEAD; a page that answers GET answers it too."""
    client, facts = logged
    head = client.head(url.format(**facts), headers=HTML)
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html")
    assert head.content == b""
    assert client.head("/runs/" + "0" * 32, headers=HTML).status_code == 404


@pytest.mark.parametrize("param", ["sx", "sy"])
def test_an_unknown_scatter_column_is_a_400_naming_the_columns(logged, param):
    client, facts = logged
    base = f"/compare?runs={facts['alive']},{facts['removed']}"
    assert client.get(f"{base}&sx=params.p1&sy=metrics.loss", headers=HTML).status_code == 200
    response = client.get(f"{base}&{param}=params.nope", headers=HTML)
    assert response.status_code == 400 and "text/html" in response.headers["content-type"]
    assert f"{param}, the scatter" in response.text and "&#39;params.nope&#39;" in response.text
    assert "metrics.loss" in response.text


def test_compare_names_a_malformed_run_id_and_refuses_too_many(logged):
    client, facts = logged
    response = client.get(f"/compare?runs={facts['alive']},not-a-run", headers=HTML)
    assert response.status_code == 400 and "&#39;not-a-run&#39;" in response.text and "32 hex" in response.text
    many = ",".join(f"{i:032x}" for i in range(501))
    response = client.get(f"/compare?runs={many}", headers=HTML)
    assert response.status_code == 400 and "at most 500 runs" in response.text and "got 501" in response.text
    twice = client.get(f"/compare?runs={facts['alive']},{facts['alive']},{facts['removed']}", headers=HTML)
    assert twice.status_code == 200  # the same run twice is shown once


@pytest.mark.parametrize("key", ["ünï", "Δloss", "a,b", 'x`"y', "1st", "dot.ted", "aü"])
def test_a_column_of_any_key_is_written_so_that_the_filter_language_reads_it_back(key):
    from modelcycle.server.ui.pages_runs import field_text
    from modelcycle.store.search import Field, parse_columns, parse_filter, parse_order_by

    for kind in ("param", "metric", "tag"):
        text = field_text(Field(kind, key))
        assert parse_columns([text]) == [Field(kind, key)]
        assert parse_order_by([f"{text} DESC"])[0].field == Field(kind, key)
        parse_filter(f"{text} = " + ("1" if kind == "metric" else "'1'"))


def test_runs_js_quotes_keys_as_the_server_does():
    """The column picker writes the columns it adds itself, with the rule of runs.js for a bare
    key: run in a real browser, it must agree with the server's, or a key like 'ünï' makes a 400."""
    import re
    import shutil
    from pathlib import Path

    import modelcycle.server.ui as ui
    from modelcycle.server.ui.pages_runs import quote_key

    playwright = pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None:
        pytest.skip("chromium is not installed")
    script = (Path(ui.__file__).parent / "static" / "runs.js").read_text()
    plain = re.search(r"const PLAIN_KEY = (/.*/u);", script).group(1)
    body = re.search(r"function quoteKey\(key\) \{(.*?)\n  \}", script, re.S).group(1)
    keys = ["ünï", "Δloss", "a,b", 'x`"y', "1st", "dot.ted", "aü", "_x", "lr", "a b", "a.1"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking"])
        try:
            quoted = browser.new_page().evaluate(
                f"(keys) => {{ const PLAIN_KEY = {plain}; const quoteKey = (key) => {{{body}}}; "
                "return keys.map(quoteKey); }", keys)
        finally:
            browser.close()
    assert quoted == [quote_key(k) for k in keys]


@pytest.fixture
def sqlite_store(tmp_path):
    """An empty store of this test's own on SQLite."""
    store = SqlStore(f"sqlite:///{tmp_path / 'mc.db'}", str(tmp_path / "artifacts"))
    yield store
    store.close()


def test_a_json_artifact_nested_past_the_parsers_depth_is_shown_as_text(sqlite_store, tmp_path):
    run = sqlite_store.create_run(sqlite_store.create_experiment("deep").id)
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 30000 + b"]" * 30000)  # under the 64 KiB preview, deeper than json can parse
    sqlite_store.log_artifact(run.id, deep, "deep.json")
    client = TestClient(create_app(sqlite_store), raise_server_exceptions=False)
    response = client.get(f"/runs/{run.id}/artifacts?path=deep.json", headers=HTML)
    assert response.status_code == 200
    assert "Not valid JSON" in response.text and "nested too deeply" in response.text


def test_a_model_manifest_nested_past_the_parsers_depth_is_named_not_a_500(sqlite_store, tmp_path):
    from modelcycle.models.manifest import MANIFEST_FILE

    run = sqlite_store.create_run(sqlite_store.create_experiment("deep").id)
    deep = tmp_path / MANIFEST_FILE
    deep.write_bytes(b"flavor: " + b"{a: " * 30000 + b"1" + b"}" * 30000 + b"\n")
    sqlite_store.log_artifact(run.id, deep, f"model/{MANIFEST_FILE}")
    client = TestClient(create_app(sqlite_store), raise_server_exceptions=False)
    for url in (f"/runs/{run.id}", f"/runs/{run.id}/artifacts?path=model",
                f"/runs/{run.id}/artifacts?path=model/{MANIFEST_FILE}"):
        response = client.get(url, headers=HTML)
        assert response.status_code == 200, url
        assert "nested too deeply" in response.text, url


def test_a_run_with_more_children_than_shown_says_so_and_links_them_all(sqlite_store):
    from modelcycle.server.ui.pages_runs import MAX_CHILDREN

    experiment = sqlite_store.create_experiment("sweep")
    parent = sqlite_store.create_run(experiment.id, "study")
    for i in range(MAX_CHILDREN + 1):
        sqlite_store.create_run(experiment.id, f"trial-{i}", parent_id=parent.id)
    client = TestClient(create_app(sqlite_store))
    html = client.get(f"/runs/{parent.id}", headers=HTML).text
    assert f"first {MAX_CHILDREN}" in html
    link = f"/experiments/{experiment.id}/runs?view=all&amp;filter=parent_id%20%3D%20%27{parent.id}%27"
    assert link in html
    listed = client.get(link.replace("&amp;", "&") + "&max_results=500", headers=HTML)
    assert listed.status_code == 200 and listed.text.count("<tr data-run=") == MAX_CHILDREN + 1


def test_compare_says_when_it_charts_fewer_metrics_than_the_runs_have(sqlite_store):
    from modelcycle.server.ui.pages_runs import MAX_COMPARE_CHARTS

    experiment = sqlite_store.create_experiment("wide")
    ids = []
    for name in ("a", "b"):
        run = sqlite_store.create_run(experiment.id, name)
        sqlite_store.log_batch(run.id, [Metric(f"m{k:02d}", float(s), s, 1 + s)
                                        for k in range(MAX_COMPARE_CHARTS + 6) for s in range(2)])
        ids.append(run.id)
    html = TestClient(create_app(sqlite_store)).get(f"/compare?runs={','.join(ids)}", headers=HTML).text
    assert html.count('class="chart" data-runs=') == MAX_COMPARE_CHARTS
    assert f"{MAX_COMPARE_CHARTS} of the {MAX_COMPARE_CHARTS + 6} metrics" in html
    last = f"m{MAX_COMPARE_CHARTS + 5:02d}"
    chosen = TestClient(create_app(sqlite_store)).get(f"/compare?runs={','.join(ids)}&metric={last}", headers=HTML).text
    assert chosen.count('class="chart" data-runs=') == MAX_COMPARE_CHARTS and f'data-key="{last}"' in chosen

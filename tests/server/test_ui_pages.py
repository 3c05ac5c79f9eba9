"""The pages of experiments and runs, served by the tracking server on SQLite and on PostgreSQL:
status codes, untrusted text shown as text, the filter's error pointing at its position, links
that keep the view's state, bounded artifact previews, and HTML reports only in a sandbox."""

from __future__ import annotations

import json
import re
from html import unescape
from urllib.parse import parse_qs, quote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from modelcycle.models.manifest import MANIFEST_FILE, Manifest
from modelcycle.server.app import create_app
from modelcycle.server.ui.previews import TABLE_COLUMNS, TABLE_ROWS, TEXT_LIMIT
from modelcycle.store.entities import Metric
from modelcycle.store.sql import SqlStore
from tests.conftest import empty_database

SCRIPT = "<script>alert(1)</script>"
MODEL = "fraud <b>&"  # a model name cannot hold '/'
T0 = 1_700_000_000_000
HTML = {"accept": "text/html"}
MISSING_RUN = "0" * 32
EXPERIMENTS = 55  # more than a page of the experiments list


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def logged(request, tmp_path_factory):
    """(client, facts): one store per backend with runs, artifacts, a dataset and a registered
    model, and a test client of the server over it."""
    root = tmp_path_factory.mktemp(f"ui-pages-{request.param}")
    store = SqlStore(empty_database(request, request.param, root), str(root / "artifacts"))
    facts = _log(store, root)
    yield TestClient(create_app(store)), facts
    store.close()


def _log(store: SqlStore, root) -> dict:
    experiment = store.create_experiment(f"sweep {SCRIPT}")
    facts: dict = {"experiment": experiment.id, "runs": []}
    for i in range(8):
        run = store.create_run(experiment.id, SCRIPT if i == 0 else f"run-{i}",
                               tags={"mc.user": "alice", "mc.source.git.commit": f"{i:040x}", "note": SCRIPT},
                               start_time=T0 + i * 1000)
        history = [Metric("loss", 1.0 / (1 + step * (i + 1)), step, T0 + step) for step in range(100)]
        store.log_batch(run.id, history + [Metric("accuracy", 0.5 + i / 20, 0, T0)],
                        params={"lr": str(0.01 * (i + 1)), "model": SCRIPT if i == 0 else "rf", "depth": str(i % 3)})
        facts["runs"].append(run.id)
    for i in range(EXPERIMENTS):
        store.create_experiment(f"project-{i:03d}")
    run_id = facts["runs"][0]

    def put(path: str, data: bytes) -> None:
        local = root / "upload"
        local.write_bytes(data)
        store.log_artifact(run_id, local, path)

    lines = [f"line {n:06d} of the notes\n" for n in range(10_000)]  # about 250 KB
    put("notes.txt", "".join(lines).encode() + b"THE END")
    put("config.json", json.dumps({"lr": 0.1, "name": SCRIPT}).encode())
    put("eval/table.csv", ("a,b\n" + "".join(f"{n},{SCRIPT}\n" for n in range(200))).encode())
    table = pa.table({f"c{k}": list(range(200)) for k in range(TABLE_COLUMNS + 20)})
    pq.write_table(table, root / "data.parquet")
    store.log_artifact(run_id, root / "data.parquet", "eval/data.parquet")
    put("eval/report.html", f"<html><body><h1>Report</h1>{SCRIPT}</body></html>".encode())
    put("eval/plot.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    put("weights.bin", bytes(range(256)) * 10)
    put("model/model.pkl", b"not really a pickle")
    manifest = Manifest(flavor="sklearn", model_class="sklearn.linear_model.LogisticRegression",
                        task="classification", native={"file": "model.pkl", "format": "pickle"},
                        onnx={"file": None, "reason": "not requested (onnx=False)"},
                        files={"model.pkl": {"sha256": "0" * 64, "size": 19}},
                        requirements={"python": "3.11.7", "packages": {"scikit-learn": "1.5.0"}},
                        created_at=T0, classes=[0, 1], run={"id": run_id, "datasets": [], "metrics": {}})
    put(f"model/{MANIFEST_FILE}", manifest.to_yaml().encode())
    pq.write_table(pa.table({"x": [1, 2, 3]}), root / "train.parquet")
    store.log_dataset("train <data>", "d" * 64, root / "train.parquet", "memory", 3, 1, "x: long", "{}")
    store.link_dataset(run_id, "train <data>", 1, "train")
    store.create_model_version(MODEL, run_id, "model", "alice")
    return facts


def page(client, url: str, status: int = 200, **headers) -> str:
    response = client.get(url, headers={**HTML, **headers})
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def links(html: str, rel: str | None = None, text: str | None = None) -> list[str]:
    found = []
    for match in re.finditer(r"<a ([^>]*)>(.*?)</a>", html, re.S):
        attributes, inner = match.groups()
        href = re.search(r'href="([^"]*)"', attributes)
        if href is None:
            continue
        if rel and f'rel="{rel}"' not in attributes:
            continue
        if text and text not in unescape(re.sub(r"<[^>]+>", "", inner)):
            continue
        found.append(unescape(href.group(1)))
    return found


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def run_names(html: str) -> list[str]:
    table = html[html.index('id="runs"'):]
    return [unescape(n) for n in re.findall(r'<td class="name"><a href="/runs/[0-9a-f]{32}"[^>]*>([^<]*)</a>', table)]


def assert_no_markup_from_data(html: str) -> None:
    assert SCRIPT not in html
    assert "<script>alert" not in html


# ------------------------------------------------------------------------------------ experiments
def test_experiments_are_listed_a_page_at_a_time_with_run_counts(logged):
    client, facts = logged
    html = page(client, "/experiments")
    assert_no_markup_from_data(html)
    assert "sweep &lt;script&gt;" in html
    row = re.search(r'/experiments/%d/runs">[^<]*</a></td>\s*<td class="num muted">%d</td>\s*<td class="num">(\d+)</td>'
                    % (facts["experiment"], facts["experiment"]), html)
    assert row and row.group(1) == "8"
    (next_url,) = links(html, rel="next")
    assert query_of(next_url)["page_token"]
    rest = page(client, next_url)
    assert "project-054" in rest and "project-000" not in rest
    assert not links(rest, rel="next")
    found = page(client, "/experiments?q=PROJECT-05")
    assert found.count("/runs\">project-05") == 5


def test_a_bad_experiments_page_token_is_a_400_page(logged):
    client, _ = logged
    html = page(client, "/experiments?page_token=nonsense", 400)
    assert 'role="alert"' in html and "page_token" in html


# ----------------------------------------------------------------------------------- runs table
def test_runs_table_shows_untrusted_text_as_text(logged):
    client, facts = logged
    html = page(client, f"/experiments/{facts['experiment']}/runs?columns=params.model,tags.note,metrics.loss")
    assert_no_markup_from_data(html)
    assert '<table class="grid nav runs" id="runs">' in html
    assert run_names(html)[-1] == SCRIPT  # the oldest run, shown last
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # its name, its param, the tags


def test_runs_table_has_status_duration_user_commit_and_metric_summaries(logged):
    client, facts = logged
    html = page(client, f"/experiments/{facts['experiment']}/runs?columns=metrics.loss&filter=name%20%3D%20'run-3'")
    assert run_names(html) == ["run-3"]
    assert "alice" in html and f"{3:040x}"[:8] in html
    assert ">last<" in html and ">min<" in html and ">max<" in html
    row = html[html.index('data-run="%s"' % facts["runs"][3]):]
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)[1:4]  # after the duration
    assert [float(c) for c in cells] == pytest.approx([1 / (1 + 99 * 4), 1 / (1 + 99 * 4), 1.0], rel=1e-5)


def test_a_malformed_filter_shows_its_error_under_the_box_with_a_caret(logged):
    client, facts = logged
    text = "params.lr = '0.01' and metrics.loss >> 1"
    html = page(client, f"/experiments/{facts['experiment']}/runs?filter={quote(text)}", 400)
    alert = re.search(r'<div class="error" role="alert" data-problem="filter">(.*?)</div>', html, re.S).group(1)
    position = text.index(">>") + 1
    assert f"at position {position}" in alert
    caret = re.search(r'<pre class="caret"[^>]*>(.*?)</pre>', alert, re.S).group(1)
    shown, pointer = unescape(caret).split("\n")
    assert shown == text and pointer == " " * position + "^"
    box = re.search(r'<input class="filter mono" type="search" name="filter" id="filter" value="([^"]*)"', html)
    assert unescape(box.group(1)) == text  # the box keeps what was typed
    assert 'name="filter"' in html and 'id="runs"' in html


def test_malformed_columns_page_size_and_page_token_are_400_pages(logged):
    client, facts = logged
    base = f"/experiments/{facts['experiment']}/runs"
    html = page(client, base + "?columns=metrics.loss,params.a%20b", 400)
    assert 'data-problem="columns"' in html and "^</pre>" in html
    assert 'data-problem="page"' in page(client, base + "?max_results=lots", 400)
    assert "page_token" in page(client, base + "?page_token=AAAA", 400)
    assert 'data-problem="sort"' in page(client, base + "?order_by=metrics.", 400)
    page(client, "/experiments/424242/runs", 404)
    page(client, "/experiments/abc/runs", 400)


def test_sort_and_page_links_keep_the_view(logged):
    client, facts = logged
    base = f"/experiments/{facts['experiment']}/runs"
    url = (base + "?filter=params.depth%20!%3D%20'9'&order_by=metrics.accuracy%20DESC"
           "&columns=metrics.accuracy,params.lr&max_results=3")
    html = page(client, url)
    assert run_names(html) == ["run-7", "run-6", "run-5"]
    (next_url,) = links(html, rel="next")
    state = query_of(next_url)
    assert state["filter"] == "params.depth != '9'" and state["order_by"] == "metrics.accuracy DESC"
    assert state["columns"] == "metrics.accuracy,params.lr" and state["max_results"] == "3" and state["page_token"]
    second = page(client, next_url)
    assert run_names(second) == ["run-4", "run-3", "run-2"]
    (first_url,) = links(second, text="First page")
    assert "page_token" not in query_of(first_url)
    # Sorting by a column starts again from the first page, and keeps filter and columns.
    (ascending,) = [u for u in links(second) if query_of(u).get("order_by") == "metrics.accuracy ASC"]
    state = query_of(ascending)
    assert "page_token" not in state and state["filter"] == "params.depth != '9'" and state["max_results"] == "3"
    assert run_names(page(client, ascending)) == [SCRIPT, "run-1", "run-2"]
    # Removing a column keeps the rest of the view.
    drop = [u for u in links(html) if query_of(u).get("columns") == "metrics.accuracy"]
    assert drop and query_of(drop[0])["order_by"] == "metrics.accuracy DESC"


def test_only_the_shown_columns_are_on_the_page(logged):
    client, facts = logged
    html = page(client, f"/experiments/{facts['experiment']}/runs?columns=params.lr")
    assert "0.08" in html  # lr of run-7
    assert "data-column=\"params.model\"" not in html and ">rf<" not in html
    none = page(client, f"/experiments/{facts['experiment']}/runs?columns=")
    assert "data-column=" not in none and len(run_names(none)) == 8


def test_an_htmx_request_gets_the_table_part_and_the_address_to_push(logged):
    client, facts = logged
    base = f"/experiments/{facts['experiment']}/runs"
    response = client.get(base + "?filter=params.depth%20%3D%20'1'&order_by=&columns=params.lr&page_token=",
                          headers={**HTML, "HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and response.text.lstrip().startswith(("{#", "<div id=\"runs-part\""))
    assert response.headers["HX-Push-Url"] == base + "?filter=params.depth%20%3D%20%271%27&columns=params.lr"
    restore = client.get(base, headers={**HTML, "HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text  # a history miss asks for the whole page
    bad = client.get(base + "?filter=%3E", headers={**HTML, "HX-Request": "true"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text and "<html" not in bad.text


def test_selected_runs_are_checked_and_kept_in_links(logged):
    client, facts = logged
    chosen = facts["runs"][7:4:-1]  # the newest two are on the first page
    html = page(client, f"/experiments/{facts['experiment']}/runs?max_results=2&selected={','.join(chosen)},nonsense")
    for run_id in chosen[:2]:
        assert re.search(rf'value="{run_id}" aria-label="[^"]*"\s*checked', html)
    (next_url,) = links(html, rel="next")
    assert query_of(next_url)["selected"] == ",".join(chosen)
    assert 'id="compare"' in html and 'id="column-search"' in html


# -------------------------------------------------------------------------------------------- run
def test_run_page_shows_params_metrics_inputs_models_and_environment(logged):
    client, facts = logged
    run_id = facts["runs"][0]
    html = page(client, f"/runs/{run_id}")
    assert_no_markup_from_data(html)
    assert f'data-run="{run_id}" data-key="loss"' in html  # a chart for the history
    assert 'data-key="accuracy"' not in html  # one point: a number, not a chart
    assert "/datasets/train%20%3Cdata%3E/versions/1" in html and "train &lt;data&gt;" in html
    assert "/models/fraud%20%3Cb%3E%26/versions/1" in html and "fraud &lt;b&gt;&amp;" in html
    assert "sklearn.linear_model.LogisticRegression" in html  # the logged model's manifest
    assert f"runs:/{run_id}/model" in html
    assert "alice" in html and "git.commit" in html
    assert "/runs/%s/artifacts?path=eval" % run_id in html


def test_run_page_errors(logged):
    client, facts = logged
    page(client, f"/runs/{MISSING_RUN}", 404)
    assert "run id" in page(client, "/runs/%3Cscript%3E", 400)
    assert "smooth" in page(client, f"/runs/{facts['runs'][0]}?smooth=2", 400)
    assert "x must be" in page(client, f"/runs/{facts['runs'][0]}?x=sideways", 400)


# -------------------------------------------------------------------------------------- artifacts
def artifact(client, facts, path: str, status: int = 200) -> str:
    return page(client, f"/runs/{facts['runs'][0]}/artifacts?path={path}", status)


def test_every_file_has_a_download_link_of_the_api(logged):
    client, facts = logged
    run_id = facts["runs"][0]
    html = artifact(client, facts, "weights.bin")
    assert f'href="/api/runs/{run_id}/artifacts/weights.bin"' in html
    assert "binary" in html and "<pre" not in html.split("<main>")[1]
    listing = page(client, f"/runs/{run_id}/artifacts")
    for name in ("notes.txt", "config.json", "eval/", "model/", "weights.bin"):
        assert name in listing
    assert client.get(f"/api/runs/{run_id}/artifacts/weights.bin").content == bytes(range(256)) * 10


def test_text_previews_are_the_first_64_kib(logged):
    client, facts = logged
    html = artifact(client, facts, "notes.txt")
    text = unescape(re.search(r'<pre class="preview" id="text-preview">(.*?)</pre>', html, re.S).group(1))
    assert text.startswith("line 000000") and len(text.encode()) <= TEXT_LIMIT
    assert "THE END" not in html and "The first 64.0 KiB" in html


def test_json_is_pretty_printed_and_escaped(logged):
    client, facts = logged
    html = artifact(client, facts, "config.json")
    assert_no_markup_from_data(html)
    assert '"lr": 0.1' in unescape(html)


def test_csv_and_parquet_previews_are_their_first_50_rows(logged):
    client, facts = logged
    for path in ("eval/table.csv", "eval/data.parquet"):
        html = artifact(client, facts, path)
        assert_no_markup_from_data(html)
        table = re.search(r'<table class="grid" id="table-preview">(.*?)</table>', html, re.S).group(1)
        assert table.count("<tr>") == TABLE_ROWS + 1  # and the header
    assert "50 of 200 rows" in html
    assert f"the first {TABLE_COLUMNS} of {TABLE_COLUMNS + 20} columns" in html


def test_html_reports_are_framed_in_a_sandbox_served_with_a_sandboxing_policy(logged):
    client, facts = logged
    run_id = facts["runs"][0]
    html = artifact(client, facts, "eval/report.html")
    frame = re.search(r"<iframe ([^>]*)>", html).group(1)
    assert re.search(r"\bsandbox\b", frame) and "allow-" not in frame
    src = unescape(re.search(r'src="([^"]*)"', frame).group(1))
    raw = client.get(src)
    assert raw.status_code == 200 and raw.headers["content-security-policy"] == "sandbox"
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert raw.headers["content-type"].startswith("text/html")
    assert SCRIPT in raw.text  # the report as written, inert in its sandbox
    image = client.get(f"/runs/{run_id}/artifacts/raw?path=eval/plot.png")
    assert image.headers["content-type"] == "image/png" and image.headers["content-security-policy"] == "sandbox"
    assert '<img class="preview" src="/runs/%s/artifacts/raw?path=eval/plot.png"' % run_id in artifact(
        client, facts, "eval/plot.png")


def test_a_model_folder_shows_its_manifest(logged):
    client, facts = logged
    html = artifact(client, facts, "model")
    assert "sklearn.linear_model.LogisticRegression" in html and "scikit-learn" in html
    assert "classification" in artifact(client, facts, f"model/{MANIFEST_FILE}")


def test_unknown_artifacts_are_404_pages(logged):
    client, facts = logged
    artifact(client, facts, "nothing/here.txt", 404)
    page(client, f"/runs/{facts['runs'][0]}/artifacts/raw?path=nothing.txt", 404)
    page(client, f"/runs/{MISSING_RUN}/artifacts", 404)


# ---------------------------------------------------------------------------------------- compare
def test_compare_highlights_differing_params_and_overlays_the_histories(logged):
    client, facts = logged
    runs = facts["runs"][:3]
    html = page(client, f"/compare?runs={','.join(runs)}")
    assert_no_markup_from_data(html)
    rows = dict(re.findall(r'<tr( class="diff")?><td class="key mono">([^<]*)</td>', html)[i][::-1]
                for i in range(3))
    assert rows == {"depth": ' class="diff"', "lr": ' class="diff"', "model": ' class="diff"'}
    assert f'data-runs="{",".join(runs)}"' in html and 'data-key="loss"' in html
    names = json.loads(unescape(re.search(r"data-names='([^']*)'", html).group(1)))
    assert names[0] == SCRIPT  # in the JSON, escaped for HTML
    parallel = json.loads(re.search(r'id="parallel-chart"[^>]*>\s*<script type="application/json">(.*?)</script>',
                                    html, re.S).group(1))
    assert [a["label"] for a in parallel["axes"]] == ["depth", "lr", "model", "loss"]
    same = page(client, f"/compare?runs={runs[1]},{runs[2]}&diff=1")
    assert "model" not in re.findall(r'<td class="key mono">([^<]*)</td>', same)  # rf in both


def test_compare_errors(logged):
    client, facts = logged
    assert "Choose the runs" in page(client, "/compare", 400)
    page(client, f"/compare?runs={MISSING_RUN}", 404)
    html = page(client, f"/compare?runs={facts['runs'][0]},{MISSING_RUN}")
    assert MISSING_RUN in html and 'role="alert"' in html
    page(client, f"/compare?runs={facts['runs'][0]}&metric=nope", 404)


# ----------------------------------------------------------------------------------- saved views
def test_a_saved_view_renders_its_page_at_its_short_address(logged):
    client, facts = logged
    runs = facts["runs"]
    query = "/compare?runs=" + ",".join(runs) + "&x=time"
    saved = client.post("/api/views", json={"query": query})
    assert saved.status_code == 201
    response = client.get(f"/v/{saved.json()['id']}", headers=HTML, follow_redirects=False)
    assert response.status_code == 200 and "Compare 8 runs" in response.text
    assert 'data-x="time"' in response.text
    overridden = page(client, f"/v/{saved.json()['id']}?x=step")
    assert 'data-x="step"' in overridden
    page(client, "/v/aaaaaaaaaa", 404)
    api = client.post("/api/views", json={"query": "/api/experiments"}).json()["id"]
    page(client, f"/v/{api}", 400)


def test_what_the_pages_fetch_is_documented_in_the_openapi(logged):
    client, _ = logged
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/runs/{run_id}/metrics/history", "/api/metrics/history",
                 "/api/experiments/{experiment_id}/columns", "/api/views"):
        assert path in paths

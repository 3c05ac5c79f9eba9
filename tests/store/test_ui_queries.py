"""What the web UI asks of the store, on SQLite, PostgreSQL and through the server: searches that
load only the columns shown, the keys of an experiment, experiments with their run counts and last
activity page by page, and saved views."""

from __future__ import annotations

import multiprocessing as mp

import pytest

from modelcycle import InvalidInput, Metric, NotFound, ViewType
from modelcycle.store.base import ALWAYS_LOADED_TAGS
from modelcycle.store.entities import MetricSummary
from modelcycle.store.validation import MAX_VIEW_QUERY_LENGTH, view_id

T0 = 1_700_000_000_000


# ---------------------------------------------------------------------------- search with columns
@pytest.fixture
def table(store):
    exp = store.create_experiment("table")
    runs = []
    for i in range(3):
        run = store.create_run(exp.id, name=f"r{i}", tags={"mc.user": f"u{i}", "mc.source.git.commit": "c0ffee",
                                                              "team": "risk", "note.long key": "x"})
        store.log_batch(run.id, [Metric("loss", 1.0 / (i + 1), 0, T0), Metric("val loss", 2.0 + i, 0, T0),
                                 Metric("acc", 0.5, 0, T0)],
                        {"lr": str(0.1 * (i + 1)), "depth": "6", "opt.name": "adam"})
        runs.append(run.id)
    return exp, runs


def test_a_search_with_columns_loads_only_them(store, table):
    exp, runs = table
    page = store.search_runs([exp.id], order_by=["name"],
                             columns=["params.lr", "metrics.`val loss`", "tags.team", "params.opt.name"])
    assert [r.id for r in page.runs] == runs
    first = page.runs[0]
    assert first.params == {"lr": "0.1", "opt.name": "adam"}
    assert first.tags == {"team": "risk", "mc.user": "u0", "mc.source.git.commit": "c0ffee"}
    assert list(first.metrics) == ["val loss"] and first.metrics["val loss"].value == 2.0
    assert first.metric_summaries == {"val loss": MetricSummary(2.0, 2.0, 1)}
    assert (first.name, first.experiment_id, first.status.value) == ("r0", exp.id, "RUNNING")
    whole = store.get_run(runs[0])
    assert (first.start_time, first.end_time, first.parent_id, first.deleted) == (
        whole.start_time, whole.end_time, whole.parent_id, whole.deleted)


def test_columns_of_no_key_give_the_fixed_fields_and_tags(store, table):
    exp, runs = table
    (run, *_) = store.search_runs([exp.id], order_by=["name"], columns=[]).runs
    assert (run.params, run.metrics) == ({}, {})
    assert set(run.tags) == set(ALWAYS_LOADED_TAGS)
    (run, *_) = store.search_runs([exp.id], order_by=["name"], columns=["metrics.missing", "tags.`note.long key`"]).runs
    assert run.metrics == {} and run.tags["note.long key"] == "x"


def test_columns_leave_filter_order_and_pages_as_they_are(store, table):
    exp, runs = table
    asked = dict(filter="metrics.loss < 0.9", order_by=["params.lr DESC"], max_results=1)
    first = store.search_runs([exp.id], columns=["params.lr"], **asked)
    second = store.search_runs([exp.id], columns=["params.lr"], page_token=first.next_page_token, **asked)
    assert [r.id for r in first.runs + second.runs] == [runs[2], runs[1]] and second.next_page_token is None
    whole = store.search_runs([exp.id], **asked)
    assert whole.next_page_token == first.next_page_token  # the same place in the same order


@pytest.mark.parametrize("column, position", [
    ("status", 0), ("params", 0), ("metrics.", 8), ("params.lr extra", 10), ("", 0), ("tags.`open", 5),
    ("bogus.key", 0), ("metrics.a = 1", 10),
])
def test_malformed_columns_are_invalid_input_with_their_position(store, column, position):
    with pytest.raises(InvalidInput, match=f"Invalid column at position {position}"):
        store.search_runs(None, columns=["params.lr", column])


def test_too_many_columns_or_not_a_list_are_invalid_input(store):
    with pytest.raises(InvalidInput, match="At most 1000 columns"):
        store.search_runs(None, columns=[f"params.p{i}" for i in range(1001)])
    with pytest.raises(InvalidInput, match="columns must be a list"):
        store.search_runs(None, columns="params.lr")


# ---------------------------------------------------------------------------- keys of an experiment
def test_the_keys_of_an_experiment(store, table):
    exp, runs = table
    other = store.create_run(store.create_experiment("other").id)
    store.log_batch(other.id, [Metric("elsewhere", 1.0)], {"other param": "1"})
    gone = store.create_run(exp.id)
    store.log_batch(gone.id, [], {"deleted run param": "1"})
    store.delete_run(gone.id)  # its keys were logged in the experiment: they stay
    assert store.experiment_columns(exp.id) == {
        "params": ["deleted run param", "depth", "lr", "opt.name"], "metrics": ["acc", "loss", "val loss"],
        "tags": ["mc.source.git.commit", "mc.user", "note.long key", "team"]}
    assert store.experiment_columns(exp.id, "LO") == {"params": [], "metrics": ["loss", "val loss"],
                                                      "tags": ["note.long key"]}
    assert store.experiment_columns(exp.id, "%") == {"params": [], "metrics": [], "tags": []}  # not a wildcard
    assert store.experiment_columns(exp.id, ".", limit=1) == {"params": ["opt.name"], "metrics": [],
                                                              "tags": ["mc.source.git.commit"]}


def test_keys_of_an_unknown_experiment_or_a_bad_limit(store):
    with pytest.raises(NotFound, match="987654"):
        store.experiment_columns(987_654)
    exp = store.create_experiment("e")
    for limit in (0, 10_001, True, "5"):
        with pytest.raises(InvalidInput, match="limit"):
            store.experiment_columns(exp.id, limit=limit)
    with pytest.raises(InvalidInput, match="q"):
        store.experiment_columns(exp.id, "x" * 251)


# ---------------------------------------------------------------------------- experiments
def test_experiments_carry_their_run_count_and_last_activity(store):
    busy = store.create_experiment("busy")
    idle = store.create_experiment("idle")
    first = store.create_run(busy.id, start_time=busy.created_at + 10)
    store.create_run(busy.id, start_time=busy.created_at + 20)
    gone = store.create_run(busy.id, start_time=busy.created_at + 10**9)
    store.delete_run(gone.id)
    store.update_run(first.id, "FINISHED", end_time=busy.created_at + 500)
    found = {e.name: e for e in store.list_experiments()}
    assert (found["busy"].run_count, found["busy"].last_activity) == (2, busy.created_at + 500)
    assert (found["idle"].run_count, found["idle"].last_activity) == (0, idle.updated_at)
    assert found["busy"] == store.get_experiment(busy.id)  # the counts are not part of its identity
    assert found["busy"].to_dict()["run_count"] == 2


def test_experiments_by_name_page_by_page(store):
    names = [f"fraud-{i:02d}" for i in range(7)] + ["churn", "FRAUD upper", "50%_off"]
    for name in names:
        store.create_experiment(name)
    store.delete_experiment(store.get_experiment_by_name("fraud-03").id)
    seen, token = [], None
    while True:
        page = store.search_experiments("fraud", max_results=3, page_token=token)
        assert len(page.experiments) <= 3
        seen += [e.name for e in page.experiments]
        token = page.next_page_token
        if token is None:
            break
    assert seen == ["fraud-00", "fraud-01", "fraud-02", "fraud-04", "fraud-05", "fraud-06", "FRAUD upper"]
    assert [e.name for e in store.search_experiments("%_").experiments] == ["50%_off"]  # not wildcards
    assert [e.name for e in store.search_experiments("03", view=ViewType.DELETED).experiments] == ["fraud-03"]
    everything = store.search_experiments()
    assert [e.name for e in everything.experiments] == [e.name for e in store.list_experiments()]
    assert everything.next_page_token is None


def test_experiment_pages_are_checked(store):
    store.create_experiment("a")
    store.create_experiment("b")
    token = store.search_experiments(max_results=1).next_page_token
    with pytest.raises(InvalidInput, match="another search"):
        store.search_experiments("a", max_results=1, page_token=token)
    with pytest.raises(InvalidInput, match="page_token"):
        store.search_experiments(page_token="not a token")
    for bad in (0, 50_001, True):
        with pytest.raises(InvalidInput, match="max_results"):
            store.search_experiments(max_results=bad)


# ---------------------------------------------------------------------------- saved views
def test_a_saved_view_has_a_short_id_made_from_its_query(store):
    query = "filter=metrics.loss+%3C+1&columns=params.lr&runs=" + ",".join(["a" * 32] * 60)
    view = store.save_view(query)
    assert len(view.id) == 10 and view.id.isalnum() and view.id.islower()
    assert store.save_view(query) == view  # again: the same id, the first date
    assert store.get_view(view.id) == view
    other = store.save_view(query + "&x=step")
    assert other.id != view.id and store.get_view(other.id).query == query + "&x=step"


def test_saved_view_limits(store):
    with pytest.raises(InvalidInput, match=str(MAX_VIEW_QUERY_LENGTH)):
        store.save_view("q" * (MAX_VIEW_QUERY_LENGTH + 1))
    assert store.get_view(store.save_view("q" * MAX_VIEW_QUERY_LENGTH).id).query == "q" * MAX_VIEW_QUERY_LENGTH
    for bad in ("", None, "a\x00b"):
        with pytest.raises(InvalidInput, match="query"):
            store.save_view(bad)
    with pytest.raises(NotFound):
        store.get_view("aaaaaaaaaa")
    for bad in ("AAAAAAAAAA", "short", "aaaaaaaaaa1", "../../../x"):
        with pytest.raises(InvalidInput, match="view id"):
            store.get_view(bad)


def _save_at_once(uri: str, artifacts: str, barrier, queue, query: str) -> None:
    try:
        from modelcycle.store import open_store

        store = open_store(uri, artifacts)
        barrier.wait(60)
        queue.put(("ok", [store.save_view(query).id for _ in range(20)]))
    except BaseException as exc:  # reported to the parent, which fails the test
        queue.put(("error", repr(exc)))


def test_two_processes_saving_one_view_at_once(store_uris, store):
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    query = "runs=" + "b" * 5000
    procs = [ctx.Process(target=_save_at_once, args=(*store_uris, barrier, queue, query)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    expected_id = view_id(query)
    assert results == [("ok", [expected_id] * 20)] * 2
    assert store.get_view(expected_id).query == query

"""Pages of a search stay right while runs are created between them: a page token marks a
place in the order (the ordering values and run id of the last run seen), not an offset."""

from __future__ import annotations

import base64
import json
import math
import random

import orjson
import pytest

from modelcycle import InvalidInput, Metric

T0 = 1_700_000_000_000
ORDERINGS = [
    None,
    ["metrics.auc desc"],
    ["metrics.auc"],
    ["params.model", "metrics.auc desc"],
    ["tags.team desc", "name"],
    ["start_time"],
    ["end_time desc", "metrics.loss"],
    ["name desc"],
    ["status", "params.model desc", "tags.team"],
]
AUCS = [0.5, 0.9, 0.9, math.nan, None, math.inf, -math.inf, 0.7]  # None: never logged


def _make_run(store, experiment_id: int, rng: random.Random, index: int, start_time: int) -> str:
    run = store.create_run(experiment_id, name=f"r{rng.randint(0, 5)}", start_time=start_time)
    metrics = []
    auc = rng.choice(AUCS)
    if auc is not None:
        metrics.append(Metric("auc", auc, 0, 1))
    if rng.random() < 0.7:
        metrics.append(Metric("loss", rng.choice([0.1, 0.2, 0.3]), 0, 1))
    params = {"model": rng.choice(["rf", "xgb"])} if rng.random() < 0.7 else None
    tags = {"team": rng.choice(["a", "b"])} if rng.random() < 0.6 else None
    store.log_batch(run.id, metrics, params, tags)
    if rng.random() < 0.5:
        store.update_run(run.id, status="FINISHED", end_time=start_time + rng.choice([10, 20]))
    return run.id


@pytest.mark.parametrize("order_by", ORDERINGS, ids=lambda o: ",".join(o or ["default"]))
def test_runs_created_between_pages_cause_no_repeats_and_no_skips(store, order_by):
    rng = random.Random(7)
    exp = store.create_experiment("paging").id
    # Few distinct values and equal start times: many ties, so the run id decides.
    before = {_make_run(store, exp, rng, i, T0 + 1000 * rng.randint(0, 3)) for i in range(24)}
    seen, token, pages = [], None, 0
    while True:
        page = store.search_runs([exp], None, order_by, max_results=5, page_token=token)
        seen += [r.id for r in page.runs]
        pages += 1
        for _ in range(3):  # new runs before, among and after the ones already seen
            _make_run(store, exp, rng, 100, T0 + 1000 * rng.randint(-1, 4))
        token = page.next_page_token
        if token is None:
            break
        assert pages < 100
    assert len(seen) == len(set(seen)), "a run came twice"
    assert before <= set(seen), "a run that existed all along was skipped"
    whole = [r.id for r in store.search_runs([exp], None, order_by, max_results=50_000).runs]
    assert seen == [run_id for run_id in whole if run_id in set(seen)], "the pages are not in order"


def test_a_filtered_search_pages_by_place_too(store):
    rng = random.Random(3)
    exp = store.create_experiment("paging").id
    for i in range(12):
        _make_run(store, exp, rng, i, T0 + i)
    first = store.search_runs([exp], "metrics.loss is not null", ["metrics.loss"], max_results=3)
    # A run sorting first is added: an offset would now show the third run again.
    extra = store.create_run(exp, start_time=T0 + 999)
    store.log_batch(extra.id, [Metric("loss", -1.0, 0, 1)])
    second = store.search_runs([exp], "metrics.loss is not null", ["metrics.loss"], max_results=3,
                               page_token=first.next_page_token)
    assert not {r.id for r in first.runs} & {r.id for r in second.runs}
    assert extra.id not in {r.id for r in second.runs}


def test_a_token_belongs_to_its_search(store):
    exp = store.create_experiment("e").id
    for i in range(3):
        store.create_run(exp, start_time=T0 + i)
    token = store.search_runs([exp], None, ["name"], max_results=1).next_page_token
    assert store.search_runs([exp], None, ["name"], max_results=1, page_token=token).runs
    for other in (dict(order_by=["name desc"]), dict(filter="name like 'x%'"), dict(experiment_ids=None)):
        arguments = dict(experiment_ids=[exp], filter=None, order_by=["name"]) | other
        with pytest.raises(InvalidInput, match="another search"):
            store.search_runs(max_results=1, page_token=token, **arguments)


def _token(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize("token", [
    "garbage!", "b2Zmc2V0OjI=",  # an offset token ("offset:2") of earlier releases
    _token([1, 2]), _token({"after": "x"}), _token({"after": [], "search": "0"}),
])
def test_malformed_tokens_are_invalid_input(store, token):
    store.create_run(store.create_experiment("e").id)
    with pytest.raises(InvalidInput, match="page_token"):
        store.search_runs(None, page_token=token)


def test_a_tampered_token_is_invalid_input_not_a_database_error(store):
    exp = store.create_experiment("e").id
    for i in range(3):
        store.create_run(exp, start_time=T0 + i)
    token = store.search_runs([exp], None, None, max_results=1).next_page_token
    payload = orjson.loads(base64.urlsafe_b64decode(token))
    for bad in (["text", "0" * 32], [T0, 5], [2**70, "0" * 32], [T0, "a\x00b"], [T0]):
        forged = _token({**payload, "after": bad})
        with pytest.raises(InvalidInput, match="page_token"):
            store.search_runs([exp], None, None, max_results=1, page_token=forged)


def test_pages_with_many_order_keys_run_on_every_database(store):
    """A token for the most order-by clauses allowed still makes a query every database takes."""
    from modelcycle.store.search import MAX_ORDER_BY_CLAUSES

    exp = store.create_experiment("e").id
    for i in range(3):
        run = store.create_run(exp, start_time=T0 + i)
        store.log_batch(run.id, [Metric(f"m{k}", float(k % 2), 0, 1) for k in range(0, MAX_ORDER_BY_CLAUSES, 7)])
    order_by = [f"metrics.m{k}" for k in range(MAX_ORDER_BY_CLAUSES)]
    first = store.search_runs([exp], None, order_by, max_results=1)
    rest = store.search_runs([exp], None, order_by, max_results=5, page_token=first.next_page_token)
    assert len(first.runs) + len(rest.runs) == 3 and rest.next_page_token is None

"""The Store contract. Every test here takes the ``store`` fixture and so runs unchanged on
SQLite, on PostgreSQL and through a tracking server (the HTTP client store)."""

from __future__ import annotations

import hashlib
import io
import math
import os
import random

import numpy as np
import pytest

from modelcycle import AlreadyExists, Conflict, InvalidInput, Metric, NotFound, RunStatus, ViewType
from modelcycle.store.base import MAX_SEARCH_EXPERIMENTS
from modelcycle.store.points import MAX_CHUNK_POINTS
from modelcycle.store.search import (
    MAX_FILTER_COMPARISONS, MAX_FILTER_DEPTH, MAX_FILTER_VALUES, MAX_ORDER_BY_CLAUSES,
)
from tests.store.datasets import dataset_version

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z, in milliseconds
UNKNOWN_RUN = "0" * 32


# ---------------------------------------------------------------------------- experiments
def test_create_and_get_experiment(store):
    exp = store.create_experiment("fraud", {"team": "risk", "owner": "ana"})
    assert exp.name == "fraud" and exp.tags == {"team": "risk", "owner": "ana"} and not exp.deleted
    assert exp.created_at > 0 and exp.updated_at >= exp.created_at
    assert store.get_experiment(exp.id) == exp
    assert store.get_experiment_by_name("fraud") == exp
    other = store.create_experiment("churn")
    assert other.id != exp.id and other.tags == {}


@pytest.mark.parametrize("call", [
    lambda s: s.get_experiment(987_654),
    lambda s: s.get_experiment_by_name("no such experiment"),
    lambda s: s.rename_experiment(987_654, "x"),
    lambda s: s.delete_experiment(987_654),
    lambda s: s.restore_experiment(987_654),
    lambda s: s.set_experiment_tag(987_654, "k", "v"),
    lambda s: s.create_run(987_654),
], ids=["get", "get_by_name", "rename", "delete", "restore", "set_tag", "create_run"])
def test_unknown_experiment_is_not_found(store, call):
    store.create_experiment("exists")
    with pytest.raises(NotFound):
        call(store)


@pytest.mark.parametrize("name", ["", "   ", "x" * 251])
def test_invalid_experiment_names(store, name):
    with pytest.raises(InvalidInput):
        store.create_experiment(name)


def test_list_experiments_by_view(store):
    store.create_experiment("a")
    store.delete_experiment(store.create_experiment("b").id)
    store.create_experiment("c")
    assert [e.name for e in store.list_experiments(ViewType.ACTIVE)] == ["a", "c"]
    assert [e.name for e in store.list_experiments(ViewType.DELETED)] == ["b"]
    assert [e.name for e in store.list_experiments(ViewType.ALL)] == ["a", "b", "c"]
    assert store.list_experiments() == store.list_experiments(ViewType.ACTIVE)
    assert [e.deleted for e in store.list_experiments(ViewType.ALL)] == [False, True, False]


def test_rename_experiment(store):
    exp = store.create_experiment("draft")
    taken = store.create_experiment("taken")
    renamed = store.rename_experiment(exp.id, "final")
    assert renamed.id == exp.id and renamed.name == "final"
    assert store.get_experiment_by_name("final").id == exp.id
    with pytest.raises(NotFound):
        store.get_experiment_by_name("draft")
    with pytest.raises(AlreadyExists):
        store.rename_experiment(exp.id, "taken")
    assert store.get_experiment(exp.id).name == "final"  # unchanged by the refused rename
    assert store.rename_experiment(exp.id, "final").name == "final"  # its own name is fine
    store.delete_experiment(taken.id)
    with pytest.raises(AlreadyExists, match="restore"):
        store.rename_experiment(exp.id, "taken")


def test_soft_delete_and_restore_experiment(store):
    exp = store.create_experiment("gone")
    run = store.create_run(exp.id)
    store.delete_experiment(exp.id)
    assert store.get_experiment(exp.id).deleted
    assert store.get_experiment_by_name("gone").deleted  # still readable, marked deleted
    assert store.get_run(run.id).experiment_id == exp.id  # its runs are kept
    with pytest.raises(Conflict):
        store.create_run(exp.id)
    store.restore_experiment(exp.id)
    assert not store.get_experiment(exp.id).deleted
    assert store.create_run(exp.id).experiment_id == exp.id


def test_a_taken_name_is_refused_and_a_deleted_one_says_restore(store):
    live = store.create_experiment("live")
    with pytest.raises(AlreadyExists) as caught:
        store.create_experiment("live")
    assert "restore" not in str(caught.value)
    store.delete_experiment(live.id)
    with pytest.raises(AlreadyExists, match="restore") as caught:
        store.create_experiment("live")
    assert "deleted" in str(caught.value)


def test_experiment_tags(store):
    exp = store.create_experiment("e", {"a": "1"})
    store.set_experiment_tag(exp.id, "a", "2")
    store.set_experiment_tag(exp.id, "b", "x y z")
    assert store.get_experiment(exp.id).tags == {"a": "2", "b": "x y z"}
    assert store.list_experiments()[0].tags == {"a": "2", "b": "x y z"}


# ---------------------------------------------------------------------------- runs
def test_create_run_with_name_tags_and_parent(store):
    exp = store.create_experiment("e")
    parent = store.create_run(exp.id, name="parent", tags={"k": "v"}, start_time=T0)
    assert (parent.name, parent.experiment_id, parent.status, parent.start_time, parent.end_time,
            parent.parent_id, parent.deleted) == ("parent", exp.id, RunStatus.RUNNING, T0, None, None, False)
    assert parent.tags == {"k": "v"} and parent.params == {} and parent.metrics == {}
    assert store.get_run(parent.id) == parent
    child = store.create_run(exp.id, name="child", parent_id=parent.id)
    assert child.parent_id == parent.id
    assert store.get_run(child.id).parent_id == parent.id
    with pytest.raises(NotFound):
        store.create_run(exp.id, parent_id="f" * 32)


def test_a_run_without_a_name_gets_one(store):
    exp = store.create_experiment("e")
    runs = [store.create_run(exp.id) for _ in range(3)]
    for run in runs:
        assert isinstance(run.name, str) and run.name.strip()
        assert store.get_run(run.id).name == run.name
    assert len({r.id for r in runs}) == 3


@pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
def test_a_final_status_sets_end_time(store, status):
    run = store.create_run(store.create_experiment("e").id)
    assert store.get_run(run.id).end_time is None
    store.update_run(run.id, status=status)
    ended = store.get_run(run.id)
    assert ended.status is status and ended.end_time is not None and ended.end_time >= ended.start_time
    store.update_run(run.id, status=status, end_time=T0 + 5)  # an explicit end time is kept
    assert store.get_run(run.id).end_time == T0 + 5
    store.update_run(run.id, status=RunStatus.RUNNING)  # resumed: running again, no end
    resumed = store.get_run(run.id)
    assert resumed.status is RunStatus.RUNNING and resumed.end_time is None


def test_update_run_name(store):
    run = store.create_run(store.create_experiment("e").id, name="before")
    store.update_run(run.id, name="after")
    got = store.get_run(run.id)
    assert got.name == "after" and got.status is RunStatus.RUNNING


def test_delete_and_restore_run(store, tmp_path):
    exp = store.create_experiment("e")
    run = store.create_run(exp.id)
    store.log_batch(run.id, [Metric("m", 1.0, 0, 1)], {"p": "1"}, {"t": "1"})
    store.delete_run(run.id)
    assert store.get_run(run.id).deleted
    assert store.get_metric_history(run.id, "m") == [Metric("m", 1.0, 0, 1)]  # still readable
    f = tmp_path / "f.txt"
    f.write_text("x")
    for write in (
        lambda: store.log_batch(run.id, [Metric("m", 2.0, 1, 2)]),
        lambda: store.log_batch(run.id, params={"q": "1"}),
        lambda: store.log_batch(run.id, tags={"t": "2"}),
        lambda: store.delete_tag(run.id, "t"),
        lambda: store.log_artifact(run.id, f, "f.txt"),
    ):
        with pytest.raises(Conflict, match="restore"):
            write()
    assert store.get_metric_history(run.id, "m") == [Metric("m", 1.0, 0, 1)]
    assert store.list_artifacts(run.id) == []
    store.restore_run(run.id)
    assert not store.get_run(run.id).deleted
    store.log_batch(run.id, [Metric("m", 2.0, 1, 2)], tags={"t": "2"})
    got = store.get_run(run.id)
    assert got.metrics["m"].value == 2.0 and got.tags == {"t": "2"} and got.params == {"p": "1"}


@pytest.mark.parametrize("call", [
    lambda s, f: s.get_run(UNKNOWN_RUN),
    lambda s, f: s.update_run(UNKNOWN_RUN, status=RunStatus.FINISHED),
    lambda s, f: s.update_run(UNKNOWN_RUN, name="x"),
    lambda s, f: s.delete_run(UNKNOWN_RUN),
    lambda s, f: s.restore_run(UNKNOWN_RUN),
    lambda s, f: s.log_batch(UNKNOWN_RUN, [Metric("m", 1.0, 0, 1)]),
    lambda s, f: s.log_batch(UNKNOWN_RUN, params={"p": "1"}),
    lambda s, f: s.log_batch(UNKNOWN_RUN, tags={"t": "1"}),
    lambda s, f: s.delete_tag(UNKNOWN_RUN, "t"),
    lambda s, f: s.get_metric_history(UNKNOWN_RUN, "m"),
    lambda s, f: s.list_artifacts(UNKNOWN_RUN),
    lambda s, f: s.log_artifact(UNKNOWN_RUN, f, "f.txt"),
    lambda s, f: s.open_artifact(UNKNOWN_RUN, "f.txt"),
], ids=["get", "update_status", "update_name", "delete", "restore", "log_metric", "log_param",
        "set_tag", "delete_tag", "history", "list_artifacts", "log_artifact", "open_artifact"])
def test_unknown_run_is_not_found(store, tmp_path, call):
    store.create_run(store.create_experiment("e").id)
    f = tmp_path / "f.txt"
    f.write_text("x")
    with pytest.raises(NotFound):
        call(store, f)


@pytest.mark.parametrize("bad_id", ["", "not-a-run", "A" * 32, "0" * 31, "0" * 33, "g" * 32,
                                    "0" * 31 + "/"])
def test_malformed_run_id_is_invalid_input(store, bad_id):
    with pytest.raises(InvalidInput, match="32 lowercase hex"):
        store.get_run(bad_id)
    with pytest.raises(InvalidInput):
        store.log_batch(bad_id, [Metric("m", 1.0, 0, 1)])
    with pytest.raises(InvalidInput):
        store.delete_run(bad_id)


# ---------------------------------------------------------------------------- params
def test_params_are_write_once(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, params={"depth": "6", "model": "rf"})
    store.log_batch(run.id, params={"depth": "6"})  # the same value again is accepted
    with pytest.raises(Conflict, match="depth"):
        store.log_batch(run.id, params={"depth": "7"})
    assert store.get_run(run.id).params == {"depth": "6", "model": "rf"}


def test_a_batch_with_one_conflicting_param_stores_nothing(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("auc", 0.1, 0, 1)], {"depth": "6"}, {"team": "a"})
    with pytest.raises(Conflict):
        store.log_batch(
            run.id,
            [Metric("auc", 0.9, 5, 2), Metric("loss", 0.3, 0, 2)],
            {"new_param": "x", "depth": "7", "another": "y"},
            {"team": "b", "new_tag": "z"},
        )
    after = store.get_run(run.id)
    assert after.params == {"depth": "6"}
    assert after.tags == {"team": "a"}
    assert after.metrics == {"auc": Metric("auc", 0.1, 0, 1)}
    assert store.get_metric_history(run.id, "auc") == [Metric("auc", 0.1, 0, 1)]
    assert store.get_metric_history(run.id, "loss") == []


def test_a_batch_with_an_invalid_metric_stores_nothing(store):
    run = store.create_run(store.create_experiment("e").id)
    with pytest.raises(InvalidInput):
        store.log_batch(run.id, [Metric("ok", 1.0, 0, 1), Metric("bad", "abc", 0, 1)],
                        {"p": "1"}, {"t": "1"})
    after = store.get_run(run.id)
    assert (after.params, after.tags, after.metrics) == ({}, {}, {})


# ---------------------------------------------------------------------------- metrics
def test_metric_history_is_in_step_order(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("loss", 0.5, 2, 100), Metric("loss", 0.9, 0, 101)])
    store.log_batch(run.id, [Metric("loss", 0.7, 1, 102), Metric("acc", 0.1, 0, 103)])
    store.log_batch(run.id, [Metric("loss", 0.6, 1, 99)])  # same step, earlier timestamp
    assert store.get_metric_history(run.id, "loss") == [
        Metric("loss", 0.9, 0, 101), Metric("loss", 0.6, 1, 99), Metric("loss", 0.7, 1, 102),
        Metric("loss", 0.5, 2, 100),
    ]
    assert store.get_metric_history(run.id, "acc") == [Metric("acc", 0.1, 0, 103)]
    assert store.get_metric_history(run.id, "never logged") == []


def test_latest_value_is_the_highest_step_then_timestamp(store):
    run = store.create_run(store.create_experiment("e").id)
    latest = lambda: store.get_run(run.id).metrics["m"]  # noqa: E731
    store.log_batch(run.id, [Metric("m", 1.0, 5, 1000)])
    store.log_batch(run.id, [Metric("m", 2.0, 4, 9999)])  # lower step, logged later: not latest
    assert latest() == Metric("m", 1.0, 5, 1000)
    store.log_batch(run.id, [Metric("m", 3.0, 5, 999)])  # same step, older timestamp
    assert latest() == Metric("m", 1.0, 5, 1000)
    store.log_batch(run.id, [Metric("m", 4.0, 5, 1001)])  # same step, newer timestamp
    assert latest() == Metric("m", 4.0, 5, 1001)
    store.log_batch(run.id, [Metric("m", 5.0, 6, 1), Metric("m", 6.0, 7, 1), Metric("m", 0.5, 3, 5000)])
    assert latest() == Metric("m", 6.0, 7, 1)
    store.log_batch(run.id, [Metric("m", 7.0, 7, 1)])  # a full tie: the last logged wins
    assert latest() == Metric("m", 7.0, 7, 1)
    store.log_batch(run.id, [Metric("m", 8.0, 8, 1), Metric("m", 9.0, 8, 1)])  # tie inside a batch
    assert latest() == Metric("m", 9.0, 8, 1)
    assert len(store.get_metric_history(run.id, "m")) == 10


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0.0, -0.5, 1e308, 5e-324,
                                   0.1 + 0.2])
def test_special_and_extreme_values_round_trip(store, value):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("m", 1.0, 0, 1), Metric("m", value, 1, 2)])
    (point,) = store.get_metric_history(run.id, "m")[1:]
    assert _same_float(point.value, value) and (point.step, point.timestamp) == (1, 2)
    latest = store.get_run(run.id).metrics["m"]
    assert _same_float(latest.value, value) and latest.step == 1
    (found,) = store.search_runs(None, None).runs
    assert _same_float(found.metrics["m"].value, value)


def test_nan_and_infinities_in_one_history(store):
    run = store.create_run(store.create_experiment("e").id)
    values = [math.nan, math.inf, -math.inf, 2.5, math.nan]
    store.log_batch(run.id, [Metric("x", v, i, 10 + i) for i, v in enumerate(values)])
    got = [m.value for m in store.get_metric_history(run.id, "x")]
    assert len(got) == 5 and all(_same_float(a, b) for a, b in zip(got, values, strict=True))


@pytest.mark.parametrize("step", [0, -1, 2**31, 2**62, 2**63 - 1, -(2**63)])
def test_large_steps(store, step):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, [Metric("m", 1.5, step, 7)])
    assert store.get_metric_history(run.id, "m") == [Metric("m", 1.5, step, 7)]
    assert store.get_run(run.id).metrics["m"].step == step


@pytest.mark.parametrize("metric", [
    Metric("m", 1.0, 2**63, 1), Metric("m", 1.0, -(2**63) - 1, 1), Metric("m", 1.0, 2**64, 1),
    Metric("m", 1.0, 1.5, 1), Metric("m", "abc", 0, 1), Metric("m", None, 0, 1), Metric("", 1.0, 0, 1),
    Metric("k" * 251, 1.0, 0, 1),
], ids=["step_2^63", "step_-2^63-1", "step_2^64", "fractional_step", "text_value", "none_value",
        "empty_key", "long_key"])
def test_invalid_metrics_are_refused(store, metric):
    run = store.create_run(store.create_experiment("e").id)
    with pytest.raises(InvalidInput):
        store.log_batch(run.id, [metric])
    assert store.get_run(run.id).metrics == {}


def test_many_points_in_one_batch(store):
    run = store.create_run(store.create_experiment("e").id)
    points = [Metric("loss", 1.0 / (1 + i), i, 1000 + i) for i in range(5000)]
    store.log_batch(run.id, points)
    assert store.get_metric_history(run.id, "loss") == points
    assert store.get_run(run.id).metrics["loss"] == points[-1]


def test_batches_larger_than_a_chunk_read_back_in_order(store):
    """Interleaved keys, shuffled steps, ties and timestamps of 0 ('now') across chunk borders."""
    run = store.create_run(store.create_experiment("e").id)
    rng = random.Random(3)
    n = MAX_CHUNK_POINTS + 1000
    batch = [Metric("b" if i % 3 == 0 else "a", float(i), rng.randrange(n // 4), i % 5) for i in range(n)]
    store.log_batch(run.id, batch[:n // 2])
    store.log_batch(run.id, batch[n // 2:])
    for key in "ab":
        history = store.get_metric_history(run.id, key)
        logged = [m for m in batch if m.key == key]
        assert [(m.value, m.step) for m in history] == [
            (m.value, m.step) for m in sorted(logged, key=lambda m: (m.step, m.timestamp or math.inf))]
        assert all(m.timestamp > 4 for m in history if m.value % 5 == 0)  # 0 became the time of logging
        top = max((m.step, m.timestamp or math.inf) for m in logged)
        assert store.get_run(run.id).metrics[key].value == max(
            m.value for m in logged if (m.step, m.timestamp or math.inf) == top)


# ---------------------------------------------------------------------------- tags
def test_tag_and_param_values_are_stored_as_their_text_everywhere(store):
    """Numbers, numpy scalars and booleans become their str() on every entry point and backend."""
    values = {"i": 3, "f": 0.5, "np_f": np.float64(0.25), "np_i": np.int64(7), "b": True}
    text = {k: str(v) for k, v in values.items()}
    experiment = store.create_experiment("e", tags=values)
    store.set_experiment_tag(experiment.id, "later", np.float32(1.5))
    assert store.get_experiment(experiment.id).tags == {**text, "later": "1.5"}
    run = store.create_run(experiment.id, tags=values)
    store.log_batch(run.id, params=values, tags={"later": np.int32(2)})
    got = store.get_run(run.id)
    assert (got.params, got.tags) == (text, {**text, "later": "2"})
    store.create_registered_model("m", tags=values)
    store.set_registered_model_tag("m", "later", np.int16(4))
    assert store.get_registered_model("m").tags == {**text, "later": "4"}
    store.create_model_version("m", run.id, "model", "ann", tags=values)
    store.set_model_version_tag("m", 1, "later", 2.5)
    assert store.get_model_version("m", 1).tags == {**text, "later": "2.5"}


def test_tag_and_param_text_that_json_escapes_round_trips(store):
    """Runs are read back with their params and tags packed as JSON: the text comes back whole."""
    texts = ["", " ", 'say "hi"', "back\\slash", "line\nbreak\ttab\r", "\x01\x1f\x7f", "é日本🎉",
             "\u2028\u2029", "{}", "null", "1e5", "x" * 8000]
    values = {f"k{i}": text for i, text in enumerate(texts)} | {'ключ "🎉" \\': "v"}
    experiment = store.create_experiment("e")
    run = store.create_run(experiment.id, tags=values)
    store.log_batch(run.id, params=values)
    bare = store.create_run(experiment.id)
    got = store.get_run(run.id)
    assert (got.params, got.tags) == (values, values)
    assert (store.get_run(bare.id).params, store.get_run(bare.id).tags) == ({}, {})
    found = {r.id: r for r in store.search_runs([experiment.id]).runs}
    assert found == {run.id: got, bare.id: store.get_run(bare.id)}


def test_tags_overwrite_and_delete(store):
    run = store.create_run(store.create_experiment("e").id, tags={"a": "0"})
    store.log_batch(run.id, tags={"a": "1", "b": "x"})
    store.log_batch(run.id, tags={"a": "2"})
    assert store.get_run(run.id).tags == {"a": "2", "b": "x"}
    store.delete_tag(run.id, "a")
    assert store.get_run(run.id).tags == {"b": "x"}
    with pytest.raises(NotFound):
        store.delete_tag(run.id, "a")
    store.log_batch(run.id, tags={"a": "back"})
    assert store.get_run(run.id).tags == {"a": "back", "b": "x"}


def test_tag_value_length_limit(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, tags={"ok": "x" * 8000})
    with pytest.raises(InvalidInput):
        store.log_batch(run.id, tags={"long": "x" * 8001})
    assert set(store.get_run(run.id).tags) == {"ok"}


# ---------------------------------------------------------------------------- search
# name: (experiment, auc, model, team, status, end_time offset)
POPULATION = {
    "rf-1": ("e1", 0.95, "rf", "new", RunStatus.RUNNING, None),
    "rf-2": ("e1", 0.85, "rf", "old", RunStatus.FAILED, 100_000),
    "xgb-1": ("e1", 0.97, "xgb", None, RunStatus.FINISHED, 200_000),
    "svm-1": ("e2", 0.99, "svm", "new", RunStatus.RUNNING, None),
    "xgb-2": ("e2", 0.91, "xgb", "old", RunStatus.KILLED, 300_000),
    "cv-child": ("e2", None, "rf", "new", RunStatus.RUNNING, None),  # child of rf-1
    "nan-run": ("e2", math.nan, "lgbm", "NEW", RunStatus.RUNNING, None),
}
ALL = sorted(POPULATION)


@pytest.fixture
def population(store):
    """Seven runs in two experiments; run i starts at T0 + i seconds."""
    exps = {"e1": store.create_experiment("one"), "e2": store.create_experiment("two")}
    runs = {}
    for i, (name, (exp, auc, model, team, status, end)) in enumerate(POPULATION.items()):
        parent = runs["rf-1"].id if name == "cv-child" else None
        run = store.create_run(exps[exp].id, name=name, start_time=T0 + i * 1000, parent_id=parent)
        metrics = [Metric("auc", auc, 0, 1)] if auc is not None else []
        store.log_batch(run.id, metrics, {"model": model}, {"team": team} if team else None)
        if status is not RunStatus.RUNNING:
            store.update_run(run.id, status=status, end_time=T0 + end)
        runs[name] = run
    store.log_batch(runs["svm-1"].id, [Metric("val loss", 0.1, 0, 1)], {"opt.lr": "0.01"})
    ids = {name.replace("-", "_"): run.id for name, run in runs.items()}
    ids.update(e1=exps["e1"].id, e2=exps["e2"].id)
    return {"exps": exps, "runs": runs, "ids": ids}


def _names(page) -> list[str]:
    return sorted(r.name for r in page.runs)


def _but(*names: str) -> list[str]:
    return [n for n in ALL if n not in names]


ISSUE_EXAMPLE = "metrics.auc > 0.9 and (params.model = 'rf' or params.model = 'xgb') and tags.team != 'old'"


@pytest.mark.parametrize("filter, expected", [
    # the example of the issue, and the same with runs lacking the tag let in
    (ISSUE_EXAMPLE, ["rf-1"]),
    (ISSUE_EXAMPLE.replace("tags.team != 'old'", "(tags.team != 'old' or tags.team is null)"),
     ["rf-1", "xgb-1"]),
    # and / or / parentheses and precedence
    ("metrics.auc > 0.9 and params.model = 'rf'", ["rf-1"]),
    ("metrics.auc > 0.9 or params.model = 'lgbm'", ["nan-run", "rf-1", "svm-1", "xgb-1", "xgb-2"]),
    ("params.model = 'xgb' and metrics.auc > 0.95 or params.model = 'svm'", ["svm-1", "xgb-1"]),
    ("params.model = 'xgb' and (metrics.auc > 0.95 or params.model = 'svm')", ["xgb-1"]),
    ("params.model = 'rf' and (metrics.auc < 0.9 or metrics.auc is null)", ["cv-child", "rf-2"]),
    ("((params.model = 'svm'))", ["svm-1"]),
    ("metrics.auc >= 0.85 AND metrics.auc <= 0.91", ["rf-2", "xgb-2"]),
    # in / not in
    ("params.model in ('svm', 'xgb')", ["svm-1", "xgb-1", "xgb-2"]),
    ("params.model not in ('rf', 'xgb')", ["nan-run", "svm-1"]),
    ("metrics.auc in (0.99, 0.85)", ["rf-2", "svm-1"]),
    ("tags.team not in ('old')", ["cv-child", "nan-run", "rf-1", "svm-1"]),
    # like / ilike
    ("name like 'xgb-%'", ["xgb-1", "xgb-2"]),
    ("name like 'XGB-%'", []),
    ("name ilike 'XGB-%'", ["xgb-1", "xgb-2"]),
    ("name like 'rf-_'", ["rf-1", "rf-2"]),
    ("name not like 'xgb%'", _but("xgb-1", "xgb-2")),
    ("tags.team like 'n%'", ["cv-child", "rf-1", "svm-1"]),
    ("tags.team ilike 'N%'", ["cv-child", "nan-run", "rf-1", "svm-1"]),
    ("tags.team not ilike 'new'", ["rf-2", "xgb-2"]),
    ("params.model like '%b%'", ["nan-run", "xgb-1", "xgb-2"]),
    # is null / is not null
    ("metrics.auc is null", ["cv-child"]),
    ("metrics.auc is not null", _but("cv-child")),
    ("tags.team is null", ["xgb-1"]),
    ("tags.team is not null", _but("xgb-1")),
    ("params.nothing is null", ALL),
    # not
    ("not params.model = 'rf'", ["nan-run", "svm-1", "xgb-1", "xgb-2"]),
    ("not (metrics.auc > 0.9 or tags.team = 'old')", ["cv-child", "nan-run"]),
    ("not not params.model = 'svm'", ["svm-1"]),
    # a comparison with a key the run lacks is false, so `not` of it is true (search.py docstring)
    ("metrics.auc < 1", ["rf-1", "rf-2", "svm-1", "xgb-1", "xgb-2"]),
    ("not metrics.auc < 1", ["cv-child", "nan-run"]),
    ("tags.team != 'old'", ["cv-child", "nan-run", "rf-1", "svm-1"]),
    ("not tags.team = 'new'", ["nan-run", "rf-2", "xgb-1", "xgb-2"]),
    ("metrics.never_logged > 0 or metrics.never_logged <= 0", []),
    # NaN is stored as such: it equals only NaN and is neither less nor greater than anything
    ("metrics.auc = nan", ["nan-run"]),
    ("metrics.auc != nan", ["rf-1", "rf-2", "svm-1", "xgb-1", "xgb-2"]),
    ("metrics.auc >= 0 or metrics.auc < 0", ["rf-1", "rf-2", "svm-1", "xgb-1", "xgb-2"]),
    ("metrics.auc in (nan, 0.99)", ["nan-run", "svm-1"]),
    ("metrics.auc < inf", ["rf-1", "rf-2", "svm-1", "xgb-1", "xgb-2"]),
    # attributes
    ("status = 'FAILED'", ["rf-2"]),
    ("status = 'failed'", ["rf-2"]),
    ("attributes.status = 'RUNNING'", ["cv-child", "nan-run", "rf-1", "svm-1"]),
    ("status != 'RUNNING'", ["rf-2", "xgb-1", "xgb-2"]),
    ("status in ('FINISHED', 'killed')", ["xgb-1", "xgb-2"]),
    ("name = 'svm-1'", ["svm-1"]),
    ("run_name = 'svm-1'", ["svm-1"]),
    ("name != 'svm-1'", _but("svm-1")),
    ("start_time >= 1700000004000", ["cv-child", "nan-run", "xgb-2"]),
    ("start_time < 1700000001000", ["rf-1"]),
    ("start_time = 1700000003000", ["svm-1"]),
    ("start_time < '2023-11-14T22:13:21.500'", ["rf-1", "rf-2"]),
    ("start_time >= '2023-11-14T22:13:25+00:00'", ["cv-child", "nan-run"]),
    ("start_time >= '2023-11-14T23:13:25+01:00'", ["cv-child", "nan-run"]),
    ("start_time > '2023-11-14T22:13:21' and start_time < '2023-11-14T22:13:24'", ["svm-1", "xgb-1"]),
    ("end_time is null", ["cv-child", "nan-run", "rf-1", "svm-1"]),
    ("end_time is not null", ["rf-2", "xgb-1", "xgb-2"]),
    ("end_time < 1700000250000", ["rf-2", "xgb-1"]),
    ("end_time >= '2023-11-14T22:18:20Z'", ["xgb-2"]),
    ("not end_time > 1700000150000", _but("xgb-1", "xgb-2")),
    ("run_id = '{svm_1}'", ["svm-1"]),
    ("attributes.run_id in ('{svm_1}', '{rf_2}')", ["rf-2", "svm-1"]),
    ("run_id != '{svm_1}'", _but("svm-1")),
    ("parent_id = '{rf_1}'", ["cv-child"]),
    ("parent_id is not null", ["cv-child"]),
    ("parent_id is null", _but("cv-child")),
    ("experiment_id = {e1}", ["rf-1", "rf-2", "xgb-1"]),
    # quoted keys with spaces and dots
    ("metrics.`val loss` < 0.5", ["svm-1"]),
    ("params.\"opt.lr\" = '0.01'", ["svm-1"]),
    ("params.opt.lr = '0.01'", ["svm-1"]),
    ("params.`opt.lr` = 0.01", ["svm-1"]),  # a number compared with a param means its text
])
def test_search_filter(store, population, filter, expected):
    text = filter.format(**population["ids"])
    assert _names(store.search_runs(None, text)) == expected


def test_search_returns_whole_runs(store, population):
    (run,) = store.search_runs(None, "name = 'svm-1'").runs
    assert run == store.get_run(population["runs"]["svm-1"].id)
    assert run.params == {"model": "svm", "opt.lr": "0.01"} and run.tags == {"team": "new"}
    assert set(run.metrics) == {"auc", "val loss"}


def test_search_within_experiments(store, population):
    e1, e2 = population["exps"]["e1"].id, population["exps"]["e2"].id
    assert _names(store.search_runs([e1])) == ["rf-1", "rf-2", "xgb-1"]
    assert _names(store.search_runs([e2])) == ["cv-child", "nan-run", "svm-1", "xgb-2"]
    assert _names(store.search_runs([e1, e2])) == ALL
    assert _names(store.search_runs(None)) == ALL
    assert _names(store.search_runs([])) == []
    assert _names(store.search_runs([e2], "params.model = 'rf'")) == ["cv-child"]
    assert _names(store.search_runs([e1], ISSUE_EXAMPLE)) == ["rf-1"]
    assert _names(store.search_runs([e2], ISSUE_EXAMPLE)) == []
    third = store.create_experiment("three")
    assert _names(store.search_runs([third.id])) == []


def _ordered(store, *order_by: str, filter: str | None = None) -> list[str]:
    return [r.name for r in store.search_runs(None, filter, list(order_by)).runs]


def test_order_by_metric(store, population):
    desc = _ordered(store, "metrics.auc desc")
    assert desc[:5] == ["svm-1", "xgb-1", "rf-1", "xgb-2", "rf-2"]
    assert set(desc[5:]) == {"cv-child", "nan-run"}  # lacking a number: last
    asc = _ordered(store, "metrics.auc ASC")
    assert asc[:5] == ["rf-2", "xgb-2", "rf-1", "xgb-1", "svm-1"]
    assert set(asc[5:]) == {"cv-child", "nan-run"}  # last in this direction too
    assert _ordered(store, "metrics.auc") == asc


def test_order_by_param_tag_and_attribute(store, population):
    assert _ordered(store, "params.model", "name desc") == [
        "nan-run", "rf-2", "rf-1", "cv-child", "svm-1", "xgb-2", "xgb-1"]
    assert _ordered(store, "tags.team desc", "name", filter="tags.team in ('new', 'old')") == [
        "rf-2", "xgb-2", "cv-child", "rf-1", "svm-1"]
    assert _ordered(store, "name") == ALL
    assert _ordered(store, "attributes.name DESC") == ALL[::-1]
    by_start = list(POPULATION)
    assert _ordered(store, "start_time") == by_start
    assert _ordered(store, "start_time desc") == by_start[::-1]
    assert _ordered(store, "end_time desc", filter="end_time is not null") == ["xgb-2", "xgb-1", "rf-2"]


@pytest.mark.parametrize("order_by", [None, ["metrics.auc desc"], ["name"], ["params.model"],
                                      ["tags.team", "start_time"]])
@pytest.mark.parametrize("page_size", [1, 3, 7, 50])
def test_pages_cover_every_run_exactly_once(store, population, order_by, page_size):
    whole = [r.id for r in store.search_runs(None, None, order_by).runs]
    assert len(whole) == len(POPULATION)
    seen, token, pages = [], None, 0
    while True:
        page = store.search_runs(None, None, order_by, max_results=page_size, page_token=token)
        assert 1 <= len(page.runs) <= page_size
        seen += [r.id for r in page.runs]
        pages += 1
        token = page.next_page_token
        if token is None:
            break
        assert pages < 50, "the pages never end"
    assert seen == whole
    assert pages == math.ceil(len(POPULATION) / page_size)


def test_pages_of_a_filtered_search(store, population):
    first = store.search_runs(None, "status = 'RUNNING'", ["name"], max_results=3)
    assert [r.name for r in first.runs] == ["cv-child", "nan-run", "rf-1"]
    second = store.search_runs(None, "status = 'RUNNING'", ["name"], max_results=3,
                               page_token=first.next_page_token)
    assert [r.name for r in second.runs] == ["svm-1"] and second.next_page_token is None


def test_search_views(store, population):
    runs = population["runs"]
    store.delete_run(runs["xgb-1"].id)
    store.delete_run(runs["rf-2"].id)
    assert _names(store.search_runs(None)) == _but("xgb-1", "rf-2")
    assert _names(store.search_runs(None, view=ViewType.ACTIVE)) == _but("xgb-1", "rf-2")
    assert _names(store.search_runs(None, view=ViewType.DELETED)) == ["rf-2", "xgb-1"]
    assert _names(store.search_runs(None, view=ViewType.ALL)) == ALL
    assert _names(store.search_runs(None, "params.model = 'xgb'", view=ViewType.DELETED)) == ["xgb-1"]
    store.restore_run(runs["xgb-1"].id)
    assert _names(store.search_runs(None, view=ViewType.DELETED)) == ["rf-2"]


@pytest.mark.parametrize("bad, position", [
    ("metrics.auc >", 13),
    ("metrics.auc > 0.9 and", 21),
    ("(metrics.a > 1", 14),
    ("metrics.a > 1)", 13),
    ("params.a > '3'", 9),
    ("metrics.a like '%x'", 10),
    ("unknown = 1", 0),
    ("name = 'unterminated", 7),
    ("metrics.auc > 0.9 and and params.x = 'y'", 22),
    ("status = ", 9),
    ("tags.t in 'x'", 10),
])
def test_malformed_filter_is_invalid_input_with_its_position(store, bad, position):
    store.create_run(store.create_experiment("e").id)
    with pytest.raises(InvalidInput) as caught:
        store.search_runs(None, bad)
    assert f"position {position}" in str(caught.value)


@pytest.mark.parametrize("order_by, position", [
    (["metrics.auc sideways"], 12), (["bogus"], 0), (["metrics.auc", "params."], 7), ([""], 0)])
def test_malformed_order_by_is_invalid_input(store, order_by, position):
    with pytest.raises(InvalidInput, match=f"position {position}"):
        store.search_runs(None, None, order_by)


def test_a_deeply_nested_filter_is_invalid_input_not_a_crash(store):
    store.create_run(store.create_experiment("e").id)
    with pytest.raises(InvalidInput):
        store.search_runs(None, "not " * 500 + "metrics.a > 1")


def test_searches_at_the_size_limits_run_on_every_database(store):
    """The limits on filters, order-by clauses and experiment ids sit below what SQLite and
    PostgreSQL accept, even all at once."""
    store.create_run(store.create_experiment("e").id)
    experiment_ids = list(range(1, MAX_SEARCH_EXPERIMENTS + 1))
    widest = "metrics.a not in (nan, 1)"  # the comparison that compiles to the most SQL
    for text in ["not " * MAX_FILTER_DEPTH + widest,
                 "(" * MAX_FILTER_DEPTH + widest + ")" * MAX_FILTER_DEPTH,
                 " and ".join([widest] * MAX_FILTER_COMPARISONS),
                 "metrics.a in (" + ", ".join(["1"] * MAX_FILTER_VALUES) + ")"]:
        assert store.search_runs(experiment_ids, text, ["metrics.a"] * MAX_ORDER_BY_CLAUSES).runs == []


@pytest.mark.parametrize("kwargs", [
    {"max_results": 0}, {"max_results": -1}, {"max_results": 50_001}, {"page_token": "garbage!"},
    {"page_token": "b2Zmc2V0Oi0x"},  # "offset:-1"
])
def test_search_arguments_are_checked(store, kwargs):
    with pytest.raises(InvalidInput):
        store.search_runs(None, **kwargs)


def test_too_many_experiment_ids_are_invalid_input(store):
    with pytest.raises(InvalidInput, match=f"at most {MAX_SEARCH_EXPERIMENTS} experiment ids"):
        store.search_runs(list(range(1, MAX_SEARCH_EXPERIMENTS + 2)))


def test_ids_and_versions_beyond_their_32_bit_columns_are_invalid_input(store):
    """PostgreSQL stores them in 32-bit columns: a larger number must not reach it."""
    for call in (lambda: store.get_experiment(2**31), lambda: store.create_run(-(2**31) - 1),
                 lambda: store.search_runs([2**40])):
        with pytest.raises(InvalidInput, match="experiment id must fit in 32 bits"):
            call()
    for version in (2**31, 2**40):
        with pytest.raises(InvalidInput, match="A dataset version is a positive integer"):
            store.get_dataset("d", version)
        with pytest.raises(InvalidInput, match="A model version is a positive integer"):
            store.get_model_version("m", version)


# ---------------------------------------------------------------------------- artifacts
def _file(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _listing(store, run_id, path=""):
    return sorted((i.path, i.is_dir) for i in store.list_artifacts(run_id, path))


def test_log_and_list_artifacts(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    store.log_artifact(run.id, _file(tmp_path, "a", b"A"), "readme.txt")
    store.log_artifact(run.id, _file(tmp_path, "b", b"BB"), "model/weights.bin")
    store.log_artifact(run.id, _file(tmp_path, "c", b"CCC"), "model/meta/info.json")
    store.log_artifact(run.id, _file(tmp_path, "d", b"DDDD"), "plots/2024/01/loss.png")
    assert _listing(store, run.id) == [("model", True), ("plots", True), ("readme.txt", False)]
    assert _listing(store, run.id, "model") == [("model/meta", True), ("model/weights.bin", False)]
    assert _listing(store, run.id, "model/meta") == [("model/meta/info.json", False)]
    assert _listing(store, run.id, "plots") == [("plots/2024", True)]
    assert _listing(store, run.id, "plots/2024/01/") == [("plots/2024/01/loss.png", False)]
    (weights,) = store.list_artifacts(run.id, "model/weights.bin")  # a file lists itself
    assert (weights.path, weights.is_dir, weights.size) == ("model/weights.bin", False, 2)
    assert weights.digest == hashlib.sha256(b"BB").hexdigest()
    assert store.list_artifacts(run.id, "nothing/here") == []
    assert sorted(i.path for i in store.list_artifact_files(run.id)) == [
        "model/meta/info.json", "model/weights.bin", "plots/2024/01/loss.png", "readme.txt"]
    other = store.create_run(store.create_experiment("f").id)
    assert store.list_artifacts(other.id) == []  # artifacts belong to their run


def test_artifact_content_round_trips(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    payload = os.urandom((2 << 20) + 12345)  # more than one chunk
    info = store.log_artifact(run.id, _file(tmp_path, "big.bin", payload), "data/big.bin")
    assert info == type(info)("data/big.bin", False, len(payload), hashlib.sha256(payload).hexdigest())
    assert b"".join(store.open_artifact(run.id, "data/big.bin")) == payload
    out = io.BytesIO()
    store.download_artifact(run.id, "data/big.bin", out)
    assert out.getvalue() == payload
    store.log_artifact(run.id, _file(tmp_path, "empty", b""), "empty.txt")
    assert b"".join(store.open_artifact(run.id, "empty.txt")) == b""
    assert store.list_artifacts(run.id, "empty.txt")[0].size == 0


def test_same_content_has_one_digest(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    other = store.create_run(store.create_experiment("f").id)
    payload = b"model-bytes" * 1000
    a = store.log_artifact(run.id, _file(tmp_path, "one.bin", payload), "model/model.bin")
    b = store.log_artifact(run.id, _file(tmp_path, "two.bin", payload), "copy.bin")
    c = store.log_artifact(other.id, _file(tmp_path, "three.bin", payload), "x/y.bin")
    d = store.log_artifact(run.id, _file(tmp_path, "four.bin", payload + b"!"), "different.bin")
    assert a.digest == b.digest == c.digest == hashlib.sha256(payload).hexdigest()
    assert d.digest != a.digest
    for run_id, path in ((run.id, "model/model.bin"), (run.id, "copy.bin"), (other.id, "x/y.bin")):
        assert b"".join(store.open_artifact(run_id, path)) == payload


def test_overwriting_an_artifact_path(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    store.log_artifact(run.id, _file(tmp_path, "v1", b"version one"), "notes.txt")
    second = store.log_artifact(run.id, _file(tmp_path, "v2", b"v2"), "notes.txt")
    (listed,) = store.list_artifacts(run.id)
    assert listed == second and (listed.size, listed.digest) == (2, hashlib.sha256(b"v2").hexdigest())
    assert b"".join(store.open_artifact(run.id, "notes.txt")) == b"v2"


@pytest.mark.parametrize("path, stored", [
    ("a/./b//c.txt", "a/b/c.txt"),
    ("/leading/slash.txt", "leading/slash.txt"),
    ("with space/ü #1?.txt", "with space/ü #1?.txt"),
    ("pct%20name.txt", "pct%20name.txt"),
    ("dots..in..name.txt", "dots..in..name.txt"),
])
def test_artifact_paths_are_normalised_and_kept(store, tmp_path, path, stored):
    run = store.create_run(store.create_experiment("e").id)
    info = store.log_artifact(run.id, _file(tmp_path, "f", b"content"), path)
    assert info.path == stored
    assert [i.path for i in store.list_artifact_files(run.id)] == [stored]
    assert b"".join(store.open_artifact(run.id, stored)) == b"content"


@pytest.mark.parametrize("path", ["../escape.bin", "a/../../b", "a/..", "..", "", "/"])
def test_artifact_paths_cannot_leave_the_run(store, tmp_path, path):
    run = store.create_run(store.create_experiment("e").id)
    f = _file(tmp_path, "f", b"x")
    with pytest.raises(InvalidInput):
        store.log_artifact(run.id, f, path)
    if path.strip("/"):
        with pytest.raises(InvalidInput):
            store.open_artifact(run.id, path)
    assert store.list_artifacts(run.id) == []


def test_listing_outside_the_run_is_refused(store):
    run = store.create_run(store.create_experiment("e").id)
    with pytest.raises(InvalidInput):
        store.list_artifacts(run.id, "../other")


def test_unknown_artifact_is_not_found(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    store.log_artifact(run.id, _file(tmp_path, "f", b"x"), "folder/file.txt")
    for missing in ("missing.bin", "folder", "folder/other.txt"):
        with pytest.raises(NotFound):
            b"".join(store.open_artifact(run.id, missing))
    with pytest.raises(NotFound):
        store.log_artifact(run.id, tmp_path / "no such file", "x.txt")


def test_a_file_cannot_replace_a_folder(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    store.log_artifact(run.id, _file(tmp_path, "f", b"x"), "model/weights.bin")
    with pytest.raises(Conflict):
        store.log_artifact(run.id, _file(tmp_path, "g", b"y"), "model")
    assert _listing(store, run.id) == [("model", True)]


def test_a_file_cannot_go_below_a_file(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    store.log_artifact(run.id, _file(tmp_path, "f", b"x"), "model/weights.bin")
    with pytest.raises(Conflict):
        store.log_artifact(run.id, _file(tmp_path, "g", b"y"), "model/weights.bin/part.bin")
    assert sorted(i.path for i in store.list_artifact_files(run.id)) == ["model/weights.bin"]


def test_a_folder_is_not_a_file_to_log(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    (tmp_path / "folder").mkdir()
    with pytest.raises(InvalidInput):
        store.log_artifact(run.id, tmp_path / "folder", "folder")


# ---------------------------------------------------------------------------- datasets
def test_datasets_versions_and_uses(store, tmp_path):
    ten, twelve = dataset_version(10, tmp_path / "ten"), dataset_version(12, tmp_path / "twelve")
    first = store.log_dataset("tx", **ten)
    again = store.log_dataset("tx", **ten)
    second = store.log_dataset("tx", **twelve)
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert store.get_dataset("tx").version == 2 and store.get_dataset("tx", 1).num_rows == 10
    assert [d.ref for d in store.list_datasets("tx")] == ["tx@1", "tx@2"]
    assert b"".join(store.open_dataset("tx", 1)) == ten["data_file"].read_bytes()
    run = store.create_run(store.create_experiment("e").id)
    store.link_dataset(run.id, "tx", 1, "train")
    store.link_dataset(run.id, "tx", 1, "train")
    store.link_dataset(run.id, "tx", 2, "eval")
    assert {(u.dataset, u.role) for u in store.dataset_uses(run_id=run.id)} == {("tx@1", "train"), ("tx@2", "eval")}
    assert [u.run_id for u in store.dataset_uses(name="tx", version=2)] == [run.id]
    with pytest.raises(NotFound, match="versions 1 to 2"):
        store.get_dataset("tx", 3)
    with pytest.raises(NotFound):
        store.get_dataset("nope")
    with pytest.raises(InvalidInput):
        store.link_dataset(run.id, "tx", 1, "no spaces allowed")

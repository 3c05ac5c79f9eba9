"""The Store contract, run unchanged on SQLite, PostgreSQL and through the server."""

from __future__ import annotations

import hashlib
import io
import math

import pytest

from modelcycle import AlreadyExists, Conflict, InvalidInput, Metric, NotFound, RunStatus, ViewType


def test_experiment_lifecycle(store):
    exp = store.create_experiment("fraud", {"team": "risk"})
    assert store.get_experiment(exp.id).name == "fraud"
    assert store.get_experiment_by_name("fraud").tags == {"team": "risk"}
    with pytest.raises(AlreadyExists):
        store.create_experiment("fraud")
    other = store.create_experiment("churn")
    with pytest.raises(AlreadyExists):
        store.rename_experiment(other.id, "fraud")
    assert store.rename_experiment(other.id, "churn-v2").name == "churn-v2"
    store.delete_experiment(exp.id)
    assert [e.name for e in store.list_experiments(ViewType.ACTIVE)] == ["churn-v2"]
    assert [e.name for e in store.list_experiments(ViewType.DELETED)] == ["fraud"]
    with pytest.raises(AlreadyExists, match="restore"):
        store.create_experiment("fraud")
    store.restore_experiment(exp.id)
    assert len(store.list_experiments(ViewType.ALL)) == 2
    store.set_experiment_tag(exp.id, "team", "ops")
    assert store.get_experiment(exp.id).tags == {"team": "ops"}
    with pytest.raises(NotFound):
        store.get_experiment(999_999)
    with pytest.raises(NotFound):
        store.get_experiment_by_name("nope")


def test_run_lifecycle_and_status(store):
    exp = store.create_experiment("e")
    parent = store.create_run(exp.id, name="parent", tags={"k": "v"})
    child = store.create_run(exp.id, parent_id=parent.id)
    assert child.parent_id == parent.id and child.name  # a generated name
    got = store.get_run(parent.id)
    assert (got.name, got.status, got.end_time, got.tags) == ("parent", RunStatus.RUNNING, None, {"k": "v"})
    for status in (RunStatus.FAILED, RunStatus.KILLED, RunStatus.FINISHED):
        store.update_run(parent.id, status=status)
        run = store.get_run(parent.id)
        assert run.status is status and run.end_time >= run.start_time
    store.delete_run(child.id)
    assert store.get_run(child.id).deleted
    with pytest.raises(Conflict, match="restore"):
        store.log_batch(child.id, [Metric("m", 1.0, 0, 1)])
    store.restore_run(child.id)
    store.log_batch(child.id, [Metric("m", 1.0, 0, 1)])
    with pytest.raises(NotFound):
        store.get_run("0" * 32)
    with pytest.raises(InvalidInput, match="32 lowercase hex"):
        store.get_run("not-a-run")
    with pytest.raises(NotFound):
        store.create_run(exp.id, parent_id="f" * 32)


def test_params_are_write_once_and_batches_atomic(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, params={"depth": "6"})
    store.log_batch(run.id, params={"depth": "6"})  # the same value again is fine
    with pytest.raises(Conflict, match="write-once"):
        store.log_batch(run.id, [Metric("auc", 0.5, 0, 1)], params={"depth": "7", "new": "x"},
                        tags={"t": "1"})
    after = store.get_run(run.id)
    assert after.params == {"depth": "6"} and "auc" not in after.metrics and "t" not in after.tags
    assert store.get_metric_history(run.id, "auc") == []


def test_metric_history_latest_and_special_values(store):
    run = store.create_run(store.create_experiment("e").id)
    points = [Metric("loss", v, s, 1000 + s) for s, v in enumerate([0.9, 0.5, math.inf, -math.inf])]
    points.append(Metric("loss", math.nan, 10, 2000))
    points.append(Metric("loss", 0.1, 3, 5000))  # an older step logged later
    store.log_batch(run.id, points)
    history = store.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == [0, 1, 2, 3, 3, 10]
    values = [m.value for m in history]
    assert values[:2] == [0.9, 0.5] and values[2] == math.inf and values[3] == -math.inf
    assert math.isnan(values[-1])
    latest = store.get_run(run.id).metrics["loss"]
    assert latest.step == 10 and math.isnan(latest.value)
    store.log_batch(run.id, [Metric("big", 1.0, 2**62, 1)])
    assert store.get_metric_history(run.id, "big")[0].step == 2**62
    with pytest.raises(InvalidInput):
        store.log_batch(run.id, [Metric("bad", "abc", 0, 1)])


def test_tags_overwrite_and_delete(store):
    run = store.create_run(store.create_experiment("e").id)
    store.log_batch(run.id, tags={"a": "1"})
    store.log_batch(run.id, tags={"a": "2"})
    assert store.get_run(run.id).tags == {"a": "2"}
    store.delete_tag(run.id, "a")
    assert store.get_run(run.id).tags == {}
    with pytest.raises(NotFound):
        store.delete_tag(run.id, "a")


@pytest.fixture
def population(store):
    """Six runs across two experiments with metrics, params and tags."""
    e1, e2 = store.create_experiment("one"), store.create_experiment("two")
    specs = [
        (e1, "rf-1", 0.95, "rf", "new"), (e1, "rf-2", 0.85, "rf", "old"),
        (e1, "xgb-1", 0.97, "xgb", None), (e2, "svm-1", 0.99, "svm", "new"),
        (e2, "xgb-2", 0.91, "xgb", "old"), (e2, "cv-nometric", None, "rf", "new"),
    ]
    runs = {}
    for i, (exp, name, auc, model, team) in enumerate(specs):
        run = store.create_run(exp.id, name=name, start_time=1_700_000_000_000 + i * 1000)
        metrics = [Metric("auc", auc, 0, 1)] if auc is not None else []
        store.log_batch(run.id, metrics, {"model": model}, {"team": team} if team else None)
        runs[name] = run
    store.update_run(runs["rf-2"].id, status=RunStatus.FAILED)
    return {"e1": e1, "e2": e2, "runs": runs}


def _names(page):
    return sorted(r.name for r in page.runs)


@pytest.mark.parametrize("filter, expected", [
    ("metrics.auc > 0.9 and (params.model = 'rf' or params.model = 'xgb') and tags.team != 'old'",
     ["rf-1"]),
    ("metrics.auc > 0.9 and (params.model = 'rf' or params.model = 'xgb') and "
     "(tags.team != 'old' or tags.team is null)", ["rf-1", "xgb-1"]),
    ("params.model in ('svm', 'xgb')", ["svm-1", "xgb-1", "xgb-2"]),
    ("params.model not in ('rf')", ["svm-1", "xgb-1", "xgb-2"]),
    ("name like 'xgb-%'", ["xgb-1", "xgb-2"]),
    ("name like 'XGB-%'", []),
    ("name ilike 'XGB-%'", ["xgb-1", "xgb-2"]),
    ("metrics.auc is null", ["cv-nometric"]),
    ("tags.team is not null and not tags.team = 'new'", ["rf-2", "xgb-2"]),
    ("status = 'failed'", ["rf-2"]),
    ("end_time is not null", ["rf-2"]),
    ("start_time >= 1700000003000", ["cv-nometric", "svm-1", "xgb-2"]),
    ("start_time < '2023-11-14T22:13:21.500'", ["rf-1", "rf-2"]),
    ("not tags.team = 'new'", ["rf-2", "xgb-1", "xgb-2"]),
    ("not metrics.auc > 0.9", ["cv-nometric", "rf-2"]),
    ("metrics.auc <= 0.85 or metrics.auc >= 0.99", ["rf-2", "svm-1"]),
])
def test_search_filters(store, population, filter, expected):
    assert _names(store.search_runs(None, filter)) == expected


def test_search_scope_order_and_pages(store, population):
    e1 = population["e1"]
    assert _names(store.search_runs([e1.id])) == ["rf-1", "rf-2", "xgb-1"]
    ordered = store.search_runs(None, None, ["metrics.auc desc"]).runs
    assert [r.name for r in ordered] == ["svm-1", "xgb-1", "rf-1", "xgb-2", "rf-2", "cv-nometric"]
    ascending = store.search_runs(None, None, ["metrics.auc asc"]).runs
    assert [r.name for r in ascending][-1] == "cv-nometric"  # runs without the metric come last
    by_param = store.search_runs(None, None, ["params.model", "name desc"]).runs
    assert [r.name for r in by_param][:3] == ["rf-2", "rf-1", "cv-nometric"]
    seen, token = [], None
    while True:
        page = store.search_runs(None, None, ["name"], max_results=4, page_token=token)
        seen += [r.name for r in page.runs]
        token = page.next_page_token
        if token is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 6
    run_id = population["runs"]["xgb-1"].id
    assert _names(store.search_runs(None, f"run_id = '{run_id}'")) == ["xgb-1"]
    store.delete_run(run_id)
    assert "xgb-1" not in _names(store.search_runs(None))
    assert _names(store.search_runs(None, view=ViewType.DELETED)) == ["xgb-1"]
    assert len(store.search_runs(None, view=ViewType.ALL).runs) == 6


@pytest.mark.parametrize("bad", ["metrics.auc >", "metrics.auc > 0.9 and", "(metrics.a > 1",
                                 "params.a > 3", "unknown = 1", "name = 'unterminated"])
def test_malformed_filter_names_the_position(store, bad):
    with pytest.raises(InvalidInput, match=r"position \d+"):
        store.search_runs(None, bad)


def test_search_arguments_are_checked(store):
    with pytest.raises(InvalidInput):
        store.search_runs(None, max_results=0)
    with pytest.raises(InvalidInput, match="page_token"):
        store.search_runs(None, page_token="garbage!")


def test_artifacts_roundtrip_dedup_and_layout(store, tmp_path):
    run = store.create_run(store.create_experiment("e").id)
    payload = b"model-bytes" * 1000
    f = tmp_path / "model.bin"
    f.write_bytes(payload)
    a = store.log_artifact(run.id, f, "model/model.bin")
    b = store.log_artifact(run.id, f, "copy/model.bin")
    assert a.digest == b.digest == hashlib.sha256(payload).hexdigest() and a.size == len(payload)
    (tmp_path / "notes.txt").write_text("v1")
    store.log_artifact(run.id, tmp_path / "notes.txt", "notes.txt")
    (tmp_path / "notes.txt").write_text("v2")
    store.log_artifact(run.id, tmp_path / "notes.txt", "notes.txt")  # overwrite
    top = {(i.path, i.is_dir) for i in store.list_artifacts(run.id)}
    assert top == {("model", True), ("copy", True), ("notes.txt", False)}
    assert [i.path for i in store.list_artifacts(run.id, "model")] == ["model/model.bin"]
    out = io.BytesIO()
    store.download_artifact(run.id, "model/model.bin", out)
    assert out.getvalue() == payload
    assert b"".join(store.open_artifact(run.id, "notes.txt")) == b"v2"
    with pytest.raises(InvalidInput):
        store.log_artifact(run.id, f, "../escape.bin")
    with pytest.raises(NotFound):
        store.open_artifact(run.id, "missing.bin")


def test_datasets_versions_and_uses(store, tmp_path):
    data = tmp_path / "d.parquet"
    data.write_bytes(b"PAR1 not really parquet, the store keeps bytes")
    first = store.log_dataset("tx", "a" * 64, data, "test", 10, 2, "columns: {}", "{}")
    again = store.log_dataset("tx", "a" * 64, data, "test", 10, 2, "columns: {}", "{}")
    second = store.log_dataset("tx", "b" * 64, data, "test", 12, 2, "columns: {}", "{}")
    assert (first.version, again.version, second.version) == (1, 1, 2)
    assert store.get_dataset("tx").version == 2 and store.get_dataset("tx", 1).num_rows == 10
    assert [d.ref for d in store.list_datasets("tx")] == ["tx@1", "tx@2"]
    assert b"".join(store.open_dataset("tx", 1)) == data.read_bytes()
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

"""Text that no database can store is refused the same way by every backend: a NUL character
in any name, key, value, path or filter is InvalidInput before it reaches SQL."""

from __future__ import annotations

import pytest

from modelcycle import InvalidInput, Metric, Stage
from tests.store.datasets import dataset_version

NUL = "a\x00b"


@pytest.fixture
def world(store, tmp_path):
    """An experiment, a run with an artifact and a dataset, and a registered model version."""
    exp = store.create_experiment("e")
    run = store.create_run(exp.id)
    data = tmp_path / "f.bin"
    data.write_bytes(b"content")
    store.log_artifact(run.id, data, "dir/f.bin")
    store.log_dataset("d", **dataset_version(3, tmp_path / "dataset"))
    store.create_model_version("m", run.id, "dir", "ana")
    return {"exp": exp.id, "run": run.id, "file": data}


CALLS = {
    # experiments
    "experiment name": lambda s, w: s.create_experiment(NUL),
    "experiment tag key": lambda s, w: s.create_experiment("x", {NUL: "v"}),
    "experiment tag value": lambda s, w: s.create_experiment("x", {"k": NUL}),
    "experiment by name": lambda s, w: s.get_experiment_by_name(NUL),
    "experiment rename": lambda s, w: s.rename_experiment(w["exp"], NUL),
    "experiment set tag key": lambda s, w: s.set_experiment_tag(w["exp"], NUL, "v"),
    "experiment set tag value": lambda s, w: s.set_experiment_tag(w["exp"], "k", NUL),
    # runs
    "run name": lambda s, w: s.create_run(w["exp"], name=NUL),
    "run tag at creation": lambda s, w: s.create_run(w["exp"], tags={"k": NUL}),
    "run rename": lambda s, w: s.update_run(w["run"], name=NUL),
    "param key": lambda s, w: s.log_batch(w["run"], params={NUL: "v"}),
    "param value": lambda s, w: s.log_batch(w["run"], params={"k": NUL}),
    "tag key": lambda s, w: s.log_batch(w["run"], tags={NUL: "v"}),
    "tag value": lambda s, w: s.log_batch(w["run"], tags={"k": NUL}),
    "metric key": lambda s, w: s.log_batch(w["run"], [Metric(NUL, 1.0, 0, 0)]),
    "delete tag key": lambda s, w: s.delete_tag(w["run"], NUL),
    "metric history key": lambda s, w: s.get_metric_history(w["run"], NUL),
    # search
    "filter value": lambda s, w: s.search_runs(None, "params.k = 'a\x00b'"),
    "filter key": lambda s, w: s.search_runs(None, "params.`a\x00b` = 'x'"),
    "order by": lambda s, w: s.search_runs(None, None, ["params.`a\x00b`"]),
    # artifacts
    "artifact path": lambda s, w: s.log_artifact(w["run"], w["file"], "dir/a\x00b"),
    "artifact listing": lambda s, w: s.list_artifacts(w["run"], "dir\x00"),
    "artifact read": lambda s, w: b"".join(s.open_artifact(w["run"], "dir/f.bin\x00")),
    # datasets
    "dataset name": lambda s, w: s.log_dataset(NUL, **dataset_version(4)),
    "dataset source": lambda s, w: s.log_dataset("d", **(dataset_version(4) | {"source": NUL})),
    "dataset get": lambda s, w: s.get_dataset(NUL),
    "dataset get version": lambda s, w: s.get_dataset(NUL, 1),
    "dataset list": lambda s, w: s.list_datasets(NUL),
    "dataset uses": lambda s, w: s.dataset_uses(name=NUL),
    # registry
    "model name": lambda s, w: s.create_registered_model(NUL),
    "model description": lambda s, w: s.create_registered_model("m2", NUL),
    "model tag at creation": lambda s, w: s.create_registered_model("m2", "", {"k": NUL}),
    "model get": lambda s, w: s.get_registered_model(NUL),
    "model update description": lambda s, w: s.update_registered_model("m", NUL),
    "model tag key": lambda s, w: s.set_registered_model_tag("m", NUL, "v"),
    "model tag value": lambda s, w: s.set_registered_model_tag("m", "k", NUL),
    "version user": lambda s, w: s.create_model_version("m", w["run"], "dir", NUL),
    "version description": lambda s, w: s.create_model_version("m", w["run"], "dir", "ana", NUL),
    "version tag at creation": lambda s, w: s.create_model_version("m", w["run"], "dir", "ana", "", {NUL: "v"}),
    "version artifact path": lambda s, w: s.create_model_version("m", w["run"], NUL, "ana"),
    "version update description": lambda s, w: s.update_model_version("m", 1, NUL),
    "version tag key": lambda s, w: s.set_model_version_tag("m", 1, NUL, "v"),
    "version tag value": lambda s, w: s.set_model_version_tag("m", 1, "k", NUL),
    "alias set": lambda s, w: s.set_model_alias("m", NUL, 1, "ana"),
    "alias get": lambda s, w: s.get_model_version_by_alias("m", NUL),
    "alias delete": lambda s, w: s.delete_model_alias("m", NUL, "ana"),
    "stage reason": lambda s, w: s.transition_model_version_stage("m", 1, Stage.STAGING, "ana", NUL),
    "stage user": lambda s, w: s.transition_model_version_stage("m", 1, Stage.STAGING, NUL),
    "history": lambda s, w: s.model_history(NUL),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_nul_character_is_invalid_input_everywhere(store, world, call):
    with pytest.raises(InvalidInput, match="NUL character"):
        call(store, world)


def test_nothing_was_written_by_the_refused_calls(store, world):
    for call in CALLS.values():
        with pytest.raises(InvalidInput):
            call(store, world)
    assert [e.name for e in store.list_experiments()] == ["e"]
    run = store.get_run(world["run"])
    assert run.params == {} and run.metrics == {} and not any("\x00" in k + v for k, v in run.tags.items())
    assert [m.name for m in store.list_registered_models()] == ["m"]
    assert [v.version for v in store.list_model_versions("m")] == [1]
    assert [d.ref for d in store.list_datasets()] == ["d@1"]


@pytest.mark.parametrize("arguments", [dict(filter="name = '\ud800'"), dict(order_by=["params.`\ud800`"]),
                                       dict(filter="name = '\ud800'", page_token="x")])
def test_a_search_with_a_lone_surrogate_is_invalid_input(store, arguments):
    with pytest.raises(InvalidInput):
        store.search_runs(None, **arguments)

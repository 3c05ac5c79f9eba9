"""What is in Production is what was promoted: a registered version's files are pinned by
digest when it is registered, writes that would change them are refused, and loading a version
uses only the pinned bytes. On SQLite, PostgreSQL and through the server."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.tree import DecisionTreeClassifier
from sqlalchemy import create_engine, text

import modelcycle as mc


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def two_models(cancer):
    X, y = cancer
    return (DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y),
            DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y))


def _database(store_uris, request) -> str:
    uri = store_uris[0]
    return request.getfixturevalue("tracking_server").store_uri if uri.startswith("http") else uri


def test_another_model_logged_to_a_promoted_path_is_refused(tracking, cancer, two_models):
    X, _ = cancer
    promoted, other = two_models
    with mc.start_run(experiment="integrity") as run:
        info = mc.log_model(promoted, "model", input_example=X.head(10), registered_model_name="fraud")
    mc.promote("fraud", 1)
    expected = promoted.predict_proba(X)
    pinned = mc.get_model_version("fraud@production").files
    assert pinned == {**{rel: meta["sha256"] for rel, meta in info.manifest.files.items()},
                      "model.yaml": pinned["model.yaml"]}
    history = tracking.store.model_history("fraud")

    with pytest.raises(mc.Conflict, match=r"'model/.*' is in the folder of version 1 of 'fraud'"):
        mc.log_model(other, "model", input_example=X.head(10), run_id=run.id)
    with pytest.raises(mc.Conflict, match="version 1 of 'fraud'"):
        tracking.log_text(run.id, "replaced", "model/model.yaml")
    for uri in ("models:/fraud@production", "models:/fraud/1", info.uri):
        np.testing.assert_allclose(mc.load_model(uri).predict_proba(X), expected, err_msg=uri)
    np.testing.assert_allclose(mc.load_model("models:/fraud@production", backend="onnx").predict_proba(X),
                               expected, atol=1e-4)
    assert tracking.store.model_history("fraud") == history

    # the same run can still hold a new model, in another folder, registered as a new version
    second = mc.log_model(other, "model-2", input_example=X.head(10), run_id=run.id, registered_model_name="fraud")
    assert second.registered.version == 2
    np.testing.assert_allclose(mc.load_model("models:/fraud/2").predict_proba(X), other.predict_proba(X))


def test_a_version_loads_only_its_pinned_bytes(tracking, cancer, two_models, store_uris, request):
    """Even when the store's rows are changed behind its back (here: by SQL), so that the run's
    folder holds another complete, self-consistent model, the version refuses to load."""
    X, _ = cancer
    promoted, other = two_models
    with mc.start_run(experiment="integrity") as run:
        mc.log_model(promoted, "model", input_example=X.head(10), registered_model_name="fraud")
        mc.log_model(other, "other", input_example=X.head(10))
    mc.promote("fraud", 1)
    engine = create_engine(_database(store_uris, request))
    with engine.begin() as conn:
        conn.execute(text("UPDATE artifacts SET digest = (SELECT o.digest FROM artifacts o WHERE o.run_id = "
                          "artifacts.run_id AND o.path = 'other/' || substr(artifacts.path, 7)) "
                          "WHERE run_id = :run AND path LIKE 'model/%'"), {"run": run.id})
    engine.dispose()
    np.testing.assert_allclose(mc.load_model(f"runs:/{run.id}/model").predict_proba(X),
                               other.predict_proba(X))  # a plain run folder: what it holds now
    for uri in ("models:/fraud@production", "models:/fraud/1"):
        for backend in ("native", "onnx"):
            with pytest.raises(mc.Conflict, match=r"version 1\).* not the one registered"):
                mc.load_model(uri, backend=backend)


class _ChangedWhileRegistering:
    """The store, with a write to the model's folder landing between the check of the folder
    and the registration: what a concurrent writer could do."""

    def __init__(self, store, run_id: str, local_file):
        self.store, self.run_id, self.local_file = store, run_id, local_file

    def __getattr__(self, name):
        return getattr(self.store, name)

    def create_model_version(self, *args, **kwargs):
        self.store.log_artifact(self.run_id, self.local_file, "model/model.pkl")
        return self.store.create_model_version(*args, **kwargs)


def test_a_folder_changed_while_it_is_registered_is_refused(tracking, cancer, two_models, tmp_path):
    from modelcycle.models.api import register_version

    X, _ = cancer
    with mc.start_run(experiment="integrity") as run:
        info = mc.log_model(two_models[0], "model", input_example=X.head(10))
    other = tmp_path / "other.pkl"
    other.write_bytes(b"other bytes")
    racing = _ChangedWhileRegistering(tracking.store, run.id, other)
    with pytest.raises(mc.Conflict, match=r"changed while it was registered \(model.pkl\), so version 1 of "
                                          r"'fraud' was withdrawn"):
        register_version(racing, info.uri, "fraud", "ana")
    assert tracking.store.list_model_versions("fraud") == []
    (withdrawn,) = tracking.store.list_model_versions("fraud", include_deleted=True)
    assert withdrawn.deleted and withdrawn.files["model.pkl"] != info.manifest.files["model.pkl"]["sha256"]
    assert [h.action for h in tracking.store.model_history("fraud")] == ["register", "delete"]
    with pytest.raises(mc.NotFound):
        mc.load_model("models:/fraud@latest")


def test_a_write_racing_a_registration_never_lands_after_the_pins(store, tmp_path):
    """A writer rewrites a file of the folder as fast as it can while the folder is registered:
    whichever commits first, the pinned digest is the folder's digest afterwards."""
    run_id = store.create_run(store.create_experiment("race").id).id
    contents = []
    for i in range(2):
        contents.append(tmp_path / f"content-{i}")
        contents[-1].write_bytes(f"weights {i}".encode())
    for round_ in range(6):
        folder = f"model-{round_}"
        store.log_artifact(run_id, contents[0], f"{folder}/weights.bin")
        stop, refused = threading.Event(), []

        def write(folder=folder, stop=stop, refused=refused):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    store.log_artifact(run_id, contents[i % 2], f"{folder}/weights.bin")
                except mc.Conflict:
                    refused.append(i)  # the pinned bytes are accepted again; the others are not
                    return

        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.01)
        version = store.create_model_version("raced", run_id, folder, "ana")
        time.sleep(0.01)
        stop.set()
        writer.join(30)
        (info,) = store.list_artifact_files(run_id, folder)
        assert version.files == {"weights.bin": info.digest}, f"round {round_}"


def test_a_version_registered_from_an_empty_folder_stays_empty(tracking, cancer, two_models):
    X, _ = cancer
    with mc.start_run(experiment="integrity") as run:
        pass
    tracking.store.create_model_version("empty", run.id, "model", "ana")  # the store does not check the folder
    with pytest.raises(mc.Conflict, match="version 1 of 'empty'"):
        mc.log_model(two_models[0], "model", input_example=X.head(10), run_id=run.id)
    with pytest.raises(mc.NotFound, match=r"no model.yaml was pinned when it was registered"):
        mc.load_model("models:/empty/1")

"""mc.log_model and mc.load_model with real models trained on scikit-learn's datasets, on SQLite
and through the server: predictions survive the round trip in the native form and in the ONNX
form, the manifest says what the model is, and damaged or unsafe models are refused."""

from __future__ import annotations

import hashlib
import platform
import re
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.models import ColumnSpec, Signature, TensorSpec, read_manifest
from modelcycle.registry import register_model

pytestmark = pytest.mark.parametrize("store_uris", ["sqlite", "server"], indirect=True)

EXAMPLE_ROWS = 30


class MeanAbove:
    """A plain Python model: 1 where a row's mean is above the threshold."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def predict(self, X):
        return (np.asarray(X, dtype=np.float64).mean(axis=1) > self.threshold).astype(np.int64)


@pytest.fixture(scope="module")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    return load_breast_cancer(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    return load_diabetes(return_X_y=True, as_frame=True)


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, np.asarray(load_iris().target_names)[y]  # string labels


@pytest.fixture(scope="module")
def pipeline(cancer):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(*cancer)


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return metadata.version(f"{name}-cpu")  # xgboost-cpu installs the xgboost module


def _log(model, X, name: str = "model", **kwargs):
    with mc.start_run(experiment="models") as run:
        info = mc.log_model(model, name, input_example=X.head(EXAMPLE_ROWS), **kwargs)
    assert info.uri == f"runs:/{run.id}/{name}" and info.run_id == run.id
    return info


def _sklearn_pipeline(cancer, diabetes, iris):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(*cancer), cancer[0]


def _forest_regressor(cancer, diabetes, iris):
    return RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(*diabetes), diabetes[0]


def _tree_with_string_labels(cancer, diabetes, iris):
    return DecisionTreeClassifier(max_depth=3, random_state=0).fit(*iris), iris[0]


def _xgboost_classifier(cancer, diabetes, iris):
    import xgboost

    return xgboost.XGBClassifier(n_estimators=15, max_depth=3, random_state=0).fit(*cancer), cancer[0]


def _xgboost_regressor(cancer, diabetes, iris):
    import xgboost

    return xgboost.XGBRegressor(n_estimators=15, max_depth=3, random_state=0).fit(*diabetes), diabetes[0]


def _lightgbm_binary(cancer, diabetes, iris):
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=15, random_state=0, verbose=-1).fit(*cancer), cancer[0]


def _lightgbm_multiclass(cancer, diabetes, iris):
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=15, random_state=0, verbose=-1).fit(*iris), iris[0]


def _lightgbm_regressor(cancer, diabetes, iris):
    import lightgbm

    return lightgbm.LGBMRegressor(n_estimators=15, random_state=0, verbose=-1).fit(*diabetes), diabetes[0]


MODELS = {  # id: (train, flavor, task, native format, ONNX converter)
    "sklearn-pipeline": (_sklearn_pipeline, "sklearn", "classification", "pickle", "skl2onnx"),
    "sklearn-forest-regressor": (_forest_regressor, "sklearn", "regression", "pickle", "skl2onnx"),
    "sklearn-tree-string-labels": (_tree_with_string_labels, "sklearn", "classification", "pickle", "skl2onnx"),
    "xgboost-classifier": (_xgboost_classifier, "xgboost", "classification", "xgboost-ubj", "onnxmltools"),
    "xgboost-regressor": (_xgboost_regressor, "xgboost", "regression", "xgboost-ubj", "onnxmltools"),
    "lightgbm-binary": (_lightgbm_binary, "lightgbm", "classification", "lightgbm-text", "onnxmltools"),
    "lightgbm-multiclass": (_lightgbm_multiclass, "lightgbm", "classification", "lightgbm-text", "onnxmltools"),
    "lightgbm-regressor": (_lightgbm_regressor, "lightgbm", "regression", "lightgbm-text", "onnxmltools"),
}
LIBRARIES = {"sklearn": ["scikit-learn", "cloudpickle"], "xgboost": ["xgboost", "scikit-learn"],
             "lightgbm": ["lightgbm", "scikit-learn"], "python": ["cloudpickle"]}


@pytest.fixture(scope="module")
def trained(cancer, diabetes, iris):
    cache = {}

    def get(case: str):
        if case not in cache:
            cache[case] = MODELS[case][0](cancer, diabetes, iris)
        return cache[case]

    return get


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("case", list(MODELS))
def test_native_and_onnx_forms_predict_like_the_original(tracking, trained, case):
    model, X = trained(case)
    _, flavor, task, native_format, converter = MODELS[case]
    info = _log(model, X)
    manifest = info.manifest
    assert (manifest.flavor, manifest.task, manifest.native["format"]) == (flavor, task, native_format)
    assert manifest.model_class == f"{type(model).__module__}.{type(model).__qualname__}"
    assert manifest.onnx["file"] == "model.onnx" and manifest.onnx["converter"].startswith(converter)
    assert manifest.onnx["checked_rows"] == EXAMPLE_ROWS

    expected = model.predict(X)
    native = mc.load_model(info.uri)
    onnx = mc.load_model(info.uri, backend="onnx")
    assert (native.backend, onnx.backend) == ("native", "onnx")
    if task == "classification":
        assert manifest.classes == model.classes_.tolist()
        np.testing.assert_array_equal(native.classes_, model.classes_)
        np.testing.assert_array_equal(native.predict(X), expected)
        np.testing.assert_array_equal(onnx.predict(X).astype(expected.dtype), expected)
        proba = model.predict_proba(X)
        np.testing.assert_allclose(native.predict_proba(X), proba, rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(onnx.predict_proba(X), proba, atol=1e-4)  # float32 inside
    else:
        assert manifest.classes is None and native.classes_ is None
        np.testing.assert_allclose(native.predict(X), expected, rtol=1e-7)
        # float32 inside ONNX: agreement relative to the size of the predictions
        np.testing.assert_allclose(onnx.predict(X), expected, rtol=0, atol=1e-4 * np.abs(expected).max())
        with pytest.raises(mc.InvalidInput, match="predict_proba is for classifiers"):
            native.predict_proba(X)
        with pytest.raises(mc.InvalidInput, match="predict_proba is for classifiers"):
            onnx.predict_proba(X)

    # Pinned to what is installed here, and written out as requirements.txt too.
    packages = manifest.requirements["packages"]
    assert list(packages) == ["numpy", "pandas", *LIBRARIES[flavor], "onnxruntime"]
    assert packages == {name: _installed(name) for name in packages}
    assert manifest.requirements["python"] == platform.python_version()
    requirements = tracking.read_artifact(info.run_id, "model/requirements.txt").decode()
    assert requirements.splitlines() == [f"{k}=={v}" for k, v in packages.items()]


def test_a_python_object_with_predict(tracking, cancer):
    X, _ = cancer
    model = MeanAbove(float(X.to_numpy().mean()))
    expected = model.predict(X)
    assert 0 < expected.sum() < len(expected)  # both answers occur
    info = _log(model, X, "rule")
    manifest = info.manifest
    assert (manifest.flavor, manifest.task, manifest.classes) == ("python", "other", None)
    assert manifest.model_class == f"{__name__}.MeanAbove" and manifest.native["format"] == "pickle"
    assert manifest.onnx == {"file": None, "reason": "a python-function model has no ONNX converter"}
    assert list(manifest.requirements["packages"]) == ["numpy", "pandas", "cloudpickle"]
    np.testing.assert_array_equal(mc.load_model(info.uri).predict(X), expected)
    with pytest.raises(mc.InvalidInput, match="no ONNX form: a python-function model has no ONNX converter"):
        mc.load_model(info.uri, backend="onnx")
    with pytest.raises(mc.InvalidInput, match="backend must be 'native' or 'onnx'"):
        mc.load_model(info.uri, backend="torch")


def test_without_an_input_example_there_is_no_signature_and_no_onnx_form(tracking, cancer, pipeline):
    X, _ = cancer
    with mc.start_run(experiment="models"):
        info = mc.log_model(pipeline, "model")
    assert info.manifest.signature is None and info.manifest.input_example is None
    assert info.manifest.onnx["file"] is None and "no input_example" in info.manifest.onnx["reason"]
    assert set(info.manifest.files) == {"model.pkl", "requirements.txt"}
    loaded = mc.load_model(info.uri)
    assert loaded.signature is None
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    with pytest.raises(mc.InvalidInput, match="no input_example"):
        mc.load_model(info.uri, backend="onnx")


# ---------------------------------------------------------------------------- the manifest
def test_the_manifest_records_signature_run_datasets_metrics_and_file_digests(tracking, cancer, pipeline):
    from sklearn.metrics import accuracy_score, roc_auc_score

    X, y = cancer
    train, test = X.iloc[::2], X.iloc[1::2]
    auc = roc_auc_score(y.iloc[1::2], pipeline.predict_proba(test)[:, 1])
    accuracy = accuracy_score(y.iloc[1::2], pipeline.predict(test))
    with mc.start_run(experiment="models") as run:
        mc.log_dataset(train, "cancer-train", role="train")
        mc.log_dataset(test, "cancer-test", role="eval")
        mc.log_metrics({"roc_auc": auc, "accuracy": accuracy})
        info = mc.log_model(pipeline, "clf", input_example=test.head(EXAMPLE_ROWS))
    manifest = read_manifest(info.uri)
    assert manifest == info.manifest
    assert manifest.model_class == "sklearn.pipeline.Pipeline"
    assert manifest.signature == Signature([ColumnSpec(c, "double") for c in X.columns], TensorSpec("int64", (-1,)))
    assert manifest.run["id"] == run.id
    assert sorted(manifest.run["datasets"], key=lambda d: d["role"]) == [
        {"dataset": "cancer-test@1", "role": "eval"}, {"dataset": "cancer-train@1", "role": "train"}]
    assert manifest.run["metrics"] == {"accuracy": accuracy, "roc_auc": auc}

    # The ONNX form's agreement, recomputed here on the same example rows.
    example = test.head(EXAMPLE_ROWS)
    onnx_proba = mc.load_model(info.uri, backend="onnx").predict_proba(example)
    diff = float(np.max(np.abs(onnx_proba - pipeline.predict_proba(example))))
    assert 0 <= manifest.onnx["max_abs_diff"] <= 1e-4
    assert manifest.onnx["max_abs_diff"] == pytest.approx(diff, rel=1e-6, abs=1e-12)
    assert manifest.onnx["inputs"] == "matrix" and manifest.input_example == "input_example.json"

    stored = {a.path for a in tracking.list_artifacts(run.id, "clf")}
    assert stored - {"clf/model.yaml"} == {f"clf/{f}" for f in manifest.files}
    for name, meta in manifest.files.items():
        data = tracking.read_artifact(run.id, f"clf/{name}")
        assert meta == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert yaml.safe_load(tracking.read_artifact(run.id, "clf/model.yaml"))["modelcycle_model"] == 1


def test_every_file_of_the_model_folder_is_in_the_manifest(tracking, cancer, pipeline):
    X, _ = cancer
    info = _log(pipeline, X)
    stored = {a.path for a in tracking.list_artifacts(info.run_id, "model")}
    assert stored - {"model/model.yaml"} == {f"model/{f}" for f in info.manifest.files}


def test_a_signature_inferred_from_a_numpy_array(tracking, cancer):
    X, y = cancer
    array = X.to_numpy()
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(array, y)
    with mc.start_run(experiment="models"):
        info = mc.log_model(model, "tensor", input_example=array[:EXAMPLE_ROWS])
    assert info.manifest.signature == Signature(TensorSpec("float64", (-1, 30)), TensorSpec("int64", (-1,)))
    example = tracking.read_artifact(info.run_id, "tensor/input_example.json")
    assert yaml.safe_load(example)["dtype"] == "float64"
    loaded = mc.load_model(info.uri)
    np.testing.assert_array_equal(loaded.predict(array), model.predict(array))
    np.testing.assert_array_equal(loaded.predict(array.round().astype(np.int64)), model.predict(array.round()))
    np.testing.assert_array_equal(mc.load_model(info.uri, backend="onnx").predict(array), model.predict(array))
    with pytest.raises(mc.InvalidInput, match=r"tensor of shape \[-1, 30\].*got shape \[569, 29\]"):
        loaded.predict(array[:, :29])


def test_signature_types_of_a_mixed_dataframe(tracking):
    frame = pd.DataFrame({"count": np.arange(40, dtype=np.int64), "small": np.arange(40, dtype=np.int32),
                          "ratio": np.linspace(0, 1, 40, dtype=np.float32), "flag": np.arange(40) % 2 == 0,
                          "size": np.linspace(1, 9, 40)})
    model = MeanAbove(5.0)
    with mc.start_run(experiment="models"):
        info = mc.log_model(model, "mixed", input_example=frame)
    assert info.manifest.signature.inputs == [
        ColumnSpec("count", "long"), ColumnSpec("small", "integer"), ColumnSpec("ratio", "float"),
        ColumnSpec("flag", "boolean"), ColumnSpec("size", "double")]
    assert info.manifest.signature.outputs == TensorSpec("int64", (-1,))


# ---------------------------------------------------------------------------- loading by URI
def test_load_by_run_version_alias_stage_and_latest(tracking, cancer):
    X, y = cancer
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    deeper = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    first, second = stump.predict_proba(X), deeper.predict_proba(X)
    assert not np.allclose(first, second)
    with mc.start_run(experiment="models"):
        info1 = mc.log_model(stump, "model", input_example=X.head(10), onnx=False,
                             registered_model_name="cancer")
    with mc.start_run(experiment="models"):
        info2 = mc.log_model(deeper, "model", input_example=X.head(10), onnx=False)
    assert info1.registered.version == 1 and info2.registered is None
    assert register_model(info2, "cancer").version == 2
    mc.set_alias("cancer", "champion", 1)
    mc.promote("cancer", 1)

    expected = {info1.uri: (None, first), info2.uri: (None, second), "models:/cancer/1": (1, first),
                "models:/cancer/2": (2, second), "models:/cancer@champion": (1, first),
                "models:/cancer@production": (1, first), "models:/cancer@latest": (2, second),
                "cancer@2": (2, second), "cancer": (2, second)}
    for uri, (version, proba) in expected.items():
        loaded = mc.load_model(uri)
        assert (loaded.version.version if loaded.version else None) == version, uri
        np.testing.assert_allclose(loaded.predict_proba(X), proba, err_msg=uri)
    mc.promote("cancer", 2)
    assert mc.load_model("models:/cancer@production").version.version == 2
    for uri in ("models:/cancer/9", "models:/cancer@challenger", "models:/nobody@production",
                "models:/nobody/1"):
        with pytest.raises(mc.NotFound):
            mc.load_model(uri)
    for uri in ("models:/cancer/two", "runs:/" + info1.run_id, "runs:/nope/model"):
        with pytest.raises(mc.InvalidInput):
            mc.load_model(uri)


# ---------------------------------------------------------------------------- the signature at predict time
def test_the_signature_checks_and_converts_inputs(tracking, cancer, pipeline):
    X, _ = cancer
    loaded = mc.load_model(_log(pipeline, X).uri)
    expected = pipeline.predict_proba(X)

    with pytest.raises(mc.InvalidInput, match="Missing column 'mean radius': the model takes mean radius"):
        loaded.predict(X.drop(columns=["mean radius"]))
    with pytest.raises(mc.InvalidInput, match="Missing columns 'mean radius', 'worst area'"):
        loaded.predict(X.drop(columns=["mean radius", "worst area"]))
    as_text = X.assign(**{"mean area": X["mean area"].astype(str)})
    with pytest.raises(mc.InvalidInput, match=r"Column 'mean area' must be double; got string "
                                              r"\(values like '1001\.0', '1326\.0', '1203\.0'\)"):
        loaded.predict(as_text)
    with pytest.raises(mc.InvalidInput, match=r"takes 30 columns .*got an array of shape \[569, 29\]"):
        loaded.predict(X.to_numpy()[:, :29])

    # int -> float widening, extra columns dropped, columns put in order, numpy rows by position
    whole = X.round()
    np.testing.assert_allclose(loaded.predict_proba(whole.astype(np.int64)), pipeline.predict_proba(whole))
    shuffled = X.assign(note="extra", id=np.arange(len(X)))[["note", *reversed(X.columns), "id"]]
    np.testing.assert_allclose(loaded.predict_proba(shuffled), expected)
    np.testing.assert_allclose(loaded.predict_proba(X.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(X.head(3).to_dict(orient="records")), pipeline.predict(X.head(3)))
    onnx = mc.load_model(loaded.uri, backend="onnx")
    np.testing.assert_allclose(onnx.predict_proba(shuffled), expected, atol=1e-4)
    with pytest.raises(mc.InvalidInput, match="Column 'mean area' must be double; got string"):
        onnx.predict(as_text)


# ---------------------------------------------------------------------------- refusals
def test_a_model_without_predict_is_refused_and_nothing_is_logged(tracking):
    with mc.start_run(experiment="models") as run:
        with pytest.raises(mc.InvalidInput, match="A dict has no predict method"):
            mc.log_model({"weights": [1, 2]}, "model")
        with pytest.raises(mc.InvalidInput, match="no predict method"):
            mc.log_model(type("NotAModel", (), {"predict": 3})(), "model")
    assert tracking.list_artifacts(run.id) == []


def test_a_folder_without_a_manifest_is_not_a_model(tracking):
    with mc.start_run(experiment="models") as run:
        mc.log_text("just notes", "notes/readme.txt")
    for uri in (f"runs:/{run.id}/notes", f"runs:/{run.id}/nothing-here"):
        with pytest.raises(mc.NotFound, match="no model.yaml"):
            mc.load_model(uri)
        with pytest.raises(mc.NotFound, match="no model.yaml"):
            register_model(uri, "notes")
    with pytest.raises(mc.NotFound):
        tracking.store.get_registered_model("notes")


def _refused_everywhere(tracking, uri: str, error, match: str) -> None:
    """Neither loaded nor registered; the registry is left as it was."""
    before = tracking.store.list_model_versions()
    with pytest.raises(error, match=match):
        mc.load_model(uri)
    with pytest.raises(error, match=match):
        register_model(uri, "cancer")
    with pytest.raises(error, match=match):
        register_model(uri, "untouched")
    assert tracking.store.list_model_versions() == before
    with pytest.raises(mc.NotFound):
        tracking.store.get_registered_model("untouched")


def test_a_model_missing_a_listed_file_is_refused(tracking, cancer, pipeline):
    X, _ = cancer
    good = _log(pipeline, X, "good", registered_model_name="cancer")
    assert good.registered.version == 1
    bad = _log(pipeline, X, "bad")
    manifest = yaml.safe_load(tracking.read_artifact(bad.run_id, "bad/model.yaml"))
    manifest["files"]["weights.bin"] = {"sha256": "ab" * 32, "size": 3}
    tracking.log_text(bad.run_id, yaml.safe_dump(manifest, sort_keys=False), "bad/model.yaml")
    _refused_everywhere(tracking, bad.uri, mc.NotFound, "missing its file 'weights.bin'")
    assert [v.version for v in tracking.store.list_model_versions("cancer")] == [1]


def test_a_model_file_changed_after_logging_is_refused(tracking, cancer, pipeline):
    X, _ = cancer
    info = _log(pipeline, X)
    tracking.log_text(info.run_id, "not the model", "model/model.pkl")
    _refused_everywhere(tracking, info.uri, mc.InvalidInput, r"'model.pkl' of the model at .* \(its digest differs\)")
    with pytest.raises(mc.InvalidInput, match="digest differs"):
        mc.load_model(info.uri, backend="onnx")  # every file is checked, not only the one loaded


MALFORMED = {  # what model.yaml becomes: (change, the field the error must name)
    "invalid-yaml": ("{{{ flavor: [sklearn", "not valid YAML"),
    "a-list": ([1, 2], "must be a mapping"),
    "empty": ("", "must be a mapping"),
    "format": ({"modelcycle_model": 2}, "'modelcycle_model' must be 1"),
    "flavor": ({"flavor": "pytorch"}, "'flavor' must be one of sklearn, xgboost, lightgbm, python; got 'pytorch'"),
    "task": ({"task": None}, "'task' must be one of classification, regression, other; got None"),
    "created-at": ({"created_at": "yesterday"}, "'created_at' must be int; got 'yesterday'"),
    "files": ({"files": ["model.pkl"]}, "'files' must be dict"),
    "native": ({"native": "model.pkl"}, "'native' must be dict"),
    "native-format": ({"native": {"file": "model.pkl"}}, "'native' needs a file and a format"),
    "onnx": ({"onnx": None}, "'onnx' must be dict"),
    "requirements": ({"requirements": "numpy"}, "'requirements' must be dict"),
    "classes": ({"classes": "abc"}, "'classes' must be a list"),
    "digest": ({"files": {"model.pkl": {"size": 3}}}, "files.model.pkl needs a sha256"),
    "unlisted-file": ({"native": {"file": "other.pkl", "format": "pickle"}},
                      "'other.pkl' is used but not listed under 'files'"),
    "signature-type": ({"signature": {"inputs": {"columns": [{"name": "a", "type": "complex"}]}}},
                       "signature.inputs.columns entries need a name and a type"),
    "signature-shape": ({"signature": {"inputs": {"tensor": {"dtype": "float64"}}}},
                        "signature.inputs.tensor needs a numpy dtype and a shape"),
    "input-example": ({"input_example": 5}, "'input_example' must be a file name"),
    "run": ({"run": [1]}, "'run' must be a mapping"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_manifest_is_refused_naming_the_field(tracking, cancer, pipeline, case):
    X, _ = cancer
    info = _log(pipeline, X)
    manifest = yaml.safe_load(tracking.read_artifact(info.run_id, "model/model.yaml"))
    change, expected = MALFORMED[case]
    text = change if isinstance(change, str) else yaml.safe_dump(
        {**manifest, **change} if isinstance(change, dict) else change, sort_keys=False)
    tracking.log_text(info.run_id, text, "model/model.yaml")
    _refused_everywhere(tracking, info.uri, mc.InvalidInput, re.escape(expected))


# ---------------------------------------------------------------------------- local folders
def test_a_pickled_model_in_a_local_folder_loads_only_as_onnx(tracking, cancer, pipeline, tmp_path):
    X, _ = cancer
    info = _log(pipeline, X)
    folder = tracking.download_artifacts(info.run_id, "model", tmp_path / "download")
    assert (folder / "model.yaml").is_file()
    with pytest.raises(mc.InvalidInput, match="pickled.*backend='onnx'"):
        mc.load_model(str(folder))
    onnx = mc.load_model(str(folder), backend="onnx")
    np.testing.assert_allclose(onnx.predict_proba(X), pipeline.predict_proba(X), atol=1e-4)
    np.testing.assert_array_equal(onnx.predict(X), pipeline.predict(X))

    (folder / "model.onnx").write_bytes(b"changed")
    with pytest.raises(mc.InvalidInput, match="'model.onnx' .* does not match its manifest digest"):
        mc.load_model(str(folder), backend="onnx")
    (folder / "model.onnx").unlink()
    with pytest.raises(mc.NotFound, match="missing its file 'model.onnx'"):
        mc.load_model(str(folder), backend="onnx")
    with pytest.raises(mc.NotFound, match="no model.yaml"):
        mc.load_model(str(tmp_path))


def test_a_model_saved_in_its_own_format_loads_natively_from_a_local_folder(tracking, trained, tmp_path):
    model, X = trained("xgboost-classifier")
    info = _log(model, X)
    folder = tracking.download_artifacts(info.run_id, "model", tmp_path / "download")
    loaded = mc.load_model(str(folder))
    assert loaded.backend == "native" and loaded.version is None
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-7)


def test_a_local_folder_by_file_uri(tracking, cancer, pipeline, tmp_path):
    X, _ = cancer
    info = _log(pipeline, X)
    folder = tracking.download_artifacts(info.run_id, "model", tmp_path / "download")
    onnx = mc.load_model(folder.resolve().as_uri(), backend="onnx")
    np.testing.assert_array_equal(onnx.predict(X), pipeline.predict(X))

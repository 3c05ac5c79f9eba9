"""mc.evaluate end to end: what it logs and where, models and data by reference, slices,
baselines, explanations, and bad input refused with nothing logged."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk
from sklearn.cluster import KMeans
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.exceptions import InvalidInput

PNG = b"\x89PNG\r\n\x1a\n"
BINARY_METRICS = {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
                  "brier"}


@pytest.mark.parametrize("store_uris", ["sqlite", "postgresql", "server"], indirect=True)
def test_logs_metrics_plots_and_report_and_links_the_eval_dataset(tracking, cancer, logistic):
    _, test, features = cancer
    stored = mc.log_dataset(test, "cancer-eval", role="eval", run_id=None)
    with mc.start_run(experiment="evaluation") as run:
        result = mc.evaluate(logistic, stored.ref, "target", slices=["size"], sensitive=["size"])
    assert result.run_id == run.id and result.dataset == "cancer-eval@1"
    logged = tracking.get_run(run.id)
    proba = logistic.predict_proba(test[features])[:, 1]
    y = test["target"].to_numpy()
    assert logged.metrics["roc_auc"].value == pytest.approx(sk.roc_auc_score(y, proba), rel=1e-12)
    assert logged.metrics["f1"].value == pytest.approx(sk.f1_score(y, proba > 0.5), rel=1e-12)
    assert BINARY_METRICS <= set(logged.metrics)
    assert "fairness.size.demographic_parity_difference" in logged.metrics
    uses = tracking.store.dataset_uses(run_id=run.id)
    assert [(u.dataset, u.role) for u in uses] == [("cancer-eval@1", "eval")]
    files = {a.path for a in tracking.store.list_artifact_files(run.id)}
    assert files == {"evaluation/metrics.json", "evaluation/report.html", "evaluation/plots/roc.png",
                     "evaluation/plots/precision_recall.png", "evaluation/plots/calibration.png",
                     "evaluation/plots/lift.png"}
    for name in files:
        if name.endswith(".png"):
            assert tracking.read_artifact(run.id, name).startswith(PNG)
    data = json.loads(tracking.read_artifact(run.id, "evaluation/metrics.json"))
    assert data["metrics"]["roc_auc"] == logged.metrics["roc_auc"].value
    assert data["confusion_matrix"] == sk.confusion_matrix(y, proba > 0.5).tolist()
    assert [row["group"] for row in data["slices"][0]["rows"]] == ["large", "medium", "small"]
    assert logged.tags["mc.eval.dataset"] == "cancer-eval@1" and logged.tags["mc.eval.target"] == "target"


def test_the_report_is_one_page_with_its_plots_and_no_rows(cancer, forest):
    _, test, features = cancer
    result = mc.evaluate(forest, test, "target", slices=["size", "mean area"], sensitive=["size"])
    html = mc.Client().read_artifact(result.run_id, "evaluation/report.html").decode()
    assert html.count('src="data:image/png;base64,') == 4
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "By size" in html and "By mean area (bins)" in html and "Fairness across size" in html
    for value in test[features].iloc[:5].to_numpy().ravel():  # no row of the data reaches the page
        assert repr(float(value)) not in html or float(value) in (0.0, 1.0)
    assert f"{result.rows:,} rows" in html


def test_slice_metrics_are_the_metrics_of_each_slice(cancer, logistic):
    _, test, features = cancer
    result = mc.evaluate(logistic, test, "target", slices=["size", ("mean texture", 3)])
    size, texture = result.slices
    assert sum(row["count"] for row in size.rows) == len(test)
    for row in size.rows:
        part = test[test["size"] == row["group"]]
        y, proba = part["target"], logistic.predict_proba(part[features])[:, 1]
        assert row["count"] == len(part) and row["positives"] == int(y.sum())
        assert row["accuracy"] == pytest.approx(sk.accuracy_score(y, proba > 0.5), rel=1e-12)
        if y.nunique() == 2:
            assert row["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba), rel=1e-12)
        else:
            assert np.isnan(row["roc_auc"])
    assert texture.kind == "bins" and len(texture.rows) == 3
    assert [row["count"] for row in texture.rows] == pytest.approx([len(test) / 3] * 3, abs=2)


def test_a_model_by_uri_outside_a_run_logs_into_the_run_that_logged_it(cancer, logistic):
    """So the registered version's gates see its evaluation."""
    _, test, features = cancer
    with mc.start_run(experiment="evaluation") as run:
        info = mc.log_model(logistic, "model", input_example=test[features].head(5), onnx=False)
    version = mc.register_model(info, "cancer")
    result = mc.evaluate("cancer@1", test, "target", dataset_name="cancer-eval")
    assert result.run_id == run.id == version.run_id
    client = mc.Client()
    assert client.get_run(run.id).metrics["roc_auc"].value == result.metrics["roc_auc"]
    assert [(u.dataset, u.role) for u in client.store.dataset_uses(run_id=run.id)] == [("cancer-eval@1", "eval")]
    assert result.features == features  # the signature's columns: 'size' is not given to the model
    assert client.get_run(run.id).tags["mc.eval.model"] == "cancer@1"
    loaded = mc.evaluate(mc.load_model("models:/cancer/1"), test, "target", plots=False, report=False)
    assert loaded.features == features and loaded.metrics == result.metrics and loaded.run_id == run.id


def test_a_dataframe_is_stored_only_when_named(cancer, logistic):
    _, test, _ = cancer
    result = mc.evaluate(logistic, test, "target")
    client = mc.Client()
    run = client.get_run(result.run_id)
    assert result.dataset is None and client.store.dataset_uses(run_id=run.id) == []
    assert run.tags["mc.eval.dataset"] == "(a DataFrame, not stored)"
    assert run.status is mc.RunStatus.FINISHED  # the run it started is ended


def test_string_labels_and_another_positive_class(cancer):
    train, test, features = cancer
    labels = {0: "malignant", 1: "benign"}
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train[features], train["target"].map(labels))
    frame = test.assign(target=test["target"].map(labels))
    result = mc.evaluate(model, frame, "target", pos_label="malignant", threshold=0.3, plots=False, report=False)
    proba = model.predict_proba(frame[features])[:, list(model.classes_).index("malignant")]
    y = (frame["target"] == "malignant").to_numpy()
    assert result.positive_label == "malignant" and result.labels == ["benign", "malignant"]
    assert result.metrics["recall"] == pytest.approx(sk.recall_score(y, proba > 0.3), rel=1e-12)
    assert result.metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba), rel=1e-12)
    assert result.confusion_matrix == sk.confusion_matrix(frame["target"], np.where(proba > 0.3, "malignant", "benign"),
                                                          labels=["benign", "malignant"]).tolist()
    first = mc.evaluate(model, frame, "target", pos_label="benign", plots=False, report=False)  # the first class
    benign = 1 - proba
    assert first.metrics["recall"] == pytest.approx(sk.recall_score(~y, benign > 0.5), rel=1e-12)
    assert first.confusion_matrix == sk.confusion_matrix(frame["target"], model.predict(frame[features]),
                                                         labels=["benign", "malignant"]).tolist()


def test_regression_metrics_and_residual_plot(cancer):
    train, test, features = cancer
    target = "mean area"
    inputs = [f for f in features if f != target]
    model = LinearRegression().fit(train[inputs], train[target])
    result = mc.evaluate(model, test, target, slices=["size"])
    predicted = model.predict(test[inputs])
    assert result.task == "regression"
    assert result.metrics["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(test[target], predicted)), rel=1e-12)
    assert result.metrics["r2"] == pytest.approx(sk.r2_score(test[target], predicted), rel=1e-12)
    assert "evaluation/plots/residuals.png" in result.artifacts
    assert {row["group"] for row in result.slices[0].rows} == {"small", "medium", "large"}


def test_multiclass(cancer):
    train, test, features = cancer
    sizes = pd.cut(train["mean radius"], [0, 12, 15, np.inf], labels=["small", "medium", "large"]).astype(str)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(train[features], sizes)
    result = mc.evaluate(model, test.drop(columns="target"), "size", features=features, plots=False)
    predicted = model.predict(test[features])
    assert result.task == "multiclass"
    assert result.metrics["accuracy"] == pytest.approx(sk.accuracy_score(test["size"], predicted))
    assert result.metrics["f1"] == pytest.approx(sk.f1_score(test["size"], predicted, average="macro"))


def test_a_registered_baseline_is_compared_on_the_same_rows(cancer, logistic, forest):
    _, test, features = cancer
    with mc.start_run(experiment="evaluation"):
        info = mc.log_model(logistic, "model", input_example=test[features].head(5), onnx=False)
    mc.register_model(info, "cancer")
    mc.promote("cancer", 1)
    with mc.start_run(experiment="evaluation") as run:
        result = mc.evaluate(forest, test, "target", baseline="models:/cancer@production", dataset_name="cancer-eval")
    comparison = result.comparison
    assert (comparison.baseline_model, comparison.baseline_version) == ("cancer", 1)
    by_metric = {row["metric"]: row for row in comparison.rows}
    y = test["target"]
    auc_forest = sk.roc_auc_score(y, forest.predict_proba(test[features])[:, 1])
    auc_logistic = sk.roc_auc_score(y, logistic.predict_proba(test[features])[:, 1])
    assert by_metric["roc_auc"]["candidate"] == pytest.approx(auc_forest, rel=1e-12)
    assert by_metric["roc_auc"]["baseline"] == pytest.approx(auc_logistic, rel=1e-12)
    assert by_metric["roc_auc"]["difference"] == pytest.approx(auc_forest - auc_logistic, rel=1e-9)
    assert comparison.test.method == "DeLong" and 0 <= comparison.test.p_value <= 1
    assert comparison.test.ci_low < comparison.test.difference < comparison.test.ci_high
    tag = json.loads(mc.Client().get_run(run.id).tags["mc.eval.baseline"])
    assert (tag["model"], tag["version"], tag["dataset"]) == ("cancer", 1, "cancer-eval@1")
    assert tag["test"]["p_value"] == comparison.test.p_value
    assert mc.Client().get_run(run.id).metrics["roc_auc_p_value"].value == comparison.test.p_value


def test_permutation_importance_is_scikit_learns_and_shap_explains_trees(cancer, forest):
    from sklearn.inspection import permutation_importance

    _, test, features = cancer
    result = mc.evaluate(forest, test, "target", importance=True, plots=False, report=False)
    permutation = next(i for i in result.importance if i.method == "permutation")
    expected = permutation_importance(forest, test[features], test["target"], scoring="roc_auc", n_repeats=5,
                                      random_state=0)
    got = {row["feature"]: row["importance"] for row in permutation.features}
    for name, value in zip(features, expected.importances_mean):
        assert got[name] == pytest.approx(value, abs=1e-12)
    assert permutation.scoring == "roc_auc" and permutation.rows == len(test)
    if _has_shap():
        shap_values = next(i for i in result.importance if i.method == "shap")
        assert len(shap_values.features) == len(features) and shap_values.features[0]["importance"] > 0


@pytest.mark.parametrize("onnx", [False, True], ids=["native", "onnx"])
def test_a_model_given_by_uri_is_explained_as_its_object_would_be(cancer, forest, onnx):
    _, test, features = cancer
    with mc.start_run(experiment="evaluation"):
        info = mc.log_model(forest, "model", input_example=test[features].head(5), onnx=onnx)
    by_uri = mc.evaluate(info.uri, test, "target", importance=True, plots=False, report=False)
    direct = mc.evaluate(forest, test, "target", importance=True, plots=False, report=False)
    permutation = [i for i in by_uri.importance if i.method == "permutation"]
    expected = next(i for i in direct.importance if i.method == "permutation")
    got = {r["feature"]: r["importance"] for r in permutation[0].features}
    for row in expected.features:
        assert got[row["feature"]] == pytest.approx(row["importance"], abs=1e-6)


def test_a_lightgbm_model_finds_its_columns_though_it_renamed_them(cancer):
    """LightGBM keeps 'mean radius' as 'mean_radius' in feature_names_in_."""
    lightgbm = pytest.importorskip("lightgbm")
    train, test, features = cancer
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(train[features], train["target"])
    assert "mean radius" not in list(model.feature_names_in_)
    result = mc.evaluate(model, test, "target", plots=False, report=False)
    assert result.features == features
    proba = model.predict_proba(test[features])[:, 1]
    assert result.metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(test["target"], proba), rel=1e-12)


def _has_shap() -> bool:
    try:
        import shap  # noqa: F401
    except ImportError:
        return False
    return True


def test_without_shap_the_evaluation_says_so_and_goes_on(cancer, forest, monkeypatch):
    _, test, _ = cancer
    monkeypatch.setitem(sys.modules, "shap", None)  # as if it were not installed
    result = mc.evaluate(forest, test, "target", importance=True, plots=False, report=False)
    assert [i.method for i in result.importance] == ["permutation"]
    assert result.notes == ["SHAP values: shap is not installed (pip install 'modelcycle[explain]')"]


def test_a_learning_curve_on_request(cancer, logistic):
    _, test, _ = cancer
    result = mc.evaluate(logistic, test, "target", learning_curve=True, report=False)
    curve = result.learning_curve
    assert curve["scoring"] == "roc_auc" and len(curve["train_sizes"]) == 5
    assert all(0.5 < s <= 1 for s in curve["test_score"])
    assert "evaluation/plots/learning_curve.png" in result.artifacts


# ---------------------------------------------------------------------- bad input
class _NoPredict:
    pass


@pytest.mark.parametrize("case, message", [
    (lambda t, m: mc.evaluate(m, t, "label"), "target column 'label' is not in the evaluation data"),
    (lambda t, m: mc.evaluate(m, t[t["target"] == 1], "target"), "has one class only"),
    (lambda t, m: mc.evaluate(m, t, "target", slices=["colour"]), "slice column 'colour' is not in"),
    (lambda t, m: mc.evaluate(m, t, "target", sensitive=["nope"]), "sensitive column 'nope' is not in"),
    (lambda t, m: mc.evaluate(_NoPredict(), t, "target"), "has no predict method"),
    (lambda t, m: mc.evaluate(LogisticRegression(), t, "target"), "is not fitted"),
    (lambda t, m: mc.evaluate(m, t, "target", threshold=1.5), "threshold must be a number between 0 and 1"),
    (lambda t, m: mc.evaluate(m, t.drop(columns="mean radius"), "target"), "lacks"),
    (lambda t, m: mc.evaluate(m, t.assign(target=np.where(t["target"] == 1, 1, 7)), "target"),
     "values the model does not predict"),
    (lambda t, m: mc.evaluate(m, t, "target", baseline=LinearRegression().fit(t[["mean radius"]], t["target"])),
     "The baseline must predict what the model predicts"),
    (lambda t, m: mc.evaluate(m, [1, 2], "target"), "must be a pandas DataFrame"),
    (lambda t, m: mc.evaluate(m, "no-such-data@1", "target"), "No dataset named 'no-such-data'"),
    (lambda t, m: mc.evaluate(m, t, "target", dataset_name="eval\x00"), "dataset name contains a NUL"),
    (lambda t, m: mc.evaluate(m, t, "target", dataset_name=""), "dataset name must be"),
    (lambda t, m: mc.evaluate(m, t, "target", artifact_path="../elsewhere"), "artifact path must stay inside"),
    (lambda t, m: mc.evaluate(m, t, "target", artifact_path="eval\x00"), "artifact path contains a NUL"),
    (lambda t, m: mc.evaluate(m, t, "target", features="mean radius"), "features must be a list"),
    (lambda t, m: mc.evaluate(m, t, "target", importance="yes"), "importance must be True or False"),
    (lambda t, m: mc.evaluate(m, t, "target", plots="no"), "plots must be True or False"),
    (lambda t, m: mc.evaluate(KMeans(2, n_init=1, random_state=0).fit(t[["mean radius"]]), t, "target"),
     "neither a classifier nor a regressor"),
])
def test_bad_input_is_refused_with_nothing_logged(cancer, logistic, case, message):
    _, test, _ = cancer
    with mc.start_run(experiment="evaluation") as run:
        with pytest.raises(mc.ModelcycleError, match=message):
            case(test, logistic)
    client = mc.Client()
    logged = client.get_run(run.id)
    assert logged.metrics == {} and list(client.store.list_artifact_files(run.id)) == []
    assert not any(k.startswith("mc.eval") for k in logged.tags) and client.store.dataset_uses(run_id=run.id) == []
    assert [r.id for r in client.search_all_runs("evaluation")] == [run.id]


def test_bad_input_outside_a_run_leaves_no_run_behind(cancer, logistic):
    _, test, _ = cancer
    for bad in ({"dataset_name": "eval\x00"}, {"artifact_path": "../elsewhere"}):
        with pytest.raises(InvalidInput):
            mc.evaluate(logistic, test, "target", **bad)
    assert mc.Client().search_all_runs(None) == []


def test_a_constant_regression_target_is_refused(cancer):
    train, test, features = cancer
    model = LinearRegression().fit(train[features], train["mean area"])
    with pytest.raises(InvalidInput, match="is constant"):
        mc.evaluate(model, test.assign(target=1.0), "target", features=features)


def test_at_the_default_threshold_the_labels_are_the_models_own_predictions(cancer):
    """A probability of exactly 0.5 is not called positive: as predict, which takes the first
    class on a tie. (A forest of 4 trees ties on many rows.)"""
    from sklearn.ensemble import RandomForestClassifier

    train, test, features = cancer
    model = RandomForestClassifier(n_estimators=4, random_state=0).fit(train[features], train["target"])
    assert (model.predict_proba(test[features])[:, 1] == 0.5).any()
    result = mc.evaluate(model, test, "target", plots=False, report=False)
    predicted = model.predict(test[features])
    assert result.metrics["accuracy"] == pytest.approx(sk.accuracy_score(test["target"], predicted), rel=1e-12)
    assert result.metrics["precision"] == pytest.approx(sk.precision_score(test["target"], predicted), rel=1e-12)
    assert result.confusion_matrix == sk.confusion_matrix(test["target"], predicted).tolist()

"""mc.cross_validate: scikit-learn's numbers on the same splits, a parent run with the summary,
one child run per fold, cheap logging, and nothing half-logged."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold, TimeSeriesSplit
from sklearn.model_selection import cross_validate as sk_cross_validate
from sklearn.tree import DecisionTreeClassifier

import modelcycle as mc
from modelcycle.exceptions import InvalidInput


@pytest.fixture
def classification():
    return make_classification(n_samples=240, n_features=6, random_state=0)


@pytest.fixture
def regression():
    return make_regression(n_samples=200, n_features=5, noise=10.0, random_state=0)


def _runs(experiment):
    client = mc.Client()
    try:
        return client.search_all_runs([experiment])
    except mc.NotFound:
        return []


def _assert_same(ours, theirs, names):
    for name in names:
        np.testing.assert_array_equal(ours[f"test_{name}"], theirs[f"test_{name}"])


def test_classifier_default_is_stratified_and_equals_sklearn(classification):
    X, y = classification
    est = LogisticRegression(C=0.3, max_iter=500)
    result = mc.cross_validate(est, X, y, scoring=["accuracy", "roc_auc", "f1"], experiment="cv")
    theirs = sk_cross_validate(est, X, y, cv=StratifiedKFold(5), scoring=["accuracy", "roc_auc", "f1"])
    _assert_same(result, theirs, ["accuracy", "roc_auc", "f1"])
    assert "StratifiedKFold" in mc.Client().get_run(result.run_id).params["cv.splitter"]


def test_the_parent_holds_mean_std_and_the_t_interval(classification):
    X, y = classification
    result = mc.cross_validate(DecisionTreeClassifier(max_depth=3, random_state=0), X, y, cv=4,
                               scoring=["accuracy", "balanced_accuracy"], experiment="cv", confidence=0.9)
    parent = mc.Client().get_run(result.run_id)
    assert parent.status is mc.RunStatus.FINISHED and parent.parent_id is None
    for name in ("accuracy", "balanced_accuracy"):
        values = result[f"test_{name}"]
        low, high = stats.t.interval(0.9, df=len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert parent.metrics[name].value == pytest.approx(values.mean(), rel=1e-12)
        assert parent.metrics[f"{name}_std"].value == pytest.approx(values.std(ddof=1), rel=1e-12)
        assert parent.metrics[f"{name}_ci_low"].value == pytest.approx(low, rel=1e-12)
        assert parent.metrics[f"{name}_ci_high"].value == pytest.approx(high, rel=1e-12)
        assert result.summary[name].ci_low == pytest.approx(low, rel=1e-12)
    assert parent.params["max_depth"] == "3" and parent.params["cv.n_splits"] == "4"
    assert "criterion" not in parent.params  # only what was chosen, not every default


def test_one_child_run_per_fold_with_sizes_digests_and_metrics(classification):
    X, y = classification
    result = mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=3, experiment="cv",
                               return_train_score=True)
    client = mc.Client()
    children = client.search_all_runs(["cv"], f"parent_id = '{result.run_id}'", order_by="name")
    assert [r.name for r in children] == ["fold-0", "fold-1", "fold-2"]
    assert [r.id for r in children] == result.fold_run_ids
    for k, (run, (train, test)) in enumerate(zip(children, result.splits)):
        assert run.status is mc.RunStatus.FINISHED
        assert run.params == {"fold": str(k), "train_size": str(len(train)), "test_size": str(len(test))}
        assert run.tags["mc.cv.test_digest"] == hashlib.sha256(np.asarray(test, "<i8").tobytes()).hexdigest()
        assert run.tags["mc.cv.train_digest"] == hashlib.sha256(np.asarray(train, "<i8").tobytes()).hexdigest()
        assert run.metrics["accuracy"].value == result["test_accuracy"][k]
        assert run.metrics["train_accuracy"].value == result["train_accuracy"][k]
        assert {"fit_time", "score_time"} <= set(run.metrics)
    assert "train_accuracy" in client.get_run(result.run_id).metrics


def test_regressor_default_is_kfold_r2(regression):
    X, y = regression
    result = mc.cross_validate(Ridge(alpha=2.0), X, y, experiment="cv")
    theirs = sk_cross_validate(Ridge(alpha=2.0), X, y, cv=KFold(5), scoring=["r2"])
    _assert_same(result, theirs, ["r2"])


@pytest.mark.parametrize("splitter", [TimeSeriesSplit(n_splits=4), KFold(4, shuffle=True, random_state=3)])
def test_any_splitter(regression, splitter):
    X, y = regression
    scoring = ["neg_mean_absolute_error", "neg_root_mean_squared_error"]
    result = mc.cross_validate(Ridge(), X, y, cv=splitter, scoring=scoring, experiment="cv")
    _assert_same(result, sk_cross_validate(Ridge(), X, y, cv=splitter, scoring=scoring), scoring)
    assert len(result.fold_run_ids) == 4


def test_groups_make_group_folds(classification):
    X, y = classification
    groups = np.repeat(np.arange(24), 10)
    result = mc.cross_validate(LogisticRegression(max_iter=500), X, y, groups=groups, cv=4, experiment="cv")
    theirs = sk_cross_validate(LogisticRegression(max_iter=500), X, y, groups=groups, cv=GroupKFold(4),
                               scoring=["accuracy"])
    _assert_same(result, theirs, ["accuracy"])
    for train, test in result.splits:  # no group on both sides
        assert not set(groups[train]) & set(groups[test])


def test_xgboost_and_lightgbm(classification):
    xgboost = pytest.importorskip("xgboost")
    lightgbm = pytest.importorskip("lightgbm")
    X, y = classification
    for est in (xgboost.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1),
                lightgbm.LGBMClassifier(n_estimators=8, num_leaves=7, verbose=-1, n_jobs=1)):
        result = mc.cross_validate(est, X, y, cv=3, scoring=["roc_auc"], experiment="cv")
        _assert_same(result, sk_cross_validate(est, X, y, cv=StratifiedKFold(3), scoring=["roc_auc"]), ["roc_auc"])


def test_y_may_name_a_column_of_a_frame(classification):
    X, y = classification
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).assign(label=y)
    result = mc.cross_validate(LogisticRegression(max_iter=500), frame, "label", cv=3, experiment="cv")
    theirs = sk_cross_validate(LogisticRegression(max_iter=500), frame.drop(columns="label"), y,
                               cv=StratifiedKFold(3), scoring=["accuracy"])
    _assert_same(result, theirs, ["accuracy"])


def test_folds_on_several_processes_give_the_same_numbers(classification):
    X, y = classification
    one = mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=3, experiment="cv")
    two = mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=3, experiment="cv", n_jobs=2)
    np.testing.assert_array_equal(one["test_accuracy"], two["test_accuracy"])


def test_nested_under_the_active_run(classification):
    X, y = classification
    with mc.start_run(experiment="outer") as outer:
        result = mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=2)
    parent = mc.Client().get_run(result.run_id)
    assert parent.parent_id == outer.id and parent.experiment_id == outer.experiment_id


def test_logging_is_a_few_batched_writes_per_fold(classification, monkeypatch):
    X, y = classification
    store = mc.Client().store
    calls = []
    for method in ("create_run", "log_batch", "update_run", "log_artifact"):
        original = getattr(store, method)
        monkeypatch.setattr(store, method, lambda *a, _o=original, _m=method, **k: (calls.append(_m), _o(*a, **k))[1])
    mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=5, scoring=["accuracy", "roc_auc"], experiment="cv")
    # per fold: its run, one batch of metrics and params, its end; the parent: 4 writes
    assert len(calls) <= 3 * 5 + 4, calls


def test_no_progress_output_when_not_a_terminal(classification, capsys):
    X, y = classification
    mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=2, experiment="cv")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


class _FailsOnThirdFit(ClassifierMixin, BaseEstimator):
    calls = 0

    def fit(self, X, y):
        type(self).calls += 1
        if type(self).calls == 3:
            raise RuntimeError("out of memory (simulated)")
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_a_failing_fold_fails_the_parent_with_the_reason_and_no_summary(classification):
    X, y = classification
    _FailsOnThirdFit.calls = 0
    with pytest.raises(RuntimeError, match="out of memory"):
        mc.cross_validate(_FailsOnThirdFit(), X, y, cv=4, experiment="cv-fail")
    runs = {r.name: r for r in _runs("cv-fail")}
    parent = next(r for r in runs.values() if r.parent_id is None)
    assert parent.status is mc.RunStatus.FAILED
    assert "fold 2" in parent.tags["mc.error"] and "out of memory" in parent.tags["mc.error"]
    assert not parent.metrics  # no mean of two folds passing for the result
    assert runs["fold-0"].status is runs["fold-1"].status is mc.RunStatus.FINISHED
    assert runs["fold-2"].status is mc.RunStatus.FAILED and "out of memory" in runs["fold-2"].tags["mc.error"]
    assert "fold-3" not in runs


class _NoFit:
    def predict(self, X):
        return X


@pytest.mark.parametrize("make_call, message", [
    (lambda X, y: mc.cross_validate(_NoFit(), X, y, experiment="bad"), "has no fit method"),
    (lambda X, y: mc.cross_validate(LogisticRegression, X, y, experiment="bad"), "is a class"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, None, experiment="bad"), "target y is missing"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, np.ones(len(X)), experiment="bad"), "constant"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y[:-1], experiment="bad"), "same length"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, np.where(np.arange(len(y)) < 3, np.nan, y),
                                    experiment="bad"), "missing value"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), pd.DataFrame(X), "label", experiment="bad"),
     "no column 'label'"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, scoring=["acuracy"], experiment="bad"),
     "Unknown metric 'acuracy'"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, cv="five", experiment="bad"), "cannot be made"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, cv=1000, experiment="bad"), "cannot be made"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, groups=[1, 2], experiment="bad"), "one group"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, n_jobs=0, experiment="bad"), "n_jobs must be"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, n_jobs="2", experiment="bad"), "n_jobs must be"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, return_train_score="yes", experiment="bad"),
     "return_train_score must be"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, return_estimator=1, experiment="bad"),
     "return_estimator must be"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, scoring={"acc\x00": "accuracy"}, experiment="bad"),
     "contains a NUL"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, fit_params=[1], experiment="bad"),
     "fit_params must be"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, experiment=""), "experiment name"),
    (lambda X, y: mc.cross_validate(LogisticRegression(), X, y, experiment="  "), "experiment name"),
])
def test_bad_input_is_a_clear_error_and_logs_nothing(classification, make_call, message):
    X, y = classification
    with pytest.raises(InvalidInput, match=message):
        make_call(X, y)
    assert mc.Client().search_all_runs(None) == []


def test_cross_validate_on_every_store(store_uris, classification):
    mc.set_tracking_uri(*store_uris)
    X, y = classification
    result = mc.cross_validate(LogisticRegression(max_iter=500), X, y, cv=3, experiment="stores")
    parent = mc.Client().get_run(result.run_id)
    assert parent.status is mc.RunStatus.FINISHED
    assert parent.metrics["accuracy"].value == pytest.approx(result["test_accuracy"].mean(), rel=1e-12)
    assert len(mc.Client().search_all_runs(["stores"], f"parent_id = '{result.run_id}'")) == 3

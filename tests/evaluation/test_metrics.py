"""Every metric equals scikit-learn's on the same predictions: scores with ties, imbalance,
another positive class, the table by threshold, calibration, multiclass and regression."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.calibration import calibration_curve

from modelcycle.evaluation import metrics as m

EXACT = {"rel": 1e-12, "abs": 1e-15}


def _log_loss(y, proba, **kw):
    if "y_proba" in inspect.signature(sk.log_loss).parameters:
        return sk.log_loss(y, y_proba=proba, **kw)
    return sk.log_loss(y, proba, **kw)


def _cases():
    rng = np.random.default_rng(0)
    for n, rate, rounding in ((40, 0.5, 1), (1000, 0.3, 2), (20_000, 0.03, 3), (5000, 0.5, None)):
        y = rng.random(n) < rate
        score = np.clip(rng.random(n) * 0.7 + y * 0.25, 0, 1)
        if rounding is not None:  # many tied scores
            score = score.round(rounding)
        yield y, score


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: f"n{len(c[0])}")
@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.71])
def test_binary_metrics_equal_scikit_learns(case, threshold):
    y, score = case
    proba = np.c_[1 - score, score]
    got, confusion, _ = m.binary(y, proba, 1, threshold)
    predicted = (score > threshold).astype(int)
    expected = {
        "accuracy": sk.accuracy_score(y, predicted),
        "balanced_accuracy": sk.balanced_accuracy_score(y, predicted),
        "precision": sk.precision_score(y, predicted, zero_division=0),
        "recall": sk.recall_score(y, predicted),
        "f1": sk.f1_score(y, predicted, zero_division=0),
        "roc_auc": sk.roc_auc_score(y, score),
        "pr_auc": sk.average_precision_score(y, score),
        "log_loss": _log_loss(y, proba),
        "brier": sk.brier_score_loss(y, score),
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, **EXACT), key
    assert confusion.tolist() == sk.confusion_matrix(y, predicted).tolist()


def test_the_positive_class_can_be_the_first_column():
    rng = np.random.default_rng(1)
    y_is_first = rng.random(500) < 0.4
    p_first = np.clip(rng.random(500) * 0.6 + y_is_first * 0.3, 0, 1)
    proba = np.c_[p_first, 1 - p_first]
    got, _, _ = m.binary(y_is_first, proba, 0, 0.5)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y_is_first, p_first), **EXACT)
    assert got["log_loss"] == pytest.approx(_log_loss(~y_is_first, proba), **EXACT)
    assert got["recall"] == pytest.approx(sk.recall_score(y_is_first, p_first > 0.5), **EXACT)


def test_the_threshold_table_is_scikit_learns_at_each_threshold():
    y, score = list(_cases())[1]
    ranked = m.RankedScores.of(y, score)
    table = m.threshold_table(ranked)
    assert [row["threshold"] for row in table] == list(m.THRESHOLDS)
    for row in table:
        predicted = score > row["threshold"]
        assert row["recall"] == pytest.approx(sk.recall_score(y, predicted), **EXACT)
        assert row["f1"] == pytest.approx(sk.f1_score(y, predicted, zero_division=0), **EXACT)
        assert row["accuracy"] == pytest.approx(sk.accuracy_score(y, predicted), **EXACT)
        assert row["predicted_positive"] == pytest.approx(predicted.mean(), **EXACT)
        fp = np.sum(predicted & ~y)
        assert row["false_positive_rate"] == pytest.approx(fp / np.sum(~y), **EXACT)
        if predicted.any():
            assert row["precision"] == pytest.approx(sk.precision_score(y, predicted), **EXACT)
        else:  # nothing called positive: precision is undefined, not 0
            assert np.isnan(row["precision"])


def test_the_curves_are_scikit_learns_thinned():
    y, score = list(_cases())[2]
    ranked = m.RankedScores.of(y, score)
    fpr, tpr, _ = sk.roc_curve(y, score, drop_intermediate=False)
    roc = ranked.roc_curve()
    assert len(roc["fpr"]) <= m.CURVE_POINTS
    # every kept point is one of scikit-learn's, in order, ends included
    points = set(zip(fpr.round(12), tpr.round(12)))
    assert all((round(a, 12), round(b, 12)) in points for a, b in zip(roc["fpr"], roc["tpr"]))
    assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
    lift = ranked.lift_curve()
    assert lift["lift"][-1] == pytest.approx(1.0)  # all rows: the base rate
    top = np.argsort(-score, kind="mergesort")[: int(0.1 * len(y))]
    assert lift["lift"][4] == pytest.approx(y[top].mean() / y.mean(), rel=0.15)


@pytest.mark.parametrize("bins", [5, 10])
def test_calibration_is_calibration_curve(bins):
    y, score = list(_cases())[1]
    got = m.calibration(y, score, bins)
    observed, predicted = calibration_curve(y, score, n_bins=bins)
    assert got["observed"] == pytest.approx(observed.tolist(), **EXACT)
    assert got["predicted"] == pytest.approx(predicted.tolist(), **EXACT)
    assert sum(got["count"]) == len(y)


def test_multiclass_metrics_equal_scikit_learns():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 600)
    raw = rng.random((600, 3)) + np.eye(3)[y] * 0.8
    proba = raw / raw.sum(axis=1, keepdims=True)
    got, confusion = m.multiclass(y, proba, np.array(["a", "b", "c"]))
    predicted = proba.argmax(axis=1)
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, predicted), **EXACT)
    assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, predicted), **EXACT)
    assert got["f1"] == pytest.approx(sk.f1_score(y, predicted, average="macro"), **EXACT)
    assert got["precision"] == pytest.approx(sk.precision_score(y, predicted, average="macro"), **EXACT)
    assert got["recall"] == pytest.approx(sk.recall_score(y, predicted, average="macro"), **EXACT)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, proba, multi_class="ovr"), **EXACT)
    assert got["log_loss"] == pytest.approx(_log_loss(y, proba), **EXACT)
    assert confusion.tolist() == sk.confusion_matrix(y, predicted).tolist()


def test_regression_metrics_equal_scikit_learns():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 3, 2000)
    y[:5] = 0.0  # MAPE divides by max(|y|, eps), as scikit-learn does
    predicted = y + rng.normal(0, 1, 2000)
    got = m.regression(y, predicted)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, predicted), **EXACT)
    assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, predicted)), **EXACT)
    assert got["r2"] == pytest.approx(sk.r2_score(y, predicted), **EXACT)
    assert got["mape"] == pytest.approx(sk.mean_absolute_percentage_error(y, predicted), **EXACT)


def test_direction_of_each_metric():
    assert [m.higher_is_better(k) for k in ("roc_auc", "f1", "r2", "log_loss", "brier", "mae", "rmse", "mape")] == \
        [True, True, True, False, False, False, False, False]

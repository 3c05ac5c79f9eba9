"""DeLong's paired test of two ROC AUCs: a case computed by hand, agreement with a paired
bootstrap, and the degenerate cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from modelcycle.evaluation.compare import delong, paired_bootstrap, side_by_side
from modelcycle.evaluation.metrics import RankedScores


def _auc(y, score):  # scikit-learn's ROC AUC (test_metrics checks it), without its input checks
    return RankedScores.of(y, score).roc_auc()


def test_a_small_case_computed_by_hand():
    # positives 0.9 0.8 0.4 | negatives 0.7 0.3 0.2 under A; 0.6 0.9 0.2 | 0.5 0.1 0.8 under B.
    # A: each positive outranks 3, 3, 2 of the negatives: AUC 8/9; B: 2, 3, 1: AUC 2/3.
    # Structural components V10 A (1, 1, 2/3), B (2/3, 1, 1/3); V01 A (2/3, 1, 1), B (2/3, 1, 1/3):
    # S10 = [[1/27, 1/18], [1/18, 1/9]], S01 = [[1/27, 0], [0, 1/9]], so
    # var(AUC_A - AUC_B) = (1/27 + 1/9 - 1/9) / 3 + (1/27 + 1/9) / 3 = 5/81 and z = (2/9) / (sqrt(5)/9).
    y = np.array([1, 1, 1, 0, 0, 0], bool)
    a = np.array([0.9, 0.8, 0.4, 0.7, 0.3, 0.2])
    b = np.array([0.6, 0.9, 0.2, 0.5, 0.1, 0.8])
    test = delong(y, a, b)
    assert (test.candidate, test.baseline) == (pytest.approx(8 / 9), pytest.approx(2 / 3))
    assert test.difference == pytest.approx(2 / 9)
    assert test.standard_error == pytest.approx(math.sqrt(5) / 9)
    assert test.z == pytest.approx(2 / math.sqrt(5))
    assert test.p_value == pytest.approx(2 * norm.sf(2 / math.sqrt(5)))
    assert test.p_value_improvement == pytest.approx(norm.sf(2 / math.sqrt(5)))
    half = norm.ppf(0.975) * math.sqrt(5) / 9
    assert (test.ci_low, test.ci_high) == (pytest.approx(2 / 9 - half), pytest.approx(2 / 9 + half))


def test_ties_count_half():
    y = np.array([1, 1, 0, 0], bool)
    a = np.array([0.5, 0.9, 0.5, 0.1])  # the tie between a positive and a negative counts 1/2
    test = delong(y, a, np.array([0.2, 0.9, 0.5, 0.1]))
    assert test.candidate == pytest.approx(roc_auc_score(y, a)) == pytest.approx(0.875)


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_a_paired_bootstrap(seed):
    rng = np.random.default_rng(seed)
    n = 800
    y = rng.random(n) < 0.35
    signal = rng.normal(size=n) + 1.2 * y
    a = signal + rng.normal(size=n) * 0.7
    b = signal + rng.normal(size=n) * 1.3
    test = delong(y, a, b)
    boot = paired_bootstrap(y, a, b, _auc, resamples=1000, seed=seed)
    assert test.candidate == pytest.approx(roc_auc_score(y, a), rel=1e-12)
    assert test.baseline == pytest.approx(roc_auc_score(y, b), rel=1e-12)
    assert test.difference == pytest.approx(boot["difference"], rel=1e-12)
    assert test.standard_error == pytest.approx(boot["standard_error"], rel=0.15)
    assert test.ci_low == pytest.approx(boot["ci_low"], abs=0.01)
    assert test.ci_high == pytest.approx(boot["ci_high"], abs=0.01)
    # a clearly better model on 800 rows: both intervals exclude 0, and the test agrees
    assert test.ci_low > 0 and boot["ci_low"] > 0 and test.p_value < 0.05


def test_the_same_scores_are_no_evidence_either_way():
    y = np.array([1, 0, 1, 0, 1], bool)
    s = np.array([0.9, 0.2, 0.6, 0.7, 0.4])
    test = delong(y, s, s.copy())
    assert (test.difference, test.standard_error, test.p_value, test.p_value_improvement) == (0.0, 0.0, 1.0, 1.0)


def test_side_by_side_knows_which_way_is_better():
    rows = side_by_side({"roc_auc": 0.9, "log_loss": 0.3, "f1": 0.5}, {"roc_auc": 0.8, "log_loss": 0.2, "f1": 0.5})
    assert [(r["metric"], r["better"]) for r in rows] == [("roc_auc", "candidate"), ("log_loss", "baseline"),
                                                         ("f1", "equal")]
    assert rows[0]["difference"] == pytest.approx(0.1)

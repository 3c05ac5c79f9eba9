"""Champion and challenger on the same rows: the side-by-side table, and a paired test of the
difference in ROC AUC (DeLong, DeLong and Clarke-Pearson 1988, in the fast form of Sun and Xu
2014), with its confidence interval."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from modelcycle.evaluation.metrics import higher_is_better
from modelcycle.registry.gates import COMPARISON_TAG  # noqa: F401 - what the promotion gates read


@dataclass(frozen=True)
class PairedTest:
    """``p_value``: two-sided, for "the two AUCs differ"; ``p_value_improvement``: one-sided,
    for "the candidate's AUC is higher". The interval is that of the difference."""

    metric: str
    method: str
    candidate: float
    baseline: float
    difference: float
    standard_error: float
    z: float
    p_value: float
    p_value_improvement: float
    confidence: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return asdict(self)


def _midranks(x: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(x, method="average")


def _components(positive_scores: np.ndarray, negative_scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and its structural components: for each positive the share of negatives it
    outranks (ties half), for each negative the share of positives that outrank it."""
    m, n = positive_scores.size, negative_scores.size
    tz = _midranks(np.concatenate([positive_scores, negative_scores]))
    tx, ty = _midranks(positive_scores), _midranks(negative_scores)
    v10 = (tz[:m] - tx) / n
    v01 = 1.0 - (tz[m:] - ty) / m
    return float(v10.mean()), v10, v01


def delong(positive: np.ndarray, candidate: np.ndarray, baseline: np.ndarray,
           confidence: float = 0.95) -> PairedTest:
    """DeLong's test of two correlated ROC AUCs, computed on the same rows."""
    from scipy.stats import norm

    positive = np.asarray(positive, dtype=bool)
    aucs, v10s, v01s = [], [], []
    for score in (np.asarray(candidate, dtype=np.float64), np.asarray(baseline, dtype=np.float64)):
        auc, v10, v01 = _components(score[positive], score[~positive])
        aucs.append(auc)
        v10s.append(v10)
        v01s.append(v01)
    m, n = v10s[0].size, v01s[0].size
    s10 = np.cov(np.vstack(v10s)) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack(v01s)) if n > 1 else np.zeros((2, 2))
    covariance = s10 / m + s01 / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    difference = aucs[0] - aucs[1]
    se = math.sqrt(max(variance, 0.0))
    half = float(norm.ppf(0.5 + confidence / 2)) * se
    if se > 0:
        z = difference / se
        p, p_up = float(2 * norm.sf(abs(z))), float(norm.sf(z))
    else:  # the same scores ranked the same way: no evidence either way
        z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
        p = 1.0 if difference == 0 else 0.0
        p_up = 1.0 if difference <= 0 else 0.0
    return PairedTest("roc_auc", "DeLong", aucs[0], aucs[1], difference, se, z, p, p_up, confidence,
                      difference - half, difference + half)


def paired_bootstrap(positive: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, metric,
                     resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, float]:
    """The difference ``metric(candidate) - metric(baseline)`` over resamples of the rows
    (the same rows for both): its standard error and percentile interval."""
    rng = np.random.default_rng(seed)
    n = positive.size
    deltas = []
    while len(deltas) < resamples:
        index = rng.integers(0, n, n)
        y = positive[index]
        if y.all() or not y.any():
            continue  # a resample of one class has no AUC
        deltas.append(metric(y, candidate[index]) - metric(y, baseline[index]))
    deltas = np.asarray(deltas)
    tail = (1 - confidence) / 2
    return {"difference": float(metric(positive, candidate) - metric(positive, baseline)),
            "standard_error": float(deltas.std(ddof=1)),
            "ci_low": float(np.quantile(deltas, tail)), "ci_high": float(np.quantile(deltas, 1 - tail))}


@dataclass(frozen=True)
class Comparison:
    """The candidate against a baseline model on the same rows."""

    baseline: str  # the URI or description the baseline was given as
    baseline_model: str | None  # registered name and version, when it is a registered model
    baseline_version: int | None
    rows: list[dict[str, Any]]  # metric, candidate, baseline, difference, better
    test: PairedTest | None

    def to_dict(self) -> dict:
        return {"baseline": self.baseline, "baseline_model": self.baseline_model,
                "baseline_version": self.baseline_version, "rows": self.rows,
                "test": self.test.to_dict() if self.test else None}

    def tag_value(self, dataset: str | None) -> str:
        """What the promotion gates read: which version, on which dataset, with which test."""
        return json.dumps({"model": self.baseline_model, "version": self.baseline_version, "dataset": dataset,
                           "test": self.test.to_dict() if self.test else None}, allow_nan=True)


def side_by_side(candidate: dict[str, float], baseline: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for key, value in candidate.items():
        if key not in baseline:
            continue
        other = baseline[key]
        difference = value - other
        if difference == 0 or math.isnan(difference):
            better = "equal" if difference == 0 else ""
        else:
            better = "candidate" if (difference > 0) == higher_is_better(key) else "baseline"
        rows.append({"metric": key, "candidate": value, "baseline": other, "difference": difference,
                     "better": better})
    return rows

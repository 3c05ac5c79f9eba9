"""The statistics of one window that do not come from profiles: service health, performance
against feedback labels, and confidence-based performance estimation (CBPE) before labels come.

Plain numpy, computed by hand so each formula is visible; the tests hold them against
scikit-learn and numpy. NaN stands for "not computable here" (no labels, one class only)."""

from __future__ import annotations

import math

import numpy as np

QUANTILES = (0.5, 0.95, 0.99)
EPS = 1e-15  # log loss: probabilities are clipped to [EPS, 1 - EPS]


def health(requests: int, errors: int, latencies_ms: np.ndarray) -> dict[str, float]:
    """Request count, error rate and latency quantiles (linear interpolation, as numpy's default)."""
    out = {"requests": float(requests), "errors": float(errors),
           "error_rate": errors / requests if requests else math.nan}
    for q in QUANTILES:
        value = float(np.quantile(latencies_ms, q)) if latencies_ms.size else math.nan
        out[f"latency_p{round(q * 100)}_ms"] = value
    return out


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC (``y`` 0/1) from the ranks of the scores: the Mann-Whitney U over n1 n0, ties
    counted half, as scikit-learn's roc_auc_score."""
    from scipy.stats import rankdata

    positives = int(y.sum())
    negatives = y.size - positives
    if not positives or not negatives:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def classifier_metrics(y: np.ndarray, predicted: np.ndarray, proba: np.ndarray | None,
                       classes: list) -> dict[str, float]:
    """accuracy, precision, recall, f1 (binary: of the second class; else macro over the classes),
    roc_auc (binary; else one-vs-rest macro) and log_loss. ``y`` and ``predicted`` hold class values;
    column j of ``proba`` is the probability of ``classes[j]``."""
    n = y.size
    if not n:
        return {k: math.nan for k in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")}
    out = {"accuracy": float(np.mean(y == predicted))}
    binary = len(classes) == 2
    targets = [classes[1]] if binary else sorted(set(classes) | set(np.unique(y).tolist()), key=str)
    precisions, recalls, f1s = [], [], []
    for c in targets:
        tp = float(np.sum((predicted == c) & (y == c)))
        fp = float(np.sum((predicted == c) & (y != c)))
        fn = float(np.sum((predicted != c) & (y == c)))
        p = tp / (tp + fp) if tp + fp else 0.0  # scikit-learn's zero_division=0
        r = tp / (tp + fn) if tp + fn else 0.0
        precisions.append(p)
        recalls.append(r)
        f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    out.update(precision=float(np.mean(precisions)), recall=float(np.mean(recalls)), f1=float(np.mean(f1s)))
    if proba is None or proba.ndim != 2 or proba.shape[1] != len(classes):
        out.update(roc_auc=math.nan, log_loss=math.nan)
        return out
    index = {c: j for j, c in enumerate(classes)}
    known = np.array([v in index for v in y.tolist()])
    if binary:
        out["roc_auc"] = roc_auc((y == classes[1]).astype(np.int8), proba[:, 1])
    else:
        aucs = [roc_auc((y == c).astype(np.int8), proba[:, j]) for j, c in enumerate(classes)]
        aucs = [a for a in aucs if not math.isnan(a)]
        out["roc_auc"] = float(np.mean(aucs)) if aucs else math.nan
    if known.all():
        p_true = proba[np.arange(n), [index[v] for v in y.tolist()]]
        rows = proba.sum(axis=1)
        p_true = np.clip(p_true / np.where(rows > 0, rows, 1.0), EPS, 1 - EPS)
        out["log_loss"] = float(-np.mean(np.log(p_true)))
    else:  # a label the model has no class for: its probability is 0, the loss unbounded
        out["log_loss"] = math.nan
    return out


def regressor_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    if not y.size:
        return {"mae": math.nan, "rmse": math.nan, "r2": math.nan}
    error = predicted - y
    total = float(np.sum((y - y.mean()) ** 2))
    return {"mae": float(np.mean(np.abs(error))), "rmse": float(math.sqrt(np.mean(error**2))),
            "r2": 1.0 - float(np.sum(error**2)) / total if total > 0 else math.nan}


def expected_roc_auc(p: np.ndarray) -> float:
    """CBPE's ROC AUC: at each threshold the expected true positives are the sum of the positive
    class's probabilities above it and the expected false positives the sum of their complements;
    the area under the expected curve (trapezoids, tied scores as one step)."""
    if p.size == 0:
        return math.nan
    order = np.argsort(-p, kind="stable")
    p = p[order]
    positives, negatives = float(p.sum()), float((1 - p).sum())
    if positives <= 0 or negatives <= 0:
        return math.nan
    last_of_tie = np.r_[p[1:] != p[:-1], True]
    tpr = np.r_[0.0, np.cumsum(p)[last_of_tie] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - p)[last_of_tie] / negatives]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def cbpe(proba: np.ndarray, predicted_index: np.ndarray) -> dict[str, float]:
    """Confidence-based performance estimation from (calibrated) probabilities: expected accuracy is
    the mean probability of the predicted class; expected ROC AUC as ``expected_roc_auc`` (binary:
    of the second class; else the mean over classes, one-vs-rest)."""
    if proba is None or not proba.size:
        return {"estimated_accuracy": math.nan, "estimated_roc_auc": math.nan}
    accuracy = float(np.mean(proba[np.arange(proba.shape[0]), predicted_index]))
    if proba.shape[1] == 2:
        auc = expected_roc_auc(proba[:, 1])
    else:
        aucs = [a for a in (expected_roc_auc(proba[:, j]) for j in range(proba.shape[1])) if not math.isnan(a)]
        auc = float(np.mean(aucs)) if aucs else math.nan
    return {"estimated_accuracy": accuracy, "estimated_roc_auc": auc}


CBPE_BINS = 1000  # a window's probabilities are kept as counts on this grid, not row by row


def expected_roc_auc_binned(counts: np.ndarray, sums: np.ndarray) -> float:
    """``expected_roc_auc`` from rows per probability bin and the sum of their probabilities: each
    bin is one step (as tied scores are), so it differs from the exact value only where bins mix
    scores of different rows, by at most about one bin."""
    counts, sums = counts[::-1], sums[::-1]
    used = counts > 0
    tp, fp = sums[used], counts[used] - sums[used]
    positives, negatives = float(tp.sum()), float(fp.sum())
    if positives <= 0 or negatives <= 0:
        return math.nan
    tpr = np.r_[0.0, np.cumsum(tp) / positives]
    fpr = np.r_[0.0, np.cumsum(fp) / negatives]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def cbpe_binned(counts: np.ndarray, sums: np.ndarray, top_counts: np.ndarray, top_sums: np.ndarray,
                calibration=None) -> dict[str, float]:
    """CBPE of a window from its binned probabilities: ``counts[j]``/``sums[j]`` of column j's
    probabilities, ``top_counts``/``top_sums`` of the predicted class's. With ``calibration``
    (reference.Calibration, fitted on the version's evaluation data) each bin's mean probability
    is mapped to the share of rows of that class (or predicted right) before it counts; without
    one the probabilities are taken as calibrated."""
    n = float(top_counts.sum())
    if not n:
        return {"estimated_accuracy": math.nan, "estimated_roc_auc": math.nan}
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), 0.0)
        top_means = np.where(top_counts > 0, top_sums / np.where(top_counts > 0, top_counts, 1), 0.0)
    if calibration is not None:
        positives = np.stack([counts[j] * calibration.of_class(j, means[j]) for j in range(counts.shape[0])])
        accuracy = float(np.sum(top_counts * calibration.correct(top_means))) / n
    else:
        positives, accuracy = sums, float(top_sums.sum()) / n
    columns = [1] if counts.shape[0] == 2 else range(counts.shape[0])
    aucs = [a for a in (expected_roc_auc_binned(counts[j], positives[j]) for j in columns) if not math.isnan(a)]
    return {"estimated_accuracy": accuracy, "estimated_roc_auc": float(np.mean(aucs)) if aucs else math.nan}

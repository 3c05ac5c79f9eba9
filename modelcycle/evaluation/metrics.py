"""Classification and regression metrics from one pass over the predictions.

Binary metrics come from one sort of the scores: ROC AUC, average precision, the curves, the
table of metrics by threshold and the lift all read the same cumulative counts, so a 100,000-row
evaluation costs one ``argsort`` instead of a dozen scikit-learn calls that each re-validate
and re-sort their input. The values are scikit-learn's (the tests compare each one with it);
multiclass metrics are scikit-learn's own calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Metrics where lower is better; every other metric is better when higher.
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "mae", "rmse", "mape"})
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
CURVE_POINTS = 200  # points kept of a curve for plots and the report


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


@dataclass(frozen=True)
class RankedScores:
    """Scores sorted once, best first, with the cumulative true and false positives at the
    end of each run of tied scores (scikit-learn's ``_binary_clf_curve``)."""

    scores: np.ndarray  # distinct scores, descending
    tps: np.ndarray  # positives scored >= each of them
    fps: np.ndarray  # negatives scored >= each of them
    positives: int
    negatives: int

    @classmethod
    def of(cls, positive: np.ndarray, score: np.ndarray) -> RankedScores:
        order = np.argsort(score, kind="mergesort")[::-1]
        ranked = score[order]
        hits = positive[order].astype(np.float64)
        ends = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
        tps = np.cumsum(hits)[ends]
        fps = 1.0 + ends - tps
        return cls(ranked[ends], tps, fps, int(positive.sum()), int(positive.size - positive.sum()))

    def at(self, threshold: float) -> tuple[float, float]:
        """(true positives, false positives) when scores above ``threshold`` are called positive."""
        # the scores are descending: count those > threshold
        k = int(np.searchsorted(-self.scores, -threshold, side="left"))
        return (float(self.tps[k - 1]), float(self.fps[k - 1])) if k else (0.0, 0.0)

    def roc_auc(self) -> float:
        fpr = np.r_[0.0, self.fps] / self.negatives
        tpr = np.r_[0.0, self.tps] / self.positives
        return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)

    def average_precision(self) -> float:
        precision = self.tps / (self.tps + self.fps)
        recall = self.tps / self.positives
        return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))

    def roc_curve(self) -> dict[str, list[float]]:
        fpr = np.r_[0.0, self.fps / self.negatives]
        tpr = np.r_[0.0, self.tps / self.positives]
        keep = _thin(fpr.size)
        return {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}

    def pr_curve(self) -> dict[str, list[float]]:
        precision = self.tps / (self.tps + self.fps)
        recall = self.tps / self.positives
        keep = _thin(recall.size)
        return {"recall": recall[keep].tolist(), "precision": precision[keep].tolist()}

    def lift_curve(self, points: int = 50) -> dict[str, list[float]]:
        """Lift of the top share of rows (by score) over the base rate, at ``points`` shares."""
        n = self.positives + self.negatives
        taken = self.tps + self.fps  # rows scored >= each distinct score
        shares = np.linspace(1.0 / points, 1.0, points)
        # ties are taken whole: the first distinct score whose rows reach the share
        k = np.minimum(np.searchsorted(taken, shares * n, side="left"), taken.size - 1)
        rate = self.tps[k] / taken[k]
        return {"share": shares.tolist(), "lift": (rate / (self.positives / n)).tolist()}


def _thin(n: int, points: int = CURVE_POINTS) -> np.ndarray:
    """Indices of about ``points`` evenly spread points of an n-point curve, ends kept."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(np.int64))


def _ratio(num: float, den: float) -> float:
    # scikit-learn's zero_division default: an undefined precision or recall is 0
    return num / den if den else 0.0


def _counts(tp: float, fp: float, positives: int, negatives: int) -> dict[str, float]:
    fn, tn = positives - tp, negatives - fp
    n = positives + negatives
    recall = _ratio(tp, positives)
    precision = _ratio(tp, tp + fp)
    return {
        "accuracy": (tp + tn) / n,
        "balanced_accuracy": (recall + _ratio(tn, negatives)) / 2.0,
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2.0 * tp, 2.0 * tp + fp + fn),
    }


def binary(positive: np.ndarray, proba: np.ndarray, pos_index: int, threshold: float
           ) -> tuple[dict[str, float], np.ndarray, RankedScores]:
    """(metrics, confusion matrix [[tn, fp], [fn, tp]], ranked scores) of a binary classifier.
    ``positive``: bool per row; ``proba``: predict_proba's (n, 2) matrix; rows whose positive
    probability is above ``threshold`` are called positive: at 0.5, the labels ``predict`` gives
    (a tie goes to the first class)."""
    score = proba[:, pos_index]
    ranked = RankedScores.of(positive, score)
    tp, fp = ranked.at(threshold)
    metrics = _counts(tp, fp, ranked.positives, ranked.negatives)
    eps = np.finfo(proba.dtype).eps
    p_true = np.where(positive, score, proba[:, 1 - pos_index])
    metrics.update({
        "roc_auc": ranked.roc_auc(),
        "pr_auc": ranked.average_precision(),
        "log_loss": float(-np.mean(np.log(np.clip(p_true, eps, 1 - eps)))),
        "brier": float(np.mean((score - positive) ** 2)),
    })
    fn, tn = ranked.positives - tp, ranked.negatives - fp
    confusion = np.array([[tn, fp], [fn, tp]], dtype=np.int64)
    return metrics, confusion, ranked


def threshold_table(ranked: RankedScores, thresholds=THRESHOLDS) -> list[dict[str, float]]:
    """Metrics if rows scored above t were called positive, for each t: from the one sort."""
    n = ranked.positives + ranked.negatives
    rows = []
    for t in thresholds:
        tp, fp = ranked.at(t)
        row = {"threshold": float(t), "predicted_positive": (tp + fp) / n,
               **_counts(tp, fp, ranked.positives, ranked.negatives),
               "false_positive_rate": _ratio(fp, ranked.negatives)}
        if tp + fp == 0:
            row["precision"] = float("nan")  # nothing called positive: no precision to speak of
        rows.append(row)
    return rows


def calibration(positive: np.ndarray, score: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Mean predicted probability and observed positive rate per uniform bin, as
    ``sklearn.calibration.calibration_curve(strategy="uniform")``; empty bins are left out."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges[1:-1], score)
    total = np.bincount(index, minlength=bins)
    mean_score = np.bincount(index, weights=score, minlength=bins)
    hits = np.bincount(index, weights=positive.astype(np.float64), minlength=bins)
    filled = total > 0
    return {"predicted": (mean_score[filled] / total[filled]).tolist(),
            "observed": (hits[filled] / total[filled]).tolist(), "count": total[filled].tolist()}


def multiclass(y_index: np.ndarray, proba: np.ndarray, labels: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    """(metrics, confusion matrix) of a classifier with three classes or more: macro averages
    over classes, ROC AUC one-vs-rest."""
    from sklearn import metrics as sk

    predicted = np.argmax(proba, axis=1)
    every = np.arange(len(labels))
    metrics = {
        "accuracy": float(np.mean(predicted == y_index)),
        "balanced_accuracy": float(sk.balanced_accuracy_score(y_index, predicted)),
        "precision": float(sk.precision_score(y_index, predicted, average="macro", labels=every, zero_division=0)),
        "recall": float(sk.recall_score(y_index, predicted, average="macro", labels=every, zero_division=0)),
        "f1": float(sk.f1_score(y_index, predicted, average="macro", labels=every, zero_division=0)),
        "log_loss": float(sk.log_loss(y_index, y_proba=proba, labels=every) if _takes_y_proba()
                          else sk.log_loss(y_index, proba, labels=every)),
    }
    present = np.unique(y_index)
    if present.size == len(labels):
        metrics["roc_auc"] = float(sk.roc_auc_score(y_index, proba, multi_class="ovr", average="macro",
                                                    labels=every))
    return metrics, sk.confusion_matrix(y_index, predicted, labels=every)


def _takes_y_proba() -> bool:
    import inspect

    from sklearn.metrics import log_loss

    return "y_proba" in inspect.signature(log_loss).parameters


def regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - y
    ss_res = float(np.sum(error ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    eps = np.finfo(np.float64).eps
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(ss_res / y.size)),
        "r2": 1.0 - ss_res / ss_tot if ss_tot else (1.0 if ss_res == 0 else 0.0),
        "mape": float(np.mean(np.abs(error) / np.maximum(np.abs(y), eps))),
    }


def residuals(y: np.ndarray, predicted: np.ndarray, points: int = 2000, seed: int = 0) -> dict[str, list[float]]:
    """A fixed sample of (predicted, residual) pairs for the residual plot, and the quantiles
    of the residuals: a plot of 100,000 points draws slowly and shows no more."""
    error = y - predicted
    index = np.arange(y.size)
    if y.size > points:
        index = np.sort(np.random.default_rng(seed).choice(y.size, points, replace=False))
    return {"predicted": predicted[index].tolist(), "residual": error[index].tolist(),
            "quantiles": np.quantile(error, [0.05, 0.25, 0.5, 0.75, 0.95]).tolist()}

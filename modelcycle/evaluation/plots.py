"""The evaluation's plots as PNG bytes, drawn from the plain data of an EvaluationResult.

Figures are made without pyplot (no global state, no display) and kept small: each curve is
already thinned to a couple of hundred points, so a plot costs tens of milliseconds whatever
the number of rows evaluated.
"""

from __future__ import annotations

import io
from typing import Any

SIZE = (4.2, 3.2)  # inches
DPI = 80
MAIN, OTHER, GREY = "#1f6fb4", "#e07b12", "#888888"


UNIT_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _figure(title: str, unit_x: bool = False, unit_y: bool = False):
    """A figure with one axes. The title is figure text: an axes title is placed by measuring
    the axes' every label, which costs as much as drawing the plot. Axes that span [0, 1] get
    five fixed ticks instead of the locator's search."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, dpi=DPI)
    ax = fig.add_subplot()
    fig.text(0.56, 0.95, title, fontsize=9, ha="center", va="center")
    ax.tick_params(labelsize=7)
    if unit_x:
        ax.set_xticks(UNIT_TICKS)
    if unit_y:
        ax.set_yticks(UNIT_TICKS)
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig, left: float = 0.17) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    # fixed margins: tight_layout measures every label first and costs as much as drawing
    fig.subplots_adjust(left=left, right=0.96, bottom=0.15, top=0.9)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _label(ax, x: str, y: str) -> None:
    ax.set_xlabel(x, fontsize=8)
    ax.set_ylabel(y, fontsize=8)


def roc(curve: dict, auc: float, baseline: dict | None = None, baseline_auc: float | None = None) -> bytes:
    fig, ax = _figure("ROC curve", unit_x=True, unit_y=True)
    ax.plot(curve["fpr"], curve["tpr"], color=MAIN, label=f"model (AUC {auc:.3f})")
    if baseline is not None:
        ax.plot(baseline["fpr"], baseline["tpr"], color=OTHER, label=f"baseline (AUC {baseline_auc:.3f})")
    ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=0.8)
    _label(ax, "false positive rate", "true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


def precision_recall(curve: dict, average_precision: float, base_rate: float) -> bytes:
    fig, ax = _figure("Precision-recall curve", unit_x=True, unit_y=True)
    ax.step(curve["recall"], curve["precision"], where="post", color=MAIN, label=f"model (AP {average_precision:.3f})")
    ax.axhline(base_rate, color=GREY, linestyle="--", linewidth=0.8, label=f"base rate {base_rate:.3f}")
    ax.set_xlim(0, 1.0)
    ax.set_ylim(0, 1.02)
    _label(ax, "recall", "precision")
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


def calibration(data: dict) -> bytes:
    fig, ax = _figure("Calibration", unit_x=True, unit_y=True)
    ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=0.8, label="perfectly calibrated")
    ax.plot(data["predicted"], data["observed"], marker="o", markersize=3, color=MAIN, label="model")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _label(ax, "mean predicted probability", "observed positive rate")
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def lift(data: dict) -> bytes:
    fig, ax = _figure("Lift")
    ax.plot([100 * s for s in data["share"]], data["lift"], color=MAIN)
    ax.axhline(1.0, color=GREY, linestyle="--", linewidth=0.8)
    _label(ax, "top % of rows by score", "lift over the base rate")
    return _png(fig)


def residuals(data: dict) -> bytes:
    fig, ax = _figure("Residuals")
    ax.scatter(data["predicted"], data["residual"], s=3, alpha=0.4, color=MAIN, linewidths=0)
    ax.axhline(0.0, color=GREY, linestyle="--", linewidth=0.8)
    _label(ax, "predicted", "actual - predicted")
    return _png(fig)


def importance(rows: list[dict[str, Any]], title: str, top: int = 15) -> bytes:
    rows = rows[:top][::-1]
    fig, ax = _figure(title)
    ax.barh([r["feature"] for r in rows], [r["importance"] for r in rows],
            xerr=[r.get("std", 0.0) for r in rows], color=MAIN, error_kw={"linewidth": 0.8})
    ax.tick_params(axis="y", labelsize=6)
    return _png(fig, left=0.4)


def learning_curve(data: dict) -> bytes:
    fig, ax = _figure(f"Learning curve ({data['scoring']})")
    ax.plot(data["train_sizes"], data["train_score"], marker="o", markersize=3, color=OTHER, label="training")
    ax.plot(data["train_sizes"], data["test_score"], marker="o", markersize=3, color=MAIN, label="cross-validation")
    _label(ax, "training rows", data["scoring"])
    ax.legend(fontsize=7)
    return _png(fig)

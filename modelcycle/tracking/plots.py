"""Metric curves as a PNG (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

from modelcycle.store.entities import Metric


def plot_metric_histories(histories: dict[str, dict[str, list[Metric]]], path: str | Path) -> Path:
    """``histories``: run label -> metric key -> points. One panel per metric key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for per_run in histories.values() for k in per_run})
    if not keys:
        from modelcycle.exceptions import InvalidInput

        raise InvalidInput("These runs have no metrics to plot.")
    cols = min(3, len(keys))
    rows = (len(keys) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for label, per_run in histories.items():
            points = per_run.get(key) or []
            if len(points) == 1:
                ax.scatter([points[0].step], [points[0].value], label=label)
            elif points:
                ax.plot([p.step for p in points], [p.value for p in points], label=label)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""The A/B report of a deployment: per arm, from the prediction log and the labels that
arrived, the counts, the outcome metric, each arm's difference from the first arm with its
confidence interval and p-value, the sample-ratio-mismatch check and the samples still needed.
``ab_report`` returns plain data; ``to_html`` renders it with a plot."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import asdict, dataclass, field
from typing import Any

from modelcycle.rollout import stats as st

SRM_ALPHA = 0.001  # the usual threshold: a mismatch this unlikely means the assignment is broken


@dataclass
class ArmReport:
    arm: str
    version: int | None
    requests: int
    labelled: int
    outcome: float | None
    expected_share: float


@dataclass
class Report:
    deployment: str
    outcome: str  # binary | continuous
    arms: list[ArmReport]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    srm_chi2: float | None = None
    srm_p_value: float | None = None
    srm: bool = False
    power: float = 0.8
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _outcomes(rows):
    """Per labelled row the outcome: the label itself when it is 0/1 or numeric, else whether
    the prediction matched it."""
    import pandas as pd

    labels = rows["label"]
    numeric = pd.to_numeric(labels, errors="coerce")
    if numeric.notna().all():
        kind = "binary" if set(numeric.unique()) <= {0, 1} else "continuous"
        return numeric.astype(float), kind
    return (rows["prediction"].astype(str) == labels.astype(str)).astype(float), "binary"


def _started(store, name: str, kinds: tuple[str, ...]) -> int | None:
    """When the deployment's current experiment began: its latest event of one of ``kinds``."""
    times = [e.time_ms for e in store.deployment_events(name) if e.kind in kinds]
    return times[-1] if times else None


def _predictions(store, name: str, kinds: tuple[str, ...], start, end, uri):
    import pandas as pd

    from modelcycle.serving.feedback import read_predictions
    from modelcycle.tracking.fluent import client

    store = store or client().store
    d = store.get_deployment(name)
    start = start if start is not None else _started(store, name, kinds)
    frame = read_predictions(d.model_name, start=start, end=end, uri=uri)
    if frame is None or frame.empty:
        frame = pd.DataFrame(columns=["request_id", "row", "arm", "label", "prediction", "status", "latency_ms"])
    return d, frame[frame["arm"].isin(list(d.arms))]


def ab_report(name: str, store=None, start=None, end=None, power: float = 0.8, alpha: float = 0.05,
              uri: str | None = None) -> Report:
    """Predictions from ``start`` (default: when the A/B test began) to ``end``; ``uri``: the
    prediction log (default: the configured one)."""
    import pandas as pd

    d, frame = _predictions(store, name, ("ab",), start, end, uri)
    labelled = frame[frame["label"].notna()]
    outcome_values, kind = _outcomes(labelled) if len(labelled) else (pd.Series(dtype=float), "binary")
    labelled = labelled.assign(outcome=outcome_values)
    shares = {arm: d.shares.get(arm, 0.0) for arm in d.arms}
    arms = []
    for arm, version in d.arms.items():
        mine = labelled[labelled["arm"] == arm]["outcome"]
        arms.append(ArmReport(arm, version, int(frame[frame["arm"] == arm]["request_id"].nunique()), len(mine),
                              float(mine.mean()) if len(mine) else None, shares[arm]))
    report = Report(name, kind, arms, power=power, alpha=alpha)
    serving = [a for a in arms if a.expected_share > 0]
    if len(serving) >= 2 and sum(a.requests for a in serving):
        report.srm_chi2, report.srm_p_value = st.srm([a.requests for a in serving],
                                                     [a.expected_share for a in serving])
        report.srm = report.srm_p_value < SRM_ALPHA
    base = arms[0]
    for other in arms[1:]:
        a = labelled[labelled["arm"] == base.arm]["outcome"]
        b = labelled[labelled["arm"] == other.arm]["outcome"]
        try:
            if kind == "binary":
                diff = st.two_proportions(int(a.sum()), len(a), int(b.sum()), len(b), 1 - alpha)
                needed = st.samples_needed(diff.a, diff.b, alpha, power)
            else:
                diff = st.welch(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b), 1 - alpha)
                needed = st.samples_needed_means(diff.difference, a.std(ddof=1), b.std(ddof=1), alpha, power)
        except ValueError as exc:
            report.comparisons.append({"a": base.arm, "b": other.arm, "note": str(exc)})
            continue
        more = None if needed is None else max(0, needed - min(len(a), len(b)))
        numbers = asdict(diff)  # its a and b are the arms' outcomes; a and b here name the arms
        numbers["outcome_a"], numbers["outcome_b"] = numbers.pop("a"), numbers.pop("b")
        report.comparisons.append({"a": base.arm, "b": other.arm, **numbers, "samples_per_arm": needed,
                                   "more_samples_per_arm": more})
    return report


@dataclass
class ShadowReport:
    """How the shadow arm's answers compare with stable's on the same requests."""

    deployment: str
    compared: int  # rows both answered
    agreement: float | None  # share of those rows with the same prediction
    arms: dict[str, dict[str, Any]]  # arm -> requests, errors, error_rate, p50_ms, p99_ms

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shadow_report(name: str, store=None, start=None, end=None, uri: str | None = None) -> ShadowReport:
    """Agreement with stable, latency and errors of a shadow deployment's copies, from the
    prediction log (default: since the shadow traffic began)."""
    d, frame = _predictions(store, name, ("shadow",), start, end, uri)
    arms: dict[str, dict[str, Any]] = {}
    for arm in d.arms:
        mine = frame[frame["arm"] == arm].drop_duplicates("request_id")
        errors = int((mine["status"] >= 500).sum()) if len(mine) else 0
        latency = mine["latency_ms"].astype(float)
        arms[arm] = {"requests": len(mine), "errors": errors, "error_rate": errors / len(mine) if len(mine) else None,
                     "p50_ms": float(latency.quantile(0.5)) if len(mine) else None,
                     "p99_ms": float(latency.quantile(0.99)) if len(mine) else None}
    ok = frame[(frame["status"] == 200) & frame["prediction"].notna()]
    pairs = ok[ok["arm"] == "stable"].merge(ok[ok["arm"] == "shadow"], on=["request_id", "row"],
                                            suffixes=("_stable", "_shadow"))
    agreement = None
    if len(pairs):
        agreement = float((pairs["prediction_stable"].astype(str) == pairs["prediction_shadow"].astype(str)).mean())
    return ShadowReport(name, len(pairs), agreement, arms)


def to_html(report: Report) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    names = [a.arm for a in report.arms]
    left.bar(names, [a.requests for a in report.arms], color="#4c72b0")
    left.set_title("requests per arm")
    values = [a.outcome if a.outcome is not None else 0 for a in report.arms]
    right.bar(names, values, color="#55a868")
    for c in report.comparisons:
        if "difference" in c:
            i = names.index(c["b"])
            right.errorbar([i], [values[i]],
                           yerr=[[c["difference"] - c["low"]], [c["high"] - c["difference"]]], color="black",
                           capsize=4)
    right.set_title(f"outcome ({report.outcome})")
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    image = base64.b64encode(buffer.getvalue()).decode()
    rows = "".join(f"<tr><td>{html.escape(a.arm)}</td><td>{a.version}</td><td>{a.requests}</td><td>{a.labelled}</td>"
                   f"<td>{'' if a.outcome is None else f'{a.outcome:.4f}'}</td><td>{a.expected_share:g}%</td></tr>"
                   for a in report.arms)
    comps = "".join(
        f"<tr><td>{html.escape(c['b'])} − {html.escape(c['a'])}</td><td>{c.get('difference', float('nan')):.4f}</td>"
        f"<td>[{c.get('low', float('nan')):.4f}, {c.get('high', float('nan')):.4f}]</td>"
        f"<td>{c.get('p_value', float('nan')):.4g}</td><td>{html.escape(str(c.get('test', c.get('note', ''))))}</td>"
        f"<td>{c.get('more_samples_per_arm', '')}</td></tr>" for c in report.comparisons)
    srm = ("<p><b>Sample ratio mismatch</b>: the assignment counts do not match the shares "
           f"(chi² {report.srm_chi2:.2f}, p {report.srm_p_value:.2g}); do not trust the comparison.</p>"
           if report.srm else f"<p>Sample ratio: no mismatch (p {report.srm_p_value if report.srm_p_value is not None else float('nan'):.3g}).</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>A/B report: {html.escape(report.deployment)}"
            "</title></head><body style='font-family:sans-serif'>"
            f"<h1>A/B report: {html.escape(report.deployment)}</h1>{srm}"
            "<table border=1 cellpadding=4><tr><th>arm</th><th>version</th><th>requests</th><th>labelled</th>"
            f"<th>outcome</th><th>share</th></tr>{rows}</table><h2>Differences</h2>"
            "<table border=1 cellpadding=4><tr><th>comparison</th><th>difference</th>"
            f"<th>{1 - report.alpha:.0%} CI</th><th>p-value</th><th>test</th><th>more samples per arm "
            f"(power {report.power:.0%})</th></tr>{comps}</table>"
            f"<img src='data:image/png;base64,{image}' alt='arms'></body></html>")

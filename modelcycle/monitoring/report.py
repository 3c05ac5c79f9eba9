"""Presentation of stored monitor results: the latest windows with a trend per metric, and one
self-contained HTML page (inline SVG, no scripts or links; binned shares only, never raw rows)."""

from __future__ import annotations

import html
import math
from collections import defaultdict

from modelcycle.store.entities import MonitorPoint

HIDDEN = ("output_reference", "reference_outputs")  # the second: a version's outputs reference, not a window
TREND_TOLERANCE = 1e-9


def series(points: list[MonitorPoint]) -> dict[tuple[int, str], list[MonitorPoint]]:
    """(version, metric) -> points, oldest window first."""
    out: dict[tuple[int, str], list[MonitorPoint]] = defaultdict(list)
    for p in points:
        if p.metric not in HIDDEN:
            out[(p.version, p.metric)].append(p)
    for values in out.values():
        values.sort(key=lambda p: p.window_start)
    return dict(out)


def trend(values: list[float]) -> str:
    """"up", "down" or "flat": the latest value against the mean of the windows before it."""
    finite = [v for v in values if not math.isnan(v)]
    if len(finite) < 2:
        return "-"
    before = sum(finite[:-1]) / (len(finite) - 1)
    scale = max(abs(before), abs(finite[-1]), TREND_TOLERANCE)
    change = (finite[-1] - before) / scale
    return "up" if change > 0.05 else "down" if change < -0.05 else "flat"


def status_rows(points: list[MonitorPoint], windows: int = 5) -> list[dict]:
    rows = []
    for (version, metric), found in sorted(series(points).items()):
        recent = found[-windows:]
        rows.append({"version": version, "metric": metric, "latest": recent[-1].value,
                     "window_start": recent[-1].window_start,
                     "previous": ", ".join(_short(p.value) for p in recent[:-1]),
                     "trend": trend([p.value for p in found[-(windows + 1):]])})
    return rows


def _short(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _line_svg(values: list[float], width: int = 360, height: int = 80) -> str:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "<svg width='360' height='80'><text x='4' y='40'>no values</text></svg>"
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    step = width / max(1, len(values) - 1)
    points = " ".join(f"{i * step:.1f},{height - 6 - (v - low) / span * (height - 12):.1f}"
                      for i, v in enumerate(values) if not math.isnan(v))
    return (f"<svg width='{width}' height='{height}' role='img'><polyline fill='none' stroke='#1f77b4' "
            f"stroke-width='1.5' points='{points}'/><text x='2' y='10' font-size='9'>{_short(high)}</text>"
            f"<text x='2' y='{height - 1}' font-size='9'>{_short(low)}</text></svg>")


def _bars_svg(distribution: dict, width: int = 360, height: int = 90) -> str:
    ref, cur = distribution.get("reference") or [], distribution.get("current") or []
    if not ref:
        return ""
    top = max(max(ref), max(cur or [0])) or 1.0
    w = width / len(ref)
    bars = []
    for i, (r, c) in enumerate(zip(ref, cur)):
        bars.append(f"<rect x='{i * w:.1f}' y='{height - r / top * height:.1f}' width='{w / 2:.1f}' "
                    f"height='{r / top * height:.1f}' fill='#999'/>")
        bars.append(f"<rect x='{i * w + w / 2:.1f}' y='{height - c / top * height:.1f}' width='{w / 2:.1f}' "
                    f"height='{c / top * height:.1f}' fill='#d62728'/>")
    return f"<svg width='{width}' height='{height}' role='img'>{''.join(bars)}</svg>"


def html_report(model: str, points: list[MonitorPoint]) -> str:
    """Every metric over time per version, and the latest window's drift histograms (reference
    grey, current red)."""
    from modelcycle.render import fmt_time

    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Monitor: {esc(model)}</title>"
             "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 8px;vertical-align:middle}"
             "h2{margin-top:1.5em}</style></head><body>", f"<h1>Monitor of {esc(model)}</h1>"]
    grouped = series(points)
    versions = sorted({v for v, _ in grouped})
    if not versions:
        parts.append("<p>No windows computed yet.</p>")
    for version in versions:
        metrics = sorted(m for v, m in grouped if v == version)
        first = grouped[(version, metrics[0])]
        parts.append(f"<h2>Version {version}</h2><p>{len(first)} windows, {esc(fmt_time(first[0].window_start))} "
                     f"to {esc(fmt_time(first[-1].window_end))}</p><table>")
        for metric in metrics:
            found = grouped[(version, metric)]
            values = [p.value for p in found]
            parts.append(f"<tr><td>{esc(metric)}</td><td>{esc(_short(values[-1]))}</td>"
                         f"<td>{esc(trend(values))}</td><td>{_line_svg(values)}</td></tr>")
        parts.append("</table><h3>Drift in the latest window</h3><table>")
        for metric in metrics:
            if metric.startswith(("drift_score.", "output_drift.")):
                latest = grouped[(version, metric)][-1]
                distribution = latest.labels.get("distribution") or {}
                label = (f"{latest.labels.get('method')} {_short(latest.value)} (threshold "
                         f"{_short(latest.labels.get('threshold') or math.nan)})")
                parts.append(f"<tr><td>{esc(metric)}</td><td>{esc(label)}</td>"
                             f"<td>{_bars_svg(distribution)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)

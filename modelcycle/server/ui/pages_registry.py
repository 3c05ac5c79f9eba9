"""Pages of datasets, the model registry, deployments and monitoring.

Each page reads the store through its public methods (or a feature function that does, such as
the drift of two profiles or a model's lineage) and hands the templates plain values; charts get
their series twice: as JSON for ``modelcycle.chart`` and as a drawn SVG that shows without it."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from modelcycle.exceptions import InvalidInput, ModelcycleError, NotFound
from modelcycle.server.ui.render import page
from modelcycle.store.base import Store
from modelcycle.store.entities import Deployment, DeploymentEvent, MonitorPoint, Run, Transition, ViewType
from modelcycle.store.validation import parse_version

PAGE_SIZE = 50
EVENTS_PAGE = 200  # deployment events and alert episodes on one page
CHART_POINTS = 1000  # monitor windows on one chart
VERSIONS_CHARTED = 500  # a metric across versions: the latest this many
HISTOGRAM_BINS = 40
TOP_CATEGORIES = 12
RANGES = {"1d": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "90d": 90 * 86_400_000, "all": None}
HEADLINE_METRICS = ("rows", "error_rate", "latency_p99_ms", "drift_share", "roc_auc", "accuracy", "rmse")
AUDIT_FILTERS = {"all": None, "stage": ("register", "stage", "rollback", "delete"), "alias": ("alias", "unalias"),
                 "deployment": ("deployment",)}
HIDDEN_MONITOR_METRICS = ("output_reference",)  # a profile kept in its labels, not a series
# The analysis of a canary step, as its deployment event says it: event kind -> (outcome, badge)
OUTCOMES = {"step": ("pass", "passed"), "promoting": ("pass", "passed"), "analysis_failed": ("fail", "failed"),
            "hold": ("hold", "held"), "rollback": ("fail", "rolled_back")}
MARKER_COLOURS = {"firing": "#c0262d", "resolved": "#1a7f37"}
PALETTE = ("#2f6fdf", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#0c8599", "#c2255c", "#5c940d")

Page = Annotated[int, Query(ge=1, le=1_000_000)]
ListPage = Annotated[int, Query(ge=1, le=1_000_000, alias="page")]
Range = Annotated[str, Query(alias="range")]


def _pages(total: int, page_number: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    pages = max(1, math.ceil(total / size))
    if page_number > pages:
        raise InvalidInput(f"There are {pages} page{'s' if pages > 1 else ''} of {total:,} here; page "
                           f"{page_number} is past the last one.")
    return {"page": page_number, "pages": pages, "total": total, "start": (page_number - 1) * size,
            "end": min(total, page_number * size)}


def _ms(value: Any) -> int | None:
    return None if _finite(value) is None else int(value)


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


# ---------------------------------------------------------------------- charts
def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not high > low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _short(value: float) -> str:
    return f"{value:.4g}"


def _time_label(ms: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%m-%d %H:%M")


def line_chart(title: str, x: Sequence[float], series: Sequence[dict[str, Any]], time: bool = False,
               markers: Sequence[dict[str, Any]] = (), x_label: str = "", y_label: str = "",
               caption: str = "", width: int = 640, height: int = 220) -> dict[str, Any]:
    """A chart's data for ``modelcycle.chart`` (``data``) and its geometry as SVG (``svg``) for
    the page without scripts. ``series``: [{"label", "values"}], a value per x (None: no point);
    ``markers``: [{"x", "label", "kind"}] drawn as vertical lines (alerts)."""
    clean = [{"label": s["label"], "values": [_finite(v) for v in s["values"]], "color": PALETTE[i % len(PALETTE)]}
             for i, s in enumerate(series)]
    data = {"x": list(x), "time": time, "xLabel": x_label, "yLabel": y_label, "series": clean, "caption": caption,
            "markers": [{"x": m["x"], "label": m["label"], "color": MARKER_COLOURS.get(m.get("kind", ""), "")}
                        for m in markers]}
    left, right, top, bottom = 56, 12, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in clean for v in s["values"] if v is not None]
    svg: dict[str, Any] = {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w,
                           "plot_h": plot_h, "paths": [], "dots": [], "x_ticks": [], "y_ticks": [], "markers": [],
                           "empty": not values}
    if not values or not x:
        return {"title": title, "data": data, "svg": svg}
    x_low, x_high = min(x), max(x)
    y_low, y_high = min(values), max(values)
    pad = (y_high - y_low) * 0.06 or (abs(y_low) or 1) * 0.05
    y_low, y_high = y_low - pad, y_high + pad

    def px(value: float) -> float:
        return left + (0.5 if x_high == x_low else (value - x_low) / (x_high - x_low)) * plot_w

    def py(value: float) -> float:
        return top + plot_h - (value - y_low) / (y_high - y_low) * plot_h

    for s in clean:
        colour = s["color"]
        runs, current = [], []
        for xv, yv in zip(x, s["values"]):
            if yv is None:
                if current:
                    runs.append(current)
                current = []
            else:
                current.append(f"{px(xv):.1f},{py(yv):.1f}")
        if current:
            runs.append(current)
        svg["paths"].append({"label": s["label"], "colour": colour,
                             "d": " ".join("M" + " L".join(r) for r in runs if len(r) > 1)})
        if len(x) <= 60:
            svg["dots"] += [{"cx": px(xv), "cy": py(yv), "colour": colour, "title": f"{s['label']}: {_short(yv)}"}
                            for xv, yv in zip(x, s["values"]) if yv is not None]
    svg["y_ticks"] = [{"y": py(v), "label": _short(v)} for v in _ticks(y_low, y_high) if y_low <= v <= y_high]
    if time:
        count = 4
        svg["x_ticks"] = [{"x": px(x_low + i * (x_high - x_low) / count),
                           "label": _time_label(x_low + i * (x_high - x_low) / count)} for i in range(count + 1)]
    else:
        svg["x_ticks"] = [{"x": px(v), "label": _short(v)} for v in _ticks(x_low, x_high)
                          if x_low <= v <= x_high and (v == int(v) or not all(float(e).is_integer() for e in x))]
    svg["markers"] = [{"x": px(m["x"]), "label": m["label"], "kind": m.get("kind", "")}
                      for m in markers if x_low <= m["x"] <= x_high]
    return {"title": title, "data": data, "svg": svg}


def _bars(shares: Sequence[float], labels: Sequence[str], second: Sequence[float] | None = None,
          width: int = 260, height: int = 48, titled: bool = False) -> dict[str, Any]:
    """Bars of ``shares`` (and ``second`` beside them, for a comparison), tallest at full height:
    one SVG path per series, or a rectangle per bar with its label as a tooltip (``titled``)."""
    tallest = max(list(shares) + list(second or [])) if shares else 0
    slot = width / max(len(shares), 1)
    sides = ((shares, "a"),) if second is None else ((shares, "a"), (second, "b"))
    w = slot / len(sides)
    paths, bars = [], []
    for j, (values, kind) in enumerate(sides):
        parts = []
        for i, value in enumerate(values):
            h = value / tallest * (height - 2) if tallest else 0
            if h <= 0:
                continue
            x = i * slot + j * w
            parts.append(f"M{x:.1f} {height}v{-h:.1f}h{max(w - 0.6, 0.6):.1f}v{h:.1f}z")
            if titled:
                bars.append({"x": x, "y": height - h, "w": max(w - 0.6, 0.6), "h": h, "kind": kind,
                             "title": f"{labels[i]}: {value:.1%}"})
        paths.append({"kind": kind, "d": "".join(parts)})
    return {"width": width, "height": height, "paths": [] if titled else paths, "bars": bars,
            "first": labels[0] if labels else "", "last": labels[-1] if labels else ""}


def _column_chart(column) -> dict[str, Any] | None:
    """A profiled column's distribution, from the stored histogram or category counts."""
    if column.numeric and column.histogram is not None and column.count:
        histogram = column.histogram
        if histogram.counts.size == 0:
            return None
        group = max(1, math.ceil(histogram.counts.size / HISTOGRAM_BINS))
        edges = histogram.edges()
        counts = [int(histogram.counts[i:i + group].sum()) for i in range(0, histogram.counts.size, group)]
        starts = [float(edges[i]) for i in range(0, histogram.counts.size, group)]
        total = sum(counts) or 1
        labels = [_short(s) for s in starts]
        if column.physical == "datetime":
            labels = [_time_label(s * 1000) for s in starts]
        chart = _bars([c / total for c in counts], labels)
        chart["first"], chart["last"] = labels[0], (_time_label(float(edges[-1]) * 1000) if column.physical ==
                                                    "datetime" else _short(float(edges[-1])))
        return chart
    if column.categories is not None and column.rows:
        top = column.top(TOP_CATEGORIES)
        present = max(column.rows - column.missing, 1)
        return _bars([c / present for _, c in top], [str(v) for v, _ in top], titled=True) if top else None
    return None


def _drift_chart(distribution: dict[str, Any] | None) -> dict[str, Any] | None:
    if not distribution:
        return None
    if distribution["kind"] == "categorical":
        return _bars(distribution["reference"], distribution["labels"], distribution["current"], width=360,
                     height=60, titled=True)
    ref, cur, edges = list(distribution["reference"]), list(distribution["current"]), distribution["edges"]
    if not ref:
        return None
    show = (lambda v: _time_label(v * 1000)) if distribution.get("datetime") else _short
    labels = [show(e) for e in edges[:-1]]
    below, above = distribution.get("below") or [0, 0], distribution.get("above") or [0, 0]
    if any(below):
        ref, cur, labels = [below[0]] + ref, [below[1]] + cur, ["below"] + labels
    if any(above):
        ref, cur, labels = ref + [above[0]], cur + [above[1]], labels + ["above"]
    chart = _bars(ref, labels, cur, width=360, height=60)
    chart["first"], chart["last"] = show(edges[0]), show(edges[-1])
    return chart


# ---------------------------------------------------------------------- store reads
def _runs(store: Store, run_ids: Iterable[str], columns: Sequence[str] | None = None) -> dict[str, Run]:
    """The runs of ``run_ids`` (deleted ones too) by id, a few searches instead of one read each;
    ``columns`` as search_runs takes them (``[]``: none of their params, metrics and tags)."""
    ids = sorted(set(run_ids))
    found: dict[str, Run] = {}
    for i in range(0, len(ids), 200):
        chunk = ids[i:i + 200]
        listed = ", ".join(f"'{run_id}'" for run_id in chunk)  # run ids are checked hex by the store
        result = store.search_runs(filter=f"run_id IN ({listed})", max_results=len(chunk), view=ViewType.ALL,
                                   columns=columns)
        found.update((r.id, r) for r in result.runs)
    return found


def _child_runs(store: Store, parent_ids: Sequence[str]) -> list[Run]:
    out: list[Run] = []
    for i in range(0, len(parent_ids), 200):
        listed = ", ".join(f"'{run_id}'" for run_id in parent_ids[i:i + 200])
        out += store.search_runs(filter=f"parent_id IN ({listed})", max_results=10_000, view=ViewType.ALL,
                                 columns=[]).runs
    return out


def _experiment_names(store: Store, runs: Iterable[Run]) -> dict[int, str]:
    names = {}
    for experiment_id in {r.experiment_id for r in runs}:
        try:
            names[experiment_id] = store.get_experiment(experiment_id).name
        except NotFound:
            names[experiment_id] = str(experiment_id)
    return names


def _split_ref(ref: str) -> tuple[str, int]:
    name, _, version = ref.rpartition("@")
    return name, int(version)


def _deployments_of(store: Store, model: str) -> list[Deployment]:
    return [d for d in store.list_deployments() if d.model_name == model]


# ---------------------------------------------------------------------- the audit log
def _trailing_json(text: str) -> tuple[str, dict | None]:
    """A deployment's audit entry ends with its event's numbers as JSON: split them off."""
    at = text.find(" {")
    while at != -1:
        try:
            numbers = json.loads(text[at + 1:])
        except ValueError:
            at = text.find(" {", at + 1)
            continue
        if isinstance(numbers, dict):
            return text[:at], numbers
        break
    return text, None


def audit_entry(t: Transition, deployments: Sequence[Deployment],
                comparisons: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a template shows of one audit entry: the move, who, when, why, and any numbers."""
    entry: dict[str, Any] = {"id": t.id, "time": t.created_at, "user": t.user, "version": t.version,
                             "compared": (comparisons or {}).get(t.id),
                             "action": t.action, "reason": t.reason, "forced": t.forced, "overrode": "", "passed": "",
                             "numbers": None, "deployment": None, "kind": None, "summary": "", "alias": t.alias,
                             "from": t.from_value, "to": t.to_value}
    if t.forced:
        head, mark, rest = t.reason.rpartition("[forced past ")
        if mark and rest.endswith("]"):
            entry["reason"], entry["overrode"] = head.rstrip(), rest[:-1]
    else:  # registry.api.promote writes what a passing promotion passed with
        head, mark, rest = t.reason.rpartition("[gates passed: ")
        if mark and rest.endswith("]"):
            entry["reason"], entry["passed"], entry["compared"] = head.rstrip(), rest[:-1], None
    if t.action == "deployment":
        # Written as "deployment 'NAME' KIND[: REASON][ NUMBERS]" (store/sql_deployments.py).
        text = t.reason
        for d in deployments:
            prefix = f"deployment {d.name!r} "
            if text.startswith(prefix):
                entry["deployment"], text = d.name, text[len(prefix):]
                entry["kind"] = re.match(r"[^\s:]*", text).group(0)
                text = text[len(entry["kind"]):]
                text = text[2:] if text.startswith(": ") else text
                break
        entry["reason"], entry["numbers"] = _trailing_json(text)
        entry["reason"] = entry["reason"].strip()
        entry["summary"] = analysis_summary(entry["numbers"] or {})
    return entry


COUNTS = ("step", "candidate_requests", "candidate_errors", "stable_requests", "stable_errors", "failures")
RATES = ("share", "candidate_error_rate", "stable_error_rate", "candidate_p99_ms", "stable_p99_ms", "candidate_auc",
         "stable_auc")


def analysis_numbers(n: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a canary analysis as numbers (None where missing or not a number: events
    can be written through the API with anything in them), and the rest as they are."""
    out: dict[str, Any] = {k: (int(n[k]) if _finite(n.get(k)) is not None else None) for k in COUNTS}
    out.update({k: _finite(n.get(k)) for k in RATES})
    window = n.get("window_ms")
    out["window"] = window if isinstance(window, list) and all(_finite(w) is not None for w in window) else None
    out["others"] = {k: v for k, v in n.items() if k not in COUNTS and k not in RATES and k != "window_ms"}
    out["analysis"] = out["candidate_requests"] is not None
    return out


def analysis_summary(n: dict[str, Any]) -> str:
    """One line of a canary analysis's numbers (empty when they are not an analysis's)."""
    a = analysis_numbers(n)
    if not a["analysis"]:
        return ""

    def ms(value) -> str:
        return "–" if value is None else f"{value:.3g} ms"

    parts = [f"candidate {a['candidate_requests']:,} requests, {a['candidate_errors'] or 0:,} errors",
             f"stable {a['stable_requests'] or 0:,} requests, {a['stable_errors'] or 0:,} errors",
             f"p99 {ms(a['candidate_p99_ms'])} vs {ms(a['stable_p99_ms'])}"]
    if a["candidate_auc"] is not None and a["stable_auc"] is not None:
        parts.append(f"ROC AUC {a['candidate_auc']:.4f} vs {a['stable_auc']:.4f}")
    if a["share"] is not None:
        parts.insert(0, f"step {a['step']} at {a['share']:g}%")
    return "; ".join(parts)


def production_intervals(history: Sequence[Transition], now: int) -> list[dict[str, Any]]:
    """Which version held Production from when until when (None: still), oldest first."""
    intervals: list[dict[str, Any]] = []
    holding: dict[int, dict[str, Any]] = {}
    for t in history:
        if t.action not in ("stage", "rollback") or t.version is None:
            continue
        if t.from_value == "Production" and t.to_value != "Production" and t.version in holding:
            held = holding.pop(t.version)
            held["end"], held["ended_by"] = t.created_at, t.reason
        if t.to_value == "Production" and t.from_value != "Production":
            held = {"id": t.id, "version": t.version, "start": t.created_at, "end": None, "user": t.user,
                    "reason": t.reason, "forced": t.forced, "rollback": t.action == "rollback", "ended_by": ""}
            holding[t.version] = held
            intervals.append(held)
    if intervals:
        first, span = intervals[0]["start"], max(now - intervals[0]["start"], 1)
        colours = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(dict.fromkeys(h["version"] for h in intervals))}
        for held in intervals:
            end = held["end"] if held["end"] is not None else now
            held["left"] = 100 * (held["start"] - first) / span
            held["width"] = max(100 * (end - held["start"]) / span, 0.3)
            held["colour"] = colours[held["version"]]
            held["duration_end"] = end
    return intervals


def promotion_comparisons(intervals: Sequence[dict[str, Any]], runs: dict[int, Run],
                          metric: str | None) -> dict[int, dict[str, Any]]:
    """Per promotion into Production (by audit entry id): ``metric`` of the version's run against
    that of the version it replaced, as the promotion gate compares them. From the runs as they
    are; the audit log itself keeps no numbers of a gate that passed."""
    out: dict[int, dict[str, Any]] = {}
    if not metric:
        return out
    for before, held in zip(intervals, intervals[1:]):
        if held["rollback"]:
            continue  # a rollback passes no gate
        new, old = runs.get(held["version"]), runs.get(before["version"])
        a = new.metrics.get(metric) if new else None
        b = old.metrics.get(metric) if old else None
        if a is not None and b is not None:
            out[held["id"]] = {"metric": metric, "value": a.value, "before": before["version"],
                               "value_before": b.value, "delta": a.value - b.value}
    return out


# ---------------------------------------------------------------------- deployments
def analysis_row(e: DeploymentEvent) -> dict[str, Any]:
    row = analysis_numbers(e.numbers or {})
    outcome, badge = OUTCOMES.get(e.kind, ("", e.kind)) if row["analysis"] else ("", e.kind)
    row.update(seq=e.seq, time=e.time_ms, kind=e.kind, outcome=outcome, badge=badge, from_shares=e.from_shares,
               to_shares=e.to_shares, reason=e.reason, actor=e.actor)
    return row


def _step_charts(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    analyses = [r for r in rows if r["analysis"]]
    if not analyses:
        return []
    x = [r["time"] for r in analyses]

    def pct(key: str) -> list[float | None]:
        return [None if r[key] is None else 100 * r[key] for r in analyses]

    return [
        line_chart("Candidate share (%) at each analysis", x, [{"label": "candidate share %",
                                                               "values": [r["share"] for r in analyses]}], True),
        line_chart("Error rate (%)", x, [{"label": "candidate", "values": pct("candidate_error_rate")},
                                         {"label": "stable", "values": pct("stable_error_rate")}], True),
        line_chart("p99 latency (ms)", x, [{"label": "candidate", "values": [r["candidate_p99_ms"] for r in analyses]},
                                           {"label": "stable", "values": [r["stable_p99_ms"] for r in analyses]}],
                   True),
    ]


# ---------------------------------------------------------------------- monitoring
def _alert_log(store: Store, model: str) -> list[dict[str, Any]]:
    """Every alert transition recorded for ``model``, oldest first, read in pages."""
    from modelcycle.monitoring.alerts import ALERT_EVENT

    out, after = [], 0
    while True:
        part = store.monitor_events(model, kind=ALERT_EVENT, after_seq=after, limit=10_000)
        out += [{"seq": e.seq, "time": e.time_ms, **e.data} for e in part]
        if len(part) < 10_000:
            return out
        after = part[-1].seq


def _episodes(log: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Firing episodes, newest first: when each alert fired and when it resolved."""
    episodes: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for e in log:
        key = e.get("fingerprint") or f"{e.get('version')}:{e.get('rule')}"
        if e.get("new") == "firing":
            open_[key] = {"rule": e.get("rule"), "version": e.get("version"), "severity": e.get("severity"),
                          "fired_at": _ms(e.get("fired_at") or e.get("window_end")), "resolved_at": None,
                          "value": _finite(e.get("value")), "threshold": _finite(e.get("threshold")),
                          "expr": e.get("expr"),
                          "summary": (e.get("annotations") or {}).get("summary", ""), "state": "firing"}
            episodes.append(open_[key])
        elif e.get("new") == "resolved" and key in open_:
            episode = open_.pop(key)
            episode["resolved_at"], episode["state"] = _ms(e.get("resolved_at") or e.get("window_end")), "resolved"
    return episodes[::-1]


def monitor_charts(points: Sequence[MonitorPoint], shown: Sequence[str], log: Sequence[dict[str, Any]],
                   start: int | None) -> list[dict[str, Any]]:
    """A chart per metric of ``shown``: a line per version over the windows' ends, at most
    CHART_POINTS of them (past that, the last window of each of as many equal spans of time),
    with the alerts of the rules that read the metric marked where they fired and resolved."""
    by_metric: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for p in points:
        by_metric[p.metric][p.version][p.window_end] = p.value
    markers = []
    for e in log:
        at = _ms(e.get("window_end") or e.get("time"))
        if e.get("new") not in ("firing", "resolved") or at is None or (start is not None and at < start):
            continue
        markers.append({"x": at, "kind": e["new"], "metric": str(e.get("expr") or ""),
                        "label": f"{e.get('rule')} v{e.get('version')} {e['new']}"})
    charts = []
    for name in shown:
        by_version = by_metric.get(name, {})
        ends = sorted({t for values in by_version.values() for t in values})
        caption = ""
        if len(ends) > CHART_POINTS:
            low, span = ends[0], (ends[-1] - ends[0]) / CHART_POINTS
            bucket = {t: min(int((t - low) / span), CHART_POINTS - 1) for t in ends}
            x = sorted({b: t for t, b in bucket.items()}.values())  # the last end in each bucket
            series = []
            for v, values in sorted(by_version.items()):
                last = {bucket[t]: values[t] for t in sorted(values)}
                series.append({"label": f"v{v}" if v else "unversioned",
                               "values": [last.get(bucket[t]) for t in x]})
            caption = f"{len(x):,} of {len(ends):,} windows: the last of each of {CHART_POINTS:,} spans"
        else:
            x = ends
            series = [{"label": f"v{v}" if v else "unversioned", "values": [values.get(t) for t in x]}
                      for v, values in sorted(by_version.items())]
        reads = re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w.])")
        mine = [m for m in markers if reads.search(m["metric"])]
        charts.append({"metric": name, **line_chart(name, x, series, time=True, markers=mine, caption=caption)})
    return charts


def add_routes(router: APIRouter, store: Store) -> None:  # noqa: C901 - one closure per page
    from modelcycle.store.clock import now_ms

    # ------------------------------------------------------------------ datasets
    @router.get("/datasets")
    def datasets(request: Request, q: str = "", page_number: ListPage = 1):
        found = [d for d in store.list_datasets() if q.lower() in d.name.lower()]
        found.sort(key=lambda d: d.name)
        paging = _pages(len(found), page_number)
        return page(request, "datasets.html", datasets=found[paging["start"]:paging["end"]], q=q, paging=paging)

    @router.get("/datasets/{name}")
    def dataset(request: Request, name: str, page_number: ListPage = 1):
        versions = sorted(store.list_datasets(name), key=lambda d: -d.version)
        if not versions:
            store.get_dataset(name)  # the store's NotFound, with what to do
        paging = _pages(len(versions), page_number)
        uses = store.dataset_uses(name=name)
        runs_per_version: dict[str, set[str]] = defaultdict(set)
        for use in uses:
            runs_per_version[use.dataset].add(use.run_id)
        return page(request, "dataset.html", name=name, versions=versions[paging["start"]:paging["end"]],
                    latest=versions[0], count=len(versions), paging=paging,
                    runs_per_version={k: len(v) for k, v in runs_per_version.items()})

    @router.get("/datasets/{name}/versions/{v}")
    def dataset_version(request: Request, name: str, v: str):
        from modelcycle.data.profile import Profile
        from modelcycle.data.schema import Schema

        dataset = store.get_dataset(name, parse_version("dataset", v))
        problems, schema, columns = [], None, []
        try:
            schema = Schema.from_yaml(dataset.schema + "\n") if dataset.schema else None
        except ModelcycleError as exc:
            problems.append(f"The stored schema cannot be read: {exc.message}")
        try:
            profile = Profile.from_dict(json.loads(dataset.profile)) if dataset.profile else None
        except (ValueError, ModelcycleError) as exc:
            profile = None
            problems.append(f"The stored profile cannot be read: {getattr(exc, 'message', exc)}")
        if profile is not None:
            for column in profile.columns.values():
                summary = column.summary()
                quantiles = summary.get("quantiles") or {}
                columns.append({"name": column.name, "summary": summary, "median": quantiles.get("0.5"),
                                "p05": quantiles.get("0.05"), "p95": quantiles.get("0.95"),
                                "chart": _column_chart(column),
                                "schema": schema.columns.get(column.name) if schema else None})
        uses = store.dataset_uses(name=name, version=dataset.version)
        runs = _runs(store, [u.run_id for u in uses], columns=[])
        experiments = _experiment_names(store, runs.values())
        # Model versions made from those runs, or from their child runs that logged no data of
        # their own (a sweep's trials use the data logged once by the sweep), as lineage reads it.
        made = store.list_model_versions(run_ids=list(runs)) if runs else []
        via: dict[str, str] = {}
        children = [c for c in _child_runs(store, list(runs)) if c.id not in runs] if runs else []
        if children:
            for mv in store.list_model_versions(run_ids=[c.id for c in children]):
                if not store.dataset_uses(run_id=mv.run_id):
                    made.append(mv)
                    via[mv.run_id] = next(c.parent_id for c in children if c.id == mv.run_id)
        versions_total = len(store.list_datasets(name))
        return page(request, "dataset_version.html", dataset=dataset, columns=columns, problems=problems,
                    profile=profile, schema=schema, uses=uses, runs=runs, experiments=experiments,
                    model_versions=sorted(made, key=lambda m: (m.name, m.version)), via=via,
                    versions_total=versions_total)

    @router.get("/datasets/{name}/diff")
    def dataset_diff(request: Request, name: str, a: str = "", b: str = ""):
        reference, current, report = _diff(name, a, b)
        columns = [{"result": c, "chart": _drift_chart(c.distribution)} for c in report.columns]
        versions = sorted((d.version for d in store.list_datasets(name)), reverse=True)
        return page(request, "dataset_diff.html", name=name, reference=reference, current=current, report=report,
                    columns=columns, versions=versions)

    @router.get("/datasets/{name}/diff/report")
    def dataset_diff_report(name: str, a: str = "", b: str = ""):
        from modelcycle.data.report import render_html

        reference, current, report = _diff(name, a, b)
        html = render_html(report, f"Drift of {name} version {current.version} from version {reference.version}")
        # Shown in a sandboxed frame: it runs no script and has no origin, whatever it holds.
        return HTMLResponse(html, headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"})

    def _diff(name: str, a: str, b: str):
        from modelcycle.data.drift import drift
        from modelcycle.data.profile import Profile
        from modelcycle.data.schema import Schema

        versions = sorted(d.version for d in store.list_datasets(name))
        if not versions:
            store.get_dataset(name)
        if not a and not b and len(versions) < 2:
            raise InvalidInput(f"The dataset {name!r} has one version; there is nothing to compare it with yet.")
        b_version = parse_version("dataset", b) if b else versions[-1]
        a_version = parse_version("dataset", a) if a else next((v for v in reversed(versions) if v < b_version),
                                                          versions[0])
        reference, current = store.get_dataset(name, a_version), store.get_dataset(name, b_version)
        profiles = []
        for d in (reference, current):
            if not d.profile:
                raise InvalidInput(f"Version {d.version} of {name!r} has no stored profile to compare.")
            try:
                profiles.append(Profile.from_dict(json.loads(d.profile)))
            except ValueError as exc:
                raise InvalidInput(f"The stored profile of version {d.version} of {name!r} is not JSON ({exc}); "
                                   "log the data again.") from None
        schema = Schema.from_yaml(reference.schema + "\n") if reference.schema else None
        return reference, current, drift(profiles[0], profiles[1], schema=schema)

    # ------------------------------------------------------------------ the registry
    @router.get("/models")
    def models(request: Request, q: str = "", page_number: ListPage = 1):
        found = sorted((m for m in store.list_registered_models() if q.lower() in m.name.lower()),
                       key=lambda m: m.name)
        paging = _pages(len(found), page_number)
        deployed: dict[str, list[str]] = defaultdict(list)
        for d in store.list_deployments():
            deployed[d.model_name].append(d.name)
        return page(request, "models.html", models=found[paging["start"]:paging["end"]], q=q, paging=paging,
                    deployed=deployed)

    @router.get("/models/{name}")
    def model(request: Request, name: str, metric: str = "", page_number: ListPage = 1,
              audit_page: Page = 1, audit: str = "all"):
        from modelcycle.registry.gates import policy_of

        registered = store.get_registered_model(name)
        versions = sorted(store.list_model_versions(name, include_deleted=True), key=lambda v: -v.version)
        paging = _pages(len(versions), page_number)
        history = store.model_history(name)
        deployments = _deployments_of(store, name)
        if audit not in AUDIT_FILTERS:
            raise InvalidInput(f"The audit log is shown by one of {', '.join(AUDIT_FILTERS)}; got {audit!r}.")
        actions = AUDIT_FILTERS[audit]
        newest_first = [t for t in reversed(history) if actions is None or t.action in actions]
        audit_paging = _pages(len(newest_first), audit_page)
        intervals = production_intervals(history, now_ms())
        # A metric across versions: the latest VERSIONS_CHARTED live versions, read in a few searches.
        charted = sorted((v for v in versions if not v.deleted), key=lambda v: v.version)[-VERSIONS_CHARTED:]
        runs = _runs(store, [v.run_id for v in charted])
        keys = sorted({k for r in runs.values() for k in r.metrics})
        try:
            policy_metric = policy_of(registered).metric
        except InvalidInput:  # a malformed stored policy: the page still shows, without it
            policy_metric = None
        run_of = {v.version: v.run_id for v in versions}
        held = {h["version"] for h in intervals}
        runs.update(_runs(store, [run_of[v] for v in held if v in run_of and run_of[v] not in runs]))
        comparisons = promotion_comparisons(intervals, {v: runs[run_of[v]] for v in held
                                                        if v in run_of and run_of[v] in runs}, policy_metric)
        entries = [audit_entry(t, deployments, comparisons)
                   for t in newest_first[audit_paging["start"]:audit_paging["end"]]]
        if metric and metric not in keys:
            raise InvalidInput(f"No version of {name!r} comes from a run with the metric {metric!r}; its runs have "
                               f"{', '.join(keys) if keys else 'no metrics'}.")
        chosen = metric or next((k for k in (policy_metric, "roc_auc", "accuracy", "r2") if k in keys),
                                keys[0] if keys else "")
        across = []
        for v in charted:
            run = runs.get(v.run_id)
            m = run.metrics.get(chosen) if run and chosen else None
            across.append({"version": v.version, "stage": v.stage.value, "value": None if m is None else m.value,
                           "aliases": v.aliases})
        chart = line_chart(f"{chosen} by version", [a["version"] for a in across],
                           [{"label": chosen, "values": [a["value"] for a in across]}], x_label="version") \
            if chosen else None
        page_versions = versions[paging["start"]:paging["end"]]
        page_runs = {v.run_id: runs[v.run_id] for v in page_versions if v.run_id in runs}
        page_runs.update(_runs(store, [v.run_id for v in page_versions if v.run_id not in page_runs]))
        return page(request, "model.html", model=registered, versions=page_versions, paging=paging, audit=entries,
                    audit_paging=audit_paging, audit_filter=audit, audit_filters=list(AUDIT_FILTERS),
                    intervals=intervals, now=now_ms(), metric=chosen, keys=keys,
                    across=across, chart=chart, deployments=deployments, runs=page_runs,
                    policy_metric=policy_metric, charted_count=len(charted),
                    live_count=sum(1 for v in versions if not v.deleted))

    @router.get("/models/{name}/versions/{v}")
    def model_version(request: Request, name: str, v: str):
        from modelcycle.registry.api import lineage
        from modelcycle.tracking.client import Client

        version = store.get_model_version(name, parse_version("model", v))
        manifest, problem = None, ""
        try:
            from modelcycle.models.api import read_manifest

            manifest = read_manifest(version.source, store)
        except (ModelcycleError, OSError, ValueError) as exc:  # the page shows the rest without it
            problem = getattr(exc, "message", None) or str(exc)
        traced = lineage(f"{name}@{version.version}", client=Client(store=store))
        datasets_used = []
        for use in traced["datasets"]:
            ds_name, ds_version = _split_ref(use["dataset"])
            datasets_used.append({"name": ds_name, "version": ds_version, "role": use["role"]})
        run = store.get_run(version.run_id)
        deployments = [d for d in _deployments_of(store, name) if version.version in d.arms.values()]
        history = [audit_entry(t, _deployments_of(store, name)) for t in store.model_history(name)
                   if t.version == version.version][::-1]
        code = traced["code"]
        commit_url = None
        repo = code.get("repo") or ""
        if code.get("commit") and repo.startswith(("https://github.com/", "https://gitlab.com/")):
            commit_url = f"{repo.removesuffix('.git').rstrip('/')}/commit/{code['commit']}"
        return page(request, "model_version.html", version=version, manifest=manifest, problem=problem,
                    lineage=traced, datasets_used=datasets_used, run=run, code=code, commit_url=commit_url,
                    deployments=deployments, history=history)

    # ------------------------------------------------------------------ deployments
    @router.get("/deployments")
    def deployments(request: Request, q: str = "", page_number: ListPage = 1):
        found = sorted((d for d in store.list_deployments()
                        if q.lower() in d.name.lower() or q.lower() in d.model_name.lower()), key=lambda d: d.name)
        paging = _pages(len(found), page_number)
        return page(request, "deployments.html", deployments=found[paging["start"]:paging["end"]], q=q,
                    paging=paging)

    @router.get("/deployments/{name:path}")
    def deployment(request: Request, name: str, before: Annotated[int | None, Query(ge=1, lt=2**31)] = None):
        d = store.get_deployment(name)
        events = store.deployment_events(name)
        # Pages of EVENTS_PAGE events ending before the event ``before`` (the latest by default).
        end = len(events) if before is None else sum(1 for e in events if e.seq < before)
        first = max(0, end - EVENTS_PAGE)
        shown = events[first:end]
        rows = [analysis_row(e) for e in shown]
        earlier = events[first].seq if first > 0 else None
        later = None if end >= len(events) else (events[end + EVENTS_PAGE].seq if end + EVENTS_PAGE < len(events)
                                                 else 0)  # 0: the latest page
        live = store.deployment_stats(name, d.step_started_at) if d.state == "active" else {}
        ab, ab_problem = None, ""
        if d.strategy == "ab":
            from modelcycle.rollout.report import ab_report

            try:
                ab = ab_report(name, store=store)
            except (ModelcycleError, OSError, ValueError) as exc:
                ab_problem = getattr(exc, "message", str(exc))
        return page(request, "deployment.html", d=d, rows=rows, total=len(events), earlier=earlier, later=later,
                    charts=_step_charts(rows), live=live, ab=ab, ab_problem=ab_problem,
                    checks=(d.config or {}).get("checks") or {})

    # ------------------------------------------------------------------ monitoring
    @router.get("/monitoring/{model}")
    def monitoring(request: Request, model: str, metric: str = "", version: str = "", range_: Range = "7d",
                   alerts_page: Page = 1):
        context = _monitoring(model, metric, version, range_)
        episodes = context.pop("episodes")
        alerts_paging = _pages(len(episodes), alerts_page, EVENTS_PAGE)
        return page(request, "monitoring.html", episodes=episodes[alerts_paging["start"]:alerts_paging["end"]],
                    alerts_paging=alerts_paging, **context)

    @router.get("/monitoring/{model}/report")
    def monitoring_report(model: str, metric: str = "", version: str = "", range_: Range = "7d"):
        from modelcycle.monitoring.report import html_report

        context = _monitoring(model, metric, version, range_)
        points = store.monitor_results(model, start_ms=context["start"], end_ms=context["end"],
                                       metrics=context["metrics"])
        return HTMLResponse(html_report(model, points),
                            headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"})

    def _monitoring(model: str, metric: str, version: str, range_: str) -> dict[str, Any]:
        if range_ not in RANGES:
            raise InvalidInput(f"The range is one of {', '.join(RANGES)}; got {range_!r}.")
        try:
            registered = store.get_registered_model(model)
        except NotFound:
            registered = None
        windows = store.monitor_windows(model)
        states = store.alert_states(model)
        if registered is None and not windows and not states:
            store.get_registered_model(model)  # NotFound, naming the model
        chosen_version = parse_version("model", version) if version else None
        last_end = max(windows.values()) if windows else None
        span = RANGES[range_]
        start = None if span is None or last_end is None else max(0, last_end - span)
        marks = store.monitor_results(model, version=chosen_version, start_ms=start, metrics=["rows"]) \
            if last_end is not None else []
        metrics: list[str] = []
        if marks:
            latest = max(p.window_start for p in marks)
            metrics = sorted({p.metric for p in store.monitor_results(model, start_ms=latest, end_ms=latest + 1)
                              if p.metric not in HIDDEN_MONITOR_METRICS})
        if metric and metric not in metrics:
            raise InvalidInput(f"The monitor of {model!r} has no metric {metric!r} in its latest window; it has "
                               f"{', '.join(metrics) if metrics else 'none yet'}.")
        shown = [metric] if metric else [m for m in HEADLINE_METRICS if m in metrics] or metrics[:4]
        points = store.monitor_results(model, version=chosen_version, start_ms=start, metrics=shown) if shown else []
        log = _alert_log(store, model)
        episodes = _episodes(log)
        charts = monitor_charts(points, shown, log, start)
        firing = [s for s in states if s.state in ("pending", "firing")]
        versions = sorted(windows)
        return {"model": model, "registered": registered, "metric": metric, "metrics": metrics, "shown": shown,
                "version": chosen_version, "versions": versions, "range": range_, "ranges": list(RANGES),
                "charts": charts, "firing": firing, "episodes": episodes,
                "windows": len({p.window_start for p in marks}),
                "last_end": last_end, "start": start, "end": None if last_end is None else last_end + 1,
                "deployments": _deployments_of(store, model)}

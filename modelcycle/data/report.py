"""Rendering of validation and drift reports: JSON, and one self-contained HTML page.

Only the reports' binned distributions reach the page (never a row of data); charts are inline
SVG, so the page needs no network and no script."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from markupsafe import Markup, escape

from modelcycle.data.drift import ColumnDrift, DriftReport
from modelcycle.data.profile import Profile
from modelcycle.data.validate import ValidationReport
from modelcycle.exceptions import InvalidInput

REFERENCE_COLOUR, CURRENT_COLOUR = "#8c96a3", "#d9480f"
_WIDTH, _HEIGHT, _MARGIN = 560, 150, 28


def to_json(report: ValidationReport | DriftReport | Profile, indent: int | None = 2) -> str:
    """JSON text of a report (every score and threshold) or of a profile's summary."""
    if isinstance(report, Profile):
        data = report.summary()
    elif isinstance(report, (ValidationReport, DriftReport)):
        data = report.to_dict()
    else:
        raise InvalidInput(f"to_json takes a ValidationReport, DriftReport or Profile; got {type(report).__name__}.")
    return json.dumps(_finite(data), indent=indent, ensure_ascii=False, allow_nan=False)


def render_html(report: ValidationReport | DriftReport, title: str | None = None) -> str:
    """One self-contained HTML page: anomalies, drift scores, and per column the reference and
    current distributions overlaid."""
    from jinja2 import Environment

    if isinstance(report, ValidationReport):
        validation, drift_report = report, report.drift
        title = title or "Data validation report"
    elif isinstance(report, DriftReport):
        validation, drift_report = None, report
        title = title or "Data drift report"
    else:
        raise InvalidInput(f"render_html takes a ValidationReport or DriftReport; got {type(report).__name__}.")
    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    environment.filters["score"] = _score
    charts = {} if drift_report is None else {c.column: _chart(c) for c in drift_report.columns}
    return environment.from_string(_TEMPLATE).render(
        title=title, validation=validation, drift=drift_report, charts=charts,
        reference_colour=REFERENCE_COLOUR, current_colour=CURRENT_COLOUR)


# ---------------------------------------------------------------------- charts
def _chart(result: ColumnDrift) -> Markup:
    distribution = result.distribution
    if not distribution:
        return Markup("")
    if distribution["kind"] == "categorical":
        return _category_chart(distribution)
    return _numeric_chart(distribution)


def _numeric_chart(distribution: dict[str, Any]) -> Markup:
    edges, ref, cur = distribution["edges"], list(distribution["reference"]), list(distribution["current"])
    if not ref:
        return Markup("")
    slots = [(edges[i], edges[i + 1], ref[i], cur[i]) for i in range(len(ref))]
    step = edges[1] - edges[0]
    below, above = distribution["below"], distribution["above"]
    if any(below):
        slots.insert(0, (edges[0] - step, edges[0], below[0], below[1]))
    if any(above):
        slots.append((edges[-1], edges[-1] + step, above[0], above[1]))
    low, high = slots[0][0], slots[-1][1]
    tallest = max(max(s[2], s[3]) for s in slots) or 1.0
    plot_w, plot_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN

    def x(value: float) -> float:
        return _MARGIN + (value - low) / (high - low) * plot_w if high > low else _MARGIN

    def bar(left: float, right: float, share: float, colour: str, opacity: float) -> str:
        height = share / tallest * plot_h
        return (f'<rect x="{x(left):.2f}" y="{_MARGIN + plot_h - height:.2f}" width="{max(x(right) - x(left), 0.5):.2f}" '
                f'height="{height:.2f}" fill="{colour}" fill-opacity="{opacity}"/>')

    parts = [bar(left, right, r, REFERENCE_COLOUR, 0.55) for left, right, r, _ in slots]
    parts += [bar(left, right, c, CURRENT_COLOUR, 0.45) for left, right, _, c in slots]
    label = _date_label if distribution.get("datetime") else _number_label
    baseline = _MARGIN + plot_h
    parts.append(f'<line x1="{_MARGIN}" y1="{baseline}" x2="{_WIDTH - _MARGIN}" y2="{baseline}" stroke="#444"/>')
    first, last = edges[0], edges[-1]
    for value, anchor in ((first, "start"), ((first + last) / 2, "middle"), (last, "end")):
        parts.append(f'<text x="{x(value):.2f}" y="{baseline + 16}" text-anchor="{anchor}">{escape(label(value))}</text>')
    # Values beyond the reference's bins are drawn as one bar each side, marked as such.
    for present, centre, text in ((any(below), first - step / 2, "below"), (any(above), last + step / 2, "above")):
        if present:
            parts.append(f'<text x="{x(centre):.2f}" y="{_MARGIN - 6}" text-anchor="middle">{text}</text>')
    return _svg(parts)


def _category_chart(distribution: dict[str, Any]) -> Markup:
    labels, ref, cur = distribution["labels"], distribution["reference"], distribution["current"]
    if not labels:
        return Markup("")
    plot_w, plot_h = _WIDTH - 2 * _MARGIN, _HEIGHT - 2 * _MARGIN
    slot = plot_w / len(labels)
    tallest = max(max(ref), max(cur)) or 1.0
    parts = []
    for i, (name, r, c) in enumerate(zip(labels, ref, cur)):
        left = _MARGIN + i * slot
        for offset, share, colour in ((0.1, r, REFERENCE_COLOUR), (0.5, c, CURRENT_COLOUR)):
            height = share / tallest * plot_h
            parts.append(f'<rect x="{left + offset * slot:.2f}" y="{_MARGIN + plot_h - height:.2f}" '
                         f'width="{0.4 * slot:.2f}" height="{height:.2f}" fill="{colour}" fill-opacity="0.8">'
                         f'<title>{escape(name)}: {share:.1%}</title></rect>')
        short = name if len(name) <= 10 else name[:9] + "…"
        parts.append(f'<text x="{left + slot / 2:.2f}" y="{_MARGIN + plot_h + 14}" text-anchor="middle">'
                     f'{escape(short)}</text>')
    baseline = _MARGIN + plot_h
    parts.append(f'<line x1="{_MARGIN}" y1="{baseline}" x2="{_WIDTH - _MARGIN}" y2="{baseline}" stroke="#444"/>')
    return _svg(parts)


def _svg(parts: list[str]) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
                  f'viewBox="0 0 {_WIDTH} {_HEIGHT}" font-size="10" font-family="sans-serif">'
                  + "".join(parts) + "</svg>")


def _number_label(value: float) -> str:
    return f"{value:.4g}"


def _date_label(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; font-size: .9rem; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.error { color: #b00020; font-weight: 600; } .warning { color: #a15c00; font-weight: 600; }
.ok { color: #1b7f3b; font-weight: 600; } .drifted { color: #b00020; font-weight: 600; }
.column { border: 1px solid #e3e3e3; border-radius: 6px; padding: .5rem 1rem; margin: 1rem 0; }
.column h3 { margin: .3rem 0; } .muted { color: #666; font-size: .85rem; }
.key { display: inline-block; width: .8rem; height: .8rem; vertical-align: middle; margin: 0 .3rem 0 .8rem; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% if validation %}
<p>{{ "{:,}".format(validation.rows) }} rows, {{ validation.columns|length }} columns:
{% set errors, warnings = validation.errors|length, validation.warnings|length %}
{% if validation.ok %}<span class="ok">no errors</span>{% else %}<span class="error">{{ errors }} error{{ "s" if errors != 1 }}</span>{% endif %},
{{ warnings }} warning{{ "s" if warnings != 1 }}.</p>
{% if validation.anomalies %}
<h2>Anomalies</h2>
<table>
<tr><th>Column</th><th>Severity</th><th>Kind</th><th>Message</th></tr>
{% for a in validation.anomalies %}
<tr><td>{{ a.column if a.column is not none else "(dataset)" }}</td><td class="{{ a.severity }}">{{ a.severity }}</td><td>{{ a.kind }}</td><td>{{ a.message }}</td></tr>
{% endfor %}
</table>
{% endif %}
{% endif %}
{% if drift %}
<h2>Drift</h2>
<p>{{ drift.rule }}</p>
<p>Reference {{ "{:,}".format(drift.reference_rows) }} rows, current {{ "{:,}".format(drift.current_rows) }} rows.
Drifted columns: {{ drift.drifted_columns|length }} of {{ drift.columns|selectattr("score", "ne", none)|list|length }} compared
({{ "{:.0%}".format(drift.share) }}; the dataset drifts at {{ "{:.0%}".format(drift.share_threshold) }}):
{% if drift.dataset_drifted %}<span class="drifted">dataset drifted</span>{% else %}<span class="ok">no dataset drift</span>{% endif %}.</p>
{% if drift.only_in_reference %}<p class="muted">Only in the reference: {{ drift.only_in_reference|join(", ") }}</p>{% endif %}
{% if drift.only_in_current %}<p class="muted">Only in the current data: {{ drift.only_in_current|join(", ") }}</p>{% endif %}
<table>
<tr><th>Column</th><th>Type</th><th>Method</th><th>Score</th><th>Threshold</th><th>Drifts when</th><th>Drifted</th></tr>
{% for c in drift.columns %}
<tr><td><a href="#col-{{ loop.index }}">{{ c.column }}</a></td><td>{{ c.type }}</td><td>{{ c.method }}</td>
<td class="num">{{ c.score|score }}</td><td class="num">{{ c.threshold|score }}</td><td>{{ c.direction }}</td>
<td>{% if c.drifted %}<span class="drifted">yes</span>{% elif c.score is none %}<span class="muted">{{ c.note or "not compared" }}</span>{% else %}no{% endif %}</td></tr>
{% endfor %}
</table>
<p><span class="key" style="background: {{ reference_colour }}"></span>reference<span class="key" style="background: {{ current_colour }}"></span>current (share of each side's values)</p>
{% for c in drift.columns %}
<div class="column" id="col-{{ loop.index }}">
<h3>{{ c.column }} {% if c.drifted %}<span class="drifted">drifted</span>{% endif %}</h3>
<div class="muted">{{ c.type }}; {{ c.method }} {{ c.score|score }} (drifts {{ c.direction }} {{ c.threshold|score }}); {{ c.reason }}.
{{ "{:,}".format(c.reference_count) }} reference and {{ "{:,}".format(c.current_count) }} current values.{% if c.note %} {{ c.note }}.{% endif %}</div>
{{ charts[c.column] }}
</div>
{% endfor %}
{% endif %}
</body>
</html>
"""

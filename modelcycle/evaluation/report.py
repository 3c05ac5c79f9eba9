"""One self-contained HTML page of an evaluation: the numbers of an EvaluationResult and its
plots, embedded as base64 PNGs. Only aggregates reach the page, never a row of data."""

from __future__ import annotations

import base64
import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelcycle.evaluation.api import EvaluationResult


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _signed(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.4g}"


@lru_cache(maxsize=1)
def _template():
    """Compiled once per process: compiling costs more than rendering."""
    from jinja2 import Environment

    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    environment.filters["num"] = _number
    environment.filters["signed"] = _signed
    return environment.from_string(_TEMPLATE)


def render_html(result: EvaluationResult, pngs: dict[str, bytes], title: str | None = None) -> str:
    images = [{"name": name.rpartition("/")[2].removesuffix(".png").replace("_", " "),
               "data": base64.b64encode(data).decode("ascii")} for name, data in pngs.items()]
    slice_columns = []
    for table in result.slices:
        keys = []
        for row in table.rows:
            keys.extend(k for k in row if k not in keys and k not in ("group",))
        slice_columns.append(keys)
    return _template().render(
        r=result, title=title or f"Evaluation of {result.model}", images=images,
        slice_tables=list(zip(result.slices, slice_columns)),
        threshold_keys=["threshold", "predicted_positive", "precision", "recall", "f1", "accuracy",
                        "false_positive_rate"])


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
th{background:#f6f7f9;font-weight:600}td:first-child,th:first-child{text-align:left}
.meta{color:#555}.plots{display:flex;flex-wrap:wrap;gap:8px}.plots figure{margin:0}
.plots figcaption{font-size:12px;color:#666;text-align:center}.good{color:#1a7f37}.bad{color:#c0392b}
.note{color:#8a6d00}
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">{{ r.task }} · target <b>{{ r.target }}</b> · {{ r.rows|num }} rows
{% if r.dataset %} · data {{ r.dataset }}{% endif %}
{% if r.positive_label is not none %} · positive class {{ r.positive_label }}, threshold {{ r.threshold }}{% endif %}
{% if r.run_id %} · run {{ r.run_id }}{% endif %}</p>

<h2>Metrics</h2>
<table><tr><th>metric</th><th>value</th></tr>
{% for k, v in r.metrics.items() %}<tr><td>{{ k }}</td><td>{{ v|num }}</td></tr>{% endfor %}
</table>

{% if r.confusion_matrix %}
<h2>Confusion matrix</h2>
<table><tr><th>actual \\ predicted</th>{% for l in r.labels %}<th>{{ l }}</th>{% endfor %}</tr>
{% for row in r.confusion_matrix %}<tr><th>{{ r.labels[loop.index0] }}</th>{% for c in row %}<td>{{ c|num }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endif %}

{% if r.comparison %}
<h2>Against the baseline: {{ r.comparison.baseline }}</h2>
<table><tr><th>metric</th><th>model</th><th>baseline</th><th>difference</th><th>better</th></tr>
{% for row in r.comparison.rows %}<tr><td>{{ row.metric }}</td><td>{{ row.candidate|num }}</td><td>{{ row.baseline|num }}</td>
<td>{{ row.difference|signed }}</td><td class="{{ 'good' if row.better == 'candidate' else 'bad' if row.better == 'baseline' else '' }}">{{ row.better }}</td></tr>{% endfor %}
</table>
{% if r.comparison.test %}{% set t = r.comparison.test %}
<p>{{ t.method }} test of the ROC AUC difference {{ t.difference|signed }}
({{ (100 * t.confidence)|round|int }}% CI {{ t.ci_low|signed }} to {{ t.ci_high|signed }}, standard error {{ t.standard_error|num }}):
p = {{ t.p_value|num }} two-sided, {{ t.p_value_improvement|num }} for an improvement.</p>
{% endif %}
{% endif %}

{% if images %}
<h2>Plots</h2>
<div class="plots">{% for img in images %}<figure><img alt="{{ img.name }}" src="data:image/png;base64,{{ img.data }}">
<figcaption>{{ img.name }}</figcaption></figure>{% endfor %}</div>
{% endif %}

{% if r.thresholds %}
<h2>By threshold</h2>
<table><tr>{% for k in threshold_keys %}<th>{{ k.replace('_', ' ') }}</th>{% endfor %}</tr>
{% for row in r.thresholds %}<tr>{% for k in threshold_keys %}<td>{{ row[k]|num }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endif %}

{% for table, keys in slice_tables %}
<h2>By {{ table.column }}{% if table.kind == 'bins' %} (bins){% endif %}</h2>
<table><tr><th>{{ table.column }}</th>{% for k in keys %}<th>{{ k.replace('_', ' ') }}</th>{% endfor %}</tr>
{% for row in table.rows %}<tr><td>{{ row.group }}</td>{% for k in keys %}<td>{{ row.get(k)|num }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% endfor %}

{% for f in r.fairness %}
<h2>Fairness across {{ f.column }}</h2>
<table><tr><th>gap</th><th>value</th></tr>
{% for k, v in f.gaps().items() %}<tr><td>{{ k.replace('_', ' ') }}</td><td>{{ v|num }}</td></tr>{% endfor %}
</table>
<table><tr><th>group</th><th>rows</th><th>positives</th><th>selection rate</th><th>true positive rate</th><th>false positive rate</th></tr>
{% for g in f.groups %}<tr><td>{{ g.group }}</td><td>{{ g.count|num }}</td><td>{{ g.positives|num }}</td><td>{{ g.selection_rate|num }}</td>
<td>{{ g.true_positive_rate|num }}</td><td>{{ g.false_positive_rate|num }}</td></tr>{% endfor %}
</table>
{% for u in f.undefined %}<p class="note">Left out of a gap: {{ u }}.</p>{% endfor %}
{% endfor %}

{% for item in r.importance %}
<h2>{{ 'Permutation importance' if item.method == 'permutation' else 'SHAP values' }} ({{ item.scoring }}, {{ item.rows|num }} rows)</h2>
<table><tr><th>feature</th><th>importance</th>{% if item.method == 'permutation' %}<th>std</th>{% endif %}</tr>
{% for row in item.features %}<tr><td>{{ row.feature }}</td><td>{{ row.importance|num }}</td>{% if item.method == 'permutation' %}<td>{{ row.std|num }}</td>{% endif %}</tr>{% endfor %}
</table>
{% endfor %}

{% if r.notes %}<h2>Notes</h2>{% for n in r.notes %}<p class="note">{{ n }}</p>{% endfor %}{% endif %}
</body></html>
"""

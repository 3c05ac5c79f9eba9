"""For teams that run Prometheus and Grafana: the monitor's latest values as gauges, the alert
rules as a Prometheus rules file over the serving and monitor metrics, and a Grafana dashboard.

Gauges: ``modelcycle_monitor_<metric>{model, version}`` for each metric of a version's latest
window (``drift_score.x1`` is ``modelcycle_monitor_drift_score{column="x1"}``, ``class_share.1``
``modelcycle_monitor_class_share{class="1"}``), ``modelcycle_monitor_reference_<metric>`` for the
run metrics the rules read as ``reference.<metric>``, ``modelcycle_monitor_alert{alertname,
severity, state}`` (1 per pending or firing alert) and ``modelcycle_monitor_window_end_timestamp_seconds``.

In exported rules, ``error_rate`` and ``latency_p<N>_ms`` are computed from the model server's own
metrics (``modelcycle_serving_requests_total`` and the histogram
``modelcycle_serving_request_duration_seconds``), everything else from the monitor's gauges.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from modelcycle.exceptions import InvalidInput
from modelcycle.monitoring.rules import (
    Arith, Call, Compare, Expr, Logic, Metric, Neg, Not, Rule, RuleSet, holds, metrics_of, value_of,
)

if TYPE_CHECKING:
    from modelcycle.store.base import Store

PREFIX = "modelcycle_monitor_"
HIDDEN = ("output_reference", "reference_outputs")  # the second: a version's outputs reference, not a window
_KEYED = {"class_share": "class"}  # <prefix>.<key>: the label the key goes in (else "column")
_LATENCY = re.compile(r"latency_p(\d{1,2}(?:\.\d+)?)_ms")
REQUESTS = "modelcycle_serving_requests_total"
LATENCY_BUCKETS = "modelcycle_serving_request_duration_seconds_bucket"
ON = "on(model, version)"


def gauge_of(metric: str) -> tuple[str, dict[str, str]]:
    """The Prometheus name and extra labels of a monitor metric."""
    prefix, dot, key = metric.partition(".")
    name = PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", prefix)
    return name, ({_KEYED.get(prefix, "column"): key} if dot else {})


# ------------------------------------------------------------------ gauges
class MonitorCollector:
    """A prometheus_client collector of the latest stored values of ``models``; reads the store at
    most every ``cache_s`` seconds, whatever the scrape rate."""

    def __init__(self, store: Store, models: list[str], rules: RuleSet | None = None, cache_s: float = 5.0):
        self.store, self.models, self.rules, self.cache_s = store, list(models), rules, cache_s
        self._cached: tuple[float, list] | None = None
        self._lock = threading.Lock()

    def describe(self):
        return []  # collected afresh: no fixed set of families

    def collect(self):
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.cache_s:
                self._cached = (time.monotonic(), self._families())
            return list(self._cached[1])

    def _families(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        families: dict[str, GaugeMetricFamily] = {}

        def put(name: str, help_: str, labels: dict[str, str], value: float) -> None:
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(name, help_, labels=list(labels))
            family.add_metric(list(labels.values()), value)

        for model in self.models:
            latest: dict[int, tuple[int, int]] = {}
            for p in self.store.monitor_results(model, metrics=["rows"]):
                if p.version not in latest or p.window_start > latest[p.version][0]:
                    latest[p.version] = (p.window_start, p.window_end)
            for version, (start, end) in sorted(latest.items()):
                base = {"model": model, "version": str(version)}
                put(PREFIX + "window_end_timestamp_seconds", "End of the latest window the monitor computed.",
                    base, end / 1000)
                for p in self.store.monitor_results(model, version=version, start_ms=start, end_ms=start + 1):
                    if p.metric in HIDDEN or p.value != p.value:  # NaN: not computable in that window
                        continue
                    name, extra = gauge_of(p.metric)
                    put(name, f"The monitor's {p.metric.partition('.')[0]} in the latest window.", {**base, **extra},
                        p.value)
                if self.rules is not None:
                    from modelcycle.monitoring.alerts import AlertEvaluator

                    evaluator = AlertEvaluator(model, self.rules, self.store, owner="metrics")
                    for key, value in evaluator._reference(version).items():
                        put(f"{PREFIX}reference_{re.sub(r'[^A-Za-z0-9_]', '_', key)}",
                            f"The {key} the version's run logged (reference.{key} in rules).", base, value)
            for s in self.store.alert_states(model):
                if s.state in ("pending", "firing"):
                    put(PREFIX + "alert", "Alerts pending or firing, by rule.",
                        {"model": model, "version": str(s.data.get("version", 0)), "alertname": s.rule,
                         "severity": str(s.data.get("severity", "")), "state": s.state}, 1.0)
        return list(families.values())


def metrics_text(store: Store, models: list[str], rules: RuleSet | None = None) -> bytes:
    """The text exposition of the gauges, as a scrape gets it."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(store, models, rules, cache_s=0))
    return generate_latest(registry)


def serve_metrics(store: Store, models: list[str], port: int, addr: str = "0.0.0.0",
                  rules: RuleSet | None = None):
    """Serve the gauges on ``http://addr:port/metrics`` from a background thread; returns the
    (server, thread) of prometheus_client, so ``server.shutdown()`` stops it."""
    from prometheus_client import CollectorRegistry, start_http_server

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidInput(f"The metrics port is a whole number from 0 to 65535; got {port!r}.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(store, models, rules))
    try:
        return start_http_server(port, addr, registry=registry)
    except OSError as exc:
        raise InvalidInput(f"Cannot serve metrics on {addr}:{port}: {exc.strerror or exc}. Choose a free "
                           "--metrics-port.") from None


# ------------------------------------------------------------------ Prometheus rules
class _PromQL:
    def __init__(self, model: str, rate_window: str):
        self.model = _quote(model)
        self.rate = rate_window

    def selector(self, name: str, extra: dict[str, str] | None = None, *matchers: str) -> str:
        labels = [f'model="{self.model}"'] + [f'{k}="{_quote(v)}"' for k, v in (extra or {}).items()]
        return name + "{" + ",".join(labels + list(matchers)) + "}"

    def metric(self, m: Metric) -> str:
        if m.reference:
            return self.selector(f"{PREFIX}reference_{re.sub(r'[^A-Za-z0-9_]', '_', m.name)}")
        if m.name == "error_rate":
            errors = self.selector(REQUESTS, None, 'status=~"[45].."')
            return (f"(sum by (model, version) (rate({errors}[{self.rate}])) / sum by (model, version) "
                    f"(rate({self.selector(REQUESTS)}[{self.rate}])))")
        latency = _LATENCY.fullmatch(m.name)
        if latency and 0 < float(latency.group(1)) < 100:
            q = float(latency.group(1)) / 100
            return (f"(histogram_quantile({q:g}, sum by (le, model, version) "
                    f"(rate({self.selector(LATENCY_BUCKETS)}[{self.rate}]))) * 1000)")
        name, extra = gauge_of(m.name)
        return self.selector(name, extra)

    def number(self, node: Expr) -> tuple[str, bool]:
        """PromQL text of a number expression and whether it is a vector (else a scalar)."""
        if not metrics_of(node):  # numbers only: its value
            return _literal(value_of(node, {}, {})), False
        if isinstance(node, Metric):
            return self.metric(node), True
        if isinstance(node, Neg):
            text, vector = self.number(node.item)
            return f"-({text})", vector
        if isinstance(node, Arith):
            (a, av), (b, bv) = self.number(node.left), self.number(node.right)
            on = f" {ON}" if av and bv else ""
            return f"({a} {node.op}{on} {b})", av or bv
        if isinstance(node, Call):
            args = [self.number(a) for a in node.args]
            if node.function == "abs":
                return f"abs({args[0][0]})", True
            return self._extreme(node.function, args)
        raise InvalidInput(f"{node!r} is not a number expression.")

    def _extreme(self, function: str, args: list[tuple[str, bool]]) -> tuple[str, bool]:
        text, vector = args[0]
        for other, other_vector in args[1:]:
            if vector and other_vector:
                op = "<=" if function == "min" else ">="
                text = f"(({text} {op} {ON} {other}) or {ON} {other})"
            else:  # one of them a number (both numbers were folded into one)
                v, s = (text, other) if vector else (other, text)
                text = f"clamp_{'max' if function == 'min' else 'min'}({v}, {s})"
            vector = True
        return text, vector

    def condition(self, node: Expr, universe: str) -> str:
        if isinstance(node, Compare):
            (a, av), (b, bv) = self.number(node.left), self.number(node.right)
            if not av and not bv:  # numbers only: always or never
                return universe if holds(node, {}, {}) else f"({universe} unless {universe})"
            on = f" {ON}" if av and bv else ""
            return f"({a} {node.op}{on} {b})"
        if isinstance(node, Logic):
            return "(" + f" {node.op} {ON} ".join(self.condition(i, universe) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"({universe} unless {ON} {self.condition(node.item, universe)})"
        raise InvalidInput(f"{node!r} is not a condition.")


def _literal(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _quote(value: str) -> str:
    """Text inside a PromQL double-quoted string: backslash, quote and line breaks escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")


def _template(text: str, rule: Rule, threshold: str) -> str:
    """Our template variables in Prometheus' Go templates: $model and $version are labels there,
    $rule and $threshold are written in."""
    text = re.sub(r"\{\{\s*\$rule\b[^}]*\}\}", lambda m: rule.name, text)
    text = re.sub(r"\{\{\s*\$threshold\b[^}]*\}\}", lambda m: threshold, text)
    text = re.sub(r"\$model\b", "$labels.model", text)
    return re.sub(r"\$version\b", "$labels.version", text)


def _duration(seconds: float) -> str:
    if seconds and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{int(seconds * 1000)}ms"


def _serving_only(node: Expr) -> bool:
    return all(not m.reference and (m.name == "error_rate" or _LATENCY.fullmatch(m.name)) for m in metrics_of(node))


def prometheus_rule(model: str, rule: Rule, min_rows: int, rate_window: str = "5m") -> dict[str, Any]:
    """One Prometheus alerting rule of the same alert."""
    from modelcycle.monitoring.rules import to_text

    q = _PromQL(model, rate_window)
    rows = q.selector(PREFIX + "rows")
    universe = rows
    expr = q.condition(rule.condition, universe)
    if rule.resolve_condition is not None:
        # Prometheus has no resolve threshold: once firing, the alert also holds while the
        # resolve condition does not, which its own ALERTS series tells.
        firing = f'ALERTS{{alertname="{_quote(rule.name)}",alertstate="firing",model="{q.model}"}}'
        resolve = rule.resolve_condition
        holding = q.condition(resolve.item, universe) if isinstance(resolve, Not) else \
            f"({universe} unless {ON} {q.condition(resolve, universe)})"
        expr = f"({expr} or {ON} ({holding} and {ON} {firing}))"
    if min_rows and not _serving_only(rule.condition):
        expr = f"({expr} and {ON} ({rows} >= {min_rows}))"
    threshold = to_text(rule.threshold_comparison.right)
    out: dict[str, Any] = {"alert": rule.name, "expr": expr}
    if rule.for_s:
        out["for"] = _duration(rule.for_s)
    if rule.keep_firing_for_s:
        out["keep_firing_for"] = _duration(rule.keep_firing_for_s)
    out["labels"] = {"severity": rule.severity, **{k: _template(v, rule, threshold) for k, v in rule.labels.items()}}
    annotations = {k: _template(v, rule, threshold) for k, v in rule.annotations.items()}
    annotations.setdefault("summary", f"{rule.name} on {{{{ $labels.model }}}} version {{{{ $labels.version }}}}: "
                                      f"{{{{ $value }}}} ({rule.expr})")
    annotations["modelcycle_expr"] = rule.expr
    out["annotations"] = annotations
    return out


def prometheus_rules(model: str, rules: RuleSet, rate_window: str = "5m") -> dict[str, Any]:
    """A Prometheus rules file (as a mapping) with the alerts of ``rules`` for ``model``."""
    from modelcycle.store.validation import check_model_name

    check_model_name(model)
    return {"groups": [{"name": f"modelcycle-{model}", "rules": [
        prometheus_rule(model, r, rules.min_rows_of(r), rate_window) for r in rules.rules]}]}


def prometheus_rules_yaml(model: str, rules: RuleSet, rate_window: str = "5m") -> str:
    import yaml

    header = (f"# Alerting rules of model {model}, exported by `modelcycle monitor export-rules`.\n"
              "# error_rate and latency come from the model server's metrics, the rest from the monitor's gauges.\n")
    return header + yaml.safe_dump(prometheus_rules(model, rules, rate_window), sort_keys=False, width=10_000)


# ------------------------------------------------------------------ Grafana
def _uid(model: str) -> str:
    uid = "modelcycle-" + re.sub(r"[^A-Za-z0-9_-]", "-", model)
    if len(uid) > 40:  # Grafana's limit
        import hashlib

        uid = uid[:31] + "-" + hashlib.sha1(model.encode()).hexdigest()[:8]
    return uid


def grafana_dashboard(model: str) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) of ``model``: requests, errors, latency quantiles and batch
    sizes from the model server; drift, quality, performance and alerts from the monitor; each per
    version, with a ``version`` variable."""
    from modelcycle.store.validation import check_model_name

    check_model_name(model)
    m = _quote(model)
    sel = f'model="{m}",version=~"$version"'
    ds = {"type": "prometheus", "uid": "${datasource}"}
    panels: list[dict[str, Any]] = []
    layout = {"y": 0, "x": 0}

    def row(title: str) -> None:
        if layout["x"]:
            layout["y"] += 8
            layout["x"] = 0
        panels.append({"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": layout["y"]}})
        layout["y"] += 1

    def panel(title: str, targets: list[tuple[str, str]], unit: str = "short", description: str = "") -> None:
        panels.append({
            "id": len(panels) + 1, "type": "timeseries", "title": title, "description": description,
            "datasource": ds, "gridPos": {"h": 8, "w": 12, "x": layout["x"], "y": layout["y"]},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "none"}},
            "targets": [{"refId": chr(ord("A") + i), "datasource": ds, "expr": expr, "legendFormat": legend,
                         "range": True} for i, (expr, legend) in enumerate(targets)]})
        layout["x"] = 12 - layout["x"]
        if layout["x"] == 0:
            layout["y"] += 8

    rate = "$__rate_interval"
    row("Serving")
    panel("Request rate", [(f"sum by (version) (rate({REQUESTS}{{{sel}}}[{rate}]))", "v{{version}}")], "reqps")
    panel("Errors", [(f'sum by (version) (rate({REQUESTS}{{{sel},status=~"[45].."}}[{rate}])) / sum by (version) '
                      f"(rate({REQUESTS}{{{sel}}}[{rate}]))", "v{{version}} error rate")], "percentunit")
    panel("Latency quantiles", [
        (f"histogram_quantile({q}, sum by (le, version) (rate({LATENCY_BUCKETS}{{{sel}}}[{rate}])))",
         f"v{{{{version}}}} p{round(q * 100)}") for q in (0.5, 0.95, 0.99)], "s")
    panel("Batch sizes", [
        (f"histogram_quantile({q}, sum by (le, version) (rate(modelcycle_serving_batch_{what}_bucket{{{sel}}}"
         f"[{rate}])))", f"v{{{{version}}}} {what} p{round(q * 100)}")
        for what in ("rows", "requests") for q in (0.5, 0.99)], "short",
        "Rows and requests per predict call (micro-batch).")
    row("Monitor")
    panel("Drift share", [(f"{PREFIX}drift_share{{{sel}}}", "v{{version}}")], "percentunit",
          "Share of input columns drifted against the training data, per window.")
    panel("Drift score by column", [(f"{PREFIX}drift_score{{{sel}}}", "v{{version}} {{column}}")])
    panel("Performance", [(f"{PREFIX}{name}{{{sel}}}", f"v{{{{version}}}} {name}")
                          for name in ("accuracy", "roc_auc", "f1", "estimated_accuracy", "estimated_roc_auc")],
          "percentunit", "Realized from feedback labels, and estimated (CBPE) before they arrive.")
    panel("Data quality and labels", [(f"{PREFIX}{name}{{{sel}}}", f"v{{{{version}}}} {name}")
                                      for name in ("missing_share", "labelled_share", "error_rate")],
          "percentunit")
    panel("Monitor latency p99 and requests per window", [
        (f"{PREFIX}latency_p99_ms{{{sel}}}", "v{{version}} p99 ms"),
        (f"{PREFIX}requests{{{sel}}}", "v{{version}} requests")])
    panel("Alerts", [(f"sum by (version, alertname) ({PREFIX}alert{{{sel},state=\"firing\"}})",
                      "v{{version}} {{alertname}}")], "short", "Alerts firing in the monitor.")
    versions = (f'label_values({{__name__=~"{REQUESTS}|{PREFIX}rows",model="{m}"}}, version)')
    return {
        "uid": _uid(model), "title": f"modelcycle: {model}", "tags": ["modelcycle", "monitoring"],
        "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": True, "graphTooltip": 1,
        "time": {"from": "now-24h", "to": "now"}, "refresh": "1m",
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0, "refresh": 1},
            {"name": "version", "label": "Version", "type": "query", "datasource": ds, "definition": versions,
             "query": {"query": versions, "refId": "versions"}, "refresh": 2, "multi": True, "includeAll": True,
             "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "sort": 3, "hide": 0}]},
        "annotations": {"list": []}, "links": [], "panels": panels}

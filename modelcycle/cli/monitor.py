"""`modelcycle monitor`: watch a model's prediction log (long-lived, or one pass), its status and
its report."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text
from typer.core import TyperGroup

from modelcycle.cli import common
from modelcycle.render import Output, OutputOpt, console, emit, err_console, fmt_time


class _DefaultToStart(TyperGroup):
    """`monitor NAME ...` is `monitor start NAME ...`: the long-lived monitor."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(name="monitor", cls=_DefaultToStart, no_args_is_help=True,
                  help="Watch a model's predictions: drift, quality, health and performance per window.")

Reference = Annotated[Optional[str], typer.Option(
    "--reference", help="A dataset name@N to compare with (default: the training data of each version).")]
Window = Annotated[str, typer.Option("--window", help="Time windows of this length (30m, 1h, 1d).")]
WindowRows = Annotated[Optional[int], typer.Option("--window-rows", min=1, help="Windows of N logged rows instead.")]
Settle = Annotated[str, typer.Option("--settle", help="How long after its end a window is left open.")]
Rules = Annotated[Optional[Path], typer.Option(
    "--rules", help="Alert rules (YAML; also notifications and actions). Default: the built-in rules.")]
ModelArg = Annotated[str, typer.Argument(help="The registered model.")]


def _rules(path: Path | None):
    from modelcycle.monitoring.rules import default_rules, load_rules

    return default_rules() if path is None else load_rules(path)


def _monitor(name: str, reference, window: str, window_rows, settle: str, rules_path: Path | None = None,
             owner: str | None = None):
    from modelcycle.monitoring import Monitor
    from modelcycle.monitoring.alerts import actions_for, dispatcher_for
    from modelcycle.monitoring.monitor import parse_duration

    client = common.client()
    store = client.store
    rules = _rules(rules_path)
    return Monitor(name, store, reference=reference, window_ms=parse_duration(window, "--window"),
                   window_rows=window_rows, settle_ms=parse_duration(settle, "--settle"), rules=rules,
                   dispatcher=dispatcher_for(rules, store, name), actions=actions_for(rules, store, name, client),
                   owner=owner)


def _said(name: str, windows, evaluation=None) -> None:
    if not windows:
        console.print(Text(f"{name}: no new finished window."))
    for w in windows:
        console.print(Text(f"{name} v{w.version}: window {fmt_time(w.start)} to {fmt_time(w.end)}, {w.rows:,} rows"))
    if evaluation is None:
        return
    if not evaluation.evaluated:
        err_console.print(Text(f"{name}: alerts not evaluated: {evaluation.reason}."))
    for t in evaluation.transitions:
        console.print(Text(f"{name} v{t.version}: alert {t.rule} {t.old} -> {t.new} in window {fmt_time(t.window_start)}"
                           f" to {fmt_time(t.window_end)} (value {_number(t.value)}, threshold {_number(t.threshold)})"))
    for action in evaluation.actions:
        console.print(Text(f"{name} v{action['version']}: action {action['action']} for {action['rule']}: "
                           f"{'done' if action['ok'] else 'failed'}, {action['detail']}"))


def _number(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.4g}"


@app.command("start", hidden=True)
def start(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    reference: Reference = None, window: Window = "1h", window_rows: WindowRows = None, settle: Settle = "1m",
    every: Annotated[str, typer.Option("--every", help="How often to look for new windows.")] = "5m",
    rules: Rules = None,
    metrics_port: Annotated[Optional[int], typer.Option(
        "--metrics-port", min=0, max=65535, help="Serve the latest values as Prometheus gauges on this port.")] = None,
) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM): one pass every --every, by the holder of the lease monitor:NAME."""
    import signal
    import threading

    from modelcycle.monitoring.alerts import acquire_lease
    from modelcycle.monitoring.monitor import parse_duration

    owner = f"{socket.gethostname()}:{os.getpid()}"
    monitor = _monitor(name, reference, window, window_rows, settle, rules, owner)
    period = parse_duration(every, "--every") / 1000
    lease = f"monitor:{name}"
    ttl = max(60.0, 3 * period)
    monitor.alerts.lease_ttl_s = ttl  # the evaluator renews the lease this loop holds
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    metrics = None
    if metrics_port is not None:
        from modelcycle.monitoring.export import serve_metrics

        metrics = serve_metrics(monitor.store, [name], metrics_port, rules=monitor.alerts.rules)
        console.print(Text(f"Serving the monitor's gauges on :{metrics_port}/metrics"))
    try:
        while not stop.is_set():
            if acquire_lease(monitor.store, lease, owner, ttl) is not None:
                _said(name, monitor.run_once(), monitor.last_evaluation)
            else:
                err_console.print(Text(f"Another monitor holds {lease}; waiting."))
            stop.wait(period)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        monitor.store.release_lease(lease, owner)
        if metrics is not None:
            server = metrics[0] if isinstance(metrics, tuple) else metrics
            server.shutdown()
            server.server_close()
        monitor.close()
    console.print(Text(f"Stopped the monitor of {name}; the lease {lease} is released."))


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    reference: Reference = None, window: Window = "1h", window_rows: WindowRows = None, settle: Settle = "1m",
    rules: Rules = None,
) -> None:
    """One pass: compute every finished window not yet stored, evaluate the alerts, then exit (for cron and CI)."""
    with _monitor(name, reference, window, window_rows, settle, rules) as monitor:
        _said(name, monitor.run_once(), monitor.last_evaluation)


@app.command("status")
def status(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    windows: Annotated[int, typer.Option(min=1, help="Windows shown per metric.")] = 5,
    metric: Annotated[Optional[list[str]], typer.Option("--metric", help="Only this metric (repeat for more).")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """The latest windows of each metric with its trend."""
    from modelcycle.monitoring.report import status_rows

    rows = status_rows(common.client().store.monitor_results(name, metrics=metric), windows)
    if not rows and output.value == "table":
        console.print(Text(f"No windows of {name} computed yet: `modelcycle monitor run {name}` computes them."))
        return
    for row in rows:
        row["window_start"] = fmt_time(row["window_start"])
    emit(rows, ["version", "metric", "window_start", "latest", "previous", "trend"], output.value,
         title=f"Monitor of {name}")


@app.command("report")
def report(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
) -> None:
    """One self-contained HTML page: every metric over time, the latest drift histograms."""
    from modelcycle.monitoring.report import html_report

    page = html_report(name, common.client().store.monitor_results(name))
    with common.writing(output, "--output"):
        output.write_text(page, encoding="utf-8")
    console.print(Text(f"Wrote {output}"))


@app.command("alerts")
def alerts(
    name: ModelArg,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    output: OutputOpt = Output.table,
) -> None:
    """The alerts of a model: pending and firing now, then those that resolved, newest first."""
    from modelcycle.monitoring.alerts import alert_history

    rows = alert_history(common.client().store, name, limit)
    for row in rows:
        row["since"], row["resolved_at"] = fmt_time(row["since"]), fmt_time(row["resolved_at"])
    emit(rows, ["version", "rule", "state", "since", "resolved_at", "value", "threshold", "severity", "summary"],
         output.value, title=f"Alerts of {name}")


silence_app = typer.Typer(name="silence", no_args_is_help=True, help="Mute matching alerts until they expire.")
app.add_typer(silence_app)


@silence_app.command("add")
def silence_add(
    name: ModelArg,
    match: Annotated[list[str], typer.Option("--match", "-m", help="name=value, name!=value, name=~regex "
                                                                   "(rule=drift, version=2); repeat for more.")],
    duration: Annotated[str, typer.Option("--for", help="How long it mutes (30m, 4h, 2d).")] = "2h",
    comment: Annotated[str, typer.Option(help="Why.")] = "",
) -> None:
    """Mute the alerts of NAME matching every --match."""
    from modelcycle.monitoring.alerts import add_silence
    from modelcycle.monitoring.monitor import parse_duration

    seconds = parse_duration(duration, "--for") / 1000
    made = add_silence(common.client().store, name, match, seconds, comment, os.environ.get("USER", ""))
    console.print(Text(f"Silence {made.id} of {name} ({', '.join(made.to_dict()['matchers'])}) until "
                       f"{fmt_time(made.expires_at)}"))


@silence_app.command("list")
def silence_list(
    name: ModelArg,
    expired: Annotated[bool, typer.Option("--expired", help="Show expired silences too.")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """The silences of NAME."""
    from modelcycle.monitoring.alerts import silences

    rows = [s.to_dict() for s in silences(common.client().store, name, include_expired=expired)]
    for row in rows:
        row["matchers"] = ", ".join(row["matchers"])
        row["starts_at"], row["expires_at"] = fmt_time(row["starts_at"]), fmt_time(row["expires_at"])
    emit(rows, ["id", "matchers", "starts_at", "expires_at", "comment", "created_by"], output.value,
         title=f"Silences of {name}")


@silence_app.command("expire")
def silence_expire(name: ModelArg, silence_id: Annotated[int, typer.Argument(help="The silence's id.")]) -> None:
    """End a silence now."""
    from modelcycle.monitoring.alerts import expire_silence

    expire_silence(common.client().store, name, silence_id)
    console.print(Text(f"Silence {silence_id} of {name} expired."))


@app.command("test-rules")
def rules_test(
    rules: Annotated[Path, typer.Argument(help="The rules file (YAML).")],
    cases: Annotated[Path, typer.Argument(help="Test cases: input_series and the alerts expected when (YAML).")],
) -> None:
    """Replay the series of each case through the rules and check which alerts fire when (like
    promtool test rules); exit 1 with a diff on a mismatch."""
    import yaml

    from modelcycle.exceptions import InvalidInput
    from modelcycle.monitoring.alerts import check_rule_cases
    from modelcycle.monitoring.rules import load_rules

    ruleset = load_rules(rules)
    try:
        data = yaml.safe_load(cases.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"Cannot read the test cases {str(cases)!r}: {exc.strerror or exc}.") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"The test cases {str(cases)!r} are not valid YAML: {exc}.") from None
    checks, failures = check_rule_cases(ruleset, data)
    for failure in failures:
        err_console.print(Text(f"FAILED {failure}"))
    if failures:
        err_console.print(Text(f"{len(failures)} of {checks} checks failed."))
        raise typer.Exit(1)
    console.print(Text(f"SUCCESS: {checks} checks passed."))


@app.command("export-rules")
def export_rules(
    name: ModelArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The Prometheus rules file to write.")],
    rules: Rules = None,
    rate_window: Annotated[str, typer.Option("--rate-window", help="The range of rate() over serving metrics.")] = "5m",
) -> None:
    """Write a Prometheus rules file with the same alerts, over the serving and monitor metrics."""
    from modelcycle.monitoring.export import prometheus_rules_yaml
    from modelcycle.monitoring.monitor import parse_duration

    parse_duration(rate_window, "--rate-window")
    text = prometheus_rules_yaml(name, _rules(rules), rate_window)
    with common.writing(output, "--output"):
        output.write_text(text, encoding="utf-8")
    console.print(Text(f"Wrote {output}"))


@app.command("export-dashboard")
def export_dashboard(
    name: ModelArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The Grafana dashboard JSON to write.")],
) -> None:
    """Write a Grafana dashboard: request rate, errors, latency, batch sizes, drift and performance per version."""
    import json

    from modelcycle.monitoring.export import grafana_dashboard

    text = json.dumps(grafana_dashboard(name), indent=2)
    with common.writing(output, "--output"):
        output.write_text(text + "\n", encoding="utf-8")
    console.print(Text(f"Wrote {output}"))

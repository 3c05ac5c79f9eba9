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


def _monitor(name: str, reference, window: str, window_rows, settle: str):
    from modelcycle.monitoring import Monitor
    from modelcycle.monitoring.monitor import parse_duration

    return Monitor(name, common.client().store, reference=reference, window_ms=parse_duration(window, "--window"),
                   window_rows=window_rows, settle_ms=parse_duration(settle, "--settle"))


def _said(name: str, windows) -> None:
    if not windows:
        console.print(Text(f"{name}: no new finished window."))
    for w in windows:
        console.print(Text(f"{name} v{w.version}: window {fmt_time(w.start)} to {fmt_time(w.end)}, {w.rows:,} rows"))


@app.command("start", hidden=True)
def start(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    reference: Reference = None, window: Window = "1h", window_rows: WindowRows = None, settle: Settle = "1m",
    every: Annotated[str, typer.Option("--every", help="How often to look for new windows.")] = "5m",
) -> None:
    """Run until interrupted: one pass every --every, by the holder of the lease monitor:NAME."""
    from modelcycle.monitoring.monitor import parse_duration

    monitor = _monitor(name, reference, window, window_rows, settle)
    period = parse_duration(every, "--every") / 1000
    owner = f"{socket.gethostname()}:{os.getpid()}"
    lease = f"monitor:{name}"
    try:
        while True:
            if monitor.store.acquire_lease(lease, owner, max(60.0, 3 * period)) is not None:
                _said(name, monitor.run_once())
            else:
                err_console.print(Text(f"Another monitor holds {lease}; waiting."))
            time.sleep(period)
    except KeyboardInterrupt:
        monitor.store.release_lease(lease, owner)


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="The registered model.")],
    reference: Reference = None, window: Window = "1h", window_rows: WindowRows = None, settle: Settle = "1m",
) -> None:
    """One pass: compute every finished window not yet stored, then exit (for cron and CI)."""
    _said(name, _monitor(name, reference, window, window_rows, settle).run_once())


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

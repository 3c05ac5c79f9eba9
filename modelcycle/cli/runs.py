"""`modelcycle runs ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli.common import View, ViewOpt, client
from modelcycle.render import Output, OutputOpt, console, emit, err_console, fmt_duration, fmt_time

app = typer.Typer(name="runs", help="List, show, compare, delete and restore runs.", no_args_is_help=True)


@app.command("ls")
def runs_ls(
    experiment: Annotated[Optional[list[str]], typer.Option(
        "--experiment", "-e", help="Experiment name or id, repeatable (default: all).")] = None,
    filter: Annotated[Optional[str], typer.Option(
        "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"")] = None,
    order_by: Annotated[Optional[list[str]], typer.Option(
        "--order-by", help="e.g. 'metrics.auc desc', repeatable.")] = None,
    max_results: Annotated[int, typer.Option(min=1, max=50_000)] = 100,
    output: OutputOpt = Output.table,
    view: ViewOpt = View.active,
) -> None:
    """List runs matching a filter, newest first unless --order-by says otherwise."""
    page = client().search_runs(experiment or None, filter, order_by, max_results, None, view.value)
    emit(*_runs_table(page.runs), output.value, title="Runs")
    if page.next_page_token and output is Output.table:
        err_console.print(f"[dim]More runs match; raise --max-results (now {max_results}).[/]")


def _runs_table(runs) -> tuple[list[dict], list[str]]:
    metric_keys = sorted({k for r in runs for k in r.metrics})
    param_keys = sorted({k for r in runs for k in r.params})
    rows = []
    for r in runs:
        row = {"run_id": r.id, "name": r.name, "experiment": r.experiment_id, "status": r.status.value,
               "started": fmt_time(r.start_time), "duration": fmt_duration(r.start_time, r.end_time)}
        row.update({f"metrics.{k}": m.value for k, m in r.metrics.items()})
        row.update({f"params.{k}": v for k, v in r.params.items()})
        rows.append(row)
    columns = ["run_id", "name", "experiment", "status", "started", "duration"]
    columns += [f"metrics.{k}" for k in metric_keys] + [f"params.{k}" for k in param_keys]
    return rows, columns


@app.command("show")
def runs_show(run_id: str, output: OutputOpt = Output.table) -> None:
    """A run's attributes, params, latest metrics, tags and artifacts."""
    c = client()
    run = c.get_run(run_id)
    artifacts = list(c.store.list_artifact_files(run_id))
    if output is not Output.table:
        import orjson

        data = run.to_dict()
        data["artifacts"] = [a.to_dict() for a in artifacts]
        if output is Output.json:
            print(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        else:
            rows = ([{"section": "param", "key": k, "value": v} for k, v in run.params.items()]
                    + [{"section": "metric", "key": k, "value": m.value} for k, m in run.metrics.items()]
                    + [{"section": "tag", "key": k, "value": v} for k, v in run.tags.items()])
            emit(rows, ["section", "key", "value"], "csv")
        return
    console.print(Text.assemble(
        (run.name, "bold"), f"  {run.id}\n  experiment {run.experiment_id}  status {run.status.value}  "
        f"started {fmt_time(run.start_time)}  duration {fmt_duration(run.start_time, run.end_time) or '-'}"
        + (f"\n  parent {run.parent_id}" if run.parent_id else ""),
        ("\n  deleted" if run.deleted else "", "red")))
    emit([{"key": k, "value": v} for k, v in sorted(run.params.items())], ["key", "value"], "table",
         title="Params")
    emit([{"key": k, "value": m.value, "step": m.step, "logged": fmt_time(m.timestamp)}
          for k, m in sorted(run.metrics.items())], ["key", "value", "step", "logged"], "table",
         title="Metrics (latest)")
    emit([{"key": k, "value": v} for k, v in sorted(run.tags.items())], ["key", "value"], "table",
         title="Tags")
    emit([{"path": a.path, "size": a.size, "sha256": (a.digest or "")[:12]} for a in artifacts],
         ["path", "size", "sha256"], "table", title="Artifacts")
    inputs = c.store.dataset_uses(run_id=run_id)
    if inputs:
        emit([u.to_dict() for u in inputs], ["dataset", "role"], "table", title="Datasets used")


@app.command("compare")
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    output: OutputOpt = Output.table,
    plot: Annotated[Optional[Path], typer.Option(
        help="Also write the metric histories of these runs as a PNG chart here.")] = None,
) -> None:
    """Params and metrics of several runs side by side; differing params highlighted."""
    c = client()
    runs = [c.get_run(r) for r in run_ids]
    names = [f"{r.name} ({r.id[:8]})" for r in runs]
    rows = []
    for key in sorted({k for r in runs for k in r.params}):
        values = [r.params.get(key) for r in runs]
        rows.append({"field": f"params.{key}", **dict(zip(names, values)),
                     "differs": "*" if len(set(values)) > 1 else ""})
    for key in sorted({k for r in runs for k in r.metrics}):
        values = [r.metrics[key].value if key in r.metrics else None for r in runs]
        rows.append({"field": f"metrics.{key}", **dict(zip(names, values)),
                     "differs": "*" if len(set(map(str, values))) > 1 else ""})
    emit(rows, ["field", *names, "differs"], output.value, title="Run comparison",
         styles={"differs": "bold yellow"})
    if plot is not None:
        from modelcycle.tracking.plots import plot_metric_histories

        histories = {name: {k: c.get_metric_history(r.id, k) for k in r.metrics}
                     for name, r in zip(names, runs)}
        plot_metric_histories(histories, plot)
        err_console.print(f"Metric curves written to {plot}", markup=False)


@app.command("delete")
def runs_delete(run_id: str) -> None:
    """Delete a run (it can be restored)."""
    client().delete_run(run_id)
    console.print(f"Deleted run {run_id}. Undo with `modelcycle runs restore {run_id}`.", markup=False)


@app.command("restore")
def runs_restore(run_id: str) -> None:
    """Restore a deleted run."""
    client().restore_run(run_id)
    console.print(f"Restored run {run_id}.", markup=False)

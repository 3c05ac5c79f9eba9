"""`modelcycle runs ...`."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli.common import View, ViewOpt, client, find_experiment, output_file, writing
from modelcycle.exceptions import InvalidInput
from modelcycle.render import (Output, OutputOpt, console, emit, err_console, fmt_duration, fmt_time,
                               fmt_value, printable)

app = typer.Typer(name="runs", help="List, show, compare, delete and restore runs.", no_args_is_help=True)


@app.command("ls")
def runs_ls(
    experiment: Annotated[Optional[list[str]], typer.Option(
        "--experiment", "-e", help="Experiment name, repeatable (default: all experiments).")] = None,
    experiment_id: Annotated[Optional[list[str]], typer.Option(
        "--experiment-id", help="Experiment id, repeatable.")] = None,
    filter: Annotated[Optional[str], typer.Option(
        "--filter", "-f", help="e.g. \"metrics.auc > 0.9 and params.model = 'rf'\"")] = None,
    order_by: Annotated[Optional[list[str]], typer.Option(
        "--order-by", help="e.g. 'metrics.auc desc', repeatable.")] = None,
    columns: Annotated[Optional[list[str]], typer.Option(
        "--columns", "-c", help="Columns to show after run_id and name, e.g. 'auc,params.model' "
        "(a bare key is a metric or param; tags.KEY for a tag). Default: a table shows what fits "
        "the terminal, -o json and csv show every column.")] = None,
    max_results: Annotated[int, typer.Option(min=1, max=50_000)] = 100,
    output: OutputOpt = Output.table,
    view: ViewOpt = View.active,
) -> None:
    """List runs matching a filter, newest first unless --order-by says otherwise."""
    c = client()
    wanted = [find_experiment(e, id_option="--experiment-id").id for e in experiment or ()]
    wanted += [find_experiment(e, by_id=True, id_option="--experiment-id").id for e in experiment_id or ()]
    page = c.search_runs(list(dict.fromkeys(wanted)) or None, filter, order_by, max_results, None, view.value)
    names = _experiment_names(c, {r.experiment_id for r in page.runs})
    rows = _runs_rows(page.runs, names)
    available = _runs_columns(page.runs)
    chosen = _chosen_columns(columns, page.runs, available) if columns else None
    if output is not Output.table:
        emit(rows, chosen or available, output.value)
    else:
        ids = {r.experiment_id for r in page.runs}
        title = f"Runs in {names[next(iter(ids))]}" if len(ids) == 1 else "Runs"
        referenced = " ".join([filter or "", *(order_by or [])])
        _print_fitted(rows, chosen or _by_priority(page.runs, available, referenced), title,
                      keep_order=chosen is not None)
    if page.next_page_token and output is Output.table:
        err_console.print(f"[dim]More runs match; raise --max-results (now {max_results}).[/]")


_ATTRIBUTES = ["run_id", "name", "experiment", "experiment_name", "status", "started", "duration"]
_GROUPS = ("metrics.", "params.", "tags.")


def _experiment_names(c, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    names = {e.id: e.name for e in c.list_experiments("all")}
    return {i: names.get(i, str(i)) for i in ids}


def _runs_rows(runs, experiment_names: dict[int, str]) -> list[dict]:
    rows = []
    for r in runs:
        row = {"run_id": r.id, "name": r.name, "experiment": r.experiment_id,
               "experiment_name": experiment_names[r.experiment_id], "status": r.status.value,
               "started": fmt_time(r.start_time), "duration": fmt_duration(r.start_time, r.end_time)}
        row.update({f"metrics.{k}": m.value for k, m in r.metrics.items()})
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    return rows


def _runs_columns(runs) -> list[str]:
    """Every column of -o json and csv: the attributes, then metrics and params by key (not tags)."""
    return (list(_ATTRIBUTES) + [f"metrics.{k}" for k in sorted({k for r in runs for k in r.metrics})]
            + [f"params.{k}" for k in sorted({k for r in runs for k in r.params})])


def _chosen_columns(given: list[str], runs, available: list[str]) -> list[str]:
    """run_id, name and the --columns asked for, each resolved to its full name."""
    chosen = ["run_id", "name"]
    wanted = [item.strip() for value in given for item in value.split(",") if item.strip()]
    if not wanted:
        raise InvalidInput("--columns lists no column; give names such as 'auc,params.model'.")
    for item in wanted:
        if item in _ATTRIBUTES or item.startswith(_GROUPS) and len(item) > item.index(".") + 1:
            column = item
        else:
            matches = [c for c in (f"metrics.{item}", f"params.{item}") if c in available]
            if len(matches) > 1:
                raise InvalidInput(f"--columns: {item!r} is both a metric and a param; "
                                   f"write metrics.{item} or params.{item}.")
            if not matches:
                if not runs:
                    continue
                known = ", ".join(c.split(".", 1)[-1] if c.startswith(_GROUPS) else c for c in available)
                raise InvalidInput(f"--columns: no run listed has a column {item!r}. Columns: {known} "
                                   "(and tags.KEY).")
            column = matches[0]
        if column not in chosen:
            chosen.append(column)
    return chosen


def _by_priority(runs, available: list[str], referenced: str) -> list[str]:
    """The columns in the order they claim a place in a narrow table: the run's id and name, what
    tells the runs apart, the columns the filter and ordering name, then metrics and params in
    turn (a score beside what produced it), those most runs have first."""
    several = len({r.experiment_id for r in runs}) > 1
    unfinished = any(r.status.value != "FINISHED" for r in runs)
    counts: dict[str, int] = {}
    for r in runs:
        for column in [f"metrics.{k}" for k in r.metrics] + [f"params.{k}" for k in r.params]:
            counts[column] = counts.get(column, 0) + 1
    named = [c for c in available if c in counts and c in referenced]
    metrics, params = ([c for c in available if c.startswith(prefix) and c in counts and c not in named]
                       for prefix in ("metrics.", "params."))
    metrics.sort(key=lambda c: -counts[c])
    params.sort(key=lambda c: -counts[c])
    in_turn = [c for pair in zip_longest(metrics, params) for c in pair if c is not None]
    first = ["run_id", "name"] + (["experiment"] if several else []) + (["status"] if unfinished else [])
    rest = [c for c in ("experiment", "status", "started", "duration") if c not in first]
    return first + named + in_turn + rest


_CAP = {"run_id": 32, "name": 30}  # widest a column gets; longer values end in an ellipsis
_VALUE_CAP = 24
_FOOTER_NAMES = 20  # columns named below a table; the rest are counted


def _label(column: str) -> tuple[str, str]:
    """(group, key): 'metrics.auc' -> ('metrics', 'auc'); the experiment is shown by name."""
    if column.startswith(_GROUPS):
        group, key = column.split(".", 1)
        return group, key
    return "", "experiment" if column == "experiment_name" else column


def _print_fitted(rows: list[dict], columns: list[str], title: str, keep_order: bool) -> None:
    """A table of the columns, in priority order, that fit the console; the others named below it.
    Keys sit under a `metrics` / `params` / `tags` header row; values are never cut mid-column
    except past a cap."""
    from rich.cells import cell_len
    from rich.table import Table

    def shown(row: dict, column: str) -> str:
        if column == "experiment":  # the table names it; -o json and csv give the id too
            return printable(str(row.get("experiment_name", "")))
        return printable(fmt_value(row.get(column)))

    natural = {c: min(max([cell_len(printable(_label(c)[1]))] + [cell_len(shown(r, c)) for r in rows]),
                      _CAP.get(c, _VALUE_CAP)) for c in columns}
    canonical = {c: i for i, c in enumerate(_ATTRIBUTES + sorted(c for c in columns if c not in _ATTRIBUTES))}

    def ordered(selected: list[str]) -> list[str]:
        return selected if keep_order else sorted(selected, key=canonical.__getitem__)

    def width(selected: list[str]) -> int:
        total, previous = 1, None
        for c in ordered(selected):
            group = _label(c)[0]
            total += max(natural[c], len(group) if group != previous else 0) + 3  # padding and rule
            previous = group
        return total

    available = console.width
    selected, hidden = list(columns[:2]), []
    for c in columns[2:]:
        (selected if width(selected + [c]) <= available else hidden).append(c)
    selected = ordered(selected)
    grouped = any(_label(c)[0] for c in selected)
    table = Table(title=Text(printable(title)), header_style="bold")
    previous = None
    for c in selected:
        group, key = _label(c)
        header = (f"{group if group != previous else ''}\n{key}" if grouped else key)
        previous = group
        table.add_column(Text(printable(header)), no_wrap=True, overflow="ellipsis",
                         max_width=_CAP.get(c, _VALUE_CAP),
                         min_width=32 if c == "run_id" else 4 if c == "name" else natural[c])
    for r in rows:
        table.add_row(*(Text(shown(r, c)) for c in selected))
    console.print(table)
    if hidden:
        hidden.sort(key=canonical.__getitem__)
        named = ", ".join(hidden[:_FOOTER_NAMES]) + (f" and {len(hidden) - _FOOTER_NAMES} more"
                                                     if len(hidden) > _FOOTER_NAMES else "")
        console.print(Text(f"Not shown, for want of width ({available} characters): {named}. "
                           "Choose with --columns; -o csv and -o json have them all.", style="dim"))


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
    experiment = c.store.get_experiment(run.experiment_id).name
    console.print(Text.assemble(
        (run.name, "bold"), f"  {run.id}\n  experiment ", experiment, f" (id {run.experiment_id})  "
        f"status {run.status.value}  "
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
    if plot is not None:
        plot = _plot_path(plot)
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
        with writing(plot, "--plot"):
            plot_metric_histories(histories, plot)
        err_console.print(f"Metric curves written to {plot}", markup=False)


def _plot_path(path: Path) -> Path:
    """The chart's file, with .png added when it has no suffix (as matplotlib would do unsaid)."""
    from matplotlib.figure import Figure  # only for --plot: the CLI starts without it

    output_file(path, "--plot")
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix[1:].lower() not in formats:
        raise InvalidInput(f"--plot {str(path)!r}: charts cannot be written as {path.suffix!r} files; "
                           f"use one of {', '.join('.' + f for f in sorted(formats))}.")
    return path


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

"""The `modelcycle` command: thin commands that parse, call the public API and render."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli_models import models_app
from modelcycle.exceptions import ModelcycleError
from modelcycle.render import Output, OutputOpt, console, emit, err_console, fmt_duration, fmt_time

# Names, paths and messages come from users: they are printed with markup off, or as Text,
# never inside console markup, so that a name like '[/]' is shown as it is.

app = typer.Typer(help="modelcycle: data, experiments, models, serving and monitoring in one tool.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
experiments_app = typer.Typer(help="Create, list, rename, delete and restore experiments.",
                              no_args_is_help=True)
runs_app = typer.Typer(help="List, show, compare, delete and restore runs.", no_args_is_help=True)
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")
data_app = typer.Typer(help="Versioned datasets: add, list, show, compare, validate, lineage.",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")


class View(str, Enum):
    active = "active"
    deleted = "deleted"
    all = "all"


ViewOpt = Annotated[View, typer.Option("--view", help="active, deleted or all.")]


@app.callback()
def _global(
    tracking_uri: Annotated[Optional[str], typer.Option(
        "--tracking-uri", envvar="MODELCYCLE_TRACKING_URI",
        help="Database URL or http://server:port (default: the embedded store).")] = None,
) -> None:
    if tracking_uri:
        from modelcycle.tracking import fluent

        fluent.set_tracking_uri(tracking_uri)


def _client():
    from modelcycle.tracking.fluent import client

    return client()


# ---------------------------------------------------------------------- quickstart / server
@app.command()
def quickstart(
    experiment: Annotated[str, typer.Option(help="Experiment to log the runs to.")] = "quickstart",
) -> None:
    """Run a small real experiment end to end on the embedded store and compare its runs."""
    from modelcycle.quickstart import run_quickstart

    run_quickstart(experiment)


@app.command()
def server(
    store: Annotated[Optional[str], typer.Option(help="Database URL (default: the embedded SQLite).")] = None,
    artifacts: Annotated[Optional[str], typer.Option(help="Artifact folder or fsspec URL.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 5050,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the tracking REST API (OpenAPI at /docs)."""
    from modelcycle import config
    from modelcycle.server.app import serve

    store = store or config.tracking_uri()
    if store.startswith(("http://", "https://")):
        raise typer.BadParameter("--store must be a database URL, not a server address.")
    artifacts = artifacts or config.artifact_uri()
    console.print(f"modelcycle server on http://{host}:{port}  (API docs: /docs)\n"
                  f"  store: {store}\n  artifacts: {artifacts}", markup=False)
    serve(store, artifacts, host, port, workers)


# ---------------------------------------------------------------------- experiments
@experiments_app.command("ls")
def experiments_ls(output: OutputOpt = Output.table, view: ViewOpt = View.active) -> None:
    """List experiments."""
    rows = [{"id": e.id, "name": e.name, "created": fmt_time(e.created_at),
             "deleted": "yes" if e.deleted else "", "tags": ", ".join(f"{k}={v}" for k, v in e.tags.items())}
            for e in _client().list_experiments(view.value)]
    emit(rows, ["id", "name", "created", "deleted", "tags"], output.value, title="Experiments")


@experiments_app.command("create")
def experiments_create(
    name: str,
    tag: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE, repeatable.")] = None,
) -> None:
    """Create an experiment."""
    experiment = _client().create_experiment(name, _parse_pairs(tag))
    console.print(Text.assemble("Created experiment ", (experiment.name, "bold"), f" (id {experiment.id})."))


@experiments_app.command("rename")
def experiments_rename(experiment: str, new_name: str) -> None:
    """Rename an experiment (by name or id)."""
    renamed = _client().rename_experiment(experiment, new_name)
    console.print(Text.assemble(f"Renamed experiment {renamed.id} to ", (renamed.name, "bold"), "."))


@experiments_app.command("delete")
def experiments_delete(experiment: str) -> None:
    """Delete an experiment (it can be restored)."""
    _client().delete_experiment(experiment)
    console.print(f"Deleted experiment {experiment}. Undo with `modelcycle experiments restore {experiment}`.",
                  markup=False)


@experiments_app.command("restore")
def experiments_restore(experiment: str) -> None:
    """Restore a deleted experiment."""
    _client().restore_experiment(experiment)
    console.print(f"Restored experiment {experiment}.", markup=False)


# ---------------------------------------------------------------------- runs
@runs_app.command("ls")
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
    page = _client().search_runs(experiment or None, filter, order_by, max_results, None, view.value)
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


@runs_app.command("show")
def runs_show(run_id: str, output: OutputOpt = Output.table) -> None:
    """A run's attributes, params, latest metrics, tags and artifacts."""
    c = _client()
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


@runs_app.command("compare")
def runs_compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    output: OutputOpt = Output.table,
    plot: Annotated[Optional[Path], typer.Option(
        help="Also write the metric histories of these runs as a PNG chart here.")] = None,
) -> None:
    """Params and metrics of several runs side by side; differing params highlighted."""
    c = _client()
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


@runs_app.command("delete")
def runs_delete(run_id: str) -> None:
    """Delete a run (it can be restored)."""
    _client().delete_run(run_id)
    console.print(f"Deleted run {run_id}. Undo with `modelcycle runs restore {run_id}`.", markup=False)


@runs_app.command("restore")
def runs_restore(run_id: str) -> None:
    """Restore a deleted run."""
    _client().restore_run(run_id)
    console.print(f"Restored run {run_id}.", markup=False)


# ---------------------------------------------------------------------- data
@data_app.command("add")
def data_add(
    file: Annotated[str, typer.Argument(help="CSV or Parquet file, local path or fsspec URL.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
) -> None:
    """Version a data file: same content gives the same version, new content the next one."""
    from modelcycle.data.datasets import log_dataset

    with console.status(Text(f"Reading, digesting and profiling {file}...")):
        version = log_dataset(file, name)
    console.print(Text.assemble((version.ref, "bold"), f"  {version.num_rows:,} rows x "
                                f"{version.num_columns} columns  digest {version.digest[:12]}"))


@data_app.command("ls")
def data_ls(
    name: Annotated[Optional[str], typer.Argument(help="List the versions of this dataset.")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """List datasets (latest version of each), or every version of one."""
    from modelcycle.tracking.fluent import client

    rows = [{"dataset": d.ref, "rows": d.num_rows, "columns": d.num_columns, "size": d.size,
             "digest": d.digest[:12], "source": d.source, "created": fmt_time(d.created_at)}
            for d in client().store.list_datasets(name)]
    emit(rows, ["dataset", "rows", "columns", "size", "digest", "source", "created"], output.value,
         title="Datasets")


@data_app.command("show")
def data_show(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest.")],
    output: OutputOpt = Output.table,
) -> None:
    """A dataset version's schema and per-column profile."""
    from modelcycle.data.datasets import get_dataset, load_profile, load_schema

    dataset = get_dataset(ref)
    schema, profile = load_schema(dataset.ref), load_profile(dataset.ref)
    rows = []
    for name, column in schema.columns.items():
        stats = profile.columns[name].summary() if name in profile.columns else {}
        rows.append({"column": name, "type": column.type, "nullable": column.nullable,
                     "missing": stats.get("missing_fraction"), "distinct": stats.get("distinct"),
                     "mean": stats.get("mean"), "std": stats.get("std"), "min": stats.get("min"),
                     "max": stats.get("max"),
                     "top": ", ".join(f"{t['value']} ({t['count']})" for t in (stats.get("top") or [])[:3])})
    if output is Output.table:
        console.print(Text.assemble(
            (dataset.ref, "bold"), f"  {dataset.num_rows:,} rows x {dataset.num_columns} columns  "
            f"source {dataset.source}  digest {dataset.digest[:12]}  created {fmt_time(dataset.created_at)}"))
    emit(rows, ["column", "type", "nullable", "missing", "distinct", "mean", "std", "min", "max", "top"],
         output.value, title="Schema and profile")


def _report_path(given: Path | None, stem: str) -> Path:
    if given is not None:
        return given
    from datetime import datetime

    from modelcycle import config

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    return config.home() / "reports" / f"{safe}-{datetime.now():%Y%m%d-%H%M%S}.html"


def _write_report(report, path: Path, title: str) -> None:
    from modelcycle.data.report import render_html

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, title), encoding="utf-8")


def _print_drift(drift_report) -> None:
    if drift_report is None:
        return
    emit([{"column": c.column, "method": c.method, "score": c.score, "threshold": c.threshold,
           "drifts when": c.direction, "drifted": "DRIFT" if c.drifted else ""}
          for c in drift_report.columns],
         ["column", "method", "score", "threshold", "drifts when", "drifted"], "table", title="Drift",
         styles={"drifted": "bold red"})
    drifted = drift_report.drifted_columns
    console.print(f"{len(drifted)} of {len(drift_report.columns)} columns drifted"
                  + (f": {', '.join(drifted)}" if drifted else "") + ".", markup=False)


@data_app.command("schema")
def data_schema(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the YAML here instead of printing it.")] = None,
) -> None:
    """The inferred schema of a version as YAML, to edit and pass to `data validate --schema`."""
    from modelcycle.data.datasets import get_dataset

    text = get_dataset(ref).schema
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"Schema of {ref} written to {out}. Edit it, then: "
                      f"modelcycle data validate FILE --against {ref} --schema {out}", markup=False)


@data_app.command("validate")
def data_validate(
    file: Annotated[str, typer.Argument(help="CSV or Parquet file (path or URL) to check.")],
    against: Annotated[str, typer.Option("--against", help="Dataset version whose schema and profile to check against.")],
    schema: Annotated[Optional[Path], typer.Option(
        help="An edited schema YAML (from `modelcycle data schema`) to check with instead.")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Where to write the HTML report.")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Check a file against a dataset version: anomalies and drift. Exits 1 on any error."""
    from modelcycle.data.datasets import validate
    from modelcycle.data.report import to_json

    with console.status(Text(f"Profiling {file} and comparing it with {against}...")):
        result = validate(file, against, schema=schema)
    path = _report_path(report, f"validate-{against}")
    _write_report(result, path, f"{file} against {against}")
    if output is Output.json:
        print(to_json(result))
    else:
        emit([{"severity": a.severity, "column": a.column or "", "anomaly": a.kind, "message": a.message}
              for a in result.anomalies], ["severity", "column", "anomaly", "message"], output.value,
             title=f"Anomalies ({len(result.errors)} errors, {len(result.warnings)} warnings)",
             styles={"severity": "bold"})
        if output is Output.table:
            _print_drift(result.drift)
            console.print(f"Report: {path}", markup=False)
    if not result.ok:
        raise typer.Exit(1)


@data_app.command("diff")
def data_diff(
    a: Annotated[str, typer.Argument(help="First version, e.g. transactions@2.")],
    b: Annotated[str, typer.Argument(help="Second version, e.g. transactions@3.")],
    report: Annotated[Optional[Path], typer.Option(help="Where to write the HTML drift report.")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Schema changes, per-column statistics side by side, and drift from A to B."""
    from modelcycle.data.datasets import get_dataset, load_profile, load_schema
    from modelcycle.data.drift import drift
    from modelcycle.data.report import to_json

    first, second = get_dataset(a), get_dataset(b)
    schema_a, schema_b = load_schema(first.ref), load_schema(second.ref)
    profile_a, profile_b = load_profile(first.ref), load_profile(second.ref)
    result = drift(profile_a, profile_b)
    path = _report_path(report, f"diff-{first.ref}-{second.ref}")
    _write_report(result, path, f"{first.ref} -> {second.ref}")
    if output is Output.json:
        print(to_json(result))
        return
    rows = []
    for name in list(schema_a.columns) + [n for n in schema_b.columns if n not in schema_a.columns]:
        ca, cb = schema_a.columns.get(name), schema_b.columns.get(name)
        change = "added" if ca is None else "removed" if cb is None else \
            (f"type {ca.type} -> {cb.type}" if ca.type != cb.type else "")
        sa = profile_a.columns[name].summary() if name in profile_a.columns else {}
        sb = profile_b.columns[name].summary() if name in profile_b.columns else {}
        row = {"column": name, "change": change}
        for stat in ("missing_fraction", "mean", "std", "min", "max"):
            row[f"{stat} A"], row[f"{stat} B"] = sa.get(stat), sb.get(stat)
        rows.append(row)
    stats = [f"{s} {side}" for s in ("missing_fraction", "mean", "std", "min", "max") for side in "AB"]
    console.print(f"A = {first.ref} ({first.num_rows:,} rows)   B = {second.ref} ({second.num_rows:,} rows)",
                  markup=False)
    emit(rows, ["column", "change", *stats], output.value, title="Schema and statistics",
         styles={"change": "bold yellow"})
    if output is Output.table:
        _print_drift(result)
        console.print(f"Report: {path}", markup=False)


@data_app.command("lineage")
def data_lineage(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@latest, or NAME for every version.")],
    output: OutputOpt = Output.table,
) -> None:
    """The runs that used a dataset version, in which role, and the model versions made from them."""
    from modelcycle.data.datasets import dataset_runs

    c = _client()
    rows = []
    for use in dataset_runs(ref):
        run = c.get_run(use.run_id)
        rows.append({"dataset": use.dataset, "role": use.role, "run_id": run.id, "run": run.name,
                     "experiment": run.experiment_id, "status": run.status.value,
                     "started": fmt_time(run.start_time)})
    versions = c.store.list_model_versions(run_ids=sorted({r["run_id"] for r in rows})) if rows else []
    columns = ["dataset", "role", "run_id", "run", "experiment", "status", "started"]
    if output is not Output.table:  # one list of rows: each run with the model versions made from it
        for row in rows:
            row["models"] = [f"{v.ref} ({v.stage.value})" for v in versions if v.run_id == row["run_id"]]
            if output is Output.csv:
                row["models"] = ", ".join(row["models"])
        emit(rows, [*columns, "models"], output.value)
        return
    emit(rows, columns, output.value, title=f"Runs that used {ref}")
    uses = {}
    for row in rows:
        uses.setdefault(row["run_id"], []).append(f"{row['dataset']} ({row['role']})")
    emit([{"model": v.ref, "stage": v.stage.value, "aliases": ", ".join(v.aliases), "run_id": v.run_id,
           "used as": ", ".join(uses[v.run_id])} for v in versions],
         ["model", "stage", "aliases", "run_id", "used as"], "table",
         title=f"Model versions made from runs that used {ref}")


def _parse_pairs(items: list[str] | None) -> dict[str, str]:
    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def main() -> None:
    # Usage errors are answered by the command-line parser itself (exit 2); errors of
    # modelcycle become one line on stderr and the exit code of their class.
    try:
        app()
    except ModelcycleError as exc:
        err_console.print(Text.assemble(("Error:", "red"), " ", exc.message))
        sys.exit(exc.exit_code)

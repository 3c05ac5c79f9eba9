"""`modelcycle data ...`: versioned datasets, validation and drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli.common import client, output_file, writing
from modelcycle.render import Output, OutputOpt, console, emit, fmt_time

app = typer.Typer(name="data", help="Versioned datasets: add, list, show, compare, validate, lineage.",
                  no_args_is_help=True)


@app.command("add")
def data_add(
    file: Annotated[str, typer.Argument(help="CSV or Parquet file, local path or fsspec URL.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Dataset name.")],
    encoding: Annotated[str, typer.Option(help="Encoding of a CSV file, e.g. latin-1.")] = "utf-8",
) -> None:
    """Version a data file: same content gives the same version, new content the next one."""
    from modelcycle.data.datasets import log_dataset

    with console.status(Text(f"Reading, digesting and profiling {file}...")):
        version = log_dataset(file, name, encoding=encoding)
    console.print(Text.assemble((version.ref, "bold"), f"  {version.num_rows:,} rows x "
                                f"{version.num_columns} columns  digest {version.digest[:12]}"))


@app.command("ls")
def data_ls(
    name: Annotated[Optional[str], typer.Argument(help="List the versions of this dataset.")] = None,
    output: OutputOpt = Output.table,
) -> None:
    """List datasets (latest version of each), or every version of one."""
    rows = [{"dataset": d.ref, "rows": d.num_rows, "columns": d.num_columns, "size": d.size,
             "digest": d.digest[:12], "source": d.source, "created": fmt_time(d.created_at)}
            for d in client().store.list_datasets(name)]
    emit(rows, ["dataset", "rows", "columns", "size", "digest", "source", "created"], output.value,
         title="Datasets")


@app.command("show")
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
        return output_file(given, "--report")
    from datetime import datetime

    from modelcycle import config

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    return config.home() / "reports" / f"{safe}-{datetime.now():%Y%m%d-%H%M%S}.html"


def _write_report(report, path: Path, title: str) -> None:
    from modelcycle.data.report import render_html

    with writing(path, "--report"):
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


@app.command("schema")
def data_schema(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@latest.")],
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write the YAML here instead of printing it ('-' prints it).")] = None,
) -> None:
    """The inferred schema of a version as YAML, to edit and pass to `data validate --schema`."""
    from modelcycle.data.datasets import get_dataset

    if out is not None and str(out) != "-":
        output_file(out, "--out")
    text = get_dataset(ref).schema
    if out is None or str(out) == "-":
        print(text, end="")
    else:
        with writing(out, "--out"):
            out.write_text(text, encoding="utf-8")
        console.print(f"Schema of {ref} written to {out}. Edit it, then: "
                      f"modelcycle data validate FILE --against {ref} --schema {out}", markup=False)


@app.command("validate")
def data_validate(
    file: Annotated[str, typer.Argument(help="CSV or Parquet file (path or URL) to check.")],
    against: Annotated[str, typer.Option("--against", help="Dataset version whose schema and profile to check against, "
                                                        "or a reference CSV/Parquet file (a path with a '/').")],
    schema: Annotated[Optional[Path], typer.Option(
        help="An edited schema YAML (from `modelcycle data schema`) to check with instead.")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Where to write the HTML report.")] = None,
    encoding: Annotated[str, typer.Option(help="Encoding of CSV files, e.g. latin-1.")] = "utf-8",
    output: OutputOpt = Output.table,
) -> None:
    """Check a file against a dataset version: anomalies and drift. Exits 1 on any error."""
    from modelcycle.data.datasets import validate
    from modelcycle.data.report import to_json

    if report is not None:
        output_file(report, "--report")
    with console.status(Text(f"Profiling {file} and comparing it with {against}...")):
        result = validate(file, against, schema=schema, encoding=encoding)
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


@app.command("diff")
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

    if report is not None:
        output_file(report, "--report")
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


@app.command("lineage")
def data_lineage(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION, NAME@latest, or NAME for every version.")],
    output: OutputOpt = Output.table,
) -> None:
    """The runs that used a dataset version, in which role, and the model versions made from them."""
    from modelcycle.data.datasets import dataset_runs

    c = client()
    rows, experiments = [], {}
    for use in dataset_runs(ref):
        run = c.get_run(use.run_id)
        if run.experiment_id not in experiments:
            experiments[run.experiment_id] = c.store.get_experiment(run.experiment_id).name
        rows.append({"dataset": use.dataset, "role": use.role, "run_id": run.id, "run": run.name,
                     "experiment": run.experiment_id, "experiment_name": experiments[run.experiment_id],
                     "status": run.status.value, "started": fmt_time(run.start_time)})
    versions = c.store.list_model_versions(run_ids=sorted({r["run_id"] for r in rows})) if rows else []
    columns = ["dataset", "role", "run_id", "run", "experiment", "status", "started"]
    if output is not Output.table:  # one list of rows: each run with the model versions made from it
        for row in rows:
            row["models"] = [f"{v.ref} ({v.stage.value})" for v in versions if v.run_id == row["run_id"]]
            if output is Output.csv:
                row["models"] = ", ".join(row["models"])
        emit(rows, [*columns[:5], "experiment_name", *columns[5:], "models"], output.value)
        return
    emit([{**row, "experiment": row["experiment_name"]} for row in rows], columns, output.value,
         title=f"Runs that used {ref}")
    uses = {}
    for row in rows:
        uses.setdefault(row["run_id"], []).append(f"{row['dataset']} ({row['role']})")
    emit([{"model": v.ref, "stage": v.stage.value, "aliases": ", ".join(v.aliases), "run_id": v.run_id,
           "used as": ", ".join(uses[v.run_id])} for v in versions],
         ["model", "stage", "aliases", "run_id", "used as"], "table",
         title=f"Model versions made from runs that used {ref}")

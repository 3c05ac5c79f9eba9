"""`modelcycle predict` (batch scoring) and `modelcycle feedback` (labels for logged predictions)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.render import console, emit, err_console

app = typer.Typer()  # no name: its commands sit at the top level


class Backend(str, Enum):
    auto = "auto"
    compiled = "compiled"
    onnx = "onnx"
    native = "native"


@app.command()
def predict(
    ref: Annotated[str, typer.Argument(help="The model: fraud@production, fraud/4, models:/..., runs:/... or a folder.")],
    input: Annotated[str, typer.Argument(help="A CSV or Parquet file, local or any fsspec URL (s3://...).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write: .csv or .parquet, local or a URL.")],
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows scored at a time (bounds the memory used).")] = 100_000,
    dask: Annotated[Optional[str], typer.Option(help="A Dask scheduler (tcp://host:8786): one task per chunk.")] = None,
    backend: Annotated[Backend, typer.Option(help="auto: a compiled forest or ONNX where the model has it.")] =
    Backend.auto,
    id_column: Annotated[Optional[list[str]], typer.Option(
        "--id-column", help="Keep only this input column beside the predictions (repeat for more).")] = None,
    max_bad_rows: Annotated[int, typer.Option(min=0, help="Skip up to N rows the model cannot take.")] = 0,
    errors: Annotated[Optional[str], typer.Option(help="Write the bad rows (row, column, value, problem) to this CSV.")] = None,
    input_format: Annotated[Optional[str], typer.Option(help="csv or parquet, when the name does not say.")] = None,
    output_format: Annotated[Optional[str], typer.Option(help="csv or parquet, when the name does not say.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Score every row of INPUT with the model REF and write them with their predictions."""
    from modelcycle.serving.batch import predict_batch

    result = predict_batch(ref, input, output, chunk_size=chunk_size, dask=dask, backend=backend.value,
                           progress=progress and err_console.is_terminal, id_columns=id_column,
                           input_format=input_format, output_format=output_format, max_bad_rows=max_bad_rows,
                           errors=errors)
    version = f"version {result.version}" if result.version is not None else "(unregistered)"
    console.print(Text(f"Scored {result.scored:,} of {result.rows:,} rows with {result.model} {version} "
                       f"({result.backend}) in {result.seconds:.1f} s, {result.rows_per_s:,.0f} rows/s -> {output}"))
    if result.bad_count:
        err_console.print(Text(f"{result.bad_count:,} bad row{'s' if result.bad_count > 1 else ''} left out "
                               "(row numbers count data rows from 0)" + (f"; all of them in {errors}" if errors else
                                                                         "; --errors FILE lists all of them") + ":",
                               style="yellow"))
        shown = result.bad_rows[:20]
        emit([{"row": r.row, "column": r.column or "", "value": r.value, "problem": r.problem} for r in shown],
             ["row", "column", "value", "problem"], "table")


@app.command()
def feedback(
    file: Annotated[str, typer.Argument(help="A CSV or Parquet file of labels, local or any fsspec URL.")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model the labels are for.")],
    label_column: Annotated[str, typer.Option(help="The column of true values.")] = "label",
    request_id_column: Annotated[str, typer.Option(help="The column of request ids (x-request-id).")] = "request_id",
    key_column: Annotated[str, typer.Option(help="The column of keys logged with the predictions.")] = "key",
    row_column: Annotated[str, typer.Option(help="The row within a many-row request, if any.")] = "row",
    time_column: Annotated[str, typer.Option(help="When each label holds, if given (default: now).")] = "time",
    chunk_size: Annotated[int, typer.Option(min=1, help="Labels recorded at a time.")] = 100_000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Record ground-truth labels for logged predictions, joined to them by request id or key."""
    from modelcycle.serving.feedback import log_feedback_file

    recorded = log_feedback_file(model, file, label_column=label_column, request_id_column=request_id_column,
                                 key_column=key_column, row_column=row_column, time_column=time_column,
                                 chunk_size=chunk_size, progress=progress and err_console.is_terminal)
    console.print(Text(f"Recorded {recorded:,} label{'s' if recorded != 1 else ''} for {model}."))

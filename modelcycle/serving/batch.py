"""Batch scoring: a CSV or Parquet file in, the same rows with their predictions out, chunk by
chunk in bounded memory, locally or on a Dask cluster.

Memory holds a few chunks at a time (one being read, one scored, one written), whatever the
file's size; a Parquet input is read row group by row group, so its row groups bound it too.
The output is written under a hidden name beside its target and moved into place at the end:
a failed run leaves no half output. Rows the model cannot take are reported with their
0-based row number in the input, the column and what was wrong, and left out of the output.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from modelcycle.exceptions import InvalidInput, ModelcycleError
from modelcycle.serving import batchio

if TYPE_CHECKING:
    import pyarrow as pa

    from modelcycle.serving.runtime import ServedModel

DEFAULT_CHUNK_ROWS = 100_000
REPORTED_BAD_ROWS = 1000  # kept in the result; all of them go to the errors file
_NULL_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "#N/A")
_TRUE_TEXT = ("true", "True", "TRUE", "1", "t", "T", "yes")
_FALSE_TEXT = ("false", "False", "FALSE", "0", "f", "F", "no")


@dataclass(frozen=True)
class BadRow:
    row: int  # 0-based, among the input's data rows
    column: str | None
    value: Any
    problem: str

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column else "the row"
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"row {self.row}: {where}{shown}: {self.problem}"


@dataclass
class BatchResult:
    output: str | None
    rows: int  # read from the input
    scored: int  # written to the output
    bad_count: int
    bad_rows: list[BadRow] = field(default_factory=list)  # the first REPORTED_BAD_ROWS
    seconds: float = 0.0
    model: str = ""
    version: int | None = None
    backend: str = ""
    table: Any = None  # the scored rows as a pyarrow Table when no output was given

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def __repr__(self) -> str:
        return (f"<BatchResult {self.scored}/{self.rows} rows scored, {self.bad_count} bad, {self.seconds:.2f} s "
                f"({self.rows_per_s:,.0f} rows/s), {self.model} version {self.version} {self.backend} -> "
                f"{self.output}>")


class BadRows(InvalidInput):
    """More rows than allowed could not be scored; nothing was written."""

    def __init__(self, message: str, bad_rows: list[BadRow], bad_count: int):
        super().__init__(message)
        self.bad_rows, self.bad_count = bad_rows, bad_count

    def __reduce__(self):  # travels back from Dask workers
        return (BadRows, (self.message, self.bad_rows, self.bad_count))


# ------------------------------------------------------------------------- rows -> model inputs
def _text_of(column: pa.Array, index: np.ndarray) -> list:
    return column.take(index).to_pylist()


def _numbers_from_text(name: str, column: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray, str]:
    """Text parsed as numbers; returns the parsed column, the rows that do not parse, and why."""
    import pyarrow as pa
    import pyarrow.compute as pc

    nulled = pc.if_else(pc.is_in(column, value_set=pa.array(_NULL_TEXT)), pa.scalar(None, pa.string()), column)
    target = pa.float64() if kind == "float" else pa.int64()
    try:
        return pc.cast(nulled, target), np.zeros(len(column), dtype=bool), ""
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    import pandas as pd

    values = pd.Series(nulled.to_numpy(zero_copy_only=False), dtype=object)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = (parsed.isna() & values.notna()).to_numpy().copy()
    problem = "is not a number"
    if kind == "int":
        whole = parsed.notna() & (parsed % 1 == 0)
        bad |= (parsed.notna() & ~whole).to_numpy()
        problem = "is not a whole number"
        parsed = parsed.where(whole)
    return pa.array(parsed.to_numpy(dtype=np.float64), from_pandas=True), bad, problem


def _column_inputs(name: str, expected: str, column: pa.Array) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """One signature column as numpy values, and the rows it cannot give the model (with why).
    A column of a type that cannot be the expected one is an error for the whole file."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    problems: list[tuple[np.ndarray, str]] = []
    n = len(column)
    if pa.types.is_dictionary(t):
        column = column.dictionary_decode()
        t = column.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)  # booleans are not numbers
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if text and pa.types.is_large_string(t):
        column, t = column.cast(pa.string()), pa.string()
    if expected in ("float", "double"):
        if text:
            column, bad, why = _numbers_from_text(name, column, "float")
            if bad.any():
                problems.append((bad, f"{why}; the model takes {expected}"))
        elif not numeric:
            raise InvalidInput(f"Column {name!r} is {t} in the input; the model takes {expected}.")
        dtype = np.float32 if expected == "float" else np.float64
        # not a safe cast: an integer past 2**53 is rounded to the nearest double, as numpy does
        values = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
        return values, problems
    if expected in ("integer", "long"):
        if text:
            column, bad, why = _numbers_from_text(name, column, "int")
            if bad.any():
                problems.append((bad, f"{why}; the model takes {expected}"))
        elif pa.types.is_floating(column.type):
            floats = column.to_numpy(zero_copy_only=False)
            fractional = np.isfinite(floats) & (floats % 1 != 0)
            if fractional.any():
                problems.append((fractional, f"is not a whole number; the model takes {expected}"))
        elif not numeric:
            raise InvalidInput(f"Column {name!r} is {t} in the input; the model takes {expected}.")
        floats = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False) if not pa.types.is_integer(
            column.type) else None
        missing = np.asarray(pc.is_null(column, nan_is_null=True)).copy()
        if missing.any():
            problems.append((missing, f"is missing; the model takes {expected} and has no value for a missing one"))
        dtype = np.int32 if expected == "integer" else np.int64
        if floats is not None:
            values = np.where(np.isfinite(floats) & (np.abs(floats) < 2 ** 63), floats, 0)
            bounds = np.iinfo(dtype)
            out = np.isfinite(floats) & ((floats < bounds.min) | (floats > bounds.max))
        else:
            values = column.fill_null(0).to_numpy(zero_copy_only=False)
            bounds = np.iinfo(dtype)
            out = (values < bounds.min) | (values > bounds.max)
        if out.any():
            problems.append((out, f"is out of the range of {expected} ({bounds.min} to {bounds.max})"))
            values = np.where(out, 0, values)
        return values.astype(dtype), problems
    if expected == "boolean":
        if text:
            true = np.asarray(pc.is_in(column, value_set=pa.array(_TRUE_TEXT)))
            false = np.asarray(pc.is_in(column, value_set=pa.array(_FALSE_TEXT)))
            bad = ~(true | false)
            if bad.any():
                problems.append((bad, "is not true or false; the model takes boolean"))
            return true, problems
        if not numeric and not pa.types.is_boolean(t):
            raise InvalidInput(f"Column {name!r} is {t} in the input; the model takes boolean.")
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            problems.append((bad, "is not true or false (nor 1 or 0); the model takes boolean"))
        return values == 1.0, problems
    if expected == "string":
        missing = np.asarray(pc.is_null(column))
        if missing.any():
            problems.append((missing, "is missing; the model takes text"))
        if not text:
            column = pc.cast(column, pa.string())
        return column.fill_null("").to_numpy(zero_copy_only=False), problems
    if expected == "datetime":
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            values = pc.cast(column, pa.timestamp("ns")).to_numpy(zero_copy_only=False)
        elif text:
            import pandas as pd

            raw = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
            parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
            bad = (parsed.isna() & raw.notna()).to_numpy()
            if bad.any():
                problems.append((bad, "is not a date (ISO 8601 such as 2024-05-01T12:00:00)"))
            values = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        else:
            raise InvalidInput(f"Column {name!r} is {t} in the input; the model takes datetime.")
        missing = np.isnat(values)
        if missing.any():
            problems.append((missing & ~np.logical_or.reduce([p[0] for p in problems] or [np.zeros(n, bool)]),
                             "is missing; the model takes datetime"))
        return values, problems
    raise InvalidInput(f"Column {name!r} has the signature type {expected!r}, which batch scoring does not know.")


@dataclass
class _Scored:
    table: pa.Table  # the output rows
    bad: list[BadRow]
    bad_count: int
    rows: int


class _Scorer:
    """Turns one chunk of input rows into output rows: checks each row against the signature,
    predicts the good ones, and finds the rows the model itself fails on by halving."""

    def __init__(self, served: ServedModel, keep: list[str] | None, forest=None):
        self.served = served
        self.keep = keep
        self.forest = forest  # a CompiledForest of the native model, or None
        self.classes = [str(c) for c in served.classes] if served.classes is not None else None
        self.typed_output = True  # False when writing CSV: text columns then pass through as read
        self.every_bad_row = False  # True when an errors file takes them all (else REPORTED_BAD_ROWS a chunk)
        self.backend = "compiled" if forest is not None else served.backend
        if forest is not None:
            names = forest.feature_names or served.column_names
            if sorted(names) != sorted(served.column_names):
                self.forest, self.backend = None, served.backend  # trained on other columns: predict as logged
            else:
                self._order = names

    def _predict(self, inputs: dict) -> dict:
        if self.forest is None:
            return self.served.predict(inputs)
        n = len(next(iter(inputs.values())))
        matrix = np.empty((n, len(self._order)), dtype=np.float32, order="F")  # the walk's layout
        with np.errstate(over="ignore"):  # past float32: +-inf, refused below as scikit-learn does
            for j, name in enumerate(self._order):
                values = inputs[name]  # integers go through float64, as in scikit-learn
                matrix[:, j] = values if values.dtype.kind == "f" else values.astype(np.float64)
        if np.isinf(matrix).any():  # one row at a time, by halving, the failing rows are found
            raise InvalidInput(f"The model {self.served.name!r} could not predict on this input (ValueError: Input "
                               "X contains infinity or a value too large for dtype('float32')).")
        return self.forest.predict(matrix)

    def output_columns(self) -> list[str]:
        return ["prediction"] + ([f"proba_{c}" for c in self.classes] if self.classes is not None else [])

    def inputs_of(self, table: pa.Table, offset: int) -> tuple[Any, np.ndarray, list[BadRow]]:
        served = self.served
        n = table.num_rows
        bad = np.zeros(n, dtype=bool)
        reports: list[BadRow] = []
        if served.tensor is not None:
            raise InvalidInput("Batch scoring takes table models (named columns); this model takes a tensor.")
        inputs = {}
        for name, expected in served.columns:
            chunked = table.column(name)
            # combine_chunks copies even a single chunk: a third of the time of a forest's walk
            column = chunked.chunk(0) if chunked.num_chunks == 1 else chunked.combine_chunks()
            values, problems = _column_inputs(name, expected, column)
            inputs[name] = values
            for mask, problem in problems:
                index = np.flatnonzero(mask & ~bad)
                if index.size:
                    shown = _text_of(column, index if self.every_bad_row else index[:REPORTED_BAD_ROWS])
                    reports.extend(BadRow(offset + int(i), name, v, problem) for i, v in zip(index, shown))
                    bad[index] = True
        return inputs, bad, reports

    def predict(self, inputs: dict, offset: int, positions: np.ndarray) -> tuple[dict, np.ndarray, list[BadRow]]:
        """Outputs of the rows that predict, a mask of those that failed, and why."""
        served = self.served
        try:
            return self._predict(served.check(inputs)), np.zeros(len(positions), dtype=bool), []
        except InvalidInput as exc:
            if len(positions) == 1:
                return {}, np.ones(1, dtype=bool), [BadRow(offset + int(positions[0]), None, None, exc.message)]
        half = len(positions) // 2
        parts = [self.predict({k: v[:half] for k, v in inputs.items()}, offset, positions[:half]),
                 self.predict({k: v[half:] for k, v in inputs.items()}, offset, positions[half:])]
        failed = np.concatenate([p[1] for p in parts])
        outputs = {}
        for key in {k for p in parts for k in p[0]}:
            outputs[key] = np.concatenate([p[0][key] for p in parts if key in p[0]])
        return outputs, failed, parts[0][2] + parts[1][2]

    def score(self, table: pa.Table, offset: int) -> _Scored:
        import pyarrow as pa

        inputs, bad, reports = self.inputs_of(table, offset)
        good = np.flatnonzero(~bad)
        outputs: dict = {}
        if good.size:
            if good.size < table.num_rows:
                inputs = {k: v[good] for k, v in inputs.items()}
            outputs, failed, failures = self.predict(inputs, offset, good)
            if failed.any():
                reports.extend(failures)
                bad[good[failed]] = True
                good = good[~failed]
                inputs = {k: v[~failed] for k, v in inputs.items()}
        kept = table.select(self.keep) if self.keep is not None else table
        if good.size < table.num_rows:
            kept = kept.take(pa.array(good))
        columns = dict(zip(kept.column_names, kept.columns))
        if self.typed_output:  # model columns read as text (to check them row by row) go out typed
            for name, expected in self.served.columns:
                if name in columns and expected != "string" and pa.types.is_string(columns[name].type):
                    columns[name] = pa.array(inputs[name]) if good.size else pa.array([], type=_arrow_type(expected))
        columns["prediction"] = pa.array(_plain(outputs["predict"])) if good.size else pa.nulls(0)
        if self.classes is not None:
            proba = outputs.get("predict_proba") if good.size else None
            for j, c in enumerate(self.classes):
                columns[f"proba_{c}"] = pa.array(proba[:, j].astype(np.float64)) if proba is not None else \
                    pa.array([], type=pa.float64())
        reports.sort(key=lambda r: r.row)
        return _Scored(pa.table(columns), reports if self.every_bad_row else reports[:REPORTED_BAD_ROWS],
                       int(bad.sum()), table.num_rows)


def _arrow_type(expected: str):
    import pyarrow as pa

    return {"float": pa.float32(), "double": pa.float64(), "integer": pa.int32(), "long": pa.int64(),
            "boolean": pa.bool_(), "datetime": pa.timestamp("ns")}.get(expected, pa.string())


def _plain(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    return values.astype(str) if values.dtype == object else values


# ------------------------------------------------------------------------- the public call
@dataclass
class BatchModel:
    """A model ready for batch scoring: the served model (signature checks, ONNX or native
    predict) and, for a scikit-learn forest, its compiled walk. Load it once to score several
    inputs, or to time scoring apart from loading."""

    served: ServedModel
    forest: Any = None  # a trees.CompiledForest, or None

    @property
    def backend(self) -> str:
        return "compiled" if self.forest is not None else self.served.backend

    @classmethod
    def load(cls, model: Any, backend: str = "auto", store=None, threads: int | None = None) -> BatchModel:
        """``backend``: "auto" compiles a scikit-learn forest when numba is there (its answers are
        the native model's), else takes ONNX where the model has it; or compiled, onnx, native."""
        if backend not in ("auto", "onnx", "native", "compiled"):
            raise InvalidInput(f"backend must be auto, compiled, onnx or native; got {backend!r}.")
        return _load(model, backend, store, threads)


def _load(model: Any, backend: str, store, threads: int | None = None) -> BatchModel:
    from modelcycle.serving import trees
    from modelcycle.serving.runtime import ServedModel

    threads = threads or os.cpu_count() or 1
    if isinstance(model, BatchModel):
        return model
    if isinstance(model, ServedModel):
        return BatchModel(model)
    if backend in ("auto", "compiled"):
        from modelcycle.models.api import read_manifest
        from modelcycle.serving.runtime import _pin

        pinned, _ = _pin(model, store)
        manifest = read_manifest(pinned, store=store)
        if not trees.available() or not trees.supports(manifest.model_class):
            if backend == "compiled":
                raise InvalidInput(
                    "backend='compiled' needs numba (pip install 'modelcycle[batch]') and a scikit-learn random "
                    f"forest, extra-trees or decision tree; the model is a {manifest.model_class}." if trees.available()
                    else "backend='compiled' needs numba: pip install 'modelcycle[batch]'.")
        else:
            try:
                served = ServedModel.load(model, backend="native", store=store, warm_up=False)
            except InvalidInput:  # a pickle outside the store it was logged to: not loaded, use ONNX
                if backend == "compiled":
                    raise
            else:
                forest = trees.CompiledForest.of(served._loaded._predictor)  # the fitted estimator itself
                if forest is not None:
                    forest.predict(np.zeros((1, forest.n_features), dtype=np.float32))  # compiles, or loads the cache
                    return BatchModel(served, forest)
                if backend == "compiled":
                    raise InvalidInput(f"The model {served.name!r} has more than one output; backend='compiled' "
                                       "takes one-output tree models. Use auto.")
        backend = "auto"
    return BatchModel(ServedModel.load(model, backend=backend, store=store, onnx_threads=threads))


def _as_table(data) -> pa.Table:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    raise InvalidInput(f"input must be a path or URL of a CSV or Parquet file, a pandas DataFrame or a pyarrow Table; "
                       f"got {type(data).__name__}.")


def predict_batch(model: Any, input: Any, output: str | None = None, chunk_size: int = DEFAULT_CHUNK_ROWS,
                  dask: Any = None, backend: str = "auto", progress: bool | None = None,
                  id_columns: str | Sequence[str] | None = None, input_format: str | None = None,
                  output_format: str | None = None, max_bad_rows: int | None = 0, errors: str | None = None,
                  store=None) -> BatchResult:
    """Score every row of ``input`` (a CSV or Parquet path or fsspec URL, a DataFrame or an
    Arrow table) with ``model`` (a reference such as ``fraud@production``, any URI
    ``mc.load_model`` takes, a BatchModel or a ServedModel) and write ``output`` (CSV or Parquet, by
    its name or ``output_format``): the input's columns, or only ``id_columns``, then
    ``prediction`` and, for classifiers, ``proba_<class>`` per class. Without ``output`` the
    scored rows come back as ``result.table``.

    ``chunk_size`` rows are scored at a time. ``dask`` (a scheduler address such as
    tcp://host:8786, or a distributed.Client) scores each chunk as one task on the cluster,
    with the model loaded once per worker. ``backend`` is auto (ONNX where the model has it),
    onnx or native.

    Rows the model cannot take are left out, reported in ``result.bad_rows`` and written to
    ``errors`` (a CSV of row, column, value, problem) when given. Past ``max_bad_rows`` (None:
    no limit) scoring stops with BadRows and nothing is written."""
    import pyarrow as pa

    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise InvalidInput(f"chunk_size must be an integer >= 1; got {chunk_size!r}.")
    if max_bad_rows is not None and (not isinstance(max_bad_rows, int) or max_bad_rows < 0):
        raise InvalidInput(f"max_bad_rows must be an integer >= 0 or None; got {max_bad_rows!r}.")
    if backend not in ("auto", "onnx", "native", "compiled"):
        raise InvalidInput(f"backend must be auto, compiled, onnx or native; got {backend!r}.")
    if output is not None:  # before the model loads: a wrong path is found in a moment
        batchio.check_output(str(output), str(input) if isinstance(input, (str, os.PathLike)) else None)
    if errors is not None:
        batchio.check_output(str(errors), str(input) if isinstance(input, (str, os.PathLike)) else None, "errors file")
    started = time.perf_counter()
    loaded = _load(model, backend, store)
    served, forest = loaded.served, loaded.forest
    if served.columns is None:
        raise InvalidInput(f"The model {served.name!r} " + (
            "takes a tensor; batch scoring takes table models (named columns)." if served.tensor is not None else
            "has no signature, so its inputs cannot be checked; log it again with an input_example."))
    keep = [id_columns] if isinstance(id_columns, str) else list(id_columns) if id_columns is not None else None
    in_memory = not isinstance(input, (str, os.PathLike))
    sink_fmt = batchio.format_of(str(output), output_format, "output") if output is not None else None
    source = None
    if in_memory:
        table = _as_table(input)
        schema, total_rows, total_bytes = table.schema, table.num_rows, None
    else:
        wanted = {name: expected for name, expected in served.columns}
        source = batchio.Source(str(input), input_format, chunk_size, text_columns=sink_fmt == "csv", typed=wanted)
        schema, total_rows, total_bytes = source.schema, source.total_rows, source.total_bytes
    try:
        names = list(schema.names)
        missing = [c for c, _ in served.columns if c not in names]
        if missing:
            raise InvalidInput(f"The input has no column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(map(repr, missing[:10]))}: the model {served.name!r} takes "
                               f"{', '.join(c for c, _ in served.columns[:20])}. Its columns are "
                               f"{', '.join(names[:20])}{' ...' if len(names) > 20 else ''}.")
        if keep is not None:
            unknown = [c for c in keep if c not in names]
            if unknown:
                raise InvalidInput(f"id_columns {', '.join(map(repr, unknown))} are not columns of the input; it has "
                                   f"{', '.join(names[:20])}.")
        scorer = _Scorer(served, keep, forest)
        scorer.typed_output = sink_fmt != "csv"
        scorer.every_bad_row = errors is not None
        clash = [c for c in (keep if keep is not None else names) if c in scorer.output_columns()]
        if clash:
            raise InvalidInput(f"The input already has a column {clash[0]!r}, which the output adds; keep other "
                               "columns with id_columns= (--id-column), or rename it.")
        read_columns = None if keep is None else list(dict.fromkeys(keep + [c for c, _ in served.columns]))
        if in_memory:
            table = table.select(read_columns) if read_columns is not None else table
            chunks = (table.slice(i, chunk_size) for i in range(0, max(table.num_rows, 1), chunk_size))
        else:
            chunks = batchio.prefetch(source.chunks(read_columns))
        bar = batchio.progress_bar(progress, total_rows, total_bytes, f"Scoring with {served.name} "
                                                            f"v{served.version if served.version is not None else '-'}")
        try:
            result = _run(scorer, chunks, output, sink_fmt, dask, served, max_bad_rows, source, bar, started, errors)
        finally:
            if bar is not None:
                bar[0].stop()
    finally:
        if source is not None:
            source.close()
    result.table = result.table if output is None else None
    if result.table is not None and not isinstance(result.table, pa.Table):
        result.table = None
    return result


def _empty_output(scorer: _Scorer, schema: pa.Schema) -> pa.Schema:
    import pyarrow as pa

    fields = [schema.field(c) for c in (scorer.keep if scorer.keep is not None else schema.names)]
    fields.append(pa.field("prediction", pa.null()))
    fields += [pa.field(c, pa.float64()) for c in scorer.output_columns()[1:]]
    return pa.schema(fields)


def _run(scorer: _Scorer, chunks: Iterator, output: str | None, sink_fmt: str | None, dask: Any,
         served: ServedModel, max_bad_rows: int | None, source, bar, started: float,
         errors: str | None = None) -> BatchResult:
    """Score every chunk into ``output`` (or a table), and every bad row into ``errors``; both
    files appear whole at the end, or not at all."""
    import pyarrow as pa

    sink = batchio.Sink(output, sink_fmt) if output is not None else None
    writer = batchio.BackgroundWriter(sink) if sink is not None else None
    errors_sink = batchio.Sink(errors, "csv") if errors is not None else None
    kept_tables: list = []
    rows = scored = bad_count = 0
    bad_rows: list[BadRow] = []
    first_schema = None
    scoring_started = time.perf_counter()  # the bar's speed leaves out loading the model
    try:
        scored_chunks = _score_on_dask(dask, served, scorer, chunks) if dask is not None else (
            scorer.score(table, offset) for offset, table in _with_offsets(chunks))
        for part in scored_chunks:
            rows += part.rows
            bad_count += part.bad_count
            bad_rows.extend(part.bad[:max(0, REPORTED_BAD_ROWS - len(bad_rows))])
            if max_bad_rows is not None and bad_count > max_bad_rows:
                raise BadRows(_bad_message(bad_count, bad_rows, max_bad_rows, rows), bad_rows, bad_count)
            if errors_sink is not None and part.bad:
                errors_sink.write(_errors_table(part.bad))
            if part.table.num_rows:
                first_schema = first_schema or part.table.schema
                scored += part.table.num_rows
                if writer is not None:
                    writer.write(part.table)
                else:
                    kept_tables.append(part.table)
            if bar is not None:
                progress, task, by_rows = bar
                elapsed = time.perf_counter() - scoring_started
                progress.update(task, completed=rows if by_rows else source.done_bytes if source else rows,
                                rows=rows, speed=f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else "")
        if writer is not None:
            writer.finish()
            sink.commit(first_schema or _empty_output(scorer, _input_schema(source, scorer)))
        if errors_sink is not None:
            errors_sink.commit(_errors_table([]).schema)
    except BaseException:
        if writer is not None:
            try:
                writer.finish()
            except BaseException:
                pass
            sink.abort()
        if errors_sink is not None:
            errors_sink.abort()
        raise
    table = None
    if output is None:
        table = pa.concat_tables(kept_tables) if kept_tables else None
    return BatchResult(output, rows, scored, bad_count, bad_rows, time.perf_counter() - started, served.name,
                       served.version, scorer.backend, table)


def _input_schema(source, scorer: _Scorer):
    import pyarrow as pa

    if source is not None:
        return source.schema
    return pa.schema([pa.field(c, pa.null()) for c in (scorer.keep or [])])


def _with_offsets(chunks: Iterator) -> Iterator[tuple[int, pa.Table]]:
    offset = 0
    for table in chunks:
        if table.num_rows == 0:
            continue
        yield offset, table
        offset += table.num_rows


def _bad_message(bad_count: int, bad_rows: list[BadRow], max_bad_rows: int, rows: int) -> str:
    shown = "\n".join(f"  {r}" for r in bad_rows[:20])
    more = f"\n  ... and {bad_count - min(20, len(bad_rows))} more" if bad_count > 20 else ""
    allowed = "no bad row is allowed" if max_bad_rows == 0 else f"at most {max_bad_rows} are allowed"
    return (f"{bad_count} row{'s' if bad_count > 1 else ''} of the first {rows:,} cannot be scored ({allowed}); "
            f"nothing was written. Row numbers count data rows from 0:\n{shown}{more}\n"
            "Fix those rows, or skip them with max_bad_rows (--max-bad-rows N).")


def _errors_table(bad_rows: list[BadRow]) -> pa.Table:
    import pyarrow as pa

    return pa.table({"row": pa.array([r.row for r in bad_rows], pa.int64()),
                     "column": pa.array([r.column for r in bad_rows], pa.string()),
                     "value": pa.array([None if r.value is None else str(r.value) for r in bad_rows], pa.string()),
                     "problem": pa.array([r.problem for r in bad_rows], pa.string())})


# ------------------------------------------------------------------------- Dask
def _pinned_uri(served: ServedModel) -> str:
    if served.version is not None:
        return f"models:/{served.name}/{served.version}"
    return served.uri


def _score_on_dask(dask: Any, served: ServedModel, scorer: _Scorer, chunks: Iterator) -> Iterator[_Scored]:
    """Each chunk one task, at most two per worker thread in flight, results in input order."""
    try:
        from distributed import Client
    except ImportError:
        raise InvalidInput("Scoring on Dask needs distributed: pip install 'modelcycle[dask]'.") from None
    from modelcycle import config
    from modelcycle.serving._dask import ModelOnWorker, score_task

    own = not isinstance(dask, Client)
    try:
        client = Client(dask, timeout="20s") if own else dask
    except (OSError, TimeoutError) as exc:
        raise InvalidInput(f"Could not reach the Dask scheduler at {dask!r}: {exc}") from None
    plugin = ModelOnWorker(_pinned_uri(served), scorer.backend, config.tracking_uri(), config.artifact_uri(),
                           scorer.keep, scorer.typed_output, scorer.every_bad_row)
    try:
        try:
            client.register_plugin(plugin, name=plugin.name)
        except Exception as exc:  # a worker that cannot load the model says why
            raise ModelcycleError(f"The Dask workers could not load {plugin.uri}: {type(exc).__name__}: {exc}") from exc
        threads = max(1, sum(client.nthreads().values()))
        pending: deque = deque()
        for offset, table in _with_offsets(chunks):
            pending.append(client.submit(score_task, plugin.name, table, offset, pure=False))
            while len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in list(locals().get("pending") or []):
            future.cancel()
        try:
            client.unregister_worker_plugin(plugin.name)
        except Exception:  # the cluster may be gone already; the results are in
            pass
        if own:
            client.close()

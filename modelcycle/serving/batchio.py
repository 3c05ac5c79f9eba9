"""Files for batch scoring: formats, reading in chunks, writing so that a failed run leaves
nothing, the threads that overlap reading and writing with scoring, and the progress bar."""

from __future__ import annotations

import os
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from modelcycle.exceptions import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa


def format_of(path: str, given: str | None, what: str) -> str:
    if given is not None:
        fmt = given.lower()
        if fmt not in ("csv", "parquet"):
            raise InvalidInput(f"{what}_format must be csv or parquet; got {given!r}.")
        return fmt
    name = path.lower()
    for suffix in (".gz", ".bz2", ".zst", ".xz"):
        name = name.removesuffix(suffix)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".txt")):
        return "csv"
    raise InvalidInput(f"Cannot tell the format of {path!r} from its name: name it .csv or .parquet, or pass "
                       f"{what}_format='csv' or 'parquet'.")


class CountingFile:
    """A read-only Python file that counts the bytes read from it, for a CSV's progress bar, and
    that can be stopped: pyarrow reads a CSV ahead from its own threads, which must not be in
    this file's read when the interpreter exits (the process aborts in PyGILState_Release)."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0
        self._stopped = False
        self._reading = 0

    def read(self, n=-1):
        if self._stopped:
            return b""  # the end of the file, for a read ahead that comes after stop()
        self._reading += 1
        try:
            data = self.raw.read(n)
        finally:
            self._reading -= 1
        self.count += len(data)
        return data

    def stop(self, timeout_s: float = 10.0) -> None:
        """Later reads see the end of the file; a read under way in another thread is waited for."""
        import time

        self._stopped = True
        deadline = time.monotonic() + timeout_s
        while self._reading and time.monotonic() < deadline:
            time.sleep(0.001)  # lets that thread take the GIL and finish

    def __getattr__(self, name):
        return getattr(self.raw, name)


def open_input(path: str, seekable: bool = False):
    """``path`` (local or any fsspec URL) opened for pyarrow's readers: pyarrow's own file for a
    local file, decompressed by pyarrow unless ``seekable`` (its threads read it without the
    GIL), else a CountingFile over fsspec's. Close it with close_input."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    fs, fspath = fsspec.core.url_to_fs(path)
    compression = fsspec.utils.infer_compression(fspath)
    if isinstance(fs, LocalFileSystem) and compression in _ARROW_CODECS and not (seekable and compression):
        import pyarrow as pa

        raw = pa.OSFile(fspath, "rb")
        if compression is None:
            return raw
        return NativeInput(pa.CompressedInputStream(raw, _ARROW_CODECS[compression]), raw)
    return CountingFile(fsspec.open(path, "rb", compression="infer").open())


_ARROW_CODECS = {None: None, "gzip": "gzip", "bz2": "bz2", "zstd": "zstd", "lz4": "lz4"}  # fsspec's name: arrow's


class NativeInput:
    """A decompressing pyarrow stream, and the file under it (whose position is the progress)."""

    def __init__(self, stream, raw):
        self.stream, self.raw = stream, raw

    def read(self, n=-1):
        return self.stream.read(n) if n is not None and n >= 0 else self.stream.read()

    def tell(self) -> int:
        return self.raw.tell()

    @property
    def closed(self) -> bool:
        return self.stream.closed

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


def close_input(file) -> None:
    """Close what open_input gave, once pyarrow's threads are out of it."""
    if isinstance(file, CountingFile):
        file.stop()
    file.close()


def arrow_source(file):
    """What to hand pyarrow's readers of a file open_input gave."""
    return file.stream if isinstance(file, NativeInput) else file


class Source:
    """Chunks of an input file as Arrow tables of at most ``chunk_size`` rows."""

    def __init__(self, path: str, fmt: str | None, chunk_size: int, text_columns: bool, typed: dict):
        import fsspec

        self.path = path
        self.format = format_of(path, fmt, "input")
        try:
            self.fs, self._fspath = fsspec.core.url_to_fs(path)
            if not self.fs.isfile(self._fspath):
                raise InvalidInput(f"No input file at {path!r}.")
        except (FileNotFoundError, ValueError) as exc:
            raise InvalidInput(f"No input file at {path!r} ({exc}).") from None
        self.chunk_size = chunk_size
        self.total_bytes = self.fs.size(self._fspath) or 0
        self._file = open_input(path, seekable=self.format == "parquet")
        self._counting = self._file if isinstance(self._file, CountingFile) else None
        if self.format == "parquet":
            import pyarrow.parquet as pq

            try:
                # Read as a stream: pre-buffering through a Python file object keeps every row
                # group's bytes alive until the file is closed (memory grew with the file).
                self._parquet = pq.ParquetFile(self._file, pre_buffer=False, buffer_size=1 << 20)
            except Exception as exc:  # pyarrow says what is wrong with the file
                self.close()
                raise InvalidInput(f"{path!r} is not a readable Parquet file: {exc}") from None
            self.schema = self._parquet.schema_arrow
            self.total_rows = self._parquet.metadata.num_rows
        else:
            import pyarrow as pa
            import pyarrow.csv as pacsv

            header = self._peek_header()
            types = {name: pa.string() for name in header} if text_columns else {
                name: pa.string() for name in typed if name in header}
            try:
                self._csv = pacsv.open_csv(
                    arrow_source(self._file), read_options=pacsv.ReadOptions(block_size=8 << 20),
                    convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                         quoted_strings_can_be_null=False))
            except pa.ArrowInvalid as exc:
                self.close()
                raise InvalidInput(f"{path!r} is not a readable CSV file: {exc}") from None
            self.schema = self._csv.schema
            self.total_rows = None

    def _peek_header(self) -> list[str]:
        """The CSV's column names, read from its first line, so that the columns the model
        takes can be read as text (and checked row by row)."""
        import csv
        import io

        import fsspec

        with fsspec.open(self.path, "rb", compression="infer") as peek:  # the reader's file starts untouched
            first = peek.read(1 << 16)
        line = first.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        try:
            return next(csv.reader(io.StringIO(line)))
        except StopIteration:
            raise InvalidInput(f"{self.path!r} is empty: a CSV input needs a header line.") from None

    @property
    def done_bytes(self) -> int:
        if self._counting is not None:
            return self._counting.count
        return self._file.tell() if not self._file.closed else self.total_bytes

    def batches(self, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        if self.format == "parquet":
            yield from self._parquet.iter_batches(batch_size=self.chunk_size, columns=columns)
            return
        while True:
            try:
                batch = self._csv.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise InvalidInput(f"{self.path!r} could not be read: {exc}. Check that column's values, or "
                                   "score the file as Parquet.") from None
            yield batch.select(columns) if columns is not None else batch

    def chunks(self, columns: list[str] | None) -> Iterator[pa.Table]:
        """Tables of exactly chunk_size rows (the last one fewer)."""
        import pyarrow as pa

        pending, rows = [], 0
        for batch in self.batches(columns):
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            rows += batch.num_rows
            while rows >= self.chunk_size:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, self.chunk_size)
                rest = table.slice(self.chunk_size)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield pa.Table.from_batches(pending)

    def close(self) -> None:
        close_input(self._file)


def check_output(path: str, input: str | None = None, what: str = "output") -> None:
    """InvalidInput when ``path`` cannot take the output: an existing folder (the file moved into
    place would land inside it, hidden), or the input file itself (its rows would be replaced)."""
    import fsspec

    if not path.strip():
        raise InvalidInput(f"The {what} path is empty: name a file, such as scored.csv or scored.parquet.")
    fs, target = fsspec.core.url_to_fs(path)
    if fs.isdir(target):
        raise InvalidInput(f"The {what} {path!r} is a folder: name a file, such as {path.rstrip('/')}/scored.csv.")
    if input is not None:
        in_fs, source = fsspec.core.url_to_fs(input)
        from fsspec.implementations.local import LocalFileSystem

        local = isinstance(fs, LocalFileSystem)
        if type(in_fs) is type(fs) and (os.path.realpath(source) == os.path.realpath(target) if local
                                        else source.rstrip("/") == target.rstrip("/")):
            raise InvalidInput(f"The {what} {path!r} is the input file: choose another file, or the input would be replaced.")


class Sink:
    """The output file, written under a hidden name in its folder and moved into place on commit."""

    def __init__(self, path: str, fmt: str | None):
        import fsspec

        self.path = path
        self.format = format_of(path, fmt, "output")
        self.fs, target = fsspec.core.url_to_fs(path)
        folder, _, name = target.rpartition("/")
        self._target = target
        self._tmp = f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp" if folder else f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        if folder:
            self.fs.makedirs(folder, exist_ok=True)
        compression = fsspec.utils.infer_compression(target) if self.format == "csv" else None
        self._file = self.fs.open(self._tmp, "wb", compression=compression)  # scored.csv.gz is gzipped
        self._writer = None
        self.schema = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.schema = table.schema
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self._file, table.schema, compression="snappy")  # a third cheaper to write than zstd
            else:
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(self._file, table.schema)
        elif table.schema != self.schema:
            table = table.cast(self.schema)
        self._writer.write_table(table)

    def commit(self, empty_schema: pa.Schema) -> None:
        if self._writer is None:  # no row scored: still a valid, empty file with the output's columns
            import pyarrow as pa

            self.write(pa.Table.from_batches([], schema=empty_schema))
        self._writer.close()
        self._file.close()
        self.fs.mv(self._tmp, self._target)

    def abort(self) -> None:
        try:
            discard = getattr(self._file, "discard", None)
            if discard is not None and not self._file.closed:
                discard()  # an object store's upload that never completes
            elif not self._file.closed:
                self._file.close()
        except Exception:  # cleaning up after a failure must not hide that failure
            pass
        try:
            if self.fs.exists(self._tmp):
                self.fs.rm(self._tmp)
        except Exception:
            pass


def prefetch(iterator: Iterator, depth: int = 2) -> Iterator:
    """``iterator`` run ahead in a thread by ``depth`` items: reading the next chunk overlaps
    scoring this one (pyarrow and onnxruntime release the GIL)."""
    items: queue.Queue = queue.Queue(depth)
    done = object()
    stop = threading.Event()

    def run():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((True, done))
        except BaseException as exc:  # handed to the consumer, raised there
            items.put((False, exc))

    thread = threading.Thread(target=run, name="modelcycle-batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                raise item
            if item is done:
                return
            yield item
    finally:
        stop.set()


class BackgroundWriter:
    """Writes tables to a sink in a thread, at most ``depth`` behind."""

    def __init__(self, sink: Sink, depth: int = 2):
        self.sink = sink
        self._items: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="modelcycle-batch-writer", daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            table = self._items.get()
            if table is None:
                return
            if self._error is None:
                try:
                    self.sink.write(table)
                except BaseException as exc:
                    self._error = exc

    def write(self, table) -> None:
        if self._error is not None:
            raise self._error
        self._items.put(table)

    def finish(self) -> None:
        self._items.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


def progress_bar(enabled: bool | None, total_rows: int | None, total_bytes: int | None, description: str):
    import sys

    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from rich.progress import (
        BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from modelcycle.render import err_console

    by_rows = total_rows is not None
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    columns += [TextColumn("{task.fields[rows]:,} rows  {task.fields[speed]}"), TimeElapsedColumn(),
                TimeRemainingColumn()]
    progress = Progress(*columns, console=err_console, transient=False)
    task = progress.add_task(description, total=total_rows if by_rows else (total_bytes or None), rows=0, speed="")
    progress.start()
    return progress, task, by_rows

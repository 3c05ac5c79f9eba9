"""Bounded previews of a run's artifacts for the artifact browser: whatever the size of a file,
a preview reads at most a fixed head of it (text, JSON, CSV), or, for Parquet whose footer is
at its end, a file below a fixed size; images and HTML reports are shown by the browser from
the raw route, HTML only inside a sandboxed frame."""

from __future__ import annotations

import codecs
import json
import posixpath
import tempfile
from collections.abc import Iterator
from typing import Any

from modelcycle.exceptions import InvalidInput
from modelcycle.models.manifest import MANIFEST_FILE, Manifest
from modelcycle.server.ui.render import number
from modelcycle.store.base import Store
from modelcycle.store.entities import ArtifactInfo

TEXT_LIMIT = 64 * 1024
TABLE_ROWS = 50
TABLE_COLUMNS = 100
CELL_CHARS = 200
CSV_READ_LIMIT = 1024 * 1024  # enough for the first 50 rows of any sensible CSV
PARQUET_LIMIT = 256 * 1024 * 1024  # read whole (the footer comes last): beyond this, download it
INLINE_LIMIT = 32 * 1024 * 1024  # images and HTML reports the browser is asked to show
MANIFEST_LIMIT = 1024 * 1024
TOO_DEEP = "The manifest is nested too deeply to read; it is not one modelcycle wrote."

IMAGE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".svg": "image/svg+xml", ".bmp": "image/bmp", ".ico": "image/x-icon",
}
HTML_SUFFIXES = {".html", ".htm"}
TEXT_SUFFIXES = {
    ".txt", ".log", ".md", ".rst", ".py", ".yaml", ".yml", ".cfg", ".ini", ".toml", ".sh", ".r", ".sql",
    ".xml", ".jsonl", ".ndjson", ".ipynb", ".js", ".css", ".tex", ".diff", ".patch", ".properties", ".env",
}
RAW_TYPES = {**IMAGE_TYPES, ".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
             ".pdf": "application/pdf"}


def kind_of(path: str) -> str:
    name = posixpath.basename(path)
    suffix = posixpath.splitext(name)[1].lower()
    if name == MANIFEST_FILE:
        return "manifest"
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in TEXT_SUFFIXES or name in ("requirements.txt", "MLmodel", "Dockerfile", "LICENSE", "README"):
        return "text"
    return "other"


def raw_media_type(path: str) -> str:
    """What the raw route says a file is: the types a browser shows inline, else bytes."""
    return RAW_TYPES.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")


def preview(store: Store, run_id: str, info: ArtifactInfo) -> dict[str, Any]:
    """What the browser shows of one file: ``kind`` picks the template's part, the rest its data.
    A file that cannot be read as its kind falls back to its text, or to no preview."""
    kind = kind_of(info.path)
    size = info.size or 0
    if size == 0:
        return {"kind": "empty"}
    if kind in ("image", "html"):
        if size > INLINE_LIMIT:
            return {"kind": "none", "reason": f"{_mib(size)} is too large to show here; download it."}
        return {"kind": kind}
    if kind == "parquet":
        return _parquet(store, run_id, info)
    if kind == "csv":
        return _csv(store, run_id, info)
    if kind == "manifest":
        return _manifest(store, run_id, info)
    head, truncated = read_head(store.open_artifact(run_id, info.path), TEXT_LIMIT)
    if b"\x00" in head[:8192]:
        return {"kind": "none", "reason": "A binary file: no preview; download it."}
    text = _decode(head, truncated or size > len(head))
    if kind == "other" and text.count("\ufffd") > len(text) // 100 + 1:
        return {"kind": "none", "reason": "Not text: no preview; download it."}
    result = {"kind": "text", "text": text, "truncated": truncated, "shown": len(head), "size": size}
    if kind == "json" and not truncated:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError as exc:
            result["note"] = f"Not valid JSON ({exc}); shown as text."
        except RecursionError:
            result["note"] = "Not valid JSON here (nested too deeply to read); shown as text."
        else:
            result.update(text=pretty[:2 * TEXT_LIMIT], truncated=len(pretty) > 2 * TEXT_LIMIT)
    return result


def read_head(chunks: Iterator[bytes], limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of a file, and whether there was more. Stops reading there."""
    buffer = bytearray()
    try:
        for chunk in chunks:
            buffer += chunk
            if len(buffer) > limit:
                break
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return bytes(buffer[:limit]), len(buffer) > limit


def _decode(data: bytes, cut: bool) -> str:
    # A head cut inside a multi-byte character drops that character rather than showing junk.
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=not cut)


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MiB"


def cell(value: Any) -> str:
    if value is None or isinstance(value, float):
        return number(value)
    text = value.hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS] + "…"


def _table(table, total: int | None, note: str = "") -> dict[str, Any]:
    names = table.column_names
    shown = names[:TABLE_COLUMNS]
    table = table.select(shown).slice(0, TABLE_ROWS)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    rows = [[cell(column[r]) for column in columns] for r in range(table.num_rows)]
    types = [str(field.type) for field in table.schema]
    return {"kind": "table", "columns": shown, "types": types, "rows": rows, "total": total,
            "hidden_columns": len(names) - len(shown), "note": note}


def _csv(store: Store, run_id: str, info: ArtifactInfo) -> dict[str, Any]:
    import pyarrow as pa
    from pyarrow import csv

    head, truncated = read_head(store.open_artifact(run_id, info.path), CSV_READ_LIMIT)
    if truncated and b"\n" in head:
        head = head[:head.rindex(b"\n") + 1]  # whole lines only
    delimiter = "\t" if info.path.lower().endswith(".tsv") else ","
    try:
        table = csv.read_csv(pa.BufferReader(head), parse_options=csv.ParseOptions(delimiter=delimiter))
    except (pa.ArrowException, ValueError) as exc:
        text = _decode(head[:TEXT_LIMIT], True)
        return {"kind": "text", "text": text, "truncated": True, "shown": min(len(head), TEXT_LIMIT),
                "size": info.size, "note": f"Not read as a table ({_first_line(exc)}); the start of it as text."}
    return _table(table, None if truncated else table.num_rows)


def _parquet(store: Store, run_id: str, info: ArtifactInfo) -> dict[str, Any]:
    import pyarrow as pa
    from pyarrow import parquet as pq

    if (info.size or 0) > PARQUET_LIMIT:
        return {"kind": "none", "reason": f"A Parquet file of {_mib(info.size or 0)}: too large to read for a "
                                          "preview; download it."}
    with tempfile.TemporaryFile() as spool:
        for chunk in store.open_artifact(run_id, info.path):
            spool.write(chunk)
        spool.seek(0)
        try:
            parquet = pq.ParquetFile(spool)
            names = parquet.schema_arrow.names
            batch = next(parquet.iter_batches(batch_size=TABLE_ROWS, columns=names[:TABLE_COLUMNS]), None)
            total = parquet.metadata.num_rows
        except (pa.ArrowException, OSError, ValueError) as exc:
            return {"kind": "none", "reason": f"Not a readable Parquet file: {_first_line(exc)}"}
        if batch is None:
            table = parquet.schema_arrow.empty_table().select(names[:TABLE_COLUMNS])
        else:
            table = pa.Table.from_batches([batch])
        result = _table(table, total)
        result["hidden_columns"] = len(names) - min(len(names), TABLE_COLUMNS)
        return result


def _manifest(store: Store, run_id: str, info: ArtifactInfo) -> dict[str, Any]:
    head, truncated = read_head(store.open_artifact(run_id, info.path), MANIFEST_LIMIT)
    text = _decode(head, truncated)
    result: dict[str, Any] = {"kind": "manifest", "text": text, "truncated": truncated}
    if truncated:
        result["error"] = "The manifest is larger than 1 MiB; shown cut, not read."
        return result
    try:
        result["manifest"] = summarize_manifest(Manifest.from_yaml(head, info.path))
    except InvalidInput as exc:
        result["error"] = exc.message
    except RecursionError:
        result["error"] = TOO_DEEP
    return result


def summarize_manifest(manifest: Manifest) -> dict[str, Any]:
    """The parts of a model's manifest a reader looks for, as plain data for a template."""
    signature = manifest.signature.to_dict() if manifest.signature else {}

    def spec(part: dict | None) -> list[tuple[str, str]]:
        if not part:
            return []
        if "tensor" in part:
            tensor = part["tensor"]
            return [("tensor", f"{tensor['dtype']} {tuple(tensor['shape'])}")]
        return [(c["name"], c["type"]) for c in part.get("columns", [])]

    requirements = manifest.requirements or {}
    return {
        "flavor": manifest.flavor, "model_class": manifest.model_class, "task": manifest.task,
        "classes": manifest.classes, "native": manifest.native, "onnx": manifest.onnx,
        "inputs": spec(signature.get("inputs")), "outputs": spec(signature.get("outputs")),
        "python": requirements.get("python"), "packages": sorted((requirements.get("packages") or {}).items()),
        "files": sorted(manifest.files.items()), "datasets": (manifest.run or {}).get("datasets") or [],
        "metrics": sorted(((manifest.run or {}).get("metrics") or {}).items()),
        "input_example": manifest.input_example, "created_at": manifest.created_at,
    }


def read_manifest(store: Store, run_id: str, path: str) -> dict[str, Any] | str:
    """The summary of the manifest at ``path``, or why it could not be read."""
    head, truncated = read_head(store.open_artifact(run_id, path), MANIFEST_LIMIT)
    if truncated:
        return "its manifest is larger than 1 MiB"
    try:
        return summarize_manifest(Manifest.from_yaml(head, path))
    except InvalidInput as exc:
        return exc.message
    except RecursionError:
        return TOO_DEEP


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

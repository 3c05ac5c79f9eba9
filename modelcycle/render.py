"""Presentation of plain data for the CLI: rich tables, JSON and CSV. No calculation here."""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from enum import Enum
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Control characters in stored names and values (an escape sequence can clear or retitle the
# terminal; U+202E reverses the text after it) are printed as visible pictures: ESC as ␛.
_PICTURES = {**{c: 0x2400 + c for c in range(0x20) if c not in (0x09, 0x0A)}, 0x7F: 0x2421,
             **dict.fromkeys(range(0x80, 0xA0), 0xFFFD),
             **dict.fromkeys([*range(0x202A, 0x202F), *range(0x2066, 0x206A)], 0xFFFD)}


def printable(text: str) -> str:
    """The text with control characters replaced, one for one, by visible stand-ins."""
    return text.translate(_PICTURES)


class _Console(Console):
    """A console that prints str and Text with `printable`; tables build their cells with it."""

    def print(self, *objects, **kwargs) -> None:
        safe = []
        for o in objects:
            if isinstance(o, str):
                o = printable(o)
            elif isinstance(o, Text):
                o = o.copy()
                o.plain = printable(o.plain)  # same length: the styles stay where they were
            safe.append(o)
        super().print(*safe, **kwargs)


# Piped output is not cut at 80 columns: ids and filters must stay whole to be copied.
# COLUMNS, when set, is the width either way.
console = _Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 240)
err_console = _Console(stderr=True, soft_wrap=True)


class Output(str, Enum):
    """The formats emit prints."""

    table = "table"
    json = "json"
    csv = "csv"


OutputOpt = Annotated[Output, typer.Option("--output", "-o", help="table, json or csv.")]


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return ""
    seconds = (end - start) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}min"


def fmt_value(value: object, infinity: str = "inf") -> str:
    """A value as text: floats in at most 6 significant digits, NaN and infinities by name."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return infinity if value > 0 else "-" + infinity
        return f"{value:.6g}"
    return "" if value is None else str(value)


def emit(rows: Sequence[dict], columns: Sequence[str], output: str, title: str | None = None,
         styles: dict[str, str] | None = None) -> None:
    """Print rows as a rich table, JSON (a list of objects) or CSV. The title, column names
    and values are shown as they are, never read as console markup."""
    if output == "json":
        print(orjson.dumps([{c: _json_safe(r.get(c)) for c in columns} for r in rows],
                           option=orjson.OPT_INDENT_2).decode())
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([fmt_value(r.get(c)) for c in columns])
        print(buffer.getvalue(), end="")
    else:
        table = Table(title=Text(printable(title)) if title is not None else None, header_style="bold")
        for c in columns:
            table.add_column(Text(printable(c)), style=(styles or {}).get(c), no_wrap=c in ("run_id", "id"))
        for r in rows:
            table.add_row(*(Text(printable(fmt_value(r.get(c)))) for c in columns))
        console.print(table)


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return fmt_value(value)
    return value

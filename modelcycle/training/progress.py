"""A progress bar for long work: shown on an interactive terminal (or when asked), never in a
pipe, a log file or a test."""

from __future__ import annotations

import sys
import time


def wanted(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())


class Bar:
    """``total`` steps (None: unknown, e.g. a timeout alone); ``update(done, note)``."""

    def __init__(self, description: str, total: int | None, enabled: bool, timeout: float | None = None):
        self.enabled = enabled
        self._progress = None
        self._timeout = timeout
        self._started = time.monotonic()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[note]}")]
        self._progress = Progress(*columns, console=Console(stderr=True), transient=False)
        self._task = self._progress.add_task(description, total=total, note="")

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def update(self, done: int, note: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=done, note=note)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

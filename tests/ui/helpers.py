"""What the browser tests share besides fixtures: screenshots, and the console log of a page."""

from __future__ import annotations

import os
import re
from pathlib import Path

PLAYWRIGHT_MISSING = "the browser tests need Playwright: pip install -e '.[test]'"
CHROMIUM_MISSING = "the browser tests need Debian's chromium on PATH: apt-get install -y chromium (.ci/run installs it)"


def shot(page, name: str) -> Path | None:
    """A PNG of the page's viewport at $MODELCYCLE_SCREENSHOTS/<name>.png when that variable is set
    (the README's screenshots come from here); nothing otherwise."""
    folder = os.environ.get("MODELCYCLE_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


class ConsoleLog:
    """The console errors and uncaught exceptions of the pages of one test. A test that provokes
    an error on purpose (a 400 page logs "Failed to load resource") allows it by pattern."""

    def __init__(self):
        self.errors: list[str] = []
        self._allowed: list[re.Pattern] = []

    def watch(self, page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught {error.name}: {error.message}\n"
                                                              f"{error.stack or ''}".rstrip()))

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        where = message.location or {}
        origin = f" ({where.get('url')}:{where.get('lineNumber')})" if where.get("url") else ""
        self.errors.append(f"console.error{origin}: {message.text}")

    def allow(self, pattern: str) -> None:
        """Errors matching ``pattern`` (a regular expression, searched) do not fail the test."""
        self._allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self._allowed)]

    def clear(self) -> None:
        self.errors.clear()

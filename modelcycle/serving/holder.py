"""The model a server answers with, and the watcher that swaps it when its reference moves.

The hot path reads ``holder.current`` (one attribute read, no lock). The watcher thread resolves
the reference in the store every ``refresh_interval_s``; when it names another version, the new
version is loaded and warmed up beside the old one, swapped in, and the old one dropped. A load
that fails leaves the old version serving and is reported in ``status``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelcycle.exceptions import InvalidInput, ModelcycleError

log = logging.getLogger("modelcycle.serving")

RETRY_FAILED_LOAD_S = 60.0  # a version that failed to load is tried again after this, not on every look


@dataclass(frozen=True)
class Ref:
    """What ``modelcycle serve REF`` names: a registry reference that can move (``fraud@production``,
    ``fraud@champion``, ``fraud/4``, ``models:/...``) or a fixed URI (``runs:/...``, a folder)."""

    text: str
    uri: str
    name: str
    movable: bool

    @classmethod
    def parse(cls, text: str) -> Ref:
        from pathlib import Path

        from modelcycle.models.uris import parse_ref
        from modelcycle.store.validation import is_version_text

        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("Name the model to serve, e.g. `modelcycle serve fraud@production`, "
                               "`fraud/4`, `runs:/<run_id>/model` or a model folder.")
        if text.startswith("runs:/"):
            run_id, _, path = text[len("runs:/"):].partition("/")
            return cls(text, text, (path or "model").rsplit("/", 1)[-1], movable=False)
        if text.startswith("file://") or Path(text).is_dir():
            folder = Path(text[len("file://"):] if text.startswith("file://") else text)
            return cls(text, text, folder.resolve().name or "model", movable=False)
        name, selector = parse_ref(text)
        # A version number never moves; an alias, a stage or "latest" does.
        fixed = is_version_text(selector)
        return cls(text, f"models:/{name}/{selector}" if fixed else f"models:/{name}@{selector}",
                   name, movable=not fixed)


class ModelHolder:
    """The current ``ServedModel`` of one reference, and what the watcher last saw."""

    def __init__(self, ref: Ref, load: Callable[[str], object], resolve: Callable[[], int | None] | None = None,
                 refresh_interval_s: float = 5.0, on_swap: Callable[[object, object | None], None] | None = None):
        self.ref = ref
        self._load = load  # uri -> ServedModel, warmed up
        self._resolve = resolve  # -> the version the reference names now (None: fixed)
        self.refresh_interval_s = refresh_interval_s
        self._on_swap = on_swap
        self.current = None
        self.last_check: float | None = None
        self.last_error: str | None = None
        self._failed: tuple[int | None, float] | None = None  # (version, when) of the last failed load
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.current is not None

    @property
    def status(self) -> dict:
        current = self.current
        return {
            "ref": self.ref.text,
            "ready": current is not None,
            "version": None if current is None else current.version,
            "backend": None if current is None else current.backend,
            "loaded_at": None if current is None else current.loaded_at,
            "last_check": self.last_check,
            "last_error": self.last_error,
        }

    def load_initial(self) -> None:
        """Load what the reference names now; raises if it cannot (the server does not start)."""
        version = self._resolve() if self._resolve is not None else None
        self._swap(self._load(self._uri_of(version)))
        self.last_check = time.time()

    def _uri_of(self, version: int | None) -> str:
        return self.ref.uri if version is None else f"models:/{self.ref.name}/{version}"

    def _swap(self, new) -> None:
        old, self.current = self.current, new
        if self._on_swap is not None:
            self._on_swap(new, old)
        if old is not None:
            log.info("serving %s version %s (was %s)", self.ref.text, new.version, old.version)

    def check(self) -> bool:
        """One look at the store: swap if the reference names another version. True if swapped."""
        if self._resolve is None:
            return False
        version = None
        try:
            version = self._resolve()
            self.last_check = time.time()
            current = self.current
            if current is not None and version == current.version:
                self.last_error = None
                return False
            if self._failed is not None and self._failed[0] == version \
                    and time.monotonic() - self._failed[1] < RETRY_FAILED_LOAD_S:
                return False
            started = time.perf_counter()
            self._swap(self._load(self._uri_of(version)))
            self.last_error = self._failed = None
            log.info("loaded %s version %s in %.2f s", self.ref.text, version, time.perf_counter() - started)
            return True
        except Exception as exc:  # a broken model must not stop the server: the old one keeps serving
            message = exc.message if isinstance(exc, ModelcycleError) else str(exc)
            self.last_error = f"{type(exc).__name__}: {message}"
            self._failed = (version, time.monotonic())
        log.warning("keeping version %s of %s: %s", getattr(self.current, "version", None), self.ref.text,
                    self.last_error)
        return False

    def start_watching(self) -> None:
        if self._resolve is None or not self.ref.movable or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="modelcycle-model-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.refresh_interval_s):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def store_resolver(ref: Ref, store) -> Callable[[], int | None] | None:
    """A function giving the version ``ref`` names now, read from ``store``; None for fixed URIs."""
    if not ref.uri.startswith("models:/"):
        return None
    from modelcycle.models.uris import resolve_version

    return lambda: resolve_version(store, ref.uri).version

"""The metadata store: one interface (``Store``), a SQL implementation and an HTTP client."""

from __future__ import annotations

import threading

from modelcycle import config
from modelcycle.store.base import Store

__all__ = ["Store", "open_store", "clear_store_cache"]

_lock = threading.Lock()
_stores: dict[tuple[str, str], Store] = {}


def open_store(tracking_uri: str | None = None, artifact_uri: str | None = None) -> Store:
    """The store for a tracking URI: http(s):// is a server, anything else a database URL.
    Opened once per process and URI pair (migrations run on first open)."""
    tracking_uri = tracking_uri or config.tracking_uri()
    artifact_uri = artifact_uri or config.artifact_uri()
    key = (tracking_uri, artifact_uri)
    with _lock:
        store = _stores.get(key)
        if store is None:
            if tracking_uri.startswith(("http://", "https://")):
                from modelcycle.store.rest import RestStore

                store = RestStore(tracking_uri)
            else:
                from modelcycle.store.sql import SqlStore

                store = SqlStore(tracking_uri, artifact_uri)
            _stores[key] = store
        return store


def clear_store_cache() -> None:
    with _lock:
        for store in _stores.values():
            store.close()
        _stores.clear()

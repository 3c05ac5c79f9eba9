"""Batch scoring on a Dask cluster: a worker plugin that loads the model once per worker, and
the task that scores one chunk with it. Imported only when a cluster is used."""

from __future__ import annotations

import os
import uuid
from collections import Counter

import pyarrow as pa
from distributed import WorkerPlugin, get_worker

from modelcycle.serving import batch


class ModelOnWorker(WorkerPlugin):
    """A Dask worker plugin that loads the model once when a worker joins; tasks then score
    with it."""

    name_prefix = "modelcycle-model-"

    def __init__(self, uri: str, backend: str, tracking_uri: str, artifact_uri: str, keep: list[str] | None,
                 typed_output: bool = True, every_bad_row: bool = False):
        self.uri, self.backend, self.tracking_uri, self.artifact_uri = uri, backend, tracking_uri, artifact_uri
        self.keep, self.typed_output, self.every_bad_row = keep, typed_output, every_bad_row
        self.name = f"{self.name_prefix}{uuid.uuid4().hex[:12]}"
        self.scorer: batch._Scorer | None = None

    def setup(self, worker=None) -> None:
        from modelcycle.store import open_store

        nthreads = getattr(worker, "nthreads", None) or 1
        store = open_store(self.tracking_uri, self.artifact_uri)
        loaded = batch._load(self.uri, self.backend, store, threads=max(1, (os.cpu_count() or 1) // nthreads))
        self.scorer = batch._Scorer(loaded.served, self.keep, loaded.forest)
        self.scorer.typed_output, self.scorer.every_bad_row = self.typed_output, self.every_bad_row
        _LOADS[self.uri] += 1

    def teardown(self, worker=None) -> None:
        self.scorer = None


def score_task(plugin_name: str, table: pa.Table, offset: int) -> batch._Scored:
    plugin = get_worker().plugins[plugin_name]
    return plugin.scorer.score(table, offset)


_LOADS: Counter = Counter()  # model URI -> loads by this (worker) process


def _loads_here() -> dict[str, int]:
    return dict(_LOADS)


def worker_model_loads(client) -> dict[str, dict[str, int]]:
    """{worker address: {model URI: times loaded}}: how often each worker loaded each model."""
    return client.run(_loads_here)

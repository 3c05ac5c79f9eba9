"""The model server's Prometheus metrics, correct across worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment before this module is first imported
(``modelcycle serve --workers N`` sets it), every worker writes its values to files in that
folder and ``render`` sums them, so a scrape that lands on any worker sees the whole server.
Gauges of live state (requests in flight, models loaded, the log's queue) count live workers
only: call ``mark_process_dead(pid)`` when a worker exits.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)

REQUESTS = Counter("modelcycle_serving_requests", "Requests answered, by model, version, endpoint and status.",
                   ["model", "version", "endpoint", "status"])
LATENCY = Histogram("modelcycle_serving_request_duration_seconds",
                    "Time from a request's arrival to its response, by model, version and endpoint.",
                    ["model", "version", "endpoint"], buckets=LATENCY_BUCKETS)
BATCH_ROWS = Histogram("modelcycle_serving_batch_rows", "Rows per predict call (a micro-batch of requests).",
                       ["model", "version"], buckets=BATCH_BUCKETS)
BATCH_REQUESTS = Histogram("modelcycle_serving_batch_requests", "Requests coalesced into one predict call.",
                           ["model", "version"], buckets=BATCH_BUCKETS)
IN_FLIGHT = Gauge("modelcycle_serving_requests_in_flight", "Requests received and not yet answered.",
                  multiprocess_mode="livesum")
MODEL_LOADED = Gauge("modelcycle_serving_model_loaded",
                     "Worker processes serving this version (1 per worker while it is loaded).",
                     ["model", "version", "backend"], multiprocess_mode="livesum")
MODEL_LOAD_SECONDS = Gauge("modelcycle_serving_model_load_seconds",
                           "Seconds the version took to load and warm up.", ["model", "version"],
                           multiprocess_mode="livemax")
LOG_QUEUE_DEPTH = Gauge("modelcycle_prediction_log_queue_depth",
                        "Prediction-log records waiting for the background writer.", multiprocess_mode="livesum")
LOG_DROPPED = Counter("modelcycle_prediction_log_dropped", "Prediction-log records dropped because the queue was full.")
LOG_WRITTEN = Counter("modelcycle_prediction_log_written", "Prediction-log rows written to segments.")

_requests: dict[tuple, tuple] = {}  # label values -> (counter child, histogram child): labels() takes a lock
_batches: dict[tuple, tuple] = {}


def request_done(model: str, version: str, endpoint: str, status: int, seconds: float) -> None:
    """One answered request: counted by status, its latency observed."""
    key = (model, version, endpoint, status)
    children = _requests.get(key)
    if children is None:
        children = _requests[key] = (REQUESTS.labels(model, version, endpoint, str(status)),
                                     LATENCY.labels(model, version, endpoint))
    children[0].inc()
    children[1].observe(seconds)


def batch(model: str, version: str, rows: int, requests: int) -> None:
    key = (model, version)
    children = _batches.get(key)
    if children is None:
        children = _batches[key] = (BATCH_ROWS.labels(model, version), BATCH_REQUESTS.labels(model, version))
    children[0].observe(rows)
    children[1].observe(requests)


def model_loaded(model: str, version: str, backend: str, load_seconds: float) -> None:
    MODEL_LOADED.labels(model, version, backend).set(1)
    MODEL_LOAD_SECONDS.labels(model, version).set(load_seconds)


def model_unloaded(model: str, version: str, backend: str) -> None:
    MODEL_LOADED.labels(model, version, backend).set(0)


def log_queue_depth(n: int) -> None:
    """The prediction log's queue holds ``n`` records now (this worker)."""
    LOG_QUEUE_DEPTH.set(n)


def log_dropped(n: int = 1) -> None:
    """``n`` prediction-log records were dropped (queue full)."""
    LOG_DROPPED.inc(n)


def log_written(rows: int) -> None:
    """``rows`` prediction-log rows reached a segment."""
    LOG_WRITTEN.inc(rows)


def render() -> tuple[bytes, str]:
    """The Prometheus text exposition of every worker's metrics, and its content type."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Forget the live gauges of an exited worker (multiprocess mode)."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)

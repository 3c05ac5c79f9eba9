"""The rollout's Prometheus metrics, on the model server's /metrics beside serving's: the shadow
arm's copies never pass through the request path, so they are counted here."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from modelcycle.serving.metrics import LATENCY_BUCKETS

SHADOW_REQUESTS = Counter("modelcycle_rollout_shadow_requests",
                          "Copies of requests answered by a deployment's shadow arm, by model, version and status "
                          "(never returned to the caller).", ["model", "version", "status"])
SHADOW_LATENCY = Histogram("modelcycle_rollout_shadow_duration_seconds",
                           "Time the shadow arm took to answer a copy, by model and version.", ["model", "version"],
                           buckets=LATENCY_BUCKETS)
SHADOW_SKIPPED = Counter("modelcycle_rollout_shadow_skipped",
                         "Copies not sent to the shadow arm because as many as it may have were in flight.",
                         ["model"])


def shadow_done(model: str, version: str, status: int, seconds: float) -> None:
    SHADOW_REQUESTS.labels(model, version, str(status)).inc()
    SHADOW_LATENCY.labels(model, version).observe(seconds)


def shadow_skipped(model: str) -> None:
    SHADOW_SKIPPED.labels(model).inc()

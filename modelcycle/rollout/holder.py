"""The models of a deployment in one server worker, and the arm of each request.

``DeploymentHolder`` has the duck type of serving's ModelHolder (``current``, ``ready``,
``status``, ``load_initial``, ``start_watching``, ``stop``) plus ``route``, which the
InferenceService calls per request. Per request there is no store access: the arm comes from the
Router built at the last refresh, the counts go to in-memory counters. A background thread
refreshes the deployment from the store once per tick, loads and warms the versions its arms
name, writes the counters of the tick to deployment_stats, and, in the worker that holds the
deployment's lease, runs the analysis (rollout.analysis.Leader).
"""

from __future__ import annotations

import bisect
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from modelcycle.exceptions import ModelcycleError, NotFound
from modelcycle.rollout import metrics
from modelcycle.rollout.router import Router
from modelcycle.rollout.strategies import setting, text_setting
from modelcycle.serving.app import Routed
from modelcycle.store.clock import now_ms
from modelcycle.store.entities import LATENCY_BOUNDS_MS, ArmStats, Deployment

log = logging.getLogger("modelcycle.rollout")

MAX_SHADOW_IN_FLIGHT = 32  # past this, shadow copies are skipped rather than queued behind callers


@dataclass(frozen=True)
class _State:
    deployment: Deployment
    router: Router
    models: dict[str, object]  # arm -> ServedModel
    stable: object | None
    fallback: bool
    sticky_key: str | None
    shadow: object | None
    shadow_share: float
    shadow_timeout_s: float


@dataclass
class _Counter:
    version: int | None
    requests: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS_MS) + 1))


class ArmRouted(Routed):
    """A request's arm in a deployment: counts it, answers with stable when the candidate fails
    (with fallback), and sends a copy to the shadow arm off the caller's path."""

    __slots__ = ("holder", "state", "fell_back")

    def __init__(self, model, arm: str, holder: DeploymentHolder, state: _State):
        self.model, self.arm, self.holder, self.state, self.fell_back = model, arm, holder, state, False

    async def predict(self, service, inputs, request_id: str | None = None):
        model, state = self.model, self.state
        checked = model.check(inputs)  # a bad request is the caller's, no arm's failure
        started = perf_counter()
        try:
            checked, outputs = await service.predict(model, checked, checked=True)
        except Exception as exc:
            self.holder.observe(self.arm, model.version, perf_counter() - started, True)
            stable = state.stable
            if not state.fallback or stable is None or stable is model:
                if isinstance(exc, ModelcycleError):
                    raise
                raise _failed(model, exc) from exc
            self.model, self.arm, self.fell_back = stable, "stable", True
            started = perf_counter()
            try:
                checked, outputs = await service.predict(stable, inputs)
            except ModelcycleError:
                raise
            except Exception as again:
                raise _failed(stable, again) from again
        self.holder.observe(self.arm, self.model.version, perf_counter() - started, False)
        if state.shadow is not None and random.random() * 100 < state.shadow_share:
            self.holder.shadow(service, state, inputs, request_id)
        return checked, outputs


def _failed(model, exc: Exception) -> ModelcycleError:
    """An arm's unexpected failure as a 500 of the request's own, so that the response, /metrics
    and the prediction log name the version that failed (the server's catch-all would name the
    deployment's stable version, and count nothing)."""
    log.error("version %s of %r failed a request", model.version, model.name, exc_info=exc)
    return ModelcycleError(f"Internal error ({type(exc).__name__}) in version {model.version} of {model.name!r}; "
                           "see the server log.")


def _key_text(value) -> str:
    """A sticky key as the header would carry it: 7 and 7.0 from a number field are "7", text
    fields as they are (UTF-8 bytes of a V2 BYTES input decoded)."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if hasattr(value, "item"):
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


class DeploymentHolder:
    def __init__(self, name: str, store, load: Callable[[str], object], refresh_interval_s: float = 5.0,
                 worker: str | None = None, lead: bool = True, log_predictions=None):
        self.name = name
        self.store = store
        self._load = load  # uri -> ServedModel, warmed up
        self.refresh_interval_s = refresh_interval_s
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.lead = lead
        self.prediction_log = log_predictions
        self.current = None
        self.state: _State | None = None
        self.last_check: float | None = None
        self.last_error: str | None = None
        self._loaded: dict[int, object] = {}  # version -> ServedModel
        self._retired: dict[int, float] = {}  # version -> when it left every arm
        self._counts: dict[str, _Counter] = {}
        self._window_start = now_ms()
        self._shadows_in_flight = 0
        self.shadows_skipped = 0
        self._shadow_pool = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leader = None
        if lead:
            from modelcycle.rollout.analysis import Leader

            self.leader = Leader(store, name, self.worker, healthy=self._healthy)

    # ------------------------------------------------------------------ the hot path
    @property
    def ready(self) -> bool:
        return self.current is not None

    def route(self, model, inputs, key: str | None) -> Routed:
        state = self.state
        if state is None:
            return Routed(model)
        if key is None and state.sticky_key is not None and isinstance(inputs, dict):
            values = inputs.get(state.sticky_key)
            if values is not None and len(values):
                key = _key_text(values[0])  # a request's rows go to one arm: the first row's
        arm = state.router.pick(key)
        return ArmRouted(state.models[arm], arm, self, state)

    def observe(self, arm: str, version: int | None, seconds: float, error: bool) -> None:
        place = bisect.bisect_left(LATENCY_BOUNDS_MS, seconds * 1000.0)
        with self._lock:  # the shadow's thread counts too, and flush swaps the counters
            counter = self._counts.get(arm)
            if counter is None:
                counter = self._counts[arm] = _Counter(version)
            counter.requests += 1
            counter.errors += error
            counter.latency[place] += 1

    def shadow(self, service, state: _State, inputs, request_id: str | None) -> None:
        """A copy of the request for the shadow arm, predicted on a thread of its own: the
        callers' predictions never queue behind it, and past MAX_SHADOW_IN_FLIGHT copies are
        skipped, so a slow shadow costs callers no time and piles nothing up."""
        with self._lock:
            skip = self._shadows_in_flight >= MAX_SHADOW_IN_FLIGHT
            if skip:
                self.shadows_skipped += 1
            else:
                self._shadows_in_flight += 1
        if skip:
            metrics.shadow_skipped(state.shadow.name)
            return
        if self._shadow_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="modelcycle-shadow")
        self._shadow_pool.submit(self._shadow, service.log, state, inputs, request_id)

    def _shadow(self, prediction_log, state: _State, inputs, request_id: str | None) -> None:
        model, started, status, checked, outputs = state.shadow, perf_counter(), 200, None, None
        try:
            checked = model.check(inputs)
            outputs = model.predict(checked)
        except Exception as exc:  # never reaches the caller: counted and logged as the shadow's
            status = exc.http_status if isinstance(exc, ModelcycleError) else 500
        finally:
            with self._lock:
                self._shadows_in_flight -= 1
        seconds = perf_counter() - started
        if status == 200 and seconds > state.shadow_timeout_s:
            status = 504  # as the caller's request timeout would have answered
        self.observe("shadow", model.version, seconds, status >= 500 or status == 400)
        metrics.shadow_done(model.name, model.version_text, status, seconds)
        if prediction_log is not None:
            try:
                prediction_log.log(request_id or "", now_ms(), model.name, model.version, "shadow", status,
                                   seconds * 1000.0, checked, outputs, arm="shadow")
            except Exception:
                pass

    # ------------------------------------------------------------------ the background
    @property
    def status(self) -> dict:
        state, current = self.state, self.current
        d = state.deployment if state else None
        return {"ref": f"deployment:{self.name}", "ready": current is not None,
                "version": None if current is None else current.version,
                "backend": None if current is None else current.backend,
                "loaded_at": None if current is None else current.loaded_at,
                "arms": None if d is None else {a: v for a, v in d.arms.items()},
                "shares": None if d is None else dict(d.shares), "revision": None if d is None else d.revision,
                "last_check": self.last_check, "last_error": self.last_error}

    def load_initial(self) -> None:
        self._apply(self.store.get_deployment(self.name))
        self.last_check = time.time()

    def _model(self, version: int):
        model = self._loaded.get(version)
        if model is None:
            model = self._load(f"models:/{self.state_model_name}/{version}")
            self._loaded[version] = model
        self._retired.pop(version, None)
        return model

    def _apply(self, d: Deployment) -> None:
        self.state_model_name = d.model_name
        models = {}
        for arm, version in d.arms.items():
            try:
                models[arm] = self._model(version)
            except NotFound:
                if d.shares.get(arm, 0) > 0 or (arm == "shadow" and d.state == "active"):
                    raise  # an arm that takes traffic: keep serving the state before
                log.warning("deployment %s: arm %s (version %s) is not served: its version is gone",
                            self.name, arm, version)
        sticky_key = text_setting(d, "sticky_key")
        for model in models.values():  # the codecs keep the key's field for route(), which reads it
            model.route_columns = frozenset([sticky_key] if sticky_key else [])
        serving = {arm: share for arm, share in d.shares.items() if arm in models and arm != "shadow"}
        stable = models.get("stable") or models.get(next(iter(d.arms)))
        self.state = _State(
            deployment=d, router=Router(serving or {"stable": 100.0}, text_setting(d, "salt") or d.name),
            models=models, stable=stable, fallback=d.config.get("fallback") is True,
            sticky_key=sticky_key, shadow=models.get("shadow") if d.state == "active" else None,
            shadow_share=setting(d, "shadow_share", 0.0, 0.0, 100.0),
            shadow_timeout_s=setting(d, "shadow_timeout_s", 1.0, 0.001))
        self.current = stable
        self._retire()

    def _retire(self) -> None:
        """Versions no arm names stay loaded for the grace period (a quick switch back), then go."""
        d = self.state.deployment
        now, grace = time.monotonic(), setting(d, "grace_s", 60.0)
        in_use = set(d.arms.values())
        for version in list(self._loaded):
            if version in in_use:
                continue
            since = self._retired.setdefault(version, now)
            if now - since > grace:  # kept loaded for a quick switch back, then dropped
                self._loaded.pop(version)
                self._retired.pop(version)

    def _healthy(self, arm: str) -> bool:
        state = self.state
        model = state.models.get(arm) if state else None
        if model is None:
            return False
        try:
            model.warm_up()
            return True
        except Exception:
            return False

    @property
    def tick_s(self) -> float:
        state = self.state
        interval = setting(state.deployment, "interval_s", 60.0, 0.1) if state else 60.0
        return max(0.1, min(self.refresh_interval_s, interval / 4))

    def check(self) -> None:
        """One tick: refresh, flush the counters, lead if this worker holds the lease."""
        try:
            d = self.store.get_deployment(self.name)
            if self.state is None or d.revision != self.state.deployment.revision:
                self._switch(d)
            else:
                self._retire()
            self.last_check = time.time()
            self.flush()
            if self.leader is not None:
                written = self.leader.tick(d)
                if written is not None and written.revision != d.revision:
                    self._switch(written)
            self.last_error = None
        except Exception as exc:  # the store may be away for a while: keep serving what we have
            message = exc.message if isinstance(exc, ModelcycleError) else str(exc)
            self.last_error = f"{type(exc).__name__}: {message}"
            log.warning("deployment %s: %s", self.name, self.last_error)

    def _switch(self, d: Deployment) -> None:
        """Route by ``d`` from now on. What was counted until now was routed by the state before,
        so when ``d``'s step began after this window did, the window ends at the step's start:
        a step's analysis (the windows ending after its start) never counts traffic served at
        the shares of the step before, which this worker kept serving until it looked again."""
        previous = self.state
        self._apply(d)
        if previous is not None and previous.deployment.step_started_at != d.step_started_at:
            self.flush(until=d.step_started_at)

    def flush(self, until: int | None = None) -> None:
        """Write the counts of the window since the last flush; ``until``: end it there if that
        is inside it (the counts were routed before a step that began then)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            # Each flush gets a window of its own, even two in one millisecond: the store keys a
            # flush by its start, so that a retried flush replaces itself instead of counting twice.
            start, end = self._window_start, max(now_ms(), self._window_start + 1)
            if until is not None and start < until < end:
                end = until
            self._window_start = end
        stats = [ArmStats(arm, c.version, c.requests, c.errors, tuple(c.latency)) for arm, c in counts.items()
                 if c.requests]
        if stats:
            self.store.record_deployment_stats(self.name, self.worker, start, end, stats)

    def start_watching(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._watch, name="modelcycle-deployment", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.tick_s):
            self.check()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=False, cancel_futures=True)
        try:
            self.flush()
        except Exception:
            pass
        if self.leader is not None:
            self.leader.release()

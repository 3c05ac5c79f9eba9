"""The model server's ASGI app (Starlette): Open Inference Protocol V2 over REST, the MLflow
scoring protocol, health checks, /metrics, and /docs with /openapi.json from the signature.

Every response carries ``x-modelcycle-model-version`` (the version that answered) and
``x-request-id``. Errors are JSON, never HTML: V2 endpoints answer ``{"error": message, "code":
CODE}`` (the V2 error body, which V2 clients show), the others ``{"error": CODE, "message": ...}``.
``InferenceService`` is what every protocol front end calls: these handlers and the gRPC servicer.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import modelcycle
from modelcycle.exceptions import InvalidInput, ModelcycleError, NotFound
from modelcycle.serving import codecs, metrics
from modelcycle.serving.batching import make_batcher
from modelcycle.serving.settings import ServingSettings
from modelcycle.store.clock import now_ms

if TYPE_CHECKING:
    from modelcycle.serving.runtime import Inputs, Outputs, ServedModel

logger = logging.getLogger("modelcycle.serving")

VERSION_HEADER = "x-modelcycle-model-version"
REQUEST_ID_HEADER = "x-request-id"
KEY_HEADER = "x-modelcycle-key"  # the sticky key of a deployment's routing (A/B arms)
MAX_REQUEST_ID = 256
PREDICTING_ENDPOINTS = frozenset({"v2_infer", "invocations", "grpc"})


class ModelNotReady(ModelcycleError):
    code = "NOT_READY"
    http_status = 503


class PayloadTooLarge(ModelcycleError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class FeedbackQueueFull(ModelcycleError):
    code = "QUEUE_FULL"
    http_status = 503


class RequestTimeout(ModelcycleError):
    code = "TIMEOUT"
    http_status = 504


class StaticHolder:
    """A holder of one ServedModel that never changes (no watcher): for tests, the quickstart
    and anything else that serves a model it loaded itself."""

    def __init__(self, model: ServedModel):
        self.current = model

    @property
    def ready(self) -> bool:
        return self.current is not None

    @property
    def status(self) -> dict:
        model = self.current
        return {"ref": model.uri, "ready": True, "version": model.version, "backend": model.backend,
                "loaded_at": model.loaded_at, "last_check": None, "last_error": None}


class Routed:
    """The model a request goes to; a deployment's holder routes to arms (rollout.holder.ArmRouted)."""

    __slots__ = ("model", "arm")

    def __init__(self, model: ServedModel, arm: str | None = None):
        self.model, self.arm = model, arm

    async def predict(self, service: InferenceService, inputs: Inputs, request_id: str | None = None):
        return await service.predict(self.model, inputs)


@dataclass
class InferResult:
    model_name: str
    model_version: str
    request_id: str
    outputs: Outputs  # only the requested outputs


_ID_PREFIX = os.urandom(8).hex()
_ids = itertools.count(int.from_bytes(os.urandom(4), "big"))


def _new_id_prefix() -> None:  # a forked worker numbers its requests apart from its parent
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_id_prefix)


def new_request_id() -> str:
    """32 hex digits, unique across processes: 64 random bits of this process, then a counter
    (a tenth of the cost of uuid4)."""
    return f"{_ID_PREFIX}{next(_ids) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def _checked_request_id(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_REQUEST_ID or not value.isprintable():
        raise InvalidInput(f"{where} must be printable text of at most {MAX_REQUEST_ID} characters.")
    return value


def _observe_batch(model: ServedModel, rows: int, requests: int) -> None:
    metrics.batch(model.name, model.version_text, rows, requests)


class InferenceService:
    """The model, the batcher, the metrics and the prediction log of one worker, behind the
    calls every front end makes."""

    def __init__(self, holder, settings: ServingSettings | None = None, log=None):
        self.holder = holder
        self.settings = settings or ServingSettings.from_env()
        self.log = log
        self.request_timeout_s = self.settings.request_timeout_s
        self.batcher = make_batcher(lambda: holder.current, self.settings.batching, self.settings.max_batch_size,
                                    self.settings.max_batch_delay_ms, on_batch=_observe_batch)
        self._log_failures = 0
        self._loaded_lock = threading.Lock()
        self._loaded: tuple | None = None  # (name, version, backend) last reported as loaded

    @property
    def ready(self) -> bool:
        return self.holder.current is not None

    def current(self) -> ServedModel:
        model = self.holder.current
        if model is None:
            raise ModelNotReady("The model is still loading; retry in a moment (GET /v2/health/ready says when).")
        if self._loaded is None or self._loaded[3] is not model:
            self._note_loaded(model)
        return model

    def _note_loaded(self, model: ServedModel) -> None:
        with self._loaded_lock:
            if self._loaded is not None and self._loaded[3] is model:
                return
            if self._loaded is not None:
                metrics.model_unloaded(*self._loaded[:3])
            self._loaded = (model.name, model.version_text, model.backend, model)
            metrics.model_loaded(model.name, model.version_text, model.backend, model.load_seconds)

    def model_for(self, name: str, version: str | None = None) -> ServedModel:
        """The current model if it is the one named (and the version, if given), else NotFound."""
        model = self.current()
        if name != model.name:
            raise NotFound(f"No model {name!r} is served here; this server serves {model.name!r} "
                           f"(version {model.version_text}).")
        if version is not None and version != model.version_text:
            raise NotFound(f"Version {version} of {name!r} is not served here; this server serves version "
                           f"{model.version_text}.")
        return model

    def server_metadata(self) -> dict:
        return {"name": "modelcycle", "version": modelcycle.__version__, "extensions": ["binary_tensor_data"]}

    def model_metadata(self, name: str, version: str | None = None) -> dict:
        return codecs.model_metadata(self.model_for(name, version), self.holder.status)

    def route(self, model: ServedModel, inputs: Inputs, key: str | None = None) -> Routed:
        """Where the request goes: ``model``, or the arm a deployment's holder picks."""
        route = getattr(self.holder, "route", None)
        return Routed(model) if route is None else route(model, inputs, key)

    async def predict(self, model: ServedModel, inputs: Inputs, checked: bool = False) -> tuple[Inputs, Outputs]:
        """(checked inputs, outputs) of ``inputs``; InvalidInput for bad ones, RequestTimeout past
        the request timeout (queueing included). ``checked``: ``inputs`` went through model.check."""
        checked = inputs if checked else model.check(inputs)
        try:
            outputs = await self.batcher.submit(checked, model, checked=True, timeout_s=self.request_timeout_s)
        except TimeoutError:
            raise RequestTimeout(f"The prediction did not finish within the request timeout of "
                                 f"{self.request_timeout_s:g} s (MODELCYCLE_SERVE_REQUEST_TIMEOUT_S).") from None
        return checked, outputs

    async def infer(self, model_name: str, model_version: str | None, tensors: list, requested: list[str] | None,
                    request_id: str | None, endpoint: str = "grpc", key: str | None = None) -> InferResult:
        """A V2 inference from decoded tensors ``[(name, datatype, shape, array), ...]`` (the gRPC
        front end); routed (``key``: the sticky key) and recorded in the metrics and the prediction
        log like a REST request."""
        started = perf_counter()
        model, status, checked, outputs, route = None, 200, None, None, None
        given, request_id = request_id, None
        try:
            request_id = _checked_request_id(given, "The request id") or new_request_id()
            model = self.model_for(model_name, model_version)
            arrays = {}
            for name, _datatype, _shape, array in tensors:
                if name in arrays:
                    raise InvalidInput(f"Input {name!r} is given twice.")
                arrays[name] = array
            names = codecs.select_outputs(requested, model)
            inputs = codecs.model_inputs(arrays, model)
            route = self.route(model, inputs, key)
            model = route.model
            checked, outputs = await route.predict(self, inputs, request_id)
            model = route.model  # stable, when it answered for a failed candidate
            return InferResult(model.name, model.version_text, request_id, {n: outputs[n] for n in names})
        except ModelcycleError as exc:
            status = exc.http_status
            raise
        except Exception:
            status = 500
            raise
        finally:
            await self.room_in_log()
            self.record(model, endpoint, status, started, request_id or new_request_id(), checked, outputs,
                        route.arm if route is not None else None)

    async def room_in_log(self) -> None:
        """With a prediction log that waits when full (on_full="wait"), wait for room in it
        without blocking the event loop; at once otherwise."""
        log = self.log
        if log is not None and getattr(log, "waits", False):
            await log.room()

    def record(self, model: ServedModel | None, endpoint: str, status: int, started: float, request_id: str | None,
               inputs: Inputs | None = None, outputs: Outputs | None = None, arm: str | None = None) -> None:
        """Count the request, observe its latency and, for predictions, log it."""
        seconds = perf_counter() - started
        if model is None:
            model = self.holder.current
        name = model.name if model is not None else ""
        version = model.version_text if model is not None else "none"
        metrics.request_done(name, version, endpoint, status, seconds)
        if self.log is None or endpoint not in PREDICTING_ENDPOINTS or model is None:
            return
        try:
            self.log.log(request_id or "", now_ms(), name, model.version, endpoint, status,
                         seconds * 1000.0, inputs, outputs, arm=arm)
        except Exception:  # the log never fails a request; say so, but not once per request
            self._log_failures += 1
            if self._log_failures in (1, 10, 100) or self._log_failures % 1000 == 0:
                logger.exception("the prediction log refused a record (%d so far)", self._log_failures)

    def close(self) -> None:
        self.batcher.close()
        with self._loaded_lock:
            if self._loaded is not None:
                metrics.model_unloaded(*self._loaded[:3])
                self._loaded = None


# ---------------------------------------------------------------------- HTTP
_JSON = "application/json"


def expected_error(exc: Exception, where: str) -> ModelcycleError:
    """``exc`` itself when modelcycle raised it on purpose; else, once logged with its traceback, an
    internal error (500) that names its type and sends the reader to the log."""
    if isinstance(exc, ModelcycleError):
        return exc
    logger.error("unhandled error on %s", where, exc_info=exc)
    return ModelcycleError(f"Internal error ({type(exc).__name__}); see the server log.")


def _json(content: Any, status: int, model: ServedModel | None, request_id: str | None = None,
          headers: dict[str, str] | None = None) -> Response:
    return _raw(codecs.dumps(content), status, model, request_id, _JSON, headers)


def _raw(body: bytes, status: int, model: ServedModel | None, request_id: str | None, media_type: str,
         headers: dict[str, str] | None = None) -> Response:
    all_headers = {VERSION_HEADER: model.version_text if model is not None else "none",
                   REQUEST_ID_HEADER: _header_value(request_id) if request_id else new_request_id()}
    if headers:
        all_headers.update(headers)
    return Response(body, status, all_headers, media_type)


def _header_value(text: str) -> str:
    """``text`` as a header carries it: a V2 ``id`` may hold any character, a header only latin-1
    (percent-encoded beyond that, as in URLs)."""
    try:
        text.encode("latin-1")
        return text
    except UnicodeEncodeError:
        from urllib.parse import quote

        return quote(text, safe="")


def _error(exc: ModelcycleError, v2: bool, model, request_id=None, headers=None) -> Response:
    body = {"error": exc.message, "code": exc.code} if v2 else {"error": exc.code, "message": exc.message}
    return _json(body, exc.http_status, model, request_id, headers)


def _header_map(scope) -> dict[str, str]:
    """The request's headers as a plain dict (the first of repeated ones, as Starlette's get
    gives): one pass over them instead of one per header read."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(scope["headers"])}


class _Handlers:
    def __init__(self, service: InferenceService):
        self.service = service
        self.max_body_bytes = service.settings.max_body_bytes
        self._docs: tuple | None = None  # (model, openapi bytes, page bytes)

    async def body(self, request: Request, headers: dict[str, str] | None = None) -> bytes:
        limit = self.max_body_bytes
        length = (headers if headers is not None else request.headers).get("content-length")
        if length is not None:
            if not length.isdigit():
                raise InvalidInput(f"Content-Length must be a number of bytes; got {length!r}.")
            if int(length) > limit:
                raise PayloadTooLarge(f"The body has {int(length)} bytes, over the limit of {limit} "
                                      "(MODELCYCLE_SERVE_MAX_BODY_BYTES); send fewer rows per request.")
        chunks, size = [], 0
        receive = request.receive
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect
                raise InvalidInput("The client went away before sending the whole body.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The body is over the limit of {limit} bytes "
                                      "(MODELCYCLE_SERVE_MAX_BODY_BYTES); send fewer rows per request.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # ------------------------------------------------------------------ predictions
    async def v2_infer(self, request: Request) -> Response:
        return await self._predict(request, "v2_infer", True, self._decode_v2, self._answer_v2)

    async def invocations(self, request: Request) -> Response:
        return await self._predict(request, "invocations", False, self._decode_invocations, self._answer_invocations)

    @staticmethod
    def _decode_v2(headers: dict[str, str], body: bytes, model: ServedModel):
        header_length = headers.get("inference-header-content-length")
        if header_length is not None and not header_length.isdigit():
            raise InvalidInput(f"Inference-Header-Content-Length must be a number; got {header_length!r}.")
        decoded = codecs.decode_v2(body, model, int(header_length) if header_length is not None else None)
        return decoded.inputs, _checked_request_id(decoded.id, "The request's 'id'"), decoded

    @staticmethod
    def _answer_v2(model: ServedModel, request_id: str, outputs: Outputs, decoded) -> Response:
        content, json_length = codecs.encode_v2(model, request_id, outputs, decoded.outputs, decoded.binary_outputs)
        if json_length is None:
            return _raw(content, 200, model, request_id, _JSON)
        return _raw(content, 200, model, request_id, "application/octet-stream",
                    {"inference-header-content-length": str(json_length)})

    @staticmethod
    def _decode_invocations(headers: dict[str, str], body: bytes, model: ServedModel):
        return codecs.decode_invocations(body, headers.get("content-type", ""), model), None, None

    @staticmethod
    def _answer_invocations(model: ServedModel, request_id: str, outputs: Outputs, _context) -> Response:
        return _raw(codecs.encode_predictions(outputs), 200, model, request_id, _JSON)

    async def _predict(self, request: Request, endpoint: str, v2: bool, decode, answer) -> Response:
        """What every predicting endpoint does: the model, the body, ``decode(headers, body,
        model)`` -> (inputs, the body's request id or None, context), the route, the prediction,
        then ``answer(model, request_id, outputs, context)``; errors in the endpoint's error body
        (V2's or MLflow's), and every request counted and logged."""
        started = perf_counter()
        service = self.service
        metrics.IN_FLIGHT.inc()
        model = checked = outputs = request_id = route = None
        try:
            headers = _header_map(request.scope)
            request_id = _checked_request_id(headers.get(REQUEST_ID_HEADER), "The x-request-id header")
            if v2:
                params = request.path_params
                model = service.model_for(params["name"], params.get("version"))
            else:
                model = service.current()
            body = await self.body(request, headers)
            inputs, body_id, context = decode(headers, body, model)
            request_id = request_id or body_id or new_request_id()
            route = service.route(model, inputs, headers.get(KEY_HEADER))
            checked, outputs = await route.predict(service, inputs, request_id)
            model = route.model  # the arm that answered: the stable one, when it answered for a failed candidate
            response = answer(model, request_id, outputs, context)
        except Exception as exc:  # a bug of ours included: answered, counted and logged as a 500
            model = route.model if route is not None else model
            request_id = request_id or new_request_id()
            response = _error(expected_error(exc, f"POST {request.url.path}"), v2, model or service.holder.current,
                              request_id)
        finally:
            metrics.IN_FLIGHT.dec()
        await service.room_in_log()
        service.record(model, endpoint, response.status_code, started, request_id, checked, outputs,
                       route.arm if route is not None else None)
        return response

    async def feedback(self, request: Request) -> Response:
        """Ground truth for earlier predictions, joined to them by request id or key. With a
        prediction log, the labels join its queue and its writer stores them in files of many
        requests each (as it does predictions); without, each body is a file of its own."""
        from modelcycle.serving.feedback import feedback_of_body, write_feedback

        started = perf_counter()
        model = self.service.holder.current
        log = self.service.log
        try:
            body = await self.body(request)
            if model is None:
                raise ModelNotReady("The model is still loading; retry in a moment.")
            name, table = await run_in_threadpool(feedback_of_body, body, model.name, True)
            if hasattr(log, "log_feedback"):
                await self.service.room_in_log()
                if not log.log_feedback(name, table):
                    raise FeedbackQueueFull("The prediction log's queue is full; send the labels again in a moment.")
            else:
                await run_in_threadpool(write_feedback, name, table)
            answer = {"model": name, "recorded": table.num_rows}
            response = _json(answer, 201, model)
        except Exception as exc:
            response = _error(expected_error(exc, "POST /feedback"), False, model)
        self.service.record(model, "feedback", response.status_code, started, None)
        return response

    # ------------------------------------------------------------------ everything else
    def _answer(self, endpoint: str, v2: bool, make) -> Response:
        started = perf_counter()
        model = self.service.holder.current
        try:
            response = make()
        except Exception as exc:
            response = _error(expected_error(exc, endpoint), v2, model)
        self.service.record(model, endpoint, response.status_code, started, None)
        return response

    async def live(self, request: Request) -> Response:
        return self._answer("v2_live", True, lambda: _json({"live": True}, 200, self.service.holder.current))

    async def ready(self, request: Request) -> Response:
        def make():
            model = self.service.current()
            return _json({"ready": True}, 200, model)
        return self._answer("v2_ready", True, make)

    async def server_metadata(self, request: Request) -> Response:
        return self._answer("v2_metadata", True,
                            lambda: _json(self.service.server_metadata(), 200, self.service.holder.current))

    async def model_metadata(self, request: Request) -> Response:
        params = request.path_params

        def make():
            model = self.service.model_for(params["name"], params.get("version"))
            return _json(codecs.model_metadata(model, self.service.holder.status), 200, model)
        return self._answer("v2_model_metadata", True, make)

    async def model_ready(self, request: Request) -> Response:
        params = request.path_params

        def make():
            model = self.service.model_for(params["name"], params.get("version"))
            return _json({"name": model.name, "ready": True}, 200, model)
        return self._answer("v2_model_ready", True, make)

    async def ping(self, request: Request) -> Response:
        def make():
            model = self.service.current()
            return _json({"status": "ok"}, 200, model)
        return self._answer("ping", False, make)

    async def version(self, request: Request) -> Response:
        def make():
            model = self.service.holder.current
            return _json({"version": modelcycle.__version__, "model": model.name if model else None,
                          "model_version": model.version if model else None}, 200, model)
        return self._answer("version", False, make)

    async def metrics(self, request: Request) -> Response:
        started = perf_counter()
        if self.service.ready:
            self.service.current()  # a version swapped in since the last request is reported as loaded
        body, content_type = await run_in_threadpool(metrics.render)
        response = _raw(body, 200, self.service.holder.current, None, content_type)
        self.service.record(None, "metrics", 200, started, None)
        return response

    def _documents(self) -> tuple[bytes, bytes]:
        from modelcycle.serving import openapi

        model = self.service.current()
        if self._docs is None or self._docs[0] is not model:
            spec = openapi.openapi(model)
            self._docs = (model, codecs.dumps(spec), openapi.docs_page(spec).encode())
        return self._docs[1], self._docs[2]

    async def openapi(self, request: Request) -> Response:
        return self._answer("openapi", False,
                            lambda: _raw(self._documents()[0], 200, self.service.holder.current, None, _JSON))

    async def docs(self, request: Request) -> Response:
        return self._answer("docs", False, lambda: _raw(self._documents()[1], 200, self.service.holder.current, None,
                                                        "text/html; charset=utf-8"))


def _hot_params(path: str) -> dict[str, str] | None:
    """The path parameters of ``path`` if it is a V2 infer path, as Starlette's routes would
    match it (``/v2/models/{name}[/versions/{version}]/infer``, no part empty), else None."""
    parts = path.split("/")
    if len(parts) == 5 and parts[1] == "v2" and parts[2] == "models" and parts[4] == "infer" and parts[3]:
        return {"name": parts[3]}
    if (len(parts) == 7 and parts[1] == "v2" and parts[2] == "models" and parts[4] == "versions"
            and parts[6] == "infer" and parts[3] and parts[5]):
        return {"name": parts[3], "version": parts[5]}
    return None


class _ServingApp(Starlette):
    """The serving app: the predicting endpoints go straight to their handlers, past Starlette's
    router and middleware (a fifth of a one-row request's cost); everything else, and the same
    endpoints' OpenAPI, as Starlette routes them."""

    hot_v2 = hot_invocations = unexpected = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            if path == "/invocations":
                handler = self.hot_invocations
            else:
                params = _hot_params(path) if path.startswith("/v2/models/") else None
                handler = self.hot_v2 if params is not None else None
                if params is not None:
                    scope["path_params"] = params
            if handler is not None:
                scope["app"] = self
                request = Request(scope, receive, send)
                try:
                    response = await handler(request)
                except Exception as exc:  # as Starlette's ServerErrorMiddleware would, in our JSON
                    response = await self.unexpected(request, exc)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(holder, settings: ServingSettings | None = None, log=None, lifespan=None,
               routes: list[BaseRoute] | None = None) -> Starlette:
    """The ASGI app serving ``holder.current`` (a ServedModel; ``holder.status`` is a dict shown
    in the model metadata). ``log``: a prediction log with ``.log(...)``, or None. ``lifespan``:
    an async context manager factory run around the app's life (loading, watchers). ``routes``:
    more routes (e.g. POST /feedback), tried after these."""
    service = InferenceService(holder, settings, log)
    h = _Handlers(service)
    table = [
        Route("/v2/models/{name}/infer", h.v2_infer, methods=["POST"]),
        Route("/invocations", h.invocations, methods=["POST"]),
        Route("/feedback", h.feedback, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", h.v2_infer, methods=["POST"]),
        Route("/v2/health/live", h.live, methods=["GET"]),
        Route("/v2/health/ready", h.ready, methods=["GET"]),
        Route("/v2", h.server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", h.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", h.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", h.model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", h.model_ready, methods=["GET"]),
        Route("/ping", h.ping, methods=["GET"]),
        Route("/health", h.ping, methods=["GET"]),
        Route("/version", h.version, methods=["GET"]),
        Route("/metrics", h.metrics, methods=["GET"]),
        Route("/openapi.json", h.openapi, methods=["GET"]),
        Route("/docs", h.docs, methods=["GET"]),
        *(routes or ()),
    ]

    async def http_error(request: Request, exc: HTTPException) -> Response:
        v2 = request.url.path.startswith("/v2")
        model = holder.current
        if exc.status_code == 404:
            error = NotFound(f"There is no endpoint {request.url.path}; see /docs for the endpoints of this server.")
        elif exc.status_code == 405:
            error = InvalidInput(f"{request.method} is not allowed on {request.url.path}; allowed: "
                                 f"{(exc.headers or {}).get('Allow', 'see /docs')}.")
            error.http_status, error.code = 405, "METHOD_NOT_ALLOWED"
        else:
            error = ModelcycleError(str(exc.detail))
            error.http_status, error.code = exc.status_code, "HTTP_ERROR"
        response = _error(error, v2, model, headers=exc.headers)
        service.record(None, "unknown", response.status_code, perf_counter(), None)
        return response

    async def unexpected(request: Request, exc: Exception) -> Response:
        return _error(expected_error(exc, f"{request.method} {request.url.path}"), request.url.path.startswith("/v2"),
                      holder.current)

    @contextlib.asynccontextmanager
    async def life(app):
        try:
            if lifespan is not None:
                async with lifespan(app):
                    yield
            else:
                yield
        finally:
            service.close()

    app = _ServingApp(routes=table, exception_handlers={HTTPException: http_error, Exception: unexpected},
                      lifespan=life)
    app.hot_v2, app.hot_invocations, app.unexpected = h.v2_infer, h.invocations, unexpected
    app.state.service = service
    app.state.holder = holder
    return app


# ---------------------------------------------------------------------- running it
def uvicorn_options() -> dict[str, str]:
    """The fastest HTTP parser and event loop installed (httptools and uvloop: measured ~1.5x
    the requests per second of h11 and asyncio on this app)."""
    options = {"http": "h11", "loop": "asyncio"}
    with contextlib.suppress(ImportError):
        import httptools  # noqa: F401

        options["http"] = "httptools"
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    return options


class ServerThread:
    """The app served by uvicorn in a thread of this process, on ``host:port`` (0: a free port):
    for tests, the quickstart and benchmarks. ``stop()`` ends it."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 60.0):
        import socket

        import uvicorn

        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **uvicorn_options())
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name=f"modelcycle-serve-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The model server did not start on {self.url}.")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(app, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve ``app`` in this process until interrupted (one worker; ``modelcycle serve`` runs several)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, **uvicorn_options())


__all__ = ["InferenceService", "InferResult", "Routed", "ServerThread", "StaticHolder", "create_app", "new_request_id", "serve"]

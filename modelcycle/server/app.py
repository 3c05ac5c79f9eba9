"""The tracking server: a REST API over one SQL store, with OpenAPI at /docs."""

from __future__ import annotations

import logging
import os

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route

import modelcycle
from modelcycle import config
from modelcycle.exceptions import InvalidInput, ModelcycleError
from modelcycle.server import wire
from modelcycle.server.openapi import declare_errors
from modelcycle.server.ui.render import error_page, wants_page
from modelcycle.server.uploads import MAX_FORM_FIELD, file_chunks, spooled
from modelcycle.store.base import DEFAULT_COLUMN_LIMIT
from modelcycle.store.entities import Metric, RunStatus, ViewType
from modelcycle.store.sql import SqlStore
from modelcycle.store.validation import parse_version

log = logging.getLogger("modelcycle.server")


class ORJSONResponse(JSONResponse):
    def render(self, content) -> bytes:
        return orjson.dumps(content)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ORJSONResponse:
    return ORJSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError | ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {err.get('msg')}")
    return "Malformed request: " + "; ".join(problems)


def create_app(store: SqlStore) -> FastAPI:
    app = FastAPI(title="modelcycle", version=modelcycle.__version__,
                  default_response_class=ORJSONResponse, generate_unique_id_function=lambda route: route.name,
                  description="Tracking and registry API: experiments, runs, params, metrics, tags, artifacts, "
                              "datasets, registered models and their versions.")
    app.state.store = store
    declare_errors(app)

    @app.exception_handler(ModelcycleError)
    async def _known(_request: Request, exc: ModelcycleError):
        return _error(exc.http_status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        return _error(400, InvalidInput.code, _describe_validation(exc))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _exc: ClientDisconnect):
        # Not the server's error: the client hung up before the end of its body (an upload
        # broken off). Nothing was stored, and nobody reads this answer.
        log.warning("client went away during %s %s", request.method, request.url.path)
        return _error(400, InvalidInput.code,
                      "The connection closed before the end of the request body; send it again.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404 and wants_page(request):
            return error_page(request, 404, "Not found", f"Nothing is at {request.url.path}.")
        code = "NOT_FOUND" if exc.status_code == 404 else "HTTP_ERROR"
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(sorted(_allowed_methods(app, request)))}
        return _error(exc.status_code, code, str(exc.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "INTERNAL_ERROR", f"Internal error ({type(exc).__name__}); see the server log.")

    @app.get("/api/health", tags=["server"])
    def health():
        return {"status": "ok", "version": modelcycle.__version__}

    # ------------------------------------------------------------------ experiments
    @app.post("/api/experiments", status_code=201, tags=["experiments"], responses=wire.errors(409),
              openapi_extra=wire.links(201, {"experiment_id": "$response.body#/id"}, "get_experiment",
                                       "rename_experiment", "delete_experiment", "restore_experiment",
                                       "set_experiment_tag", create_run={"experiment_id": "$response.body#/id"}))
    def create_experiment(body: wire.CreateExperiment):
        return store.create_experiment(body.name, body.tags).to_dict()

    @app.get("/api/experiments", tags=["experiments"], responses=wire.errors())
    def list_experiments(view: wire.ViewQuery = "active", q: wire.ExperimentQuery = None,
                         max_results: wire.MaxResultsQuery = None, page_token: wire.PageTokenQuery = None):
        """By id, each with its run count and last activity (ms); ``q``: text the names contain, in
        any case; ``max_results`` at a time, the next ones after ``page_token``."""
        page = store.search_experiments(q, ViewType.parse(view), max_results, page_token)
        return {"experiments": [e.to_dict() for e in page.experiments], "next_page_token": page.next_page_token}

    @app.get("/api/experiments/by-name", tags=["experiments"], responses=wire.errors(404))
    def get_experiment_by_name(name: wire.NameQuery):
        return store.get_experiment_by_name(name).to_dict()

    @app.get("/api/experiments/{experiment_id}", tags=["experiments"], responses=wire.errors(404))
    def get_experiment(experiment_id: wire.ExperimentIdPath):
        return store.get_experiment(experiment_id).to_dict()

    @app.patch("/api/experiments/{experiment_id}", tags=["experiments"], responses=wire.errors(404, 409))
    def rename_experiment(experiment_id: wire.ExperimentIdPath, body: wire.RenameExperiment):
        return store.rename_experiment(experiment_id, body.name).to_dict()

    @app.post("/api/experiments/{experiment_id}/delete", status_code=204, tags=["experiments"],
              responses=wire.errors(404))
    def delete_experiment(experiment_id: wire.ExperimentIdPath):
        store.delete_experiment(experiment_id)

    @app.post("/api/experiments/{experiment_id}/restore", status_code=204, tags=["experiments"],
              responses=wire.errors(404))
    def restore_experiment(experiment_id: wire.ExperimentIdPath):
        store.restore_experiment(experiment_id)

    @app.put("/api/experiments/{experiment_id}/tags", status_code=204, tags=["experiments"],
             responses=wire.errors(404))
    def set_experiment_tag(experiment_id: wire.ExperimentIdPath, body: wire.SetTag):
        store.set_experiment_tag(experiment_id, body.key, body.value)

    @app.get("/api/experiments/{experiment_id}/columns", tags=["experiments"], responses=wire.errors(404))
    def experiment_columns(experiment_id: wire.ExperimentIdPath, q: wire.KeyTextQuery = None,
                           limit: wire.ColumnLimitQuery = DEFAULT_COLUMN_LIMIT):
        """The keys of the params, metrics and tags ever logged in the experiment's runs that
        contain ``q``, in any case, sorted; at most ``limit`` of each."""
        return store.experiment_columns(experiment_id, q, limit)

    # ------------------------------------------------------------------ runs
    @app.post("/api/runs", status_code=201, tags=["runs"], responses=wire.errors(404, 409),
              openapi_extra=wire.links(201, {"run_id": "$response.body#/id"}, "get_run", "update_run", "delete_run",
                                       "restore_run", "log_batch", "delete_tag", "metric_history",
                                       "list_artifacts", "upload_artifact", "download_artifact", "link_dataset",
                                       create_model_version={"run_id": "$response.body#/id"}))
    def create_run(body: wire.CreateRun):
        return store.create_run(body.experiment_id, body.name, body.tags, body.parent_id,
                                body.start_time).to_dict()

    @app.post("/api/runs/search", tags=["runs"], responses=wire.errors())
    def search_runs(body: wire.SearchRuns):
        """With ``columns``, each run carries only those params, metrics and tags (and the tags
        mc.user and mc.source.git.commit)."""
        page = store.search_runs(body.experiment_ids, body.filter, body.order_by, body.max_results,
                                 body.page_token, ViewType.parse(body.view), body.columns)
        return {"runs": [r.to_dict() for r in page.runs], "next_page_token": page.next_page_token}

    @app.get("/api/runs/{run_id}", tags=["runs"], responses=wire.errors(404))
    def get_run(run_id: wire.RunIdPath):
        return store.get_run(run_id).to_dict()

    @app.patch("/api/runs/{run_id}", status_code=204, tags=["runs"], responses=wire.errors(404))
    def update_run(run_id: wire.RunIdPath, body: wire.UpdateRun):
        status = RunStatus.parse(body.status) if body.status is not None else None
        store.update_run(run_id, status, body.end_time, body.name)

    @app.post("/api/runs/{run_id}/delete", status_code=204, tags=["runs"], responses=wire.errors(404))
    def delete_run(run_id: wire.RunIdPath):
        store.delete_run(run_id)

    @app.post("/api/runs/{run_id}/restore", status_code=204, tags=["runs"], responses=wire.errors(404))
    def restore_run(run_id: wire.RunIdPath):
        store.restore_run(run_id)

    @app.post("/api/runs/{run_id}/batch", status_code=204, tags=["runs"], responses=wire.errors(404, 409))
    def log_batch(run_id: wire.RunIdPath, body: wire.LogBatch):
        metrics = [Metric(m.key, float(m.value), m.step, m.timestamp) for m in body.metrics]
        store.log_batch(run_id, metrics, body.params or None, body.tags or None)

    @app.delete("/api/runs/{run_id}/tags", status_code=204, tags=["runs"], responses=wire.errors(404, 409))
    def delete_tag(run_id: wire.RunIdPath, key: wire.KeyQuery):
        store.delete_tag(run_id, key)

    @app.get("/api/runs/{run_id}/metrics/history", tags=["runs"], responses=wire.errors(404))
    def metric_history(run_id: wire.RunIdPath, key: wire.KeyQuery, buckets: wire.BucketsQuery = None,
                       x: wire.XQuery = "step", start: wire.XBoundQuery = None, end: wire.XBoundQuery = None):
        """The points of [start, end] along ``x`` (step or timestamp), ordered along it, as columns.
        With ``buckets`` and more points than that in the range, one point per bucket of equal
        width: its last point (values, steps, timestamps) and its least and greatest value (min,
        max; NaN left out), with ``downsampled`` true. ``total``: the points in the range,
        ``count_all``: all of them."""
        (found,) = store.get_metric_series([run_id], key, buckets, x, start, end)
        body = found.to_dict()
        del body["run_id"]
        if buckets is None:  # the columns of every point, as before buckets existed
            body = {name: body[name] for name in ("key", "steps", "values", "timestamps", "total")}
        # Columns, not one object per point: a 100,000-point history stays a small payload.
        return Response(orjson.dumps(body), media_type="application/json")

    @app.post("/api/metrics/history", tags=["runs"], responses=wire.errors(404))
    def metric_histories(body: wire.MetricHistories):
        """The history of ``key`` in each of ``run_ids`` (at most 500), each as the GET of one
        run's history with buckets answers, with its run_id: one request for a chart of many runs."""
        found = store.get_metric_series(body.run_ids, body.key, body.buckets, body.x, body.start, body.end)
        return Response(orjson.dumps({"series": [s.to_dict() for s in found]}), media_type="application/json")

    # ------------------------------------------------------------------ artifacts
    @app.get("/api/runs/{run_id}/artifacts", tags=["artifacts"], responses=wire.errors(404))
    def list_artifacts(run_id: wire.RunIdPath, path: wire.FolderQuery = ""):
        return {"files": [a.to_dict() for a in store.list_artifacts(run_id, path)]}

    @app.put("/api/runs/{run_id}/artifacts/{path:path}", tags=["artifacts"], responses=wire.errors(404, 409),
             openapi_extra={"requestBody": {"content": {"application/octet-stream": {
                 "schema": {"type": "string", "format": "binary"}}}, "required": True}})
    async def upload_artifact(run_id: wire.RunIdPath, path: wire.ArtifactPathPath, request: Request):
        async with spooled(request.stream()) as body:
            info = await run_in_threadpool(store.log_artifact, run_id, body, path)
        return info.to_dict()

    @app.get("/api/runs/{run_id}/artifacts/{path:path}", tags=["artifacts"], responses=wire.errors(404),
             response_class=StreamingResponse)
    def download_artifact(run_id: wire.RunIdPath, path: wire.ArtifactPathPath):
        chunks = store.open_artifact(run_id, path)
        return StreamingResponse(chunks, media_type="application/octet-stream")

    # ------------------------------------------------------------------ datasets
    @app.post("/api/datasets/{name}/versions", status_code=201, tags=["datasets"], responses=wire.errors(),
              openapi_extra=wire.DATASET_UPLOAD)
    async def log_dataset(name: wire.NewDatasetNamePath, request: Request):
        """Multipart form: ``meta`` (JSON: digest, source, num_rows, num_columns, schema,
        profile) and ``data`` (the Parquet file)."""
        try:
            form = await request.form(max_files=1, max_fields=1, max_part_size=MAX_FORM_FIELD)
        except Exception as exc:  # malformed multipart body
            raise InvalidInput(f"Expected a multipart form with fields meta and data: {exc}") from None
        meta_text, upload = form.get("meta"), form.get("data")
        if not isinstance(meta_text, str) or upload is None or isinstance(upload, str):
            raise InvalidInput("Expected a multipart form with a JSON field 'meta' and a file field 'data'.")
        try:
            meta = wire.DatasetMeta.model_validate_json(meta_text)
        except ValidationError as exc:
            raise InvalidInput(_describe_validation(exc).replace("request", "dataset metadata")) from None
        async with spooled(file_chunks(upload), "data.parquet") as data:
            from modelcycle.data.versions import check_upload

            await run_in_threadpool(check_upload, data, meta.digest, meta.num_rows, meta.num_columns,
                                    meta.schema_text, meta.profile)
            dataset = await run_in_threadpool(
                store.log_dataset, name, meta.digest, data, meta.source, meta.num_rows,
                meta.num_columns, meta.schema_text, meta.profile)
        return dataset.to_dict()

    @app.get("/api/datasets", tags=["datasets"], responses=wire.errors())
    def list_datasets(name: wire.DatasetNameQuery = None):
        return {"datasets": [d.to_dict() for d in store.list_datasets(name)]}

    @app.get("/api/datasets/{name}/versions/{version}", tags=["datasets"], responses=wire.errors(404))
    def get_dataset(name: wire.DatasetNamePath, version: wire.VersionOrLatestPath):
        return store.get_dataset(name, _version(version)).to_dict()

    @app.get("/api/datasets/{name}/versions/{version}/data", tags=["datasets"], responses=wire.errors(404),
             response_class=StreamingResponse)
    def download_dataset(name: wire.DatasetNamePath, version: wire.DatasetVersionPath):
        return StreamingResponse(store.open_dataset(name, version), media_type="application/octet-stream")

    @app.post("/api/runs/{run_id}/inputs", status_code=204, tags=["datasets"], responses=wire.errors(404, 409))
    def link_dataset(run_id: wire.RunIdPath, body: wire.LinkDataset):
        store.link_dataset(run_id, body.name, body.version, body.role)

    @app.get("/api/dataset-uses", tags=["datasets"], responses=wire.errors())
    def dataset_uses(run_id: wire.RunIdQuery = None, name: wire.DatasetNameQuery = None,
                     version: wire.VersionQuery = None):
        return {"uses": [u.to_dict() for u in store.dataset_uses(run_id, name, version)]}

    # ------------------------------------------------------------------ saved views (web UI)
    @app.post("/api/views", status_code=201, tags=["views"], responses=wire.errors(409),
              openapi_extra=wire.links(201, {"view_id": "$response.body#/id"}, "get_view"))
    def save_view(body: wire.SaveView):
        """Keep a view too long for a URL (its query string) under a short id made from it: the
        same query always gets the same id."""
        view = store.save_view(body.query)
        return {"id": view.id, "created_at": view.created_at}

    @app.get("/api/views/{view_id}", tags=["views"], responses=wire.errors(404))
    def get_view(view_id: wire.ViewIdPath):
        return store.get_view(view_id).to_dict()

    from modelcycle.server.deployments import add_deployment_routes
    from modelcycle.server.leases import add_lease_routes
    from modelcycle.server.monitoring import add_monitoring_routes
    from modelcycle.server.registry import add_registry_routes

    add_registry_routes(app, store)
    add_lease_routes(app, store)
    add_deployment_routes(app, store)
    add_monitoring_routes(app, store)
    from modelcycle.server.ui import add_ui_routes

    add_ui_routes(app, store)
    _fixed_paths_refuse_other_methods(app)
    return app


async def _method_not_allowed(_request: Request):
    raise StarletteHTTPException(405)


def _fixed_paths_refuse_other_methods(app: FastAPI) -> None:
    """A fixed path names one resource: PATCH /api/runs/search is a 405, not an update of the run
    whose id would be 'search'. Without this, a route with a parameter takes such requests."""
    routes = [r for r in app.router.routes if isinstance(r, APIRoute)]
    fixed: dict[str, set[str]] = {}
    for route in routes:
        if not route.param_convertors:
            fixed.setdefault(route.path, set()).update(route.methods)
    for path, methods in fixed.items():
        taken = {m for r in routes if r.param_convertors and r.path_regex.match(path) for m in r.methods}
        if taken - methods:
            app.router.routes.insert(0, Route(path, _method_not_allowed, methods=sorted(taken - methods),
                                              include_in_schema=False))


def _allowed_methods(app: FastAPI, request: Request) -> set[str]:
    """The methods of every route whose path matches (GET and POST /api/experiments are two
    routes); where a fixed path matches, only its own."""
    matching = [r for r in app.router.routes if getattr(r, "methods", None) and r.endpoint is not _method_not_allowed
                and r.matches(request.scope)[0] is not Match.NONE]
    fixed = [r for r in matching if not r.param_convertors]
    return {m for route in fixed or matching for m in route.methods}


def _version(text: str) -> int | None:
    if text == "latest":
        return None
    return parse_version("dataset", text)


def app_from_env() -> FastAPI:
    """Factory used by uvicorn workers: the store comes from MODELCYCLE_TRACKING_URI and
    MODELCYCLE_ARTIFACT_URI (set by `modelcycle server`)."""
    tracking_uri = config.tracking_uri()
    if tracking_uri.startswith(("http://", "https://")):
        raise InvalidInput("The server needs a database URL as its store, not another server.")
    return create_app(SqlStore(tracking_uri, config.artifact_uri()))


def serve(store_uri: str, artifact_uri: str, host: str, port: int, workers: int,
          log_level: str = "info") -> None:
    import uvicorn

    os.environ["MODELCYCLE_TRACKING_URI"] = store_uri
    os.environ["MODELCYCLE_ARTIFACT_URI"] = artifact_uri
    SqlStore(store_uri, artifact_uri).close()  # migrate once before the workers start
    uvicorn.run("modelcycle.server.app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level=log_level, access_log=False)

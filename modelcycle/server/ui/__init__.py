"""The web UI, served by the tracking server at `/`: pages rendered on the server from the same
store calls as the REST API, and small vendored scripts (htmx, uPlot) that read the documented
API for what a page fetches from the browser (charts, column search)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from modelcycle.server.ui.render import PageRoute
from modelcycle.store.base import Store


class _Static(StaticFiles):
    """The package's static files. Their URLs carry the package version (`?v=`), so a browser
    may keep them for a day without asking again."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def add_ui_routes(app: FastAPI, store: Store) -> None:
    from modelcycle.server.ui import pages_registry, pages_runs

    app.mount("/static", _Static(packages=[("modelcycle.server.ui", "static")]), name="static")
    router = APIRouter(route_class=PageRoute, include_in_schema=False)

    @router.get("/")
    def home():
        return RedirectResponse("/experiments", status_code=302)

    pages_runs.add_routes(router, store)
    pages_registry.add_routes(router, store)
    app.include_router(router)

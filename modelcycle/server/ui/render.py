"""Rendering of the UI's pages: one Jinja environment, its filters, and the route class that
turns an error into an error page (HTML) instead of the API's JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

import modelcycle
from modelcycle.exceptions import ModelcycleError
from modelcycle.render import fmt_value

env = Environment(loader=PackageLoader("modelcycle.server.ui"), autoescape=select_autoescape(default=True),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _when(ms: int | None) -> str:
    """Milliseconds since the epoch as UTC text; app.js shows it in the reader's own zone."""
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _iso(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat()


def _duration(start: int | None, end: int | None) -> str:
    if start is None or end is None or end < start:
        return ""
    seconds = (end - start) / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def number(value) -> str:
    """A metric value in at most 6 significant digits; NaN and infinities by name."""
    return fmt_value(value, infinity="∞")


def _with_query(request: Request, **changes) -> str:
    """This page's URL with some query parameters changed (None removes one): the URL is the
    view's state, so links that change the view keep the rest of it."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + ("?" + query if query else "")


env.filters.update(when=_when, iso=_iso, number=number)
env.globals.update(duration=_duration, with_query=_with_query, version=modelcycle.__version__)


def page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    html = env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status_code)


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script asking for JSON)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return page(request, "error.html", status_code=status, title=title, message=message)


class PageRoute(APIRoute):
    """A route of the UI: a known error (unknown id, malformed filter) or a malformed query value
    is shown as a page with the message, with the API's status code. A page answers HEAD as it
    answers GET (the server sends no body), as Starlette's own routes do."""

    def __init__(self, path: str, endpoint: Callable, **kwargs) -> None:
        super().__init__(path, endpoint, **kwargs)
        if "GET" in self.methods:
            self.methods.add("HEAD")

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request):
            try:
                return await handler(request)
            except ModelcycleError as exc:
                title = "Not found" if exc.http_status == 404 else "Cannot show this page"
                return error_page(request, exc.http_status, title, exc.message)
            except RequestValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                                     for e in exc.errors())
                return error_page(request, 400, "Malformed address", problems)

        return handle

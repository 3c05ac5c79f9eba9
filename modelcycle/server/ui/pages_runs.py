"""Pages of experiments and runs: the experiments list, an experiment's runs, a run, its
artifacts, the comparison of runs, and saved views.

The URL is each page's state (filter, order, columns, page, selection, chart settings), so a
reload or a shared link shows the same thing. Everything shown comes from ``store.*`` calls;
the runs table loads only its page and the columns it shows."""

from __future__ import annotations

import math
import posixpath
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from modelcycle.exceptions import InvalidInput, ModelcycleError, NotFound
from modelcycle.models.manifest import MANIFEST_FILE
from modelcycle.server.ui import previews
from modelcycle.server.ui.render import error_page, page
from modelcycle.store.base import Store
from modelcycle.store.entities import Run, ViewType
from modelcycle.store.search import Field, FilterSyntaxError, parse_columns, parse_filter, parse_order_by

PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE_SIZE = 50
EXPERIMENTS_PAGE = 50
MAX_COMPARED = 500  # runs of one overlay chart (POST /api/metrics/history takes 500)
MAX_SELECTED = 500
DEFAULT_METRIC_COLUMNS = 5
# Each column's header links to the table sorted by it and to the table without it, each link
# naming every column: a page grows with the square of its columns.
MAX_TABLE_COLUMNS = 200
MAX_LISTED_ARTIFACTS = 1000
MAX_MODEL_FOLDERS = 50  # folders of a run looked into for a model manifest
MAX_COMPARE_CHARTS = 24
MAX_CHILDREN = 100  # child runs listed on a run's page; the runs table has them all
MAX_PARALLEL_AXES = 12
USER_TAG = "mc.user"
COMMIT_TAG = "mc.source.git.commit"
X_AXES = ("step", "time", "relative")
KIND_PREFIX = {"param": "params", "metric": "metrics", "tag": "tags"}
# A bare word of the filter language begins with an ASCII letter or '_' (store/search.py).
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w\-:/]*(?:\.[A-Za-z_][\w\-:/]*)*")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


# ---------------------------------------------------------------------------------------- columns
def quote_key(key: str) -> str:
    """A key as the filter language reads it back: bare when it is words joined by dots, else
    in backticks, else (holding a backtick) in double quotes."""
    if _PLAIN_KEY.fullmatch(key):
        return key
    if "`" not in key:
        return f"`{key}`"
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def field_text(field: Field) -> str:
    if field.kind == "attribute":
        return field.key
    return f"{KIND_PREFIX[field.kind]}.{quote_key(field.key)}"


def split_list(text: str) -> list[str]:
    """Items of a comma-separated list; a comma inside backticks or quotes is part of its item."""
    items, current, quote_char = [], [], None
    for char in text:
        if quote_char:
            current.append(char)
            if char == quote_char:
                quote_char = None
        elif char in "`\"'":
            quote_char = char
            current.append(char)
        elif char == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


@dataclass(frozen=True)
class Problem:
    """A value of the address that could not be used, shown next to its input."""

    message: str
    text: str = ""
    position: int | None = None

    @classmethod
    def of(cls, exc: ModelcycleError, text: str = "") -> Problem:
        if isinstance(exc, FilterSyntaxError):
            return cls(exc.message.split("\n", 1)[0], text, exc.position)
        return cls(exc.message, text)

    @property
    def line(self) -> str:
        """The line of the text holding the position, for the caret under it."""
        if self.position is None:
            return self.text
        start = self.text.rfind("\n", 0, self.position) + 1
        end = self.text.find("\n", self.position)
        return self.text[start:end if end >= 0 else len(self.text)]

    @property
    def column(self) -> int:
        if self.position is None:
            return 0
        return self.position - (self.text.rfind("\n", 0, self.position) + 1)


def _url(path: str, params: Mapping[str, object], keep_empty: Sequence[str] = ()) -> str:
    """A page's address with only the parameters that say something (and those of ``keep_empty``
    even when empty); commas and backticks left readable."""
    kept = {k: str(v) for k, v in params.items() if v is not None and (v != "" or k in keep_empty)}
    return path + ("?" + urlencode(kept, safe=",`", quote_via=quote) if kept else "")


def _ids(text: str, limit: int) -> list[str]:
    return list(dict.fromkeys(i for i in split_list(text) if _RUN_ID.fullmatch(i)))[:limit]


def _page_size(text: str | None) -> int:
    if not text:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= PAGE_SIZES[-1]:
        raise InvalidInput(f"max_results must be a whole number of runs from 1 to {PAGE_SIZES[-1]}; got {text!r}.")
    return size


@dataclass
class RunsView:
    """The state of a runs table, read from its address."""

    path: str
    filter: str = ""
    order_by: str = ""
    columns: list[Field] | None = None  # None: chosen from the runs of the page
    columns_text: str | None = None
    page_token: str = ""
    max_results: int = DEFAULT_PAGE_SIZE
    selected: tuple[str, ...] = ()
    view: ViewType = ViewType.ACTIVE

    def params(self, **changes) -> dict[str, object]:
        columns = self.columns_text if self.columns is None else ",".join(field_text(f) for f in self.columns)
        params = {"view": None if self.view is ViewType.ACTIVE else self.view.value,
                  "filter": self.filter, "order_by": self.order_by, "columns": columns,
                  "max_results": self.max_results if self.max_results != DEFAULT_PAGE_SIZE else None,
                  "selected": ",".join(self.selected), "page_token": self.page_token}
        params.update(changes)
        return params

    def url(self, **changes) -> str:
        # "columns=" is the table without chosen columns; no "columns" at all, the default ones.
        return _url(self.path, self.params(**changes), keep_empty=("columns",))


def _sort_links(view: RunsView, fields: Sequence[Field]) -> dict[Field, tuple[str, str | None]]:
    """Per sortable field: the address that sorts by it (descending first, then ascending) and
    the direction it is sorted in now."""
    current = None
    if view.order_by:
        try:
            keys = parse_order_by([view.order_by])
            current = keys[0] if keys else None
        except InvalidInput:
            current = None
    links = {}
    for field in fields:
        state = None
        if current is not None and current.field == field:
            state = "asc" if current.ascending else "desc"
        clause = f"{field_text(field)} {'ASC' if state == 'desc' else 'DESC'}"
        links[field] = (view.url(order_by=clause, page_token=None), state)
    return links


def _columns(text: str) -> tuple[list[Field] | None, Problem | None]:
    """The columns of ``columns=``, or the problem that points into the malformed one."""
    items = split_list(text)
    try:
        return parse_columns(items), None
    except FilterSyntaxError:
        for item in items:
            try:
                parse_columns([item])
            except FilterSyntaxError as exc:
                return None, Problem.of(exc, item)
        raise
    except InvalidInput as exc:
        return None, Problem.of(exc)


def _default_columns(store: Store, experiment_id: int) -> list[Field]:
    """Until columns are chosen: the first metrics of the experiment (their keys, not their values:
    only shown columns are loaded); params and tags are picked on demand."""
    keys = store.experiment_columns(experiment_id, None, DEFAULT_METRIC_COLUMNS)["metrics"]
    return [Field("metric", k) for k in keys]


# ------------------------------------------------------------------------------------------ runs
def _tag_groups(tags: Mapping[str, str]) -> dict[str, list[tuple[str, str]]]:
    """A run's tags by what they say: the user's own, where the code came from, the environment
    it ran in, the libraries, and the rest of modelcycle's."""
    groups: dict[str, list[tuple[str, str]]] = {"user": [], "source": [], "environment": [], "libraries": [],
                                                "system": []}
    for key in sorted(tags):
        value = tags[key]
        if not key.startswith("mc."):
            groups["user"].append((key, value))
        elif key.startswith("mc.source."):
            groups["source"].append((key[len("mc.source."):], value))
        elif key.startswith("mc.lib."):
            groups["libraries"].append((key[len("mc.lib."):], value))
        elif key in ("mc.python", "mc.platform", "mc.host", "mc.user"):
            groups["environment"].append((key[len("mc."):], value))
        else:
            groups["system"].append((key, value))
    return groups


def _dataset_link(ref: str) -> tuple[str, str, str | None]:
    name, _, version = ref.rpartition("@")
    if not name or not version.isdigit():
        return ref, "", None
    return name, version, f"/datasets/{quote(name, safe='')}/versions/{version}"


def _logged_models(store: Store, run_id: str, top: Sequence) -> list[dict[str, Any]]:
    """The model folders of a run (holding a manifest), at its top level or one below."""
    found = []
    folders = [info.path for info in top if info.is_dir]
    looked = 0
    while folders and looked < MAX_MODEL_FOLDERS:
        folder = folders.pop(0)
        looked += 1
        children = store.list_artifacts(run_id, folder)
        if any(c.path == f"{folder}/{MANIFEST_FILE}" for c in children):
            found.append({"path": folder, "manifest": previews.read_manifest(store, run_id,
                                                                             f"{folder}/{MANIFEST_FILE}")})
        elif folder.count("/") == 0:
            folders.extend(c.path for c in children if c.is_dir)
    return found


def _chart_settings(request: Request) -> tuple[str, float]:
    x = request.query_params.get("x", "step")
    if x not in X_AXES:
        raise InvalidInput(f"x must be one of {', '.join(X_AXES)}; got {x!r}.")
    text = request.query_params.get("smooth", "0")
    try:
        smooth = float(text)
    except ValueError:
        smooth = -1.0
    if not 0 <= smooth < 1:
        raise InvalidInput(f"smooth, the weight of the moving average, must be a number in [0, 1); got {text!r}.")
    return x, smooth


def _number_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _artifact_url(run_id: str, path: str, raw: bool = False) -> str:
    if raw:
        return f"/runs/{run_id}/artifacts/raw?" + urlencode({"path": path}, quote_via=quote, safe="/")
    return f"/api/runs/{run_id}/artifacts/{quote(path, safe='/')}"


def _browse_url(run_id: str, path: str) -> str:
    return f"/runs/{run_id}/artifacts" + ("?" + urlencode({"path": path}, quote_via=quote, safe="/") if path else "")


# ----------------------------------------------------------------------------------------- pages
def add_routes(router: APIRouter, store: Store) -> None:

    @router.get("/experiments")
    def experiments(request: Request):
        query = request.query_params
        q, token = query.get("q", ""), query.get("page_token", "")
        view = ViewType.parse(query.get("view", "active"))
        shown = None if view is ViewType.ACTIVE else view.value
        problem = None
        found, next_token = [], None
        try:
            result = store.search_experiments(q or None, view, max_results=EXPERIMENTS_PAGE, page_token=token or None)
            found, next_token = result.experiments, result.next_page_token
        except InvalidInput as exc:
            problem = Problem.of(exc)
        return page(request, "experiments.html", status_code=400 if problem else 200, experiments=found, q=q,
                    problem=problem, view=view.value, first_url=_url("/experiments", {"view": shown, "q": q}) if token else None,
                    next_url=_url("/experiments", {"view": shown, "q": q, "page_token": next_token}) if next_token else None,
                    clear_url=_url("/experiments", {"view": shown}),
                    view_urls={v.value: _url("/experiments", {"view": None if v is ViewType.ACTIVE else v.value, "q": q})
                               for v in ViewType})

    @router.get("/experiments/{experiment_id}/runs")
    def runs(request: Request, experiment_id: int):
        experiment = store.get_experiment(experiment_id)
        query = request.query_params
        view = RunsView(request.url.path, query.get("filter", ""), query.get("order_by", ""),
                        page_token=query.get("page_token", ""),
                        selected=tuple(_ids(query.get("selected", ""), MAX_SELECTED)),
                        view=ViewType.parse(query.get("view", "active")))
        problems: dict[str, Problem] = {}
        try:
            view.max_results = _page_size(query.get("max_results"))
        except InvalidInput as exc:
            problems["page"] = Problem.of(exc)
        try:
            parse_filter(view.filter)
        except InvalidInput as exc:
            problems["filter"] = Problem.of(exc, view.filter)
        if view.order_by:
            try:
                parse_order_by([view.order_by])
            except InvalidInput as exc:
                problems["order_by"] = Problem.of(exc, view.order_by)
        if "columns" in query:
            view.columns_text = query["columns"]
            view.columns, problem = _columns(view.columns_text)
            if problem is None and len(view.columns) > MAX_TABLE_COLUMNS:
                problem = Problem(f"The table shows at most {MAX_TABLE_COLUMNS} columns; got {len(view.columns)}. "
                                  "Remove some, or read them all from POST /api/runs/search.")
                view.columns = view.columns_text = None  # links lead to a table that can be shown
            if problem is not None:
                problems["columns"] = problem
        columns = view.columns
        if columns is None:
            columns = [] if "columns" in problems else _default_columns(store, experiment_id)
        found: list[Run] = []
        next_token = None
        if not problems:
            try:
                result = store.search_runs(
                    [experiment_id], view.filter or None, [view.order_by] if view.order_by else None,
                    view.max_results, view.page_token or None, view.view, [field_text(f) for f in columns])
                found, next_token = result.runs, result.next_page_token
            except InvalidInput as exc:
                problems["page" if "page_token" in exc.message else "search"] = Problem.of(exc)
        fixed = [Field("attribute", "name"), Field("attribute", "status"), Field("attribute", "start_time"),
                 Field("tag", USER_TAG), Field("tag", COMMIT_TAG)]
        context = dict(
            experiment=experiment, view=view, runs=found, columns=columns, problems=problems,
            column_keys=[{"kind": KIND_PREFIX[f.kind], "key": f.key, "text": field_text(f)} for f in columns],
            drop_urls={f: view.url(columns=",".join(field_text(c) for c in columns if c != f)) for f in columns},
            sort=_sort_links(view, fixed + list(columns)), user_tag=USER_TAG, commit_tag=COMMIT_TAG,
            fixed=fixed, page_sizes=PAGE_SIZES, field_text=field_text,
            next_url=view.url(page_token=next_token) if next_token else None,
            first_url=view.url(page_token=None) if view.page_token else None,
            clear_url=view.url(filter=None, page_token=None),
            view_urls={v.value: view.url(view=None if v is ViewType.ACTIVE else v.value, page_token=None)
                       for v in ViewType},
        )
        status = 400 if problems else 200
        partial = request.headers.get("hx-request") == "true" and not request.headers.get("hx-history-restore-request")
        response = page(request, "_runs_table.html" if partial else "runs.html", status_code=status, **context)
        # The part and the whole page have one address: caches must tell them apart.
        response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
        if partial:
            response.headers["HX-Push-Url"] = view.url()
        return response

    @router.get("/runs/{run_id}")
    def run_page(request: Request, run_id: str):
        run = store.get_run(run_id)
        x, smooth = _chart_settings(request)
        experiment = store.get_experiment(run.experiment_id)
        parent = None
        if run.parent_id:
            try:
                parent = store.get_run(run.parent_id)
            except NotFound:
                parent = None
        children = store.search_runs([run.experiment_id], f"parent_id = '{run.id}'", max_results=MAX_CHILDREN + 1,
                                     view=ViewType.ALL, columns=[]).runs
        more_children = len(children) > MAX_CHILDREN
        children_url = _url(f"/experiments/{run.experiment_id}/runs",
                            {"view": ViewType.ALL.value, "filter": f"parent_id = '{run.id}'"})
        top = store.list_artifacts(run.id, "")
        inputs = [(*_dataset_link(u.dataset), u.role) for u in store.dataset_uses(run_id=run.id)]
        versions = store.list_model_versions(run_ids=[run.id])
        metrics = []
        for key in sorted(run.metrics):
            summary = run.metric_summaries.get(key)
            metrics.append((key, run.metrics[key], summary))
        charted = [key for key, _, summary in metrics if summary is None or summary.count > 1]
        return page(request, "run.html", run=run, experiment=experiment, parent=parent,
                    children=children[:MAX_CHILDREN], more_children=more_children, children_url=children_url,
                    metrics=metrics, charted=charted, chart_ids={k: f"chart-{i}" for i, k in enumerate(charted)},
                    tags=_tag_groups(run.tags), inputs=inputs, versions=versions,
                    models=_logged_models(store, run.id, top), top=top[:MAX_LISTED_ARTIFACTS],
                    more_artifacts=max(0, len(top) - MAX_LISTED_ARTIFACTS), x=x, smooth=smooth,
                    browse_url=lambda path: _browse_url(run.id, path), download_url=lambda p: _artifact_url(run.id, p),
                    quote=quote)

    @router.get("/runs/{run_id}/artifacts")
    def artifacts(request: Request, run_id: str, path: str = ""):
        run = store.get_run(run_id)
        path = path.strip("/")
        entries = store.list_artifacts(run.id, path)
        file = None
        if path and len(entries) == 1 and not entries[0].is_dir and entries[0].path == path:
            file = entries[0]
            folder = posixpath.dirname(path)
            entries = store.list_artifacts(run.id, folder)
        elif path and not entries:
            raise NotFound(f"The run {run.id} has no artifact {path!r}.")
        else:
            folder = path
        shown = previews.preview(store, run.id, file) if file is not None else None
        manifest = None
        if file is None and any(e.path == f"{folder}/{MANIFEST_FILE}".lstrip("/") for e in entries):
            manifest = previews.read_manifest(store, run.id, f"{folder}/{MANIFEST_FILE}".lstrip("/"))
        crumbs, walked = [], ""
        for part in (folder.split("/") if folder else []):
            walked = f"{walked}/{part}" if walked else part
            crumbs.append((part, _browse_url(run.id, walked)))
        entries.sort(key=lambda e: (not e.is_dir, e.path))
        return page(request, "artifacts.html", run=run, folder=folder, file=file, preview=shown,
                    entries=entries[:MAX_LISTED_ARTIFACTS], more=max(0, len(entries) - MAX_LISTED_ARTIFACTS),
                    crumbs=crumbs, manifest=manifest, basename=posixpath.basename,
                    browse_url=lambda p: _browse_url(run.id, p), download_url=lambda p: _artifact_url(run.id, p),
                    raw_url=lambda p: _artifact_url(run.id, p, raw=True))

    @router.get("/runs/{run_id}/artifacts/raw")
    def artifact_raw(run_id: str, path: str):
        """A file as the browser may show it (images, HTML reports): always under a sandboxing
        policy, so an HTML report runs no script and reaches nothing of this origin."""
        chunks = store.open_artifact(run_id, path.strip("/"))
        return StreamingResponse(chunks, media_type=previews.raw_media_type(path), headers={
            "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600"})

    @router.get("/compare")
    def compare(request: Request):
        query = request.query_params
        listed_ids = split_list(query.get("runs", ""))
        malformed = next((i for i in listed_ids if not _RUN_ID.fullmatch(i)), None)
        if malformed is not None:
            raise InvalidInput(f"runs lists run ids, each 32 hex digits, separated by commas; got {malformed!r}.")
        ids = list(dict.fromkeys(listed_ids))
        if len(ids) > MAX_COMPARED:
            raise InvalidInput(f"Compare at most {MAX_COMPARED} runs at once; got {len(ids)}.")
        if not ids:
            raise InvalidInput("Choose the runs to compare: /compare?runs=<id>,<id>, or select them in an "
                               "experiment's runs table and press Compare.")
        x, smooth = _chart_settings(request)
        listed = ", ".join(f"'{i}'" for i in ids)
        found = store.search_runs(None, f"run_id in ({listed})", max_results=len(ids), view=ViewType.ALL).runs
        by_id = {r.id: r for r in found}
        runs = [by_id[i] for i in ids if i in by_id]
        missing = [i for i in ids if i not in by_id]
        if not runs:
            raise NotFound(f"None of the runs to compare exists: {', '.join(missing)}.")
        return page(request, "compare.html", **_comparison(request, runs, missing, x, smooth))

    @router.get("/v/{view_id}")
    async def saved_view(request: Request, view_id: str):
        """A view too long for an address, saved under a short id: rendered here, as its own
        page would render it, with this address's parameters over the saved ones."""
        view = await run_in_threadpool(store.get_view, view_id)
        path, _, saved = view.query.partition("?")
        if not path.startswith("/") or path.startswith(("//", "/api/", "/v/", "/static/")):
            return error_page(request, 400, "Cannot show this view",
                              f"The saved view {view_id} does not name a page of the UI.")
        from urllib.parse import parse_qsl

        params = dict(parse_qsl(saved, keep_blank_values=True))
        params.update(request.query_params)
        return await _dispatch(request, path, urlencode(params, safe=",`", quote_via=quote))


async def _dispatch(request: Request, path: str, query: str) -> Response:
    """Render another page of this app inside this request (no redirect to a long address)."""
    scope = {k: v for k, v in request.scope.items() if k not in ("route", "endpoint", "path_params")}
    scope.update(path=path, raw_path=path.encode(), query_string=query.encode())
    sent: dict[str, Any] = {"body": bytearray()}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"], sent["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            sent["body"] += message.get("body", b"")

    await request.app(scope, receive, send)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in sent["headers"]
               if k.lower() not in (b"content-length",)}
    return Response(bytes(sent["body"]), status_code=sent["status"], headers=headers)


def _comparison(request: Request, runs: list[Run], missing: list[str], x: str, smooth: float) -> dict[str, Any]:
    query = request.query_params
    param_keys = sorted({k for r in runs for k in r.params})
    params = []
    for key in param_keys:
        values = [r.params.get(key) for r in runs]
        params.append((key, values, len(set(values)) > 1))
    only_diff = query.get("diff") == "1"
    metric_keys = sorted({k for r in runs for k in r.metrics})
    metrics = []
    for key in metric_keys:
        cells = [(r.metrics.get(key), r.metric_summaries.get(key)) for r in runs]
        values = [c[0].value for c in cells if c[0] is not None]
        finite = [v for v in values if math.isfinite(v)]
        metrics.append((key, cells, min(finite) if finite else None, max(finite) if finite else None))
    histories = [k for k in metric_keys if any(_has_history(r, k) for r in runs)]
    # By default the metric most of the runs have (of those, the first with a history).
    counts = Counter(k for r in runs for k in r.metrics)
    common = sorted(metric_keys, key=lambda k: (-counts[k], k not in histories, k))
    metric = query.get("metric") or (common[0] if common else "")
    if metric and metric not in metric_keys:
        raise NotFound(f"None of the compared runs has the metric {metric!r}; "
                       f"they have {', '.join(metric_keys[:20]) or 'no metrics'}.")
    # Parallel coordinates: the params that differ, numeric where every value is a number.
    axes = []
    for key, values, differs in params:
        if not differs or len(axes) >= MAX_PARALLEL_AXES:
            continue
        numbers = [_number_or_none(v) for v in values]
        if all(n is not None for n, v in zip(numbers, values) if v is not None):
            axes.append({"label": key, "kind": "number", "values": numbers})
        else:
            axes.append({"label": key, "kind": "category", "values": values})
    if metric:
        axes.append({"label": metric, "kind": "number", "metric": True,
                     "values": [_finite(r.metrics[metric].value) if metric in r.metrics else None for r in runs]})
    columns: dict[str, list[float | None]] = {}
    for key, values, _differs in params:
        numbers = [_number_or_none(v) for v in values]
        if any(n is not None for n in numbers):
            columns[f"params.{quote_key(key)}"] = numbers
    for key in metric_keys:
        columns[f"metrics.{quote_key(key)}"] = [_finite(r.metrics[key].value) if key in r.metrics else None
                                               for r in runs]
    names = [r.name for r in runs]
    for name, axis in (("sx", "x"), ("sy", "y")):
        chosen = query.get(name)
        if chosen and chosen not in columns:
            raise InvalidInput(f"{name}, the scatter's {axis} column, is one of the compared runs' numeric params "
                               f"and metrics ({', '.join(list(columns)[:20]) or 'they have none'}); got {chosen!r}.")
    scatter_x = query.get("sx") or next((c for c in columns if c.startswith("params.")), "")
    scatter_y = query.get("sy") or (f"metrics.{quote_key(metric)}" if metric else "")
    return dict(
        runs=runs, few=len(runs) <= 50, missing=missing, params=[p for p in params if p[2] or not only_diff], all_params=len(params),
        differing=sum(1 for p in params if p[2]), only_diff=only_diff, metrics=metrics, metric=metric,
        metric_keys=metric_keys, x=x, smooth=smooth, histories_total=len(histories),
        # the chosen metric is charted even when it is past the first ones
        histories=([metric] if metric in histories[MAX_COMPARE_CHARTS:] else [])
        + histories[:MAX_COMPARE_CHARTS - (metric in histories[MAX_COMPARE_CHARTS:])],
        run_ids=",".join(r.id for r in runs), names=names,
        parallel={"names": names, "ids": [r.id for r in runs], "axes": axes},
        scatter={"names": names, "ids": [r.id for r in runs], "columns": columns, "x": scatter_x, "y": scatter_y},
        with_diff=_url(request.url.path, {**dict(query), "diff": None if only_diff else "1"}),
    )


def _has_history(run: Run, key: str) -> bool:
    if key not in run.metrics:
        return False
    summary = run.metric_summaries.get(key)
    return summary is None or summary.count > 1


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

"""The store through a tracking server: the same interface, spoken over HTTP."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson

from modelcycle import config
from modelcycle.exceptions import ERRORS_BY_CODE, InvalidInput, ModelcycleError, StoreUnavailable
from modelcycle.store.base import DEFAULT_COLUMN_LIMIT, DEFAULT_MAX_RESULTS, Store
from modelcycle.store.entities import (
    AlertState, ArmStats, ArtifactInfo, DatasetUse, DatasetVersion, Deployment, DeploymentEvent, Experiment,
    ExperimentPage, Lease, Metric, MetricSeries, ModelVersion, MonitorEvent, MonitorPoint, RegisteredModel, Run, RunPage,
    RunStatus, SavedView, Stage, Transition, ViewType, float_from_wire,
)
from modelcycle.store.search import parse_columns
from modelcycle.store.validation import (
    check_alias, check_artifact_path, check_column_query, check_dataset_name, check_deployment_changes,
    check_deployment_event, check_deployment_name, check_experiment_id, check_experiment_query, check_file_to_log,
    check_lease_request, check_metrics, check_model_name, check_model_version, check_params, check_run_id,
    check_tag_value, check_tags, check_version, check_view_id, check_view_query,
)


class RestStore(Store):
    def __init__(self, url: str, transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        try:
            host = httpx.URL(self.url).host
        except httpx.InvalidURL as exc:
            host, problem = "", str(exc)
        else:
            problem = "no host" if not host else f"the host {host!r} has a space or an escape"
        if not host or "%" in host or any(ch.isspace() for ch in host):
            raise InvalidInput(f"{self.url!r} is not a tracking server address ({problem}); "
                               "use http://host:port, e.g. http://127.0.0.1:5050.")
        self.http = httpx.Client(base_url=self.url, timeout=config.http_timeout_s(),
                                 transport=transport)

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, *, json=None, params=None, content=None,
              files=None, data=None, stream: bool = False) -> httpx.Response:
        headers = {}
        if json is not None:
            try:
                content = orjson.dumps(json)
            except orjson.JSONEncodeError as exc:  # e.g. an int beyond 64 bits, a numpy array
                raise InvalidInput(f"The request cannot be sent as JSON ({exc}); pass plain numbers, "
                                   "integers within 64 bits and valid Unicode text.") from None
            headers["content-type"] = "application/json"
        try:
            request = self.http.build_request(method, path, params=params, content=content,
                                              headers=headers, files=files, data=data)
            response = self.http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"Cannot reach the tracking server at {self.url} ({type(exc).__name__}: {exc}). "
                "Is `modelcycle server` running there?"
            ) from exc
        if response.status_code >= 400:
            if stream:
                response.read()
                response.close()
            raise _error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs):
        response = self._send(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise _not_a_tracking_server(response) from None

    # ------------------------------------------------------------------ experiments
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        return Experiment.from_dict(self._json("POST", "/api/experiments",
                                               json={"name": name, "tags": check_tags(tags)}))

    def get_experiment(self, experiment_id: int) -> Experiment:
        return Experiment.from_dict(self._json("GET", f"/api/experiments/{_experiment(experiment_id)}"))

    def get_experiment_by_name(self, name: str) -> Experiment:
        return Experiment.from_dict(self._json("GET", "/api/experiments/by-name", params={"name": name}))

    def list_experiments(self, view: ViewType = ViewType.ACTIVE) -> list[Experiment]:
        data = self._json("GET", "/api/experiments", params={"view": ViewType.parse(view).value})
        return [Experiment.from_dict(e) for e in data["experiments"]]

    def search_experiments(self, q: str | None = None, view: ViewType = ViewType.ACTIVE,
                           max_results: int | None = None, page_token: str | None = None) -> ExperimentPage:
        params = {"view": ViewType.parse(view).value, "q": check_experiment_query(q), "max_results": max_results,
                  "page_token": page_token}
        data = self._json("GET", "/api/experiments", params={k: v for k, v in params.items() if v is not None})
        return ExperimentPage([Experiment.from_dict(e) for e in data["experiments"]], data.get("next_page_token"))

    def experiment_columns(self, experiment_id: int, q: str | None = None,
                           limit: int = DEFAULT_COLUMN_LIMIT) -> dict[str, list[str]]:
        q, limit = check_column_query(q, limit)
        params = {"limit": limit} if q is None else {"q": q, "limit": limit}
        data = self._json("GET", f"/api/experiments/{_experiment(experiment_id)}/columns", params=params)
        return {kind: list(data[kind]) for kind in ("params", "metrics", "tags")}

    def rename_experiment(self, experiment_id: int, new_name: str) -> Experiment:
        return Experiment.from_dict(self._json("PATCH", f"/api/experiments/{_experiment(experiment_id)}",
                                               json={"name": new_name}))

    def delete_experiment(self, experiment_id: int) -> None:
        self._send("POST", f"/api/experiments/{_experiment(experiment_id)}/delete")

    def restore_experiment(self, experiment_id: int) -> None:
        self._send("POST", f"/api/experiments/{_experiment(experiment_id)}/restore")

    def set_experiment_tag(self, experiment_id: int, key: str, value: str) -> None:
        self._send("PUT", f"/api/experiments/{_experiment(experiment_id)}/tags",
                   json={"key": key, "value": check_tag_value(key, value)})

    # ------------------------------------------------------------------ runs
    def create_run(self, experiment_id: int, name: str | None = None,
                   tags: dict[str, str] | None = None, parent_id: str | None = None,
                   start_time: int | None = None) -> Run:
        return Run.from_dict(self._json("POST", "/api/runs", json={
            "experiment_id": _experiment(experiment_id), "name": name, "tags": check_tags(tags),
            "parent_id": parent_id, "start_time": start_time}))

    def get_run(self, run_id: str) -> Run:
        return Run.from_dict(self._json("GET", f"/api/runs/{_run(run_id)}"))

    def update_run(self, run_id: str, status: RunStatus | None = None, end_time: int | None = None,
                   name: str | None = None) -> None:
        body = {"status": RunStatus.parse(status).value if status is not None else None,
                "end_time": end_time, "name": name}
        self._send("PATCH", f"/api/runs/{_run(run_id)}", json=body)

    def delete_run(self, run_id: str) -> None:
        self._send("POST", f"/api/runs/{_run(run_id)}/delete")

    def restore_run(self, run_id: str) -> None:
        self._send("POST", f"/api/runs/{_run(run_id)}/restore")

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (),
                  params: dict[str, str] | None = None, tags: dict[str, str] | None = None) -> None:
        # Checked here as the SQL store checks them, so that numpy scalars travel as plain
        # numbers and a step beyond 64 bits is InvalidInput, not an error of the JSON encoder.
        self._send("POST", f"/api/runs/{_run(run_id)}/batch", json={
            "metrics": [m.to_dict() for m in check_metrics(metrics)],
            "params": check_params(params), "tags": check_tags(tags)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._send("DELETE", f"/api/runs/{_run(run_id)}/tags", params={"key": key})

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        data = self._json("GET", f"/api/runs/{_run(run_id)}/metrics/history", params={"key": key})
        return [Metric(key, v if type(v) is float else float_from_wire(v), s, t)
                for s, v, t in zip(data["steps"], data["values"], data["timestamps"])]

    def get_metric_series(self, run_ids: Sequence[str], key: str, buckets: int | None = None, x: str = "step",
                          start: float | None = None, end: float | None = None) -> list[MetricSeries]:
        from modelcycle.store.series import check_series_request

        ids = check_series_request(run_ids, key, buckets, x, start, end)
        if not ids:
            return []
        data = self._json("POST", "/api/metrics/history", json={
            "run_ids": ids, "key": key, "buckets": buckets, "x": x, "start": start, "end": end})
        return [MetricSeries.from_dict(d) for d in data["series"]]

    def search_runs(self, experiment_ids: Sequence[int] | None = None, filter: str | None = None,
                    order_by: Sequence[str] | None = None, max_results: int = DEFAULT_MAX_RESULTS,
                    page_token: str | None = None, view: ViewType = ViewType.ACTIVE,
                    columns: Sequence[str] | None = None) -> RunPage:
        ids = [_experiment(i) for i in experiment_ids] if experiment_ids is not None else None
        if columns is not None:
            parse_columns(columns)  # refused here as the SQL store refuses them
            columns = list(columns)
        data = self._json("POST", "/api/runs/search", json={
            "experiment_ids": ids,
            "filter": filter, "order_by": list(order_by or []), "max_results": max_results,
            "page_token": page_token, "view": ViewType.parse(view).value, "columns": columns})
        return RunPage([Run.from_dict(r) for r in data["runs"]], data["next_page_token"])

    # ------------------------------------------------------------------ artifacts
    def log_artifact(self, run_id: str, local_file: str | Path, artifact_path: str) -> ArtifactInfo:
        path = check_artifact_path(artifact_path)
        try:
            handle = open(check_file_to_log(local_file), "rb")
        except FileNotFoundError:
            from modelcycle.exceptions import NotFound

            raise NotFound(f"No file at {str(local_file)!r} to log as an artifact.") from None
        with handle:  # streamed: httpx reads the file in chunks
            data = self._json("PUT", f"/api/runs/{_run(run_id)}/artifacts/{quote(path)}",
                              content=handle)
        return ArtifactInfo.from_dict(data)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactInfo]:
        data = self._json("GET", f"/api/runs/{_run(run_id)}/artifacts", params={"path": path})
        return [ArtifactInfo.from_dict(a) for a in data["files"]]

    def open_artifact(self, run_id: str, path: str) -> Iterator[bytes]:
        path = check_artifact_path(path)
        return self._download(f"/api/runs/{_run(run_id)}/artifacts/{quote(path)}")

    def _download(self, path: str) -> Iterator[bytes]:
        response = self._send("GET", path, stream=True)  # raises on an error status right away

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_bytes(1 << 20)
            finally:
                response.close()

        return chunks()

    # ------------------------------------------------------------------ datasets
    def log_dataset(self, name: str, digest: str, data_file: str | Path, source: str,
                    num_rows: int, num_columns: int, schema: str, profile: str) -> DatasetVersion:
        check_dataset_name(name)
        meta = orjson.dumps({"digest": digest, "source": source, "num_rows": num_rows,
                             "num_columns": num_columns, "schema": schema, "profile": profile})
        with open(data_file, "rb") as handle:
            body = self._json("POST", f"/api/datasets/{quote(name, safe='')}/versions",
                              data={"meta": meta.decode()},
                              files={"data": ("data.parquet", handle, "application/octet-stream")})
        return DatasetVersion.from_dict(body)

    def get_dataset(self, name: str, version: int | None = None) -> DatasetVersion:
        which = "latest" if version is None else str(check_version("dataset", version))
        return DatasetVersion.from_dict(
            self._json("GET", f"/api/datasets/{quote(name, safe='')}/versions/{which}"))

    def list_datasets(self, name: str | None = None) -> list[DatasetVersion]:
        data = self._json("GET", "/api/datasets", params={"name": name} if name is not None else None)
        return [DatasetVersion.from_dict(d) for d in data["datasets"]]

    def open_dataset(self, name: str, version: int) -> Iterator[bytes]:
        version = check_version("dataset", version)
        return self._download(f"/api/datasets/{quote(name, safe='')}/versions/{version}/data")

    def link_dataset(self, run_id: str, name: str, version: int, role: str) -> None:
        self._send("POST", f"/api/runs/{_run(run_id)}/inputs",
                   json={"name": name, "version": version, "role": role})

    def dataset_uses(self, run_id: str | None = None, name: str | None = None,
                     version: int | None = None) -> list[DatasetUse]:
        if version is not None:
            check_version("dataset", version)
        params = {k: v for k, v in {"run_id": run_id, "name": name, "version": version}.items()
                  if v is not None}
        return [DatasetUse.from_dict(u) for u in self._json("GET", "/api/dataset-uses", params=params)["uses"]]

    # ------------------------------------------------------------------ model registry
    def create_registered_model(self, name: str, description: str = "",
                                tags: dict[str, str] | None = None) -> RegisteredModel:
        return RegisteredModel.from_dict(self._json("POST", "/api/registered-models", json={
            "name": check_model_name(name), "description": description or "", "tags": check_tags(tags)}))

    def get_registered_model(self, name: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self._json("GET", _model(name)))

    def list_registered_models(self) -> list[RegisteredModel]:
        return [RegisteredModel.from_dict(m) for m in self._json("GET", "/api/registered-models")["models"]]

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        return RegisteredModel.from_dict(self._json("PATCH", _model(name), json={"description": description}))

    def set_registered_model_tag(self, name: str, key: str, value: str | None) -> None:
        self._send("PUT", _model(name, "tags"), json={"key": key, "value": _tag_or_none(key, value)})

    def create_model_version(self, name: str, run_id: str, artifact_path: str, user: str,
                             description: str = "", tags: dict[str, str] | None = None) -> ModelVersion:
        return ModelVersion.from_dict(self._json("POST", _model(name, "versions"), json={
            "run_id": run_id, "artifact_path": artifact_path, "user": user,
            "description": description or "", "tags": check_tags(tags)}))

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return ModelVersion.from_dict(self._json("GET", _version(name, version)))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return ModelVersion.from_dict(self._json("GET", _model(name, "aliases", alias)))

    def list_model_versions(self, name: str | None = None, run_ids: Sequence[str] | None = None,
                            include_deleted: bool = False) -> list[ModelVersion]:
        data = self._json("POST", "/api/model-versions/search", json={
            "name": name, "run_ids": list(run_ids) if run_ids is not None else None,
            "include_deleted": include_deleted})
        return [ModelVersion.from_dict(v) for v in data["versions"]]

    def update_model_version(self, name: str, version: int, description: str) -> ModelVersion:
        return ModelVersion.from_dict(self._json("PATCH", _version(name, version),
                                                 json={"description": description}))

    def set_model_version_tag(self, name: str, version: int, key: str, value: str | None) -> None:
        self._send("PUT", _version(name, version, "tags"), json={"key": key, "value": _tag_or_none(key, value)})

    def transition_model_version_stage(self, name: str, version: int, stage: Stage, user: str,
                                       reason: str = "", forced: bool = False,
                                       expected_production: int | None = None,
                                       check_production: bool = False) -> ModelVersion:
        return ModelVersion.from_dict(self._json("POST", _version(name, version, "stage"), json={
            "stage": Stage.parse(stage).value, "user": user, "reason": reason, "forced": forced,
            "expected_production": expected_production, "check_production": check_production}))

    def set_model_alias(self, name: str, alias: str, version: int, user: str, reason: str = "") -> None:
        self._send("PUT", _model(name, "aliases", check_alias(alias)),
                   json={"version": check_model_version(version), "user": user, "reason": reason})

    def delete_model_alias(self, name: str, alias: str, user: str, reason: str = "") -> None:
        self._send("POST", _model(name, "aliases", alias, "delete"), json={"user": user, "reason": reason})

    def delete_model_version(self, name: str, version: int, user: str, reason: str = "") -> None:
        self._send("POST", _version(name, version, "delete"), json={"user": user, "reason": reason})

    def rollback_model(self, name: str, user: str, reason: str = "") -> ModelVersion:
        return ModelVersion.from_dict(self._json("POST", _model(name, "rollback"),
                                                 json={"user": user, "reason": reason}))

    def model_history(self, name: str) -> list[Transition]:
        return [Transition.from_dict(h) for h in self._json("GET", _model(name, "history"))["transitions"]]

    # ------------------------------------------------------------------ leases
    def acquire_lease(self, name: str, owner: str, ttl_s: float) -> Lease | None:
        name, owner, _ = check_lease_request(name, owner, ttl_s)
        found = self._json("POST", "/api/leases/acquire", json={"name": name, "owner": owner, "ttl_s": ttl_s})["lease"]
        return Lease.from_dict(found) if found is not None else None

    def release_lease(self, name: str, owner: str) -> None:
        name, owner, _ = check_lease_request(name, owner, 1)
        self._send("POST", "/api/leases/release", json={"name": name, "owner": owner})

    def get_lease(self, name: str) -> Lease | None:
        name, _, _ = check_lease_request(name, "-", 1)
        found = self._json("GET", "/api/leases", params={"name": name})["lease"]
        return Lease.from_dict(found) if found is not None else None

    # ------------------------------------------------------------------ deployments
    def create_deployment(self, name: str, model_name: str, stable_version: int, user: str,
                          config: dict | None = None, reason: str = "") -> Deployment:
        check_deployment_name(name)
        check_model_name(model_name)
        check_model_version(stable_version)
        check_deployment_event(user, "create", reason, None, None)
        config = check_deployment_changes({"config": config or {}})["config"]
        return Deployment.from_dict(self._json("POST", "/api/deployments", json={
            "name": name, "model_name": model_name, "stable_version": stable_version, "user": user,
            "config": config, "reason": reason}))

    def get_deployment(self, name: str) -> Deployment:
        return Deployment.from_dict(self._json("GET", "/api/deployments/get",
                                               params={"name": check_deployment_name(name)}))

    def list_deployments(self) -> list[Deployment]:
        return [Deployment.from_dict(x) for x in self._json("GET", "/api/deployments")["deployments"]]

    def update_deployment(self, name: str, revision: int, user: str, kind: str, reason: str = "",
                          numbers: dict | None = None, epoch: int | None = None, **changes) -> Deployment:
        check_deployment_name(name)
        if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
            raise InvalidInput(f"A deployment revision is a whole number of at least 1; got {revision!r}.")
        check_deployment_event(user, kind, reason, numbers, epoch)
        changes = check_deployment_changes(changes)
        return Deployment.from_dict(self._json("POST", "/api/deployments/update", json={
            "name": name, "revision": revision, "user": user, "kind": kind, "reason": reason, "numbers": numbers,
            "epoch": epoch, "changes": changes}))

    def deployment_events(self, name: str, after_seq: int = 0) -> list[DeploymentEvent]:
        data = self._json("GET", "/api/deployments/events",
                          params={"name": check_deployment_name(name), "after_seq": int(after_seq)})
        return [DeploymentEvent.from_dict(x) for x in data["events"]]

    def record_deployment_stats(self, name: str, worker: str, start_ms: int, end_ms: int,
                                stats: list[ArmStats]) -> None:
        from modelcycle.store.validation import check_arm_stats, check_stats_window

        check_deployment_name(name)
        check_stats_window(start_ms, end_ms)
        check_arm_stats(stats)
        self._send("POST", "/api/deployments/stats", json={
            "name": name, "worker": worker, "start_ms": start_ms, "end_ms": end_ms,
            "stats": [a.to_dict() for a in stats]})

    def deployment_stats(self, name: str, since_ms: int, until_ms: int | None = None) -> dict[str, ArmStats]:
        params = {"name": check_deployment_name(name), "since_ms": since_ms}
        if until_ms is not None:
            params["until_ms"] = until_ms
        found = [ArmStats.from_dict(a) for a in self._json("GET", "/api/deployments/stats", params=params)["stats"]]
        return {a.arm: a for a in found}

    # ------------------------------------------------------------------ saved views
    def save_view(self, query: str) -> SavedView:
        query = check_view_query(query)
        saved = self._json("POST", "/api/views", json={"query": query})
        return SavedView(saved["id"], query, int(saved["created_at"]))

    def get_view(self, view_id: str) -> SavedView:
        return SavedView.from_dict(self._json("GET", f"/api/views/{check_view_id(view_id)}"))

    # ------------------------------------------------------------------ monitoring
    def record_monitor_results(self, model: str, points) -> None:
        from modelcycle.store.sql_monitoring import MAX_POINTS, check_points

        model, points = check_points(model, points)
        for start in range(0, len(points), MAX_POINTS // 5):  # bodies of a few MiB at most
            self._send("POST", "/api/monitor/results", json={
                "model": model, "points": [p.to_dict() for p in points[start:start + MAX_POINTS // 5]]})

    def monitor_results(self, model: str, version: int | None = None, start_ms: int | None = None,
                        end_ms: int | None = None, metrics=None) -> list[MonitorPoint]:
        from modelcycle.store.sql_monitoring import check_result_query

        metrics = check_result_query(model, version, start_ms, end_ms, metrics)
        data = self._json("POST", "/api/monitor/results/search", json={
            "model": model, "version": version, "start_ms": start_ms, "end_ms": end_ms, "metrics": metrics})
        return [MonitorPoint.from_dict(x) for x in data["points"]]

    def monitor_windows(self, model: str) -> dict[int, int]:
        data = self._json("GET", "/api/monitor/windows", params={"model": check_model_name(model)})
        return {int(k): int(v) for k, v in data["windows"].items()}

    def save_alert_states(self, model: str, states) -> None:
        from modelcycle.store.sql_monitoring import check_alert_states

        model, states = check_alert_states(model, states)
        self._send("POST", "/api/monitor/alert-states", json={"model": model, "states": [s.to_dict() for s in states]})

    def alert_states(self, model: str | None = None) -> list[AlertState]:
        params = {} if model is None else {"model": check_model_name(model)}
        return [AlertState.from_dict(x) for x in self._json("GET", "/api/monitor/alerts", params=params)["alerts"]]

    def delete_alert_states(self, model: str, fingerprints) -> None:
        self._send("POST", "/api/monitor/alerts/delete",
                   json={"model": check_model_name(model), "fingerprints": list(fingerprints)})

    def add_monitor_event(self, model: str, kind: str, data: dict) -> MonitorEvent:
        from modelcycle.store.sql_monitoring import check_event

        check_event(model, kind, data)
        return MonitorEvent.from_dict(self._json("POST", "/api/monitor/events",
                                                 json={"model": model, "kind": kind, "data": data}))

    def monitor_events(self, model: str, kind: str | None = None, after_seq: int = 0,
                       limit: int = 1000) -> list[MonitorEvent]:
        params = {"model": check_model_name(model), "after_seq": after_seq, "limit": limit}
        if kind is not None:
            params["kind"] = kind
        return [MonitorEvent.from_dict(x) for x in self._json("GET", "/api/monitor/events", params=params)["events"]]


def _model(name: str, *parts: object) -> str:
    """The URL of a registered model (or below it); names and aliases are checked first, so
    that a bad one reads the same as from the SQL store."""
    path = "/api/registered-models/" + quote(check_model_name(name), safe="")
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, str)):
            raise InvalidInput(f"Expected a version number or a name; got {part!r}.")
        path += "/" + quote(str(part), safe="")
    return path


def _version(name: str, version: int, *parts: str) -> str:
    return _model(name, "versions", check_model_version(version), *parts)


def _tag_or_none(key: str, value: object) -> str | None:
    return None if value is None else check_tag_value(key, value)


def _run(run_id: str) -> str:
    return check_run_id(run_id)


def _experiment(experiment_id: int) -> int:
    return check_experiment_id(experiment_id)


def _error_from(response: httpx.Response) -> ModelcycleError:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return _not_a_tracking_server(response)
    cls = ERRORS_BY_CODE.get(body["error"], ModelcycleError)
    return cls(body.get("message") or response.reason_phrase)


def _not_a_tracking_server(response: httpx.Response) -> StoreUnavailable:
    """Every answer of a tracking server is JSON, its errors {"error": CODE, ...}; anything else
    comes from something else at that address (a proxy whose upstream is down, a model server)."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    text = " ".join(response.text.split())
    said = f": {text[:100]!r}" if text else ""
    return StoreUnavailable(
        f"{response.request.url} answered {response.status_code} {response.reason_phrase} ({kind}{said}), "
        "which is not an answer of a modelcycle tracking server: is the server behind a proxy down, or "
        "another server at this address? Give --tracking-uri the address of `modelcycle server`.")

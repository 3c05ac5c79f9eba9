"""REST routes of the monitor: its results per window, alert state and event log, so monitors
and readers on any host share one history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import Field

from modelcycle.server import wire
from modelcycle.store.base import Store
from modelcycle.store.entities import AlertState, MonitorPoint
from modelcycle.store.sql_monitoring import MAX_POINTS


ModelQuery = Annotated[str, Query(json_schema_extra=wire.MODEL_NAME)]
Millis = Annotated[wire.Integer, Field(ge=0, le=2**62)]


class RecordResults(wire._Body):
    model: wire.ModelName
    points: Annotated[list[dict[str, Any]], Field(max_length=MAX_POINTS)]


class SearchResults(wire._Body):
    model: wire.ModelName
    version: Annotated[wire.Integer, Field(ge=0, le=2**31 - 1)] | None = None  # 0: no version
    start_ms: Millis | None = None
    end_ms: Millis | None = None
    metrics: list[wire.Name] | None = None


class SaveAlerts(wire._Body):
    model: wire.ModelName
    states: Annotated[list[dict[str, Any]], Field(max_length=10_000)]


class DeleteAlerts(wire._Body):
    model: wire.ModelName
    fingerprints: Annotated[list[wire.Name], Field(max_length=10_000)]


class AddEvent(wire._Body):
    model: wire.ModelName
    kind: Annotated[str, Field(pattern=r"^[A-Za-z_]{1,32}$")]
    data: dict[str, Any] = Field(default_factory=dict)


def _parsed(cls, items: list[dict], what: str):
    from modelcycle.exceptions import InvalidInput

    try:
        return [cls.from_dict(x) for x in items]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"A {what} is incomplete or malformed ({exc!r}).") from None


def add_monitoring_routes(app: FastAPI, store: Store) -> None:
    # The two writes of points and alert states are the store's own plumbing (RestStore), with
    # rules across fields (a window ends after it starts) that a JSON schema cannot state; they
    # stay out of the published schema, and the store contract suite covers them.
    tags = ["monitoring"]

    @app.post("/api/monitor/results", status_code=204, tags=tags, responses=wire.errors(),
              include_in_schema=False)
    def record_monitor_results(body: RecordResults):
        store.record_monitor_results(body.model, _parsed(MonitorPoint, body.points, "monitor result"))

    @app.post("/api/monitor/results/search", tags=tags, responses=wire.errors())
    def monitor_results(body: SearchResults):
        points = store.monitor_results(body.model, body.version, body.start_ms, body.end_ms, body.metrics)
        return {"points": [p.to_dict() for p in points]}

    @app.get("/api/monitor/windows", tags=tags, responses=wire.errors())
    def monitor_windows(model: ModelQuery):
        return {"windows": {str(k): v for k, v in store.monitor_windows(model).items()}}

    @app.post("/api/monitor/alert-states", status_code=204, tags=tags, responses=wire.errors(),
              include_in_schema=False)
    def save_alert_states(body: SaveAlerts):
        store.save_alert_states(body.model, _parsed(AlertState, body.states, "alert state"))

    @app.get("/api/monitor/alerts", tags=tags, responses=wire.errors())
    def alert_states(model: Annotated[wire.ModelName | None, Query()] = None):
        return {"alerts": [s.to_dict() for s in store.alert_states(model)]}

    @app.post("/api/monitor/alerts/delete", status_code=204, tags=tags, responses=wire.errors())
    def delete_alert_states(body: DeleteAlerts):
        store.delete_alert_states(body.model, body.fingerprints)

    @app.post("/api/monitor/events", tags=tags, responses=wire.errors())
    def add_monitor_event(body: AddEvent):
        return store.add_monitor_event(body.model, body.kind, body.data).to_dict()

    @app.get("/api/monitor/events", tags=tags, responses=wire.errors())
    def monitor_events(model: ModelQuery, kind: Annotated[str | None, Query(pattern=r"^[A-Za-z_]{1,32}$")] = None,
                       after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
                       limit: Annotated[int, Query(ge=1, le=50_000)] = 1000):
        return {"events": [e.to_dict() for e in store.monitor_events(model, kind, after_seq, limit)]}

"""REST routes of deployments: every model server of every host reads its deployment through
them and writes what it saw; the leader of a deployment's analysis writes its steps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query
from pydantic import Field

from modelcycle.server import wire
from modelcycle.store.base import Store
from modelcycle.store.entities import ArmStats

def _whole(low: int) -> Field:
    """A whole number from ``low`` to 2**62 (a float exactly, as JSON Schema tools read it), validated and declared in the schema alike."""
    return Field(ge=low, le=2**62, json_schema_extra={"type": "integer", "minimum": low, "maximum": 2**62})


Millis = Annotated[wire.Integer, _whole(0)]
Count = Annotated[wire.Integer, _whole(0)]
Positive = Annotated[wire.Integer, _whole(1)]
Kind = Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
Arm = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]


class CreateDeployment(wire.Audited):
    name: wire.Name
    model_name: wire.ModelName
    stable_version: wire.Version
    config: dict[str, Any] = Field(default_factory=dict)


class UpdateDeployment(wire.Audited):
    name: wire.Name
    revision: Positive
    kind: Kind
    numbers: dict[str, Any] | None = None
    epoch: Positive | None = None
    changes: dict[str, Any] = Field(default_factory=dict)


class ArmStatsIn(wire._Body):
    arm: Arm
    version: wire.Version | None = None
    requests: Count
    errors: Count
    latency: Annotated[list[Count], Field(max_length=62)] = Field(default_factory=list)


class RecordStats(wire._Body):
    name: wire.Name
    worker: wire.Name
    start_ms: Millis
    end_ms: Millis
    stats: Annotated[list[ArmStatsIn], Field(max_length=16)]


def add_deployment_routes(app: FastAPI, store: Store) -> None:
    tags = ["deployments"]
    base = "/api/deployments"

    @app.post(base, status_code=201, tags=tags, responses=wire.errors(404, 409))
    def create_deployment(body: CreateDeployment):
        store.get_model_version(body.model_name, body.stable_version)  # 404 before the config is read
        return store.create_deployment(body.name, body.model_name, body.stable_version, body.user, body.config,
                                       body.reason).to_dict()

    @app.get(base, tags=tags, responses=wire.errors())
    def list_deployments():
        return {"deployments": [x.to_dict() for x in store.list_deployments()]}

    @app.get(base + "/get", tags=tags, responses=wire.errors(404))
    def get_deployment(name: wire.NameQuery):
        return store.get_deployment(name).to_dict()

    @app.post(base + "/update", tags=tags, responses=wire.errors(404, 409))
    def update_deployment(body: UpdateDeployment):
        """Compare-and-set: 409 when the deployment is no longer at ``revision``."""
        store.get_deployment(body.name)  # 404 before the changes are read
        return store.update_deployment(body.name, body.revision, body.user, body.kind, body.reason, body.numbers,
                                       body.epoch, **body.changes).to_dict()

    @app.get(base + "/events", tags=tags, responses=wire.errors(404))
    def deployment_events(name: wire.NameQuery, after_seq: Annotated[int, Query(ge=0, lt=2**31)] = 0):
        return {"events": [x.to_dict() for x in store.deployment_events(name, after_seq)]}

    @app.post(base + "/stats", status_code=204, tags=tags, responses=wire.errors(404))
    def record_deployment_stats(body: RecordStats):
        store.get_deployment(body.name)
        store.record_deployment_stats(body.name, body.worker, body.start_ms, max(body.start_ms, body.end_ms),
                                      [ArmStats(a.arm, a.version, a.requests, min(a.errors, a.requests),
                                                tuple(a.latency)) for a in body.stats])

    @app.get(base + "/stats", tags=tags, responses=wire.errors(404))
    def deployment_stats(name: wire.NameQuery, since_ms: Annotated[int, Query(ge=0, lt=2**62)] = 0,
                         until_ms: Annotated[int | None, Query(ge=0, lt=2**62)] = None):
        found = store.deployment_stats(name, since_ms, None if until_ms is None else max(since_ms, until_ms))
        return {"stats": [a.to_dict() for a in found.values()]}

"""REST routes of leases: the servers and monitors of several hosts, behind one tracking server,
agree through them on who does work that must happen once."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI
from pydantic import Field

from modelcycle.server import wire
from modelcycle.store.base import Store
from modelcycle.store.validation import MAX_LEASE_S


class LeaseRequest(wire._Body):
    name: wire.Name
    owner: wire.Name
    ttl_s: Annotated[float, Field(gt=0, le=MAX_LEASE_S, strict=True)]  # not true, not "1.5"


class LeaseRelease(wire._Body):
    name: wire.Name
    owner: wire.Name


def _lease(lease) -> dict:
    return {"lease": lease.to_dict() if lease is not None else None}


def add_lease_routes(app: FastAPI, store: Store) -> None:
    tags = ["leases"]

    @app.post("/api/leases/acquire", tags=tags, responses=wire.errors())
    def acquire_lease(body: LeaseRequest):
        """The lease, taken or renewed; ``{"lease": null}`` while another owner holds it."""
        return _lease(store.acquire_lease(body.name, body.owner, body.ttl_s))

    @app.post("/api/leases/release", status_code=204, tags=tags, responses=wire.errors())
    def release_lease(body: LeaseRelease):
        store.release_lease(body.name, body.owner)

    @app.get("/api/leases", tags=tags, responses=wire.errors())
    def get_lease(name: wire.NameQuery):
        return _lease(store.get_lease(name))

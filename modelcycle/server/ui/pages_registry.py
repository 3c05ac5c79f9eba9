"""Pages of datasets, the model registry, deployments and monitoring."""

from __future__ import annotations

from fastapi import APIRouter

from modelcycle.store.base import Store


def add_routes(router: APIRouter, store: Store) -> None:
    pass

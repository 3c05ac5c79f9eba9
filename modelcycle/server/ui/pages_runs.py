"""Pages of experiments and runs: the experiments list, an experiment's runs, a run, its
artifacts, and the comparison of runs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from modelcycle.server.ui.render import page
from modelcycle.store.base import Store


def add_routes(router: APIRouter, store: Store) -> None:

    @router.get("/experiments")
    def experiments(request: Request, q: str = ""):
        found = [e for e in store.list_experiments() if q.lower() in e.name.lower()]
        return page(request, "experiments.html", experiments=found, q=q)

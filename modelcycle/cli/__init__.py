"""The `modelcycle` command: thin commands that parse, call the public API and render.

Each command group is a module of this package with a Typer `app` (named after the group, or
unnamed for top-level commands); it imports `common` and nothing of its siblings. A new group
is one more name in GROUPS.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Optional

import typer

from modelcycle.cli import common

GROUPS = (  # modules of this package, in the order `--help` lists them
    "server",
    "experiments",
    "runs",
    "data",
    "models",
    "serve",
    "predict",
    "train",
    "deploy",
    "monitor",
)

app = typer.Typer(help="modelcycle: data, experiments, models, serving and monitoring in one tool.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
for _group in GROUPS:
    app.add_typer(importlib.import_module(f"modelcycle.cli.{_group}").app)


@app.callback()
def _global(
    tracking_uri: Annotated[Optional[str], typer.Option(
        "--tracking-uri", envvar="MODELCYCLE_TRACKING_URI",
        help="Database URL or http://server:port (default: the embedded store).")] = None,
) -> None:
    if tracking_uri:
        from modelcycle.tracking import fluent

        fluent.set_tracking_uri(tracking_uri)


def main() -> None:
    common.run(app)

"""`modelcycle quickstart` and `modelcycle server`: top-level commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from modelcycle.render import console

app = typer.Typer()  # no name: its commands sit at the top level


@app.command()
def quickstart(
    experiment: Annotated[str, typer.Option(help="Experiment to log the runs to.")] = "quickstart",
) -> None:
    """Run a small real experiment end to end on the embedded store and compare its runs."""
    from modelcycle.quickstart import run_quickstart

    run_quickstart(experiment)


@app.command()
def server(
    store: Annotated[Optional[str], typer.Option(help="Database URL (default: the embedded SQLite).")] = None,
    artifacts: Annotated[Optional[str], typer.Option(help="Artifact folder or fsspec URL.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 5050,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
) -> None:
    """Serve the tracking REST API (OpenAPI at /docs)."""
    from modelcycle import config
    from modelcycle.server.app import serve

    store = store or config.tracking_uri()
    if store.startswith(("http://", "https://")):
        raise typer.BadParameter("--store must be a database URL, not a server address.")
    artifacts = artifacts or config.artifact_uri()
    console.print(f"modelcycle server on http://{host}:{port}  (API docs: /docs)\n"
                  f"  store: {store}\n  artifacts: {artifacts}", markup=False)
    serve(store, artifacts, host, port, workers)

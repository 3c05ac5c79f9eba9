"""`modelcycle quickstart` and `modelcycle server`: top-level commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from modelcycle.exceptions import Conflict, InvalidInput, StoreUnavailable
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
    _check_can_serve(store, artifacts, host, port)
    console.print(f"modelcycle server on http://{host}:{port}  (API docs: /docs)\n"
                  f"  store: {store}\n  artifacts: {artifacts}", markup=False)
    serve(store, artifacts, host, port, workers)


def _check_can_serve(store: str, artifacts: str, host: str, port: int) -> None:
    """What would stop the server, found before it announces itself: the database, the artifact
    folder, the address."""
    import errno
    import socket
    from pathlib import Path

    from modelcycle.store.sql import SqlStore

    if "://" not in artifacts and Path(artifacts).exists() and not Path(artifacts).is_dir():
        raise InvalidInput(f"--artifacts {artifacts!r} is a file, not a folder; give a folder (created if "
                           "missing) or an fsspec URL such as s3://bucket/prefix.")
    try:
        SqlStore(store, artifacts).close()
    except OSError as exc:  # the artifact store: an unreachable host, a refused folder
        raise StoreUnavailable(f"Cannot open the artifact store {artifacts}: {exc.strerror or exc}.") from None
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"Cannot listen on {host}:{port}: {exc.strerror}; give --host an address of "
                           "this machine, such as 127.0.0.1 or 0.0.0.0.") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"Cannot listen on {host}:{port}: the address is in use (another server?); "
                               "stop it or choose another --port.") from None
            raise InvalidInput(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None

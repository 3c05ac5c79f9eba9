"""`modelcycle serve REF`: the model server."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from modelcycle.render import console

app = typer.Typer()  # no name: `serve` sits at the top level


@app.command()
def serve(
    ref: Annotated[Optional[str], typer.Argument(
        help="What to serve: fraud@production, fraud@champion, fraud/4, models:/..., runs:/<run_id>/model "
             "or a model folder (none with --deployment).")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port.")] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes sharing the port.")] = 1,
    grpc_port: Annotated[Optional[int], typer.Option(
        "--grpc-port", min=1, max=65535, help="Also serve the V2 protocol over gRPC on this port.")] = None,
    backend: Annotated[str, typer.Option(
        help="auto (ONNX where the model has an ONNX form), onnx or native.")] = "auto",
    batching: Annotated[bool, typer.Option(
        "--batching/--no-batching", help="Coalesce concurrent requests into one predict call.")] = True,
    max_batch_size: Annotated[Optional[int], typer.Option(min=1, help="Rows in one predict call at most.")] = None,
    max_batch_delay_ms: Annotated[Optional[float], typer.Option(
        min=0, help="How long a batch waits for more requests, in milliseconds.")] = None,
    refresh_interval: Annotated[Optional[float], typer.Option(
        "--refresh-interval", min=0.1, help="Seconds between looks at the store for a moved reference.")] = None,
    deployment: Annotated[Optional[str], typer.Option(
        "--deployment", help="Serve this deployment's versions, routing each request to an arm "
                             "(`modelcycle deploy create`).")] = None,
) -> None:
    """Serve a model over REST (Open Inference Protocol V2 and /invocations) and, with --grpc-port, gRPC.

    When REF moves (a promotion, an alias move, a rollback), every worker loads the new version,
    warms it up and swaps it in without dropping a request."""
    import os

    from modelcycle.serving.server import ServeOptions, check_ports, check_ref, run

    if backend not in ("auto", "onnx", "native"):
        raise typer.BadParameter("must be auto, onnx or native", param_hint="--backend")
    if grpc_port is not None and grpc_port == port:
        raise typer.BadParameter("must differ from --port", param_hint="--grpc-port")
    if (ref is None) == (deployment is None):
        raise typer.BadParameter("name what to serve: a REF, or --deployment NAME (not both)", param_hint="REF")
    options = ServeOptions(ref=ref, host=host, port=port, workers=workers, grpc_port=grpc_port, backend=backend,
                           deployment=deployment)
    if deployment is not None:
        from modelcycle.tracking.fluent import client

        found = client().store.get_deployment(deployment)
        serving = ", ".join(f"{arm}=v{v} {found.shares.get(arm, 0):g}%" for arm, v in found.arms.items())
        ref = f"deployment {deployment}"
    else:
        serving = check_ref(options)
    for variable, value in (("MODELCYCLE_SERVE_BATCHING", None if batching else "0"),
                            ("MODELCYCLE_SERVE_MAX_BATCH_SIZE", max_batch_size),
                            ("MODELCYCLE_SERVE_MAX_BATCH_DELAY_MS", max_batch_delay_ms),
                            ("MODELCYCLE_SERVE_REFRESH_INTERVAL_S", refresh_interval)):
        if value is not None:
            os.environ[variable] = str(value)
    check_ports(options)
    console.print(f"serving {ref} ({serving}) on http://{host}:{port} with {workers} worker"
                  f"{'s' if workers > 1 else ''}" + (f", gRPC on {host}:{grpc_port}" if grpc_port else "")
                  + "\n  V2: /v2/models/{name}/infer   MLflow: /invocations   docs: /docs   metrics: /metrics",
                  markup=False, highlight=False)
    run(options)

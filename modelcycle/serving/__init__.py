"""Serving: the model server (V2 REST and gRPC, MLflow /invocations), micro-batching, model
swaps, metrics, the prediction log and batch scoring."""

# Imported on first use: the server stack (Starlette, onnxruntime, prometheus_client) is heavy,
# and `modelcycle predict` or `mc.read_predictions` need none of it.
_LAZY = {
    "modelcycle.serving.batch": ("predict_batch",),
    "modelcycle.serving.feedback": ("log_feedback", "read_predictions"),
    "modelcycle.serving.settings": ("ServingSettings",),
    "modelcycle.serving.runtime": ("ServedModel",),
    "modelcycle.serving.app": ("create_app",),
}


def __getattr__(name: str):
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'modelcycle.serving' has no attribute {name!r}")


__all__ = sorted(name for names in _LAZY.values() for name in names)

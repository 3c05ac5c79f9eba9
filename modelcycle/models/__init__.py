"""Models: flavors, signatures, ONNX forms, and loading by URI."""

# Imported on first use: the model stack (pandas, the converters) is heavy, and the registry
# and the CLI import the light parts (modelcycle.models.uris) on every start.
_LAZY = {
    "modelcycle.models.api": ("LoadedModel", "ModelInfo", "load_model", "log_model", "read_manifest"),
    "modelcycle.models.manifest": ("Manifest",),
    "modelcycle.models.signature": ("ColumnSpec", "Signature", "TensorSpec", "infer_signature"),
}


def __getattr__(name: str):
    import importlib

    for module, names in _LAZY.items():
        if name in names:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'modelcycle.models' has no attribute {name!r}")


__all__ = sorted(name for names in _LAZY.values() for name in names)

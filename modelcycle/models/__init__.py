"""Models: flavors, signatures, ONNX forms, and loading by URI."""

from modelcycle.models.api import LoadedModel, ModelInfo, load_model, log_model, read_manifest
from modelcycle.models.manifest import Manifest
from modelcycle.models.signature import ColumnSpec, Signature, TensorSpec, infer_signature

__all__ = ["ColumnSpec", "LoadedModel", "Manifest", "ModelInfo", "Signature", "TensorSpec", "infer_signature",
           "load_model", "log_model", "read_manifest"]

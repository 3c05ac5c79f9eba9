"""ONNX forms of models: exported where the converters support the model, kept only when they
agree with the native model on the input example, and run with onnxruntime (no unpickling)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.exceptions import InvalidInput
from modelcycle.models.signature import Signature, TensorSpec

OPSET = {"": 17, "ai.onnx.ml": 3}
MLTOOLS_OPSET = 15  # the highest onnxmltools' tree converters support
PROBABILITY_TOLERANCE = 1e-4
REGRESSION_TOLERANCE = 1e-4  # relative to the largest prediction


class OnnxPredictor:
    def __init__(self, model: bytes | str | Path, inputs: str, task: str, columns: list[str] | None,
                 string_columns: list[str] | None = None, refuse_missing: list[str] | None = None,
                 on_missing: Callable[[Any], None] | None = None):
        """``refuse_missing``: the input columns ("*": any) where a NaN makes ``on_missing`` raise."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        source = str(model) if isinstance(model, Path) else model
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.source = source  # a file path or the model's bytes: a server builds its own session from it
        self.inputs, self.task, self.columns = inputs, task, columns
        self.string_columns = set(string_columns or ())
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.refuse_missing, self.on_missing = set(refuse_missing or ()), on_missing

    def _feed(self, X) -> dict[str, np.ndarray]:
        if self.inputs == "columns":
            feed = {name: (X[name].astype(str).to_numpy(dtype=object) if name in self.string_columns
                           else _float32(_numbers(X[name]), f"Column {name!r}")).reshape(-1, 1)
                    for name in self.input_names}
            checked = [feed[name] for name in self.input_names if name in self.refuse_missing]
        else:
            matrix = _float32(_numbers(X) if isinstance(X, pd.DataFrame) else np.asarray(X), "The input")
            feed = {self.input_names[0]: matrix}
            checked = [matrix] if self.refuse_missing else []
        # On the arrays made for onnxruntime anyway: a few microseconds, not another pass over a frame.
        if self.on_missing is not None and any(np.isnan(array).any() for array in checked):
            self.on_missing(X)  # raises when a refused column has one
        return feed

    def _run(self, X) -> list:
        return self.session.run(None, self._feed(X))

    def predict(self, X) -> np.ndarray:
        out = self._run(X)[0]
        return out.ravel() if self.task == "regression" or (out.ndim == 2 and out.shape[1] == 1) else out

    def predict_proba(self, X) -> np.ndarray:
        return np.asarray(self._run(X)[1])


def _numbers(data: pd.DataFrame | pd.Series) -> np.ndarray:
    dtypes = data.dtypes if isinstance(data, pd.DataFrame) else [data.dtype]
    if any(isinstance(d, pd.api.extensions.ExtensionDtype) for d in dtypes):  # nullable: NA becomes NaN
        return data.to_numpy(dtype=np.float64, na_value=np.nan)
    return data.to_numpy()


def _float32(values: np.ndarray, what: str) -> np.ndarray:
    """The ONNX forms compute in float32: a finite value beyond its range is refused, not made infinite."""
    if values.dtype.kind == "f" and values.dtype.itemsize > 4:
        with np.errstate(invalid="ignore"):
            beyond = np.flatnonzero(np.isfinite(values) & (np.abs(values) > np.finfo(np.float32).max))
        if beyond.size:
            where = ", ".join(str(int(i)) for i in np.unravel_index(beyond[0], values.shape))
            raise InvalidInput(f"{what} has {values.flat[beyond[0]].item()!r} at [{where}], beyond the range of "
                               "float32, in which the ONNX form computes. Load the model with backend='native'.")
    return values.astype(np.float32)


def _initial_types(signature: Signature, flavor: str):
    if flavor == "sklearn":
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    else:  # onnxmltools checks for its own classes
        from onnxmltools.convert.common.data_types import FloatTensorType, StringTensorType

    spec = signature.inputs
    if isinstance(spec, TensorSpec):
        if np.dtype(spec.dtype).kind not in "biuf":
            return None, None, f"the input tensor is {spec.dtype}, which the converters do not take"
        return [("input", FloatTensorType([None, *spec.shape[1:]]))], "matrix", None
    if all(c.type != "string" and c.type != "datetime" for c in spec):
        return [("input", FloatTensorType([None, len(spec)]))], "matrix", None
    if any(c.type == "datetime" for c in spec):
        return None, None, "datetime columns have no ONNX input type"
    return [(c.name, StringTensorType([None, 1]) if c.type == "string" else FloatTensorType([None, 1]))
            for c in spec], "columns", None


def _without_zipmap(onx):
    """Classifiers end in a ZipMap (a list of {class: probability} dicts); expose the
    probability tensor it reads instead."""
    from onnx import TensorProto, helper

    graph = onx.graph
    for node in [n for n in graph.node if n.op_type == "ZipMap"]:
        graph.node.remove(node)
        for i, output in enumerate(graph.output):
            if output.name == node.output[0]:
                graph.output.remove(output)
                graph.output.insert(i, helper.make_tensor_value_info(node.input[0], TensorProto.FLOAT, None))
    return onx


def _convert(model: Any, flavor: str, initial_types, classifier: bool):
    if flavor == "sklearn":
        from skl2onnx import to_onnx

        # Converted with default options and the ZipMap removed afterwards: asking the converter
        # for zipmap=False makes it walk every attribute of every tree of a forest, which costs
        # several times the conversion itself.
        onx = to_onnx(model, initial_types=initial_types, target_opset=OPSET)
        return _without_zipmap(onx), f"skl2onnx {metadata.version('skl2onnx')}"
    from onnxmltools.convert import convert_lightgbm, convert_xgboost

    if flavor == "xgboost":
        # The converter reads features as f0, f1, ...: names from a DataFrame confuse it.
        model = copy.deepcopy(model)
        model.get_booster().feature_names = None
        return convert_xgboost(model, initial_types=initial_types, target_opset=MLTOOLS_OPSET), \
            f"onnxmltools {metadata.version('onnxmltools')}"
    return convert_lightgbm(model, initial_types=initial_types, zipmap=False, target_opset=MLTOOLS_OPSET), \
        f"onnxmltools {metadata.version('onnxmltools')}"


def export(model: Any, flavor: str, task: str, signature: Signature | None, example, native_predictions,
           target: Path) -> dict[str, Any]:
    """Write ``target`` (an .onnx file) when the model converts and agrees with its native form
    on ``example``. Returns the manifest's onnx section: file and agreement, or why not."""
    if flavor == "python":
        return {"file": None, "reason": "a python-function model has no ONNX converter"}
    if signature is None or example is None:
        return {"file": None, "reason": "no input_example to check an ONNX export against; pass input_example="}
    initial_types, inputs, problem = _initial_types(signature, flavor)
    if problem:
        return {"file": None, "reason": problem}
    classifier = task == "classification"
    try:
        onx, converter = _convert(model, flavor, initial_types, classifier)
        data = onx.SerializeToString()
        strings = [c.name for c in signature.inputs if c.type == "string"] if inputs == "columns" else None
        predictor = OnnxPredictor(data, inputs, task, signature.columns, strings)
        got = predictor.predict(example)
        if classifier:
            proba = predictor.predict_proba(example)
    except Exception as exc:  # every converter failure means: no ONNX form, and say why
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {"file": None, "reason": f"the converter failed: {type(exc).__name__}: {message[:300]}"}
    expected_labels, expected_proba = native_predictions
    if classifier:
        diff = float(np.max(np.abs(proba - expected_proba))) if proba.shape == expected_proba.shape else np.inf
        mismatched = int(np.sum(np.asarray(got).astype(str) != np.asarray(expected_labels).astype(str)))
        ok = diff <= PROBABILITY_TOLERANCE and mismatched == 0
        detail = f"probabilities differ by up to {diff:.3g} and {mismatched} labels differ"
        tolerance = PROBABILITY_TOLERANCE
    else:
        expected = np.asarray(expected_labels, dtype=np.float64).ravel()
        diff = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected))) if got.size == expected.size else np.inf
        tolerance = REGRESSION_TOLERANCE * max(1.0, float(np.max(np.abs(expected))))
        ok = diff <= tolerance
        detail = f"predictions differ by up to {diff:.3g}"
    if not ok:
        return {"file": None, "reason": f"the ONNX export disagrees with the native model on the input "
                                        f"example: {detail} (tolerance {tolerance:.3g})"}
    target.write_bytes(data)
    return {"file": target.name, "converter": converter, "opset": {o.domain or "ai.onnx": o.version for o in onx.opset_import}, "inputs": inputs,
            "string_columns": strings, "max_abs_diff": diff, "checked_rows": int(len(example))}

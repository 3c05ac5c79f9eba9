"""One loaded model version, ready for the hot path.

Inputs are checked against the signature without pandas (building a DataFrame costs more than
the ONNX forest's predict), and the ONNX feed is built straight from numpy columns. Only the
native fallback turns the columns into a DataFrame, because the native model was fitted on one.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import orjson

from modelcycle.exceptions import InvalidInput, ModelcycleError

if TYPE_CHECKING:
    from modelcycle.models.api import LoadedModel
    from modelcycle.models.signature import Signature

Inputs = Union[dict[str, np.ndarray], np.ndarray]
Outputs = dict[str, np.ndarray]

WARM_UP_ROWS = 8
_F32_MAX = float(np.finfo(np.float32).max)
_INT_DTYPES = {"integer": np.dtype(np.int32), "long": np.dtype(np.int64)}
_FLOAT_DTYPES = {"float": np.dtype(np.float32), "double": np.dtype(np.float64)}
_DATETIME = np.dtype("datetime64[ns]")
_KIND_NAMES = {"b": "boolean", "i": "integer", "u": "unsigned integer", "f": "float", "c": "complex",
               "U": "string", "S": "bytes", "M": "datetime", "m": "timedelta", "O": "mixed values"}


_PYTHON_TYPES = {str: "string", bytes: "bytes", int: "integer", float: "float", bool: "boolean", list: "a list",
                 dict: "an object"}


def _got(values: np.ndarray) -> str:
    return f"{_KIND_NAMES.get(values.dtype.kind, str(values.dtype))} ({values.dtype})"


def _like(values: np.ndarray) -> str:
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in values.ravel()[:3])
    return shown or "no values"


def _bad_column(name: str, expected: str, values: np.ndarray, why: str = "") -> InvalidInput:
    return InvalidInput(f"Column {name!r} must be {expected}; got {why or _got(values)} "
                        f"(values like {_like(values)}).")


def _python_values(name: str, expected: str, values: np.ndarray, accept) -> None:
    """Object arrays (JSON with nulls or mixed types) are checked element by element."""
    for v in values:
        if not accept(v):
            kind = "null" if v is None else _PYTHON_TYPES.get(type(v), type(v).__name__)
            raise InvalidInput(f"Column {name!r} must be {expected}; got {kind} {v!r}.")


def conform_column(name: str, expected: str, values: np.ndarray) -> np.ndarray:
    """``values`` (1-D) as the dtype of the signature type ``expected``, or an InvalidInput
    naming the column, the type it takes and what came. Nothing is converted with loss."""
    kind = values.dtype.kind
    if expected in _FLOAT_DTYPES:
        dtype = _FLOAT_DTYPES[expected]
        if kind in "fiu":  # not booleans: true in a number column is a mistake, not 1.0
            return values if values.dtype == dtype else values.astype(dtype)
        if kind == "O":  # JSON null in a number column is a missing value (NaN), as in pandas
            _python_values(name, expected, values,
                           lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)))
            return values.astype(dtype)
        raise _bad_column(name, expected, values)
    if expected in _INT_DTYPES:
        dtype = _INT_DTYPES[expected]
        if kind == "O":
            _python_values(name, expected, values, lambda v: isinstance(v, int) and not isinstance(v, bool))
            try:
                values = np.asarray(values.tolist(), dtype=np.int64)
            except OverflowError:
                raise InvalidInput(f"Column {name!r} must be {expected}; got a value outside the range of "
                                   f"{dtype}.") from None
            kind = "i"
        if kind in "iu":
            if values.dtype != dtype and values.size:
                info = np.iinfo(dtype)
                low, high = values.min(), values.max()
                if low < info.min or high > info.max:
                    bad = low if low < info.min else high
                    raise InvalidInput(f"Column {name!r} must be {expected} ({dtype}, {info.min} to {info.max}); "
                                       f"got {bad.item()}, which is out of range.")
                return values.astype(dtype)
            return values if values.dtype == dtype else values.astype(dtype)
        raise _bad_column(name, expected, values)
    if expected == "boolean":
        if kind == "b":
            return values
        if kind in "iu" and ((values == 0) | (values == 1)).all():
            return values.astype(bool)
        if kind == "O":
            _python_values(name, expected, values, lambda v: isinstance(v, bool))
            return values.astype(bool)
        raise _bad_column(name, expected, values, "" if kind not in "iu" else f"{_got(values)} other than 0 and 1")
    if expected == "string":
        if kind == "U":
            return values
        if kind == "O":
            if any(isinstance(v, bytes) for v in values):  # BYTES tensors of the binary protocols
                try:
                    values = np.array([v.decode("utf-8") if isinstance(v, bytes) else v for v in values], dtype=object)
                except UnicodeDecodeError:
                    raise InvalidInput(f"Column {name!r} must be string; got bytes that are not UTF-8.") from None
            _python_values(name, expected, values, lambda v: isinstance(v, str))
            return values
        if kind == "S":
            try:
                return np.char.decode(values, "utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"Column {name!r} must be string; got bytes that are not UTF-8.") from None
        raise _bad_column(name, expected, values)
    if expected == "datetime":
        if kind == "M":
            return values if values.dtype == _DATETIME else values.astype(_DATETIME)
        if kind in "UO":
            try:
                return values.astype(_DATETIME)
            except (ValueError, TypeError):
                raise _bad_column(name, "a datetime (ISO 8601 text such as 2024-05-01T12:00:00)", values,
                                  "text that is not a date") from None
        raise _bad_column(name, expected, values)
    raise InvalidInput(f"Column {name!r} has the signature type {expected!r}, which this server does not know.")


def conform_tensor(shape: tuple[int, ...], dtype: np.dtype, array: np.ndarray) -> np.ndarray:
    if array.ndim != len(shape) or any(e != -1 and e != g for e, g in zip(shape, array.shape)):
        raise InvalidInput(f"The model takes a tensor of shape {list(shape)} (-1: any size); got shape "
                           f"{list(array.shape)}.")
    if array.dtype == dtype:
        return array
    kind = array.dtype.kind
    if kind == "O" or (kind in "US") != (dtype.kind in "USO") or (kind == "b") != (dtype.kind == "b"):
        raise InvalidInput(f"The model takes a tensor of {dtype}; got {_got(array)} (values like {_like(array)}).")
    if np.can_cast(array.dtype, dtype, casting="same_kind") or (dtype.kind == "f" and kind in "iu"):
        with np.errstate(over="ignore"):  # values beyond the narrower float are found below, and named
            converted = array.astype(dtype)
        if dtype.kind == "f" and kind == "f" and not np.isfinite(converted).all():
            beyond = ~np.isfinite(converted) & np.isfinite(array)
            if beyond.any():
                index = tuple(map(int, np.unravel_index(int(np.flatnonzero(beyond)[0]), beyond.shape)))
                raise InvalidInput(f"The model takes a tensor of {dtype} (up to ±{np.finfo(dtype).max:.5g}); the value "
                                   f"{array[index].item()!r} at {list(index)} is beyond that range.")
        return converted
    if dtype.kind in "iu" and kind in "iu":
        info = np.iinfo(dtype)
        if array.size == 0 or (array.min() >= info.min and array.max() <= info.max):
            return array.astype(dtype)
        raise InvalidInput(f"The model takes a tensor of {dtype} ({info.min} to {info.max}); got values out of "
                           f"that range (from {array.min().item()} to {array.max().item()}).")
    raise InvalidInput(f"The model takes a tensor of {dtype}; got {_got(array)}, which does not convert "
                       "without loss.")


class Columns(dict):
    """The checked columns of a table model (a dict, as everywhere), that also keep the [n, k]
    matrix they are views of when they came as one: the ONNX feed is then that matrix, not a
    restacking of its columns."""

    __slots__ = ("matrix",)

    def __init__(self, columns, matrix: np.ndarray | None = None):
        super().__init__(columns)
        self.matrix = matrix


def _zeros(type_: str, n: int) -> np.ndarray:
    if type_ == "string":
        return np.full(n, "", dtype=object)
    if type_ == "datetime":
        return np.zeros(n, dtype=_DATETIME)
    if type_ == "boolean":
        return np.zeros(n, dtype=bool)
    return np.zeros(n, dtype=(_INT_DTYPES | _FLOAT_DTYPES)[type_])


class ServedModel:
    """One model version, loaded, checked and warmed up: what a server predicts with."""

    def __init__(self, loaded: LoadedModel, name: str, uri: str, load_seconds: float = 0.0,
                 example: Inputs | None = None, onnx_threads: int | None = None):
        from modelcycle.models.signature import TensorSpec

        manifest = loaded.manifest
        self.name = name
        self.version: int | None = loaded.version.version if loaded.version is not None else None
        self.version_text = str(self.version) if self.version is not None else "none"
        self.uri = uri
        self.backend = loaded.backend
        self.signature: Signature | None = manifest.signature
        self.task = manifest.task
        self.classes = manifest.classes
        self.flavor = manifest.flavor
        self.model_class = manifest.model_class
        self.run_id = loaded.version.run_id if loaded.version is not None else None
        self.loaded_at = time.time()
        self.load_seconds = load_seconds
        self.example = None
        self.output_dtypes: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}
        self._loaded = loaded
        spec = self.signature.inputs if self.signature is not None else None
        self.tensor: TensorSpec | None = spec if isinstance(spec, TensorSpec) else None
        self._tensor_dtype = np.dtype(self.tensor.dtype) if self.tensor is not None else None
        self.columns: list[tuple[str, str]] | None = (
            [(c.name, c.type) for c in spec] if spec is not None and self.tensor is None else None)
        self.column_names = [c for c, _ in self.columns] if self.columns is not None else None
        self.column_set = frozenset(self.column_names or ())
        self.route_columns: frozenset[str] = frozenset()  # fields a deployment routes by: decoded, never predicted on
        self.all_float = self.columns is not None and all(t in _FLOAT_DTYPES for _, t in self.columns)
        types = {t for _, t in self.columns or ()}
        # One float type for every column: a [n, k] tensor is checked as a whole.
        self._matrix_dtype = _FLOAT_DTYPES[types.pop()] if len(types) == 1 and types <= set(_FLOAT_DTYPES) else None
        self.outputs = ["predict", "predict_proba"] if self.task == "classification" else ["predict"]
        self._session = None
        if self.backend == "onnx":
            self._init_onnx(loaded._predictor, manifest.onnx, onnx_threads)
        if example is not None:
            try:
                self.example = self.check(example)
            except InvalidInput:  # an example the signature refuses is no help to anyone
                self.example = None

    def _init_onnx(self, predictor, onnx: dict, threads: int | None) -> None:
        import onnxruntime as ort

        from modelcycle import config

        source = getattr(predictor, "source", None)
        session = predictor.session
        threads = threads or config.serve_onnx_threads()
        if source is not None:
            # A session of its own: the loader's uses a thread pool as wide as the machine,
            # whose hand-offs cost more than a one-row forest predict, and whose spinning threads
            # take the cores that the HTTP workers need.
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._session = session
        self._onnx_inputs = [i.name for i in session.get_inputs()]
        self._matrix = onnx.get("inputs") == "matrix"
        self._string_columns = set(onnx.get("string_columns") or ())

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, uri: str, backend: str = "auto", store=None, name: str | None = None,
             warm_up: bool = True, onnx_threads: int | None = None) -> ServedModel:
        """Load ``uri`` (anything ``mc.load_model`` takes) with ``backend`` "auto" (ONNX where
        the model has an ONNX form), "onnx" or "native", then warm it up once.

        A moving reference (``fraud@production``) is resolved once, here: the version it names
        now is the version served."""
        from modelcycle.models.api import load_model, read_manifest

        if backend not in ("auto", "onnx", "native"):
            raise InvalidInput(f"backend must be auto, onnx or native; got {backend!r}.")
        started = time.perf_counter()
        pinned, version = _pin(uri, store)
        if backend == "auto":
            backend = "onnx" if read_manifest(pinned, store=store).has_onnx else "native"
        loaded = load_model(pinned, backend=backend, store=store)
        if version is not None and loaded.version is None:
            loaded.version = version
        example = _read_example(pinned, loaded, store)
        served = cls(loaded, name or _name_of(uri, loaded), uri, example=example, onnx_threads=onnx_threads)
        if warm_up:
            served.warm_up()
        served.load_seconds = time.perf_counter() - started
        return served

    def warm_up(self) -> None:
        """Predict once on the input example (or on zeros), so that the first request does not
        pay for onnxruntime's first run, and learn the dtypes of the outputs."""
        inputs = self.example if self.example is not None else self.zeros(1)
        n = self.rows(inputs)
        if n > WARM_UP_ROWS:
            inputs = self.take(inputs, 0, WARM_UP_ROWS)
        outputs = self.predict(inputs)
        self.output_dtypes = {k: (v.dtype, v.shape[1:]) for k, v in outputs.items()}

    def zeros(self, n: int) -> Inputs:
        if self.tensor is not None:
            return np.zeros((n, *(s if s != -1 else 1 for s in self.tensor.shape[1:])), dtype=self._tensor_dtype)
        if self.columns is None:
            raise InvalidInput(f"The model {self.name!r} has no signature; log it with an input_example.")
        return {c: _zeros(t, n) for c, t in self.columns}

    # ------------------------------------------------------------------ the hot path
    def check(self, inputs: Inputs) -> Inputs:
        """``inputs`` converted to the signature's types, or an InvalidInput that names the column
        (or tensor), what it takes and what came. Extra columns are dropped."""
        if self.tensor is not None:
            if isinstance(inputs, dict):
                if len(inputs) != 1:
                    raise InvalidInput(f"The model {self.name!r} takes one tensor ({self.signature.describe()}); "
                                       f"got {len(inputs)} inputs ({', '.join(map(str, inputs))}).")
                inputs = next(iter(inputs.values()))
            array = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
            array = conform_tensor(self.tensor.shape, self._tensor_dtype, array)
            if array.ndim == 0 or array.shape[0] == 0:
                raise InvalidInput("The request has no rows: send at least one.")
            return array
        if self.columns is None:
            raise InvalidInput(f"The model {self.name!r} was logged without a signature, so this server cannot "
                               "check its inputs; log it again with an input_example.")
        if isinstance(inputs, np.ndarray):
            if (self._matrix_dtype is not None and inputs.ndim == 2 and inputs.shape[1] == len(self.columns)
                    and inputs.dtype.kind in "fiu"):
                if inputs.shape[0] == 0:
                    raise InvalidInput("The request has no rows: send at least one.")
                matrix = inputs if inputs.dtype == self._matrix_dtype else inputs.astype(self._matrix_dtype)
                return Columns(zip(self.column_names, matrix.T), matrix)  # the columns as views
            inputs = self.split(inputs)
        elif not isinstance(inputs, dict):
            raise InvalidInput(f"The model {self.name!r} takes columns ({self.describe_columns()}); got "
                               f"{type(inputs).__name__}.")
        checked = {}
        missing = []
        n = -1
        first = None
        for name, type_ in self.columns:
            values = inputs.get(name)
            if values is None:
                missing.append(name)
                continue
            if not isinstance(values, np.ndarray):
                values = np.asarray(values)
            if values.ndim != 1:
                if values.ndim == 2 and values.shape[1] == 1:
                    values = values.reshape(-1)
                elif values.ndim == 0:
                    values = values.reshape(1)
                else:
                    raise InvalidInput(f"Column {name!r} takes one value per row (shape [n] or [n, 1]); got shape "
                                       f"{list(values.shape)}.")
            if n < 0:
                n, first = len(values), name
            elif len(values) != n:
                raise InvalidInput(f"Column {name!r} has {len(values)} values and column {first!r} has {n}: "
                                   "every column takes one value per row.")
            checked[name] = conform_column(name, type_, values)
        if missing:
            raise InvalidInput(f"Missing column{'s' if len(missing) > 1 else ''} "
                               f"{', '.join(map(repr, missing[:10]))}{' and more' if len(missing) > 10 else ''}: "
                               f"the model takes {self.describe_columns()}.")
        if n == 0:
            raise InvalidInput("The request has no rows: send at least one.")
        return checked

    def split(self, array: np.ndarray) -> dict[str, np.ndarray]:
        """A [n, k] tensor as the k columns of a table model, in signature order."""
        names = self.column_names
        if array.ndim == 1 and len(names) == 1:
            return {names[0]: array}
        if array.ndim != 2 or array.shape[1] != len(names):
            raise InvalidInput(f"The model takes {len(names)} columns ({self.describe_columns()}): send one input "
                               f"per column, or one tensor of shape [n, {len(names)}]; got shape {list(array.shape)}.")
        return {name: array[:, j] for j, name in enumerate(names)}

    def describe_columns(self) -> str:
        shown = ", ".join(f"{c}: {t}" for c, t in self.columns[:10])
        return shown + (f" and {len(self.columns) - 10} more" if len(self.columns) > 10 else "")

    def rows(self, inputs: Inputs) -> int:
        if isinstance(inputs, np.ndarray):
            return int(inputs.shape[0])
        return len(next(iter(inputs.values()))) if inputs else 0

    @staticmethod
    def take(inputs: Inputs, start: int, stop: int) -> Inputs:
        if isinstance(inputs, np.ndarray):
            return inputs[start:stop]
        return {k: v[start:stop] for k, v in inputs.items()}

    @staticmethod
    def concat(parts: list[Inputs]) -> Inputs:
        if isinstance(parts[0], np.ndarray):
            return np.concatenate(parts)
        if all(getattr(p, "matrix", None) is not None for p in parts):
            matrix = np.concatenate([p.matrix for p in parts])
            return Columns(zip(parts[0], matrix.T), matrix)
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def predict(self, inputs: Inputs) -> Outputs:
        """Outputs of checked ``inputs``: "predict" (n,) and, for classifiers, "predict_proba"
        (n, classes). A failure of the model itself is an InvalidInput that says what failed."""
        try:
            if self._session is not None:
                results = self._session.run(None, self._feed(inputs))
                labels = results[0]
                outputs = {"predict": labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1
                           or self.task == "regression" else labels}
                if len(results) > 1:
                    outputs["predict_proba"] = results[1]
                return outputs
            return self._predict_native(inputs)
        except ModelcycleError:
            raise
        except Exception as exc:  # the model's own failure on input the signature took
            message = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
            raise InvalidInput(f"The model {self.name!r} could not predict on this input "
                               f"({type(exc).__name__}: {message}).") from exc

    def _feed(self, inputs: Inputs) -> dict[str, np.ndarray]:
        if self.tensor is not None:
            if inputs.dtype == np.float32:
                return {self._onnx_inputs[0]: inputs}
            with np.errstate(over="ignore"):
                feed = inputs.astype(np.float32)
            if not np.isfinite(feed).all():
                self._check_float32(feed, inputs, None)
            return {self._onnx_inputs[0]: feed}
        if self._matrix:
            names = self.column_names
            given = getattr(inputs, "matrix", None)
            if given is not None:
                with np.errstate(over="ignore"):
                    matrix = given if given.dtype == np.float32 else given.astype(np.float32)
                if not np.isfinite(matrix).all():
                    self._check_float32(matrix, given, names)
                return {self._onnx_inputs[0]: matrix}
            # One conversion of the list of columns, then a transposed copy: a third of the
            # cost of filling a matrix column by column.
            with np.errstate(over="ignore"):  # values beyond float32 are found below, and named
                matrix = np.ascontiguousarray(np.array([inputs[n] for n in names], dtype=np.float32).T)
            if not np.isfinite(matrix).all():
                self._check_float32(matrix, np.column_stack([inputs[n] for n in names]), names)
            return {self._onnx_inputs[0]: matrix}
        feed = {}
        for name in self._onnx_inputs:
            values = inputs[name]
            if name in self._string_columns:
                feed[name] = values.astype(object).reshape(-1, 1) if values.dtype != object else values.reshape(-1, 1)
            else:
                with np.errstate(over="ignore"):
                    column = values.astype(np.float32).reshape(-1, 1)
                if not np.isfinite(column).all():
                    self._check_float32(column, values.reshape(-1, 1), [name])
                feed[name] = column
        return feed

    @staticmethod
    def _check_float32(converted: np.ndarray, source: np.ndarray, names: list[str] | None) -> None:
        """The ONNX forms compute in float32: a finite value beyond its range is refused, not
        made infinite."""
        if source.dtype.kind != "f":
            return
        beyond = ~np.isfinite(converted) & np.isfinite(source)
        if beyond.any():
            index = np.unravel_index(int(np.flatnonzero(beyond)[0]), beyond.shape)
            value = source[index].item()
            where = f"column {names[index[1]]!r}" if names else f"the tensor at {list(map(int, index))}"
            raise InvalidInput(f"The value {value!r} in {where} is beyond the range of float32 (±{_F32_MAX:.4g}), "
                               "in which the model's ONNX form computes. Serve it with --backend native.")

    def _predict_native(self, inputs: Inputs) -> Outputs:
        model = self._loaded._predictor
        if self.tensor is None:
            import pandas as pd

            data = pd.DataFrame(inputs, columns=self.column_names)
        else:
            data = inputs
        outputs = {"predict": np.asarray(model.predict(data))}
        if self.task == "classification":
            outputs["predict_proba"] = np.asarray(model.predict_proba(data))
        return outputs

    def __repr__(self) -> str:
        return f"<ServedModel {self.name} version {self.version_text} {self.backend}>"


def _pin(uri: str, store) -> tuple[str, Any]:
    """A moving reference resolved to the version it names now, so the manifest, the model and
    its example all come from that one version."""
    if not isinstance(uri, str):
        raise InvalidInput(f"A model URI is a string such as runs:/<run_id>/model or models:/<name>@production; "
                           f"got {uri!r}.")
    if uri.startswith(("runs:/", "file://")) or (":/" not in uri and Path(uri).is_dir()):
        return uri, None
    from modelcycle.models.uris import resolve_version

    if store is None:
        from modelcycle.tracking.fluent import client

        store = client().store
    version = resolve_version(store, uri)
    return f"models:/{version.name}/{version.version}", version


def _name_of(uri: str, loaded: LoadedModel) -> str:
    if loaded.version is not None:
        return loaded.version.name
    if uri.startswith("runs:/"):
        return uri.rstrip("/").rsplit("/", 1)[-1] or "model"
    folder = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
    return folder.resolve().name or "model"


def _read_example(uri: str, loaded: LoadedModel, store) -> Inputs | None:
    """The model's input example as Inputs, read without pandas; None when it has none."""
    manifest = loaded.manifest
    rel = manifest.input_example
    if not rel or rel not in manifest.files:
        return None
    try:
        if loaded.version is not None or uri.startswith("runs:/"):
            if loaded.version is not None:
                run_id, path = loaded.version.run_id, loaded.version.artifact_path
            else:
                run_id, _, path = uri[len("runs:/"):].partition("/")
            if store is None:
                from modelcycle.tracking.fluent import client

                store = client().store
            data = b"".join(store.open_artifact(run_id, f"{path.rstrip('/')}/{rel}"))
        else:
            folder = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
            data = (folder / rel).read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest.files[rel]["sha256"]:
            return None
        parsed = orjson.loads(data)
        if "dtype" in parsed:
            return np.asarray(parsed["data"], dtype=parsed["dtype"])
        columns = parsed["columns"]
        rows = parsed["data"]
        return {str(c): np.asarray([row[j] for row in rows]) for j, c in enumerate(columns)}
    except (ModelcycleError, OSError, ValueError, KeyError, TypeError):
        return None  # the example only warms up and documents: a server without it still serves

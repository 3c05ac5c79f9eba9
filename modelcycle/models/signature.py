"""What a model takes and gives: named, typed columns or a typed tensor. Inferred from an
input example, stored in the manifest, enforced on every prediction."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.exceptions import InvalidInput

COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "datetime")
_NUMERIC = ("integer", "long", "float", "double")
_DTYPES = {"integer": np.dtype("int32"), "long": np.dtype("int64"), "float": np.dtype("float32"),
           "double": np.dtype("float64")}


@lru_cache(maxsize=256)  # called per column on every prediction
def type_of_dtype(dtype) -> str:
    """The signature type of a numpy or pandas dtype."""
    dtype = np.dtype(dtype) if not isinstance(dtype, pd.api.extensions.ExtensionDtype) else dtype
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        return "string"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        np_dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))
        return "integer" if np_dtype.itemsize <= 4 and np_dtype.kind == "i" else "long"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if np.dtype(getattr(dtype, "numpy_dtype", dtype)).itemsize <= 4 else "double"
    if dtype == object:
        return "string"
    raise InvalidInput(f"No signature type for dtype {dtype}; use numbers, booleans, strings or datetimes.")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class TensorSpec:
    dtype: str  # a numpy dtype name, e.g. float64
    shape: tuple[int, ...]  # -1 where any size goes (always the first axis: the rows)

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


Spec = list[ColumnSpec] | TensorSpec


def _spec_to_dict(spec: Spec) -> dict[str, Any]:
    if isinstance(spec, TensorSpec):
        return {"tensor": spec.to_dict()}
    return {"columns": [c.to_dict() for c in spec]}


def _spec_from_dict(d: Any, where: str) -> Spec:
    if not isinstance(d, dict) or len(d) != 1 or not ({"tensor", "columns"} & set(d)):
        raise InvalidInput(f"signature.{where} must be a mapping with one key, 'columns' or 'tensor'; got {d!r}.")
    if "tensor" in d:
        t = d["tensor"]
        try:
            return TensorSpec(str(np.dtype(t["dtype"])), tuple(int(s) for s in t["shape"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"signature.{where}.tensor needs a numpy dtype and a shape list; got {t!r} "
                               f"({exc}).") from None
    columns = []
    for c in d["columns"] or []:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or c.get("type") not in COLUMN_TYPES:
            raise InvalidInput(f"signature.{where}.columns entries need a name and a type among "
                               f"{', '.join(COLUMN_TYPES)}; got {c!r}.")
        columns.append(ColumnSpec(c["name"], c["type"]))
    return columns


@dataclass(frozen=True)
class Signature:
    inputs: Spec
    outputs: Spec | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"inputs": _spec_to_dict(self.inputs)}
        if self.outputs is not None:
            d["outputs"] = _spec_to_dict(self.outputs)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Signature:
        if not isinstance(d, dict) or "inputs" not in d:
            raise InvalidInput(f"A signature is a mapping with 'inputs' (and 'outputs'); got {d!r}.")
        outputs = _spec_from_dict(d["outputs"], "outputs") if d.get("outputs") is not None else None
        return cls(_spec_from_dict(d["inputs"], "inputs"), outputs)

    @property
    def columns(self) -> list[str] | None:
        return None if isinstance(self.inputs, TensorSpec) else [c.name for c in self.inputs]

    def describe(self) -> str:
        if isinstance(self.inputs, TensorSpec):
            return f"tensor {self.inputs.dtype} {list(self.inputs.shape)}"
        return ", ".join(f"{c.name}: {c.type}" for c in self.inputs)


def check_labels(frame: pd.DataFrame, what: str = "input_example") -> None:
    """Column labels name the signature's columns: strings, each once."""
    odd = [label for label in frame.columns if not isinstance(label, str)]
    if odd:
        kinds = sorted({type(label).__name__ for label in odd})
        shown = ", ".join(map(str, odd[:5])) + (", ..." if len(odd) > 5 else "")
        raise InvalidInput(f"The {what}'s column labels must be strings (they name the signature's columns); got "
                           f"{shown} ({', '.join(kinds)}). Name the columns and fit the model on the named frame "
                           "(e.g. X.columns = [f'x{i}' for i in X.columns]), or pass the example as an array "
                           "(X.to_numpy()) if the model takes one.")
    twice = frame.columns[frame.columns.duplicated()]
    if len(twice):
        raise InvalidInput(f"The {what} has the column {twice[0]!r} twice; give each column its own name.")


def typed(values: pd.Series) -> pd.Series:
    """Numbers, booleans and datetimes held in an object column as what they are: such a column
    comes from JSON records or a frame built row by row, and is not text. Text (or a mix of
    text and numbers) stays as it is."""
    if values.dtype != object:
        return values
    inferred = values.infer_objects()
    if inferred.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "decimal":
        inferred = pd.to_numeric(values)
    return inferred


def spec_of(data: Any) -> Spec:
    """The spec of a DataFrame (columns), a Series, or an array (tensor)."""
    if isinstance(data, pd.DataFrame):
        check_labels(data)
        return [ColumnSpec(name, type_of_dtype(typed(data[name]).dtype)) for name in data.columns]
    if isinstance(data, pd.Series):
        data = data.to_numpy()
    array = np.asarray(data)
    if array.dtype == object:
        raise InvalidInput("An array input example must have one numeric, boolean or string dtype; "
                           "pass a DataFrame for mixed columns.")
    return TensorSpec(str(array.dtype), (-1, *array.shape[1:]))


def infer_signature(input_example: Any, output_example: Any = None) -> Signature:
    return Signature(spec_of(as_input(input_example)),
                     spec_of(output_example) if output_example is not None else None)


def as_input(data: Any) -> pd.DataFrame | np.ndarray:
    """DataFrames and arrays pass; dicts of columns, lists of records and lists of rows are
    turned into a DataFrame or an array."""
    if isinstance(data, (pd.DataFrame, np.ndarray)):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, dict):
        return pd.DataFrame({k: v if isinstance(v, (list, tuple, np.ndarray, pd.Series)) else [v]
                             for k, v in data.items()})
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, dict) for r in data):
        return pd.DataFrame(list(data))
    if isinstance(data, (list, tuple)):
        return np.asarray(data)
    try:
        import pyarrow as pa

        if isinstance(data, pa.Table):
            return data.to_pandas()
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    raise InvalidInput(f"Cannot predict on a {type(data).__name__}; pass a pandas DataFrame, a numpy "
                       "array, a dict of columns or a list of records.")


def _sample(values: pd.Series) -> str:
    shown = values.dropna().head(3).tolist()
    return ", ".join(repr(v) for v in shown) or "only missing values"


def _first_out_of_range(array: np.ndarray, target: np.dtype) -> int | None:
    """The flat index of the first value ``target`` cannot hold (a cast would wrap an integer
    or make a float infinite), or None when every value fits."""
    if array.size == 0:
        return None
    if target.kind in "iu" and array.dtype.kind in "iu":
        info = np.iinfo(target)
        if array.min() >= info.min and array.max() <= info.max:
            return None
        bad = (array < info.min) | (array > info.max)
    elif target.kind == "f" and array.dtype.kind == "f" and array.dtype.itemsize > target.itemsize:
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(array) & (np.abs(array) > np.finfo(target).max)
        if not bad.any():
            return None
    else:
        return None
    return int(np.flatnonzero(bad)[0])


def _range_of(target: np.dtype) -> str:
    if target.kind in "iu":
        info = np.iinfo(target)
        return f"{info.min} to {info.max}"
    return f"±{float(np.finfo(target).max):.8g}"


def _cast_column(name: str, expected: str, values: pd.Series) -> pd.Series:
    target = _DTYPES[expected]
    missing = values.isna()
    if target.kind in "iu" and missing.any():
        raise InvalidInput(f"Column {name!r} has a missing value (row {int(np.flatnonzero(missing)[0])}); the model "
                           f"takes {expected}, which has none. Fill or drop the missing values before predicting.")
    dtype = getattr(values.dtype, "numpy_dtype", values.dtype)  # a nullable dtype's numpy counterpart
    array = values.to_numpy(dtype=np.float64 if missing.any() else dtype, na_value=np.nan) \
        if isinstance(values.dtype, pd.api.extensions.ExtensionDtype) else values.to_numpy()
    bad = _first_out_of_range(array, target)
    if bad is not None:
        raise InvalidInput(f"Column {name!r} has {array[bad].item()!r} (row {bad}), outside the range of {expected} "
                           f"({_range_of(target)}). Pass values in that range, or log the model with a signature "
                           f"that takes {'long' if target.kind in 'iu' else 'double'}.")
    return pd.Series(array.astype(target), index=values.index, name=values.name)


def _unsigned(dtype) -> bool:
    """Unsigned integers have no signature type of their own: they pass as long, checked."""
    return getattr(dtype, "kind", None) == "u" or getattr(getattr(dtype, "numpy_dtype", None), "kind", None) == "u"


def _conform_column(name: str, expected: str, values: pd.Series) -> pd.Series:
    got = type_of_dtype(values.dtype)
    if got == expected and not _unsigned(values.dtype):
        return values
    if values.dtype == object and expected != "string":  # numbers as Python objects: as numbers
        values = typed(values)
        got = type_of_dtype(values.dtype)
        if got == expected and not _unsigned(values.dtype):
            return values
    if expected in ("float", "double") and got in _NUMERIC + ("boolean",):
        return _cast_column(name, expected, values)
    if expected in ("integer", "long") and got in ("integer", "long", "boolean"):
        return _cast_column(name, expected, values)
    if expected == "string" and got == "string":
        return values
    if expected == "datetime" and got == "string":
        try:
            return pd.to_datetime(values)
        except (ValueError, TypeError):
            pass
    raise InvalidInput(f"Column {name!r} must be {expected}; got {got} (values like {_sample(values)}). "
                       f"Convert it before predicting, or log the model with a signature that takes {got}.")


def enforce(signature: Signature, data: Any) -> pd.DataFrame | np.ndarray:
    """``data`` converted to what the model was logged with, or an error that names the column,
    the expected type and what came. Extra columns are dropped; columns are put in order."""
    data = as_input(data)
    spec = signature.inputs
    if isinstance(spec, TensorSpec):
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else data
        if array.ndim != len(spec.shape) or any(e != -1 and e != g for e, g in zip(spec.shape, array.shape)):
            raise InvalidInput(f"The model takes a tensor of shape {list(spec.shape)} (-1: any); "
                               f"got shape {list(array.shape)}.")
        expected = np.dtype(spec.dtype)
        if array.dtype == expected:
            return array
        if np.can_cast(array.dtype, expected, casting="safe"):
            return array.astype(expected)
        if (array.dtype.kind in "iub" and expected.kind in "iuf") or array.dtype.kind == expected.kind == "f":
            bad = _first_out_of_range(array, expected)
            if bad is not None:
                where = ", ".join(str(int(i)) for i in np.unravel_index(bad, array.shape))
                raise InvalidInput(f"The tensor has {array.flat[bad].item()!r} at [{where}], outside the range of "
                                   f"{expected} ({_range_of(expected)}). Pass values in that range, or log the "
                                   "model with a wider tensor dtype.")
            return array.astype(expected)
        raise InvalidInput(f"The model takes a tensor of {expected}; got {array.dtype}, which does not "
                           f"convert without loss.")
    names = [c.name for c in spec]
    if isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(names):
            raise InvalidInput(f"The model takes {len(names)} columns ({', '.join(names[:5])}"
                               f"{', ...' if len(names) > 5 else ''}); got an array of shape {list(data.shape)}.")
        data = pd.DataFrame(data, columns=names)
    missing = [n for n in names if n not in data.columns]
    if missing:
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        odd = [label for label in data.columns if not isinstance(label, str)]
        labelled = (f"; the data's columns are labelled {', '.join(map(str, odd[:5]))}"
                    f"{', ...' if len(odd) > 5 else ''} ({', '.join(sorted({type(x).__name__ for x in odd}))}). "
                    "Name them, or pass an array to give the columns by position" if odd else "")
        raise InvalidInput(f"Missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}: "
                           f"the model takes {shown}{labelled}.")
    if list(data.columns) != names:
        data = data[names]
    mismatched = [c for c, dtype in zip(spec, data.dtypes) if type_of_dtype(dtype) != c.type or _unsigned(dtype)]
    if not mismatched:
        return data  # the common case: nothing to convert, nothing copied
    data = data.copy()
    for c in mismatched:
        data[c.name] = _conform_column(c.name, c.type, data[c.name])
    return data


def incompatibilities(champion: Signature, candidate: Signature) -> list[str]:
    """Why ``candidate`` cannot take the inputs ``champion`` takes, or give what it gives.
    Empty when callers of the champion can call the candidate unchanged."""
    problems = []
    old, new = champion.inputs, candidate.inputs
    if isinstance(old, TensorSpec) != isinstance(new, TensorSpec):
        kinds = ("a tensor" if isinstance(old, TensorSpec) else "columns",
                 "a tensor" if isinstance(new, TensorSpec) else "columns")
        return [f"the current version takes {kinds[0]}, the candidate {kinds[1]}"]
    if isinstance(old, TensorSpec):
        if old.shape[1:] != new.shape[1:]:
            problems.append(f"input shape {list(new.shape)} differs from {list(old.shape)}")
        if not np.can_cast(np.dtype(old.dtype), np.dtype(new.dtype), casting="same_kind"):
            problems.append(f"input dtype {new.dtype} does not take {old.dtype}")
    else:
        old_types = {c.name: c.type for c in old}
        for c in new:
            if c.name not in old_types:
                problems.append(f"the candidate needs column {c.name!r}, which the current version does not take")
            elif old_types[c.name] != c.type and not (old_types[c.name] in _NUMERIC and c.type in ("float", "double")):
                problems.append(f"column {c.name!r} is {c.type} in the candidate and {old_types[c.name]} now")
    if champion.outputs is not None and candidate.outputs is not None:
        a, b = champion.outputs, candidate.outputs
        if isinstance(a, TensorSpec) and isinstance(b, TensorSpec):
            if a.shape[1:] != b.shape[1:] or np.dtype(a.dtype).kind != np.dtype(b.dtype).kind:
                problems.append(f"output {b.dtype} {list(b.shape)} differs from {a.dtype} {list(a.shape)}")
        elif _spec_to_dict(a) != _spec_to_dict(b):
            problems.append("the outputs differ")
    return problems

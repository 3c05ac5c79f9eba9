"""Arrow columns as the values a profile counts: numbers as float64, everything else as text keys."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# How a column is stored, which decides how it is summarised. The logical types users see
# (integer, float, categorical, boolean, datetime, text) are derived from these.
INTEGER, FLOAT, DATETIME, BOOLEAN, STRING, NULL = "integer", "float", "datetime", "boolean", "string", "null"
NUMERIC = frozenset({INTEGER, FLOAT, DATETIME})
LOGICAL_TYPES = ("integer", "float", "categorical", "boolean", "datetime", "text")

_SECONDS_PER_UNIT = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def physical_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_dictionary(arrow_type):
        return physical_type(arrow_type.value_type) if pa.types.is_boolean(arrow_type.value_type) else STRING
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN
    if pa.types.is_integer(arrow_type):
        return INTEGER
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return FLOAT
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return DATETIME
    if pa.types.is_null(arrow_type):
        return NULL
    return STRING


def merged_physical_type(a: str, b: str) -> str | None:
    """The type of a column whose parts have types ``a`` and ``b``; None when they don't mix."""
    if a == b or b == NULL:
        return a
    if a == NULL:
        return b
    if {a, b} == {INTEGER, FLOAT}:
        return FLOAT
    return None


def numeric_values(array: pa.Array, physical: str) -> np.ndarray:
    """float64 values with NaN where missing; datetimes as seconds since the epoch (UTC)."""
    arrow_type = array.type
    if physical == DATETIME:
        if pa.types.is_date32(arrow_type):
            return array.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.float64) * 86400.0
        if pa.types.is_date64(arrow_type):
            return array.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) * 1e-3
        values = array.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
        return values * _SECONDS_PER_UNIT[arrow_type.unit]
    if pa.types.is_decimal(arrow_type) or pa.types.is_float16(arrow_type):
        array = array.cast(pa.float64())
    values = array.to_numpy(zero_copy_only=False)
    return values if values.dtype == np.float64 else values.astype(np.float64)


def integer_values(array: pa.Array) -> np.ndarray:
    """The present values of an integer column as int64 (uint64 for unsigned 64-bit)."""
    present = array.drop_null() if array.null_count else array
    kind = pa.uint64() if pa.types.is_uint64(array.type) else pa.int64()
    return present.cast(kind).to_numpy(zero_copy_only=False)


def category_counts(array: pa.Array) -> tuple[list[str], np.ndarray]:
    """Distinct non-missing values as text keys (booleans as "true"/"false") and their counts."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)
            or pa.types.is_boolean(array.type)):
        try:
            array = array.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            array = pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    counted = pc.value_counts(array)
    values, counts = counted.field("values"), counted.field("counts").to_numpy()
    keep = values.is_valid().to_numpy(zero_copy_only=False)
    keys = values.to_pylist()
    if pa.types.is_boolean(array.type):
        keys = ["true" if k else "false" for k in keys if k is not None]
    else:
        keys = [k for k in keys if k is not None]
    return keys, counts[keep]


def is_missing(value) -> bool:
    """None, NaN, NaT or pandas.NA."""
    import pandas as pd

    missing = pd.isna(value)
    return bool(missing) if isinstance(missing, (bool, np.bool_)) else False

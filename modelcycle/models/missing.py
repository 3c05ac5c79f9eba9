"""Missing values (NaN) in a model's inputs: where the native model refuses them, found by trying
when it is logged, and the check that refuses them at prediction time with a message saying
what to do. Without it scikit-learn fails with its own error, and an ONNX form, which computes
on regardless, answers something."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.exceptions import InvalidInput

TENSOR = "*"  # the entry that stands for every element of a tensor input
MAX_PROBED_COLUMNS = 200  # beyond this, a model that refuses NaN anywhere is taken to refuse it everywhere
_ADVICE = "Impute them (e.g. a SimpleImputer step in the pipeline) or drop those rows before predicting."


def _float_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_float_dtype(frame[c].dtype)]


def _refuses(model: Any, probe) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model.predict(probe)
        except Exception:  # any refusal counts: the model's own error is what it would raise later
            return True
    return False


def refused_columns(model: Any, example) -> list[str]:
    """The float columns of ``example`` in which ``model`` refuses a NaN (["*"] for a float
    tensor it refuses NaN in), trying one row with NaN in each."""
    if isinstance(example, pd.DataFrame):
        floats = _float_columns(example)
        row = example.head(1)

        def probe(columns: list[str]):
            changed = row.copy()
            changed[columns] = np.nan
            return changed

        if not floats or not _refuses(model, probe(floats)):
            return []
        if len(floats) > MAX_PROBED_COLUMNS:
            return floats
        return [c for c in floats if _refuses(model, probe([c]))]
    array = np.asarray(example)
    if array.dtype.kind != "f" or array.size == 0:
        return []
    changed = array[:1].copy()
    changed.flat[0] = np.nan
    return [TENSOR] if _refuses(model, changed) else []


def _rows(count: int, first: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}, the first row {first}"


def holes(data, columns: list[str]) -> list[tuple[str, int, int]]:
    """(column, number of rows with a missing value, first such row) for each of ``columns``."""
    found = []
    if isinstance(data, pd.DataFrame):
        for column in columns:
            if column in data.columns:
                mask = data[column].isna().to_numpy()
                if mask.any():
                    found.append((column, int(mask.sum()), int(np.flatnonzero(mask)[0])))
    elif TENSOR in columns and np.asarray(data).dtype.kind == "f":
        array = np.asarray(data)
        mask = np.isnan(array).reshape(len(array), -1).any(axis=1) if array.ndim > 1 else np.isnan(array)
        if mask.any():
            found.append((TENSOR, int(mask.sum()), int(np.flatnonzero(mask)[0])))
    return found


def refuse(data, refused: list[str], model_name: str) -> None:
    """Raise when ``data`` has a missing value in a column the model refuses them in."""
    found = holes(data, refused)
    if not found:
        return
    if found[0][0] == TENSOR:
        raise InvalidInput(f"The input has missing values ({_rows(*found[0][1:])}), which this {model_name} does "
                           f"not accept. {_ADVICE}")
    if len(found) == 1:
        column, count, first = found[0]
        raise InvalidInput(f"Column {column!r} has missing values ({_rows(count, first)}), which this "
                           f"{model_name} does not accept. {_ADVICE}")
    listed = ", ".join(f"{c!r} ({_rows(n, r)})" for c, n, r in found)
    raise InvalidInput(f"Columns {listed} have missing values, which this {model_name} does not accept. {_ADVICE}")


def describe(data) -> str | None:
    """Where ``data`` has missing values, for a message: "in 'a' (2 rows), 'b' (1 row)"."""
    columns = _float_columns(data) if isinstance(data, pd.DataFrame) else [TENSOR]
    found = holes(data, columns)
    if not found:
        return None
    if found[0][0] == TENSOR:
        return f"in {found[0][1]} row{'s' if found[0][1] != 1 else ''}"
    return "in " + ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n, _ in found)

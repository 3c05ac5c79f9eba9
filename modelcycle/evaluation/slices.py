"""Metrics per slice of the evaluation data, and fairness gaps between groups.

A slice is each value of a column, or a bin of a numerical one (quantile bins by default, or
given edges). Fairness gaps follow Fairlearn's definitions (``demographic_parity_difference``
and ``_ratio``, ``equalized_odds_difference``, ``equal_opportunity_difference``, all "between
groups"), with one deliberate difference: a group with no positives has no true positive rate
(and one with no negatives no false positive rate). Fairlearn counts such a rate as 0, which
reports a gap that only says the group has no positives; here the group is left out of that
gap and named in ``undefined``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelcycle.exceptions import InvalidInput

MISSING = "(missing)"
DEFAULT_BINS = 4  # quartiles
MAX_VALUES = 50  # distinct values a column may have to be sliced by each of them
NUMERIC_VALUES = 10  # a numerical column with more distinct values than this is binned


@dataclass(frozen=True)
class SliceSpec:
    """One way to slice: a column, and for a numerical one how to bin it (a number of quantile
    bins, or the bin edges); ``bins=None`` decides from the column."""

    column: str
    bins: int | tuple[float, ...] | None = None

    @classmethod
    def parse(cls, item: Any, what: str = "slices") -> SliceSpec:
        if isinstance(item, SliceSpec):
            return item
        if isinstance(item, str) and item:
            return cls(item)
        if isinstance(item, dict) and set(item) <= {"column", "bins"} and "column" in item:
            return cls.parse((item["column"], item.get("bins")), what)
        if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str):
            column, bins = item
            if bins is None:
                return cls(column)
            if isinstance(bins, bool) or not isinstance(bins, (int, list, tuple)):
                raise InvalidInput(f"The bins of {what} column {column!r} must be a number of quantile bins (an int "
                                   f">= 2) or a list of bin edges; got {bins!r}.")
            if isinstance(bins, int):
                if bins < 2:
                    raise InvalidInput(f"The bins of {what} column {column!r} must be at least 2; got {bins}.")
                return cls(column, bins)
            try:
                edges = tuple(float(e) for e in bins)
            except (TypeError, ValueError):
                raise InvalidInput(f"The bin edges of {what} column {column!r} must be numbers; got {bins!r}.") from None
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or not all(map(math.isfinite, edges)):
                raise InvalidInput(f"The bin edges of {what} column {column!r} must be at least two finite numbers, "
                                   f"increasing; got {list(bins)!r}.")
            return cls(column, edges)
        raise InvalidInput(f"Each of {what} is a column name, a (column, bins) pair or {{'column': ..., 'bins': ...}}"
                           f"; got {item!r}.")


def parse_specs(items: Any, what: str) -> list[SliceSpec]:
    if items is None:
        return []
    if isinstance(items, (str, SliceSpec, dict)):
        items = [items]
    if not isinstance(items, Sequence):
        raise InvalidInput(f"{what} must be a list of column names; got {type(items).__name__}.")
    return [SliceSpec.parse(item, what) for item in items]


def check_columns(specs: Sequence[SliceSpec], columns: Sequence[str], what: str, target: str) -> None:
    for spec in specs:
        if spec.column not in columns:
            raise InvalidInput(f"The {what} column {spec.column!r} is not in the evaluation data. Its columns are "
                               f"{', '.join(map(repr, columns))}; pass one of them, or add the column to the data "
                               "(it may be one the model does not use).")
        if spec.column == target:
            raise InvalidInput(f"{spec.column!r} is the target; slice by a feature or another column of the data.")


@dataclass(frozen=True)
class Groups:
    column: str
    kind: str  # "values" or "bins"
    labels: list[str]
    codes: np.ndarray  # the group of each row, an index into labels


def _number(x: float) -> str:
    return f"{x:.4g}"


def groups_of(values: pd.Series, spec: SliceSpec) -> Groups:
    """The rows of each group; missing values are a group of their own."""
    missing = values.isna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if spec.bins is not None and not numeric:
        raise InvalidInput(f"The column {spec.column!r} is not numerical ({values.dtype}), so it cannot be binned; "
                           "slice it by each value (pass just its name).")
    distinct = values.nunique(dropna=True)
    if numeric and (spec.bins is not None or distinct > NUMERIC_VALUES):
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        present = x[~missing]
        if isinstance(spec.bins, tuple):
            edges = np.asarray(spec.bins)
        else:
            edges = np.unique(np.quantile(present, np.linspace(0, 1, (spec.bins or DEFAULT_BINS) + 1)))
        if edges.size < 2:
            edges = np.array([present.min(), present.max()])
        # [e0, e1), [e1, e2), ... [e_k-1, e_k]; values outside given edges fall in the end bins
        codes = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        labels = [f"[{_number(a)}, {_number(b)})" for a, b in zip(edges[:-2], edges[1:-1])]
        labels.append(f"[{_number(edges[-2])}, {_number(edges[-1])}]")
        kind = "bins"
    else:
        if distinct > MAX_VALUES:
            raise InvalidInput(f"The column {spec.column!r} has {distinct:,} distinct values; slices are made by each "
                               f"value of a column with at most {MAX_VALUES}. Slice by another column, or derive a "
                               "coarser one.")
        codes_, uniques = pd.factorize(values, sort=True)
        codes = codes_.astype(np.int64)
        labels = [str(u) for u in uniques]
        kind = "values"
    if missing.any():
        codes = np.where(missing, len(labels), codes)
        labels = [*labels, MISSING]
    used = np.bincount(codes, minlength=len(labels)) > 0
    if not used.all():  # bins no row fell in are not groups
        remap = np.cumsum(used) - 1
        codes, labels = remap[codes], [label for label, u in zip(labels, used) if u]
    return Groups(spec.column, kind, labels, codes)


@dataclass(frozen=True)
class SliceTable:
    column: str
    kind: str
    rows: list[dict[str, Any]]  # group, count, share, (positives,) metrics...

    def to_dict(self) -> dict:
        return {"column": self.column, "kind": self.kind, "rows": self.rows}


@dataclass(frozen=True)
class FairnessReport:
    """Gaps in how a binary classifier treats the groups of one column. ``groups``: per group
    the count, selection rate, true and false positive rates."""

    column: str
    groups: list[dict[str, Any]]
    demographic_parity_difference: float
    demographic_parity_ratio: float
    equalized_odds_difference: float
    equal_opportunity_difference: float
    undefined: list[str] = field(default_factory=list)  # why a group was left out of a gap

    GAPS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
            "equal_opportunity_difference")

    def gaps(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.GAPS}

    def to_dict(self) -> dict:
        return {"column": self.column, **self.gaps(), "groups": self.groups, "undefined": self.undefined}


def _spread(values: list[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return max(present) - min(present) if present else float("nan")


def fairness(groups: Groups, positive: np.ndarray, predicted_positive: np.ndarray) -> FairnessReport:
    k = len(groups.labels)
    count = np.bincount(groups.codes, minlength=k).astype(np.float64)
    selected = np.bincount(groups.codes, weights=predicted_positive.astype(np.float64), minlength=k)
    positives = np.bincount(groups.codes, weights=positive.astype(np.float64), minlength=k)
    tp = np.bincount(groups.codes, weights=(positive & predicted_positive).astype(np.float64), minlength=k)
    fp = selected - tp
    negatives = count - positives
    rows, undefined = [], []
    for i, label in enumerate(groups.labels):
        tpr = tp[i] / positives[i] if positives[i] else float("nan")
        fpr = fp[i] / negatives[i] if negatives[i] else float("nan")
        if not positives[i]:
            undefined.append(f"{label}: no positives, so no true positive rate")
        if not negatives[i]:
            undefined.append(f"{label}: no negatives, so no false positive rate")
        rows.append({"group": label, "count": int(count[i]), "positives": int(positives[i]),
                     "selection_rate": float(selected[i] / count[i]), "true_positive_rate": float(tpr),
                     "false_positive_rate": float(fpr)})
    selection = [r["selection_rate"] for r in rows]
    tpr_gap = _spread([r["true_positive_rate"] for r in rows])
    fpr_gap = _spread([r["false_positive_rate"] for r in rows])
    top = max(selection)
    return FairnessReport(
        column=groups.column, groups=rows,
        demographic_parity_difference=_spread(selection),
        demographic_parity_ratio=min(selection) / top if top else float("nan"),
        equalized_odds_difference=float(np.nanmax([tpr_gap, fpr_gap])) if not (math.isnan(tpr_gap) and math.isnan(fpr_gap))
        else float("nan"),
        equal_opportunity_difference=tpr_gap, undefined=undefined)


def slice_table(groups: Groups, metrics_of) -> SliceTable:
    """``metrics_of(row_indices)`` -> the metrics of those rows, for each group."""
    n = groups.codes.size
    rows = []
    for i, label in enumerate(groups.labels):
        index = np.flatnonzero(groups.codes == i)
        rows.append({"group": label, "count": int(index.size), "share": index.size / n, **metrics_of(index)})
    return SliceTable(groups.column, groups.kind, rows)

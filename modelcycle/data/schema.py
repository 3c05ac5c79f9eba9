"""Data schemas: what each column should look like, inferred from data and edited as YAML.

An inferred schema records each column's logical type, whether it may be missing, and its observed
domain (min and max for numbers and datetimes, the allowed values of a categorical column). Users
tighten or relax it by editing the YAML: the allowed range, ``required``, ``nullable``,
``max_missing`` (largest missing fraction) and the drift method and threshold per column.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass, field
from typing import Any

from modelcycle.data.columns import LOGICAL_TYPES
from modelcycle.data.profile import MAX_CATEGORIES, ColumnProfile, Profile, profile
from modelcycle.exceptions import InvalidInput

FORMAT = "modelcycle.schema/1"
# The methods modelcycle.data.drift implements; "none" turns drift detection off for a column.
DRIFT_METHODS = ("ks", "wasserstein", "psi", "jensenshannon", "chisquare", "none")
# Inferred ranges: how far past the observed min and max a value may lie, in multiples of the gap
# between the extreme value and the TAIL_ROWS-th most extreme. Ten times keeps a fresh sample of
# normal, lognormal, gamma, Student-t or Pareto data of the same size inside, from 200 to
# 1,000,000 rows, in about 99 draws of 100, and still catches a change of units, of sign, or a
# sentinel value.
RANGE_MARGIN, TAIL_ROWS = 10.0, 10
_COLUMN_KEYS = ("type", "required", "nullable", "max_missing", "min", "max", "categories", "drift")

_HEADER = """\
# modelcycle data schema. Edit it to tighten or relax the checks made by validate():
#   type         integer | float | categorical | boolean | datetime | text
#   required     true: the column must be present
#   nullable     false: no value may be missing
#   max_missing  largest allowed fraction of missing values, 0 to 1 (null: no limit)
#   min, max     allowed range of numbers (ISO-8601 text for datetimes; null: no limit); inferred
#                as the observed range widened by 10x each tail's own spread, never past zero
#   categories   allowed values of a categorical column (null: any value)
#   drift        method (ks, wasserstein, psi, jensenshannon, chisquare, none) and threshold;
#                null: the default for the column's type and sample size
"""


@dataclass
class ColumnSchema:
    name: str
    type: str
    required: bool = True
    nullable: bool = True
    max_missing: float | None = None
    min: float | None = None  # seconds since the epoch for datetimes
    max: float | None = None
    categories: list[str] | None = None
    drift_method: str | None = None
    drift_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        show = _iso if self.type == "datetime" else _plain_number
        data: dict[str, Any] = {"type": self.type, "required": self.required, "nullable": self.nullable,
                                "max_missing": self.max_missing}
        if self.type in ("integer", "float", "datetime"):
            data["min"] = None if self.min is None else show(self.min)
            data["max"] = None if self.max is None else show(self.max)
        if self.type in ("categorical", "boolean"):
            data["categories"] = None if self.categories is None else list(self.categories)
        data["drift"] = {"method": self.drift_method, "threshold": self.drift_threshold}
        return data


@dataclass
class Schema:
    columns: dict[str, ColumnSchema] = field(default_factory=dict)

    def __getitem__(self, name: str) -> ColumnSchema:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"No column {name!r} in this schema; it has {list(self.columns)}.") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "columns": {name: c.to_dict() for name, c in self.columns.items()}}

    def to_yaml(self, path: str | os.PathLike | None = None) -> str:
        """The schema as commented YAML; also written to ``path`` when given."""
        import yaml

        text = _HEADER + yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False,
                                        default_flow_style=None, width=100)
        if path is not None:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        return text

    @classmethod
    def from_yaml(cls, text_or_path: str | os.PathLike) -> Schema:
        """Read a schema from YAML text or a YAML file, checking every field."""
        import yaml

        text, where = text_or_path, "the schema"
        if isinstance(text_or_path, os.PathLike) or (
                isinstance(text_or_path, str) and "\n" not in text_or_path
                and text_or_path.endswith((".yaml", ".yml"))):
            where = os.fspath(text_or_path)
            try:
                with open(where, encoding="utf-8") as handle:
                    text = handle.read()
            except FileNotFoundError:
                from modelcycle.exceptions import NotFound

                raise NotFound(f"No schema file at {where!r}; write one with Schema.to_yaml(path).") from None
            except (IsADirectoryError, UnicodeDecodeError):
                raise InvalidInput(f"{where!r} is not a schema file (YAML text in UTF-8, as Schema.to_yaml "
                                   "writes it).") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(f"{where} is not valid YAML{at}: {problem}. Fix the syntax "
                               "(indentation, colons, quotes) and load it again.") from None
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data: Any, where: str = "the schema") -> Schema:
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            raise InvalidInput(f"{where} must be a mapping with a 'columns' mapping of column name to "
                               "settings, as Schema.to_yaml() writes it.")
        if data.get("format", FORMAT) != FORMAT:
            raise InvalidInput(f"{where} has format {data.get('format')!r}; this version reads {FORMAT!r}.")
        unknown = sorted(set(data) - {"format", "columns"})
        if unknown:
            raise InvalidInput(f"{where} has unknown top-level keys {unknown}; only 'format' and 'columns' "
                               "are allowed.")
        columns = {}
        for name, settings in data["columns"].items():
            column = _parse_column(_key_text(name), settings, where)
            columns[column.name] = column
        return cls(columns)


def infer_schema(data: Any, max_categories: int = MAX_CATEGORIES) -> Schema:
    """A schema describing ``data`` (a DataFrame, Table, path/URL, or a Profile of them).

    Text columns with at most ``max_categories`` distinct values become categorical with those
    values allowed; more, and they are free text. Numbers and datetimes get their observed range
    widened by a margin (``inferred_range``) as the allowed range; a column with no missing value
    is not nullable."""
    if not isinstance(max_categories, int) or isinstance(max_categories, bool) or max_categories < 1:
        raise InvalidInput(f"max_categories must be a positive integer; got {max_categories!r}.")
    prof = data if isinstance(data, Profile) else profile(data)
    if not prof.columns:
        raise InvalidInput("The data has no columns; there is no schema to infer.")
    if prof.rows == 0:
        raise InvalidInput("The data has no rows; infer the schema from data with at least one row.")
    mixed = {name: c.mixed_types for name, c in prof.columns.items() if c.mixed_types}
    if mixed:
        detail = "; ".join(f"{name!r} has {', '.join(types)}" for name, types in mixed.items())
        raise InvalidInput(f"Columns mix value types ({detail}). Give each column one type, e.g. "
                           "df[col] = df[col].astype(str), or fix the values, then infer again.")
    columns = {}
    for name, column in prof.columns.items():
        kind = column.logical_type
        if kind in ("categorical", "text"):
            few = not column.categories.truncated and len(column.categories.counts) <= max_categories
            kind = "categorical" if few else "text"
        elif kind == "unknown":
            kind = "text"
        schema = ColumnSchema(name, kind, required=True, nullable=column.missing > 0)
        if kind in ("integer", "float", "datetime") and column.count:
            schema.min, schema.max = inferred_range(column)
        elif kind == "categorical":
            schema.categories = sorted(column.categories.counts)
        columns[name] = schema
    return Schema(columns)


def inferred_range(column: ColumnProfile) -> tuple[float, float]:
    """The observed range widened at each end by ``RANGE_MARGIN`` times that tail's own scale:
    the gap between the extreme value and the ``TAIL_ROWS``-th most extreme one (the quartile
    when there are few rows). A fresh sample of the same distribution reaches past the observed
    min or max about half the time, and further the heavier the tail; the margin grows with the
    tail, and is nothing for values that were tied at the edge. It never crosses zero: a column
    that had no negative value keeps none. Integer columns get whole numbers."""
    low, high = column.min, column.max
    tail = min(TAIL_ROWS / column.count, 0.25)
    q_low, q_high = column.quantiles((tail, 1.0 - tail)).values()
    below = low - RANGE_MARGIN * max(q_low - low, 0.0)
    above = high + RANGE_MARGIN * max(high - q_high, 0.0)
    if low >= 0.0:
        below = max(below, 0.0)
    if high <= 0.0:
        above = min(above, 0.0)
    if column.logical_type == "integer":
        below, above = float(math.floor(below)), float(math.ceil(above))
    return below, above


# ---------------------------------------------------------------------- parsing
def _parse_column(name: str, settings: Any, where: str) -> ColumnSchema:
    here = f"{where}, column {name!r}"
    if not isinstance(settings, dict):
        raise InvalidInput(f"{here}: expected a mapping of settings ({', '.join(_COLUMN_KEYS)}); "
                           f"got {settings!r}.")
    unknown = sorted(set(map(str, settings)) - set(_COLUMN_KEYS))
    if unknown:
        raise InvalidInput(f"{here}: unknown settings {unknown}; allowed: {list(_COLUMN_KEYS)}.")
    kind = settings.get("type")
    if kind not in LOGICAL_TYPES:
        raise InvalidInput(f"{here}: type must be one of {list(LOGICAL_TYPES)}; got {kind!r}.")
    column = ColumnSchema(name, kind)
    column.required = _boolean(settings.get("required", True), f"{here}: required")
    column.nullable = _boolean(settings.get("nullable", True), f"{here}: nullable")
    max_missing = settings.get("max_missing")
    if max_missing is not None:
        max_missing = _number(max_missing, f"{here}: max_missing")
        if not 0.0 <= max_missing <= 1.0:
            raise InvalidInput(f"{here}: max_missing is a fraction from 0 to 1; got {max_missing!r}.")
    column.max_missing = max_missing
    for bound in ("min", "max"):
        value = settings.get(bound)
        if value is None:
            continue
        if kind not in ("integer", "float", "datetime"):
            raise InvalidInput(f"{here}: {bound} applies to integer, float and datetime columns, "
                               f"not {kind}; remove it.")
        parsed = _timestamp(value, f"{here}: {bound}") if kind == "datetime" else _number(value, f"{here}: {bound}")
        setattr(column, bound, parsed)
    if column.min is not None and column.max is not None and column.min > column.max:
        raise InvalidInput(f"{here}: min ({settings['min']!r}) is above max ({settings['max']!r}); "
                           "swap or correct them.")
    categories = settings.get("categories")
    if categories is not None:
        if kind not in ("categorical", "boolean"):
            raise InvalidInput(f"{here}: categories apply to categorical and boolean columns, not {kind}; "
                               "remove them or change the type.")
        if not isinstance(categories, list) or any(isinstance(v, (dict, list)) for v in categories):
            raise InvalidInput(f"{here}: categories must be a list of values; got {categories!r}.")
        column.categories = [_key_text(v) for v in categories]
    drift = settings.get("drift") or {}
    if not isinstance(drift, dict) or set(map(str, drift)) - {"method", "threshold"}:
        raise InvalidInput(f"{here}: drift must be a mapping with 'method' and/or 'threshold'; got {drift!r}.")
    method = drift.get("method")
    if method is not None and method not in DRIFT_METHODS:
        raise InvalidInput(f"{here}: drift method must be one of {list(DRIFT_METHODS)}; got {method!r}.")
    column.drift_method = method
    threshold = drift.get("threshold")
    column.drift_threshold = None if threshold is None else _number(threshold, f"{here}: drift threshold")
    return column


def _boolean(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{what} must be true or false; got {value!r}.")
    return value


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number; got {value!r}.")
    return float(value)


def _timestamp(value: Any, what: str) -> float:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{what} must be an ISO-8601 date or time such as 2024-01-31T12:00:00; "
                               f"got {value!r}.") from None
    else:
        raise InvalidInput(f"{what} must be an ISO-8601 date or time; got {value!r}.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def _key_text(value: Any) -> str:
    """A YAML scalar as the text a profile uses for it (booleans as "true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain_number(value: float):
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat()

"""Validation of data (or its profile) against a schema, and drift from a reference profile.

Training-serving skew is the same call: ``validate(serving_batch, schema, training_profile)``
checks the batch against the schema and compares it with the training data's profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelcycle.data.drift import SHARE_THRESHOLD, DriftReport, drift
from modelcycle.data.profile import ColumnProfile, Profile, profile
from modelcycle.data.reading import DEFAULT_CHUNK_ROWS
from modelcycle.data.schema import ColumnSchema, Schema
from modelcycle.exceptions import InvalidInput

ERROR, WARNING = "error", "warning"
_EXAMPLES = 5


@dataclass
class Anomaly:
    column: str | None  # None: about the whole dataset
    kind: str  # missing_column, unexpected_column, type_mismatch, out_of_range, unseen_category,
    #            missing_values, infinite_values, drift, dataset_drift, no_rows, skipped_rows
    severity: str  # "error" or "warning"
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationReport:
    anomalies: list[Anomaly]
    rows: int
    columns: list[str]
    drift: DriftReport | None = None

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == ERROR]

    @property
    def warnings(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.severity == WARNING]

    def by_column(self) -> dict[str | None, list[Anomaly]]:
        grouped: dict[str | None, list[Anomaly]] = {}
        for anomaly in self.anomalies:
            grouped.setdefault(anomaly.column, []).append(anomaly)
        return grouped

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "columns": self.columns,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "anomalies": [asdict(a) for a in self.anomalies],
                "drift": None if self.drift is None else self.drift.to_dict()}


def validate(data_or_profile: Any, schema: Schema, reference_profile: Profile | None = None, *,
             columns: Mapping[str, Any] | None = None, types: Mapping[str, Any] | None = None,
             share_threshold: float = SHARE_THRESHOLD, chunk_rows: int = DEFAULT_CHUNK_ROWS,
             on_bad_rows: str = "error", encoding: str = "utf-8") -> ValidationReport:
    """Check data (a DataFrame, Table, path/URL or a Profile) against ``schema``.

    With ``reference_profile``, also report the columns that drifted from it (as warnings); the
    drift settings (``columns``, ``types``, ``share_threshold``) are those of ``drift``. A CSV
    is read with the schema's types (``encoding`` as when it was profiled): text in a number
    column is a type anomaly, not an error reading the file."""
    if not isinstance(schema, Schema):
        raise InvalidInput(f"schema must be a Schema (from infer_schema or Schema.from_yaml); "
                           f"got {type(schema).__name__}.")
    if isinstance(data_or_profile, Profile):
        prof = data_or_profile
    else:
        numbers = [n for n, c in schema.columns.items() if c.type in ("integer", "float")]
        texts = [n for n, c in schema.columns.items() if c.type in ("categorical", "text")]
        prof = profile(data_or_profile, reference_profile, chunk_rows=chunk_rows, on_bad_rows=on_bad_rows,
                       encoding=encoding, numbers=numbers, texts=texts)
    anomalies: list[Anomaly] = []
    if prof.rows == 0:
        anomalies.append(Anomaly(None, "no_rows", ERROR, "The data has no rows; there is nothing to check."))
    if prof.bad_rows:
        anomalies.append(Anomaly(None, "skipped_rows", WARNING,
                                 f"{_plural(prof.bad_rows, 'CSV row')} had the wrong number of fields and "
                                 "were skipped.",
                                 {"rows": prof.bad_rows}))
    for name, expected in schema.columns.items():
        if name not in prof.columns:
            if expected.required:
                anomalies.append(Anomaly(name, "missing_column", ERROR,
                                         f"Required column {name!r} is missing. Add it to the data, or set "
                                         "required: false in the schema.", {}))
            continue
        if prof.rows:
            anomalies.extend(_check_column(expected, prof.columns[name]))
    for name in prof.columns:
        if name not in schema.columns:
            anomalies.append(Anomaly(name, "unexpected_column", WARNING,
                                     f"Column {name!r} is not in the schema, so it is not checked. Add it to "
                                     "the schema, or drop it from the data.", {}))
    report = None
    if reference_profile is not None and prof.rows:
        report = drift(reference_profile, prof, schema=schema, columns=columns, types=types,
                       share_threshold=share_threshold)
        anomalies.extend(_drift_anomalies(report))
    return ValidationReport(anomalies, prof.rows, list(prof.columns), report)


# ---------------------------------------------------------------------- checks
def _check_column(expected: ColumnSchema, column: ColumnProfile) -> list[Anomaly]:
    found: list[Anomaly] = []
    name = column.name
    if column.mixed_types:
        found.append(Anomaly(name, "type_mismatch", ERROR,
                             f"Column {name!r} mixes value types ({', '.join(column.mixed_types)}); expected "
                             f"{expected.type}. Give the column one type in the source data.",
                             {"expected": expected.type, "found": list(column.mixed_types)}))
    elif column.not_numbers:
        examples = ", ".join(repr(v) for v in column.not_number_examples)
        found.append(Anomaly(name, "type_mismatch", ERROR,
                             f"Column {name!r} has {_plural(column.not_numbers, 'value')} that "
                             f"{'is not a number' if column.not_numbers == 1 else 'are not numbers'} ({examples}); the schema expects {expected.type}. They are left out of its "
                             "statistics. Fix the data, or change the column's type in the schema.",
                             {"expected": expected.type, "found": "text", "rows": column.not_numbers,
                              "values": list(column.not_number_examples)}))
    elif not _type_fits(expected.type, column):
        hint = (" If these are codes, read them as text (e.g. pandas dtype=str)."
                if expected.type in ("categorical", "text") and column.numeric else "")
        found.append(Anomaly(name, "type_mismatch", ERROR,
                             f"Column {name!r} holds {column.logical_type} values; the schema expects "
                             f"{expected.type}. Fix the data, or change the column's type in the schema.{hint}",
                             {"expected": expected.type, "found": column.logical_type}))
    found.extend(_check_missing(expected, column))
    if column.numeric and expected.type in ("integer", "float", "datetime") and column.count:
        found.extend(_check_range(expected, column))
    if column.infinite:
        found.append(Anomaly(name, "infinite_values", WARNING,
                             f"Column {name!r} has {_plural(column.infinite, 'infinite value')}; they are left out of its "
                             "statistics.", {"rows": column.infinite}))
    if expected.categories is not None and column.categories is not None:
        found.extend(_check_categories(expected, column))
    return found


def _type_fits(expected: str, column: ColumnProfile) -> bool:
    actual = column.logical_type
    if actual == "unknown" or actual == expected:
        return True
    if expected == "integer":
        return actual == "float" and column.moments is not None and column.moments.integral
    if expected == "float":
        return actual == "integer"
    if expected in ("categorical", "text"):
        return actual in ("categorical", "text", "boolean")
    if expected == "boolean":
        return actual in ("categorical", "text") and set(column.categories.counts) <= {"true", "false"}
    return False


def _check_missing(expected: ColumnSchema, column: ColumnProfile) -> list[Anomaly]:
    if not column.missing:
        return []
    fraction = column.missing_fraction
    details = {"missing": column.missing, "rows": column.rows, "fraction": fraction}
    what = ("every value is missing" if column.missing == column.rows
            else f"{column.missing:,} of {column.rows:,} values are missing ({fraction:.1%})")
    if not expected.nullable:
        return [Anomaly(column.name, "missing_values", ERROR,
                        f"Column {column.name!r}: {what}, but the schema says it is not nullable. Fill them, "
                        "or set nullable: true (optionally with max_missing) in the schema.", details)]
    if expected.max_missing is not None and fraction > expected.max_missing:
        details["max_missing"] = expected.max_missing
        return [Anomaly(column.name, "missing_values", ERROR,
                        f"Column {column.name!r}: {what}, more than the schema's max_missing "
                        f"{expected.max_missing:.1%}. Fill them, or raise max_missing.", details)]
    return []


def _check_range(expected: ColumnSchema, column: ColumnProfile) -> list[Anomaly]:
    show = _iso if expected.type == "datetime" else _number
    below = expected.min is not None and column.min < expected.min
    above = expected.max is not None and column.max > expected.max
    if not (below or above):
        return []
    estimate = column.estimate_outside(expected.min, expected.max)
    allowed = f"[{'-inf' if expected.min is None else show(expected.min)}, " \
              f"{'inf' if expected.max is None else show(expected.max)}]"
    return [Anomaly(column.name, "out_of_range", ERROR,
                    f"Column {column.name!r} has values from {show(column.min)} to {show(column.max)}, outside "
                    f"the allowed range {allowed} (about {_rows(estimate)}). Fix the data, or widen min/max in "
                    "the schema.",
                    {"min": column.min, "max": column.max, "allowed_min": expected.min,
                     "allowed_max": expected.max, "rows_estimate": estimate})]


def _check_categories(expected: ColumnSchema, column: ColumnProfile) -> list[Anomaly]:
    allowed = set(expected.categories)
    unseen = [(value, count) for value, count in column.categories.top() if value not in allowed]
    if not unseen:
        return []
    rows = sum(count for _, count in unseen)
    examples = ", ".join(repr(value) for value, _ in unseen[:_EXAMPLES])
    more = f" and {len(unseen) - _EXAMPLES:,} more" if len(unseen) > _EXAMPLES else ""
    return [Anomaly(column.name, "unseen_category", ERROR,
                    f"Column {column.name!r} has {_plural(len(unseen), 'value')} the schema does not allow "
                    f"({examples}{more}) in {_rows(rows)}. Fix the data, or add them to the column's categories in the schema.",
                    {"values": [value for value, _ in unseen[:100]], "distinct": len(unseen), "rows": rows})]


def _drift_anomalies(report: DriftReport) -> list[Anomaly]:
    found = []
    for result in report.columns:
        if result.drifted:
            found.append(Anomaly(result.column, "drift", WARNING,
                                 f"Column {result.column!r} drifted: {result.method} {result.score:.4g} is "
                                 f"{result.direction} the threshold {result.threshold:.4g}.",
                                 {"method": result.method, "score": result.score, "threshold": result.threshold,
                                  "direction": result.direction}))
    if report.dataset_drifted:
        found.append(Anomaly(None, "dataset_drift", WARNING,
                             f"{report.share:.0%} of the compared columns drifted (threshold "
                             f"{report.share_threshold:.0%}): {', '.join(report.drifted_columns)}.",
                             {"share": report.share, "share_threshold": report.share_threshold,
                              "columns": report.drifted_columns}))
    return found


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _rows(count: int) -> str:
    return _plural(count, "row")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat()

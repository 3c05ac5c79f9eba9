"""Data: schemas, mergeable profiles, validation and drift (pure calculations on pandas/Arrow data).

The functions ``profile``, ``drift`` and ``validate`` share their names with the modules that define them; the
package attribute is the function (import the modules with ``from modelcycle.data.drift import``)."""

from modelcycle.data.drift import ColumnDrift, DriftReport, drift
from modelcycle.data.profile import ColumnProfile, Profile, Profiler, profile, profile_file
from modelcycle.data.report import render_html, to_json
from modelcycle.data.schema import ColumnSchema, Schema, infer_schema
from modelcycle.data.validate import Anomaly, ValidationReport, validate

__all__ = [
    "Anomaly", "ColumnDrift", "ColumnProfile", "ColumnSchema", "DriftReport", "Profile", "Profiler",
    "Schema", "ValidationReport", "drift", "infer_schema", "profile", "profile_file", "render_html",
    "to_json", "validate",
]

"""Data: schemas, mergeable profiles, validation and drift (pure calculations on pandas/Arrow data).

The functions ``profile`` and ``drift`` share their names with the modules that define them; the
package attribute is the function (import the modules with ``from modelcycle.data.drift import``)."""

from modelcycle.data.drift import ColumnDrift, DriftReport, drift
from modelcycle.data.profile import ColumnProfile, Profile, Profiler, profile, profile_file
from modelcycle.data.schema import ColumnSchema, Schema, infer_schema

__all__ = [
    "ColumnDrift", "ColumnProfile", "ColumnSchema", "DriftReport", "Profile", "Profiler", "Schema",
    "drift", "infer_schema", "profile", "profile_file",
]

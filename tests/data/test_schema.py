"""Schemas: inferred from data, round-tripped through YAML, malformed YAML rejected clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.data.profile import profile
from modelcycle.data.schema import ColumnSchema, Schema, infer_schema
from modelcycle.exceptions import InvalidInput, NotFound


def test_infers_type_nullability_and_domain(frame):
    schema = infer_schema(frame)
    assert {name: c.type for name, c in schema.columns.items()} == {
        "age": "integer", "income k€": "float", "city": "categorical", "active": "boolean",
        "signed up": "datetime", "comment": "text"}
    assert not schema["age"].nullable and schema["income k€"].nullable and schema["city"].nullable
    # Every whole number from 18 to 89 occurs about 70 times: the extremes are tied, no margin.
    assert (schema["age"].min, schema["age"].max) == (frame["age"].min(), frame["age"].max())
    assert schema["city"].categories == sorted(frame["city"].dropna().unique())
    seconds = frame["signed up"].astype("int64") // 10**6  # microseconds to seconds
    low, high = seconds.min(), seconds.max()
    # Widened by 10x the gap to the 10th most extreme of 5,000 rows, known within a bin of the profile.
    tenth_low, tenth_high = np.quantile(seconds, [10 / 5_000, 1 - 10 / 5_000], method="inverted_cdf")
    width = profile(frame)["signed up"].histogram.width
    assert schema["signed up"].min == pytest.approx(low - 10 * (tenth_low - low), abs=10 * width)
    assert schema["signed up"].max == pytest.approx(high + 10 * (high - tenth_high), abs=10 * width)
    assert width < (tenth_low - low) / 3
    assert all(c.required and c.drift_method is None for c in schema.columns.values())


def test_max_categories_decides_between_categorical_and_text(frame):
    assert infer_schema(frame, max_categories=5)["city"].type == "text"
    assert infer_schema(profile(frame), max_categories=10)["city"].type == "categorical"
    with pytest.raises(InvalidInput, match="max_categories must be a positive integer"):
        infer_schema(frame, max_categories=0)


def test_yaml_round_trip_keeps_every_setting(tmp_path, frame):
    schema = infer_schema(frame)
    schema.columns["income k€"].max_missing = 0.1
    schema.columns["income k€"].drift_method, schema.columns["income k€"].drift_threshold = "psi", 0.2
    text = schema.to_yaml(tmp_path / "schema.yaml")
    assert text.startswith("# modelcycle data schema") and "income k€" in text  # unicode kept as is
    assert Schema.from_yaml(text) == schema
    assert Schema.from_yaml(tmp_path / "schema.yaml") == schema
    assert Schema.from_yaml(str(tmp_path / "schema.yaml")) == schema
    assert "2023-12-" in text and "T" in schema.columns["signed up"].to_dict()["min"]  # ISO-8601 text


def test_user_edits_take_effect():
    text = """
columns:
  age: {type: integer, min: 18, max: 65, nullable: false}
  "zip code": {type: categorical, categories: [007, yes, "x y"]}
  seen: {type: datetime, min: 2024-01-31, max: "2024-12-31T23:59:59+00:00"}
  score: {type: float, required: false, max_missing: 0.25, drift: {method: ks, threshold: 0.01}}
"""
    schema = Schema.from_yaml(text)
    assert schema["age"] == ColumnSchema("age", "integer", nullable=False, min=18.0, max=65.0)
    assert schema["zip code"].categories == ["7", "true", "x y"]  # YAML scalars as profile keys
    assert schema["seen"].min == pd.Timestamp("2024-01-31", tz="UTC").timestamp()
    assert (schema["score"].required, schema["score"].max_missing) == (False, 0.25)
    assert (schema["score"].drift_method, schema["score"].drift_threshold) == ("ks", 0.01)


@pytest.mark.parametrize("text, message", [
    ("columns: [a, b", "not valid YAML at line 1"),
    ("- a\n- b\n", "must be a mapping with a 'columns' mapping"),
    ("columns: {a: {type: number}}", "type must be one of"),
    ("columns: {a: {type: integer, maximum: 3}}", r"unknown settings \['maximum'\]"),
    ("columns: {a: {type: integer, min: 5, max: 1}}", "min \\(5\\) is above max \\(1\\)"),
    ("columns: {a: {type: integer, min: low}}", "min must be a finite number; got 'low'"),
    ("columns: {a: {type: float, max_missing: 2}}", "max_missing is a fraction from 0 to 1"),
    ("columns: {a: {type: float, required: maybe}}", "required must be true or false"),
    ("columns: {a: {type: float, drift: {method: magic}}}", "drift method must be one of"),
    ("columns: {a: {type: float, drift: {threshold: high}}}", "drift threshold must be a finite number"),
    ("columns: {a: {type: text, categories: [x]}}", "categories apply to categorical and boolean"),
    ("columns: {a: {type: text, min: 1}}", "min applies to integer, float and datetime"),
    ("columns: {a: {type: datetime, min: yesterday}}", "ISO-8601"),
    ("columns: {a: 3}", "expected a mapping of settings"),
    ("format: other/9\ncolumns: {}", "this version reads"),
])
def test_malformed_yaml_gives_a_clear_error(text, message):
    with pytest.raises(InvalidInput, match=message):
        Schema.from_yaml(text)


def test_missing_schema_file_is_not_found(tmp_path):
    with pytest.raises(NotFound, match="No schema file"):
        Schema.from_yaml(tmp_path / "nope.yaml")


def test_bad_data_for_inference_is_rejected_clearly():
    with pytest.raises(InvalidInput, match="no rows"):
        infer_schema(pd.DataFrame({"a": pd.Series([], dtype=float)}))
    with pytest.raises(InvalidInput, match="no columns"):
        infer_schema(pd.DataFrame())
    mixed = pd.DataFrame({"m": pd.Series([1, "two", 3.0, None], dtype=object)})
    with pytest.raises(InvalidInput, match=r"'m' has float, int, str.*astype\(str\)"):
        infer_schema(mixed)


def test_all_missing_columns_are_nullable_without_a_range():
    schema = infer_schema(pd.DataFrame({"x": [np.nan, np.nan], "y": pd.Series([None, None], dtype=object),
                                        "z": [1, 2]}))
    assert schema["x"] == ColumnSchema("x", "float", nullable=True)
    assert schema["y"].type == "text" and schema["y"].nullable

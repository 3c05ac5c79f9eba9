"""Validation: schema checks, user edits taking effect, training-serving skew, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.data.profile import profile, profile_file
from modelcycle.data.schema import Schema, infer_schema
from modelcycle.data.validate import validate
from modelcycle.exceptions import InvalidInput, NotFound
from tests.data.helpers import mixed_frame


def kinds(report) -> list[tuple[str | None, str, str]]:
    return [(a.column, a.kind, a.severity) for a in report.anomalies]


@pytest.fixture(scope="module")
def schema(frame) -> Schema:
    return infer_schema(frame)


def test_data_matching_its_schema_has_no_anomaly(frame, schema):
    report = validate(frame, schema)
    assert report.ok and report.anomalies == [] and report.rows == len(frame) and report.drift is None


def test_missing_unexpected_and_mistyped_columns(frame, schema):
    data = frame.drop(columns=["age"]).assign(extra=1, city=np.arange(len(frame)))
    schema.columns["comment"].required = False
    report = validate(data.drop(columns=["comment"]), schema)
    assert kinds(report) == [("age", "missing_column", "error"), ("city", "type_mismatch", "error"),
                             ("extra", "unexpected_column", "warning")]
    assert "read them as text" in report.anomalies[1].message
    schema.columns["comment"].required = True


def test_an_integer_column_with_missing_values_still_fits_integer(frame, schema):
    data = frame.copy()
    data["age"] = data["age"].astype(float)
    data.loc[:5, "age"] = np.nan  # pandas makes it float
    schema.columns["age"].nullable = True
    assert validate(data, schema).ok
    data.loc[7, "age"] = 30.5
    assert ("age", "type_mismatch", "error") in kinds(validate(data, schema))
    schema.columns["age"].nullable = False


def test_tightening_the_yaml_produces_the_anomalies(frame, schema):
    text = schema.to_yaml()
    edited = Schema.from_yaml(text.replace("max: 89", "max: 60").replace("categories: [a, b, c, d, e, f, g, h, i, j]",
                                                                         "categories: [a, b, c]"))
    edited.columns["income k€"].max_missing = 0.01
    report = validate(frame, edited)
    assert kinds(report) == [("age", "out_of_range", "error"), ("income k€", "missing_values", "error"),
                             ("city", "unseen_category", "error")]
    out_of_range = report.anomalies[0]
    assert out_of_range.details["rows_estimate"] == pytest.approx((frame["age"] > 60).sum(), rel=0.02)
    assert "widen min/max" in out_of_range.message
    unseen = report.anomalies[2]
    assert unseen.details["values"][:3] and set(unseen.details["values"]) == set("defghij")
    relaxed = Schema.from_yaml(text.replace("nullable: false", "nullable: true"))
    assert validate(frame, relaxed).ok


def test_missing_values_against_nullable_and_max_missing(frame, schema):
    data = frame.copy()
    data.loc[:9, "age"] = np.nan
    data["income k€"] = np.nan  # all missing
    schema.columns["income k€"].max_missing = 0.5
    report = validate(data, schema)
    messages = {a.column: a.message for a in report.anomalies}
    assert "10 of 5,000 values are missing" in messages["age"] and "not nullable" in messages["age"]
    assert "every value is missing" in messages["income k€"] and "max_missing" in messages["income k€"]
    schema.columns["income k€"].max_missing = None


def test_training_serving_skew_is_validation_with_a_reference_profile(frame, schema):
    training = profile(frame)
    serving = mixed_frame(2_000, seed=9)
    assert validate(serving.iloc[:1500], schema, training).drift.drifted_columns == []
    serving["income k€"] = serving["income k€"] * 1.5
    report = validate(serving, schema, training)
    drift_anomalies = [a for a in report.anomalies if a.kind == "drift"]
    assert [(a.column, a.severity) for a in drift_anomalies] == [("income k€", "warning")]
    assert drift_anomalies[0].details["direction"] == "above"
    # A profile of the serving batch (binned on the training profile) gives the same report.
    from_profile = validate(profile(serving, training), schema, training)
    assert kinds(from_profile) == kinds(report)


def test_dataset_drift_is_a_dataset_anomaly(frame, schema):
    shifted = frame.copy()
    shifted["age"] = shifted["age"] + 30
    shifted["income k€"] = shifted["income k€"] * 3
    shifted["city"] = "a"
    shifted["signed up"] = shifted["signed up"] + pd.Timedelta(days=200)
    shifted["active"] = True
    report = validate(shifted, schema, profile(frame), share_threshold=0.5)
    assert report.drift.dataset_drifted
    assert (None, "dataset_drift", "warning") in kinds(report)


def one_distribution(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "normal": rng.normal(10, 2, rows), "lognormal": rng.lognormal(0, 1, rows),
        "exponential": rng.exponential(3, rows), "gamma": rng.gamma(2, 2, rows),
        "student": rng.standard_t(5, rows), "uniform": rng.uniform(-1, 1, rows), "poisson": rng.poisson(20, rows),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365 * 86400, rows), unit="s")})


@pytest.mark.parametrize("rows, pairs", [(1_000, 20), (1_000_000, 2)])
def test_a_sample_of_the_same_distribution_fits_the_inferred_ranges(rows, pairs):
    for seed in range(pairs):
        schema = infer_schema(one_distribution(rows, 2 * seed))
        report = validate(one_distribution(rows, 2 * seed + 1), schema)
        assert report.ok and report.anomalies == [], (seed, [a.message for a in report.anomalies])


def test_a_value_far_outside_the_inferred_range_still_fails():
    reference = one_distribution(1_000, 0)
    schema = infer_schema(reference)
    far = {"normal": 10 + 2 * 40, "lognormal": reference["lognormal"].max() * 100, "exponential": -0.5,
           "poisson": -1, "uniform": 5.0, "when": pd.Timestamp("2031-01-01")}
    for column, value in far.items():
        data = reference.copy()
        data.loc[17, column] = value
        assert kinds(validate(data, schema)) == [(column, "out_of_range", "error")], column


# ---------------------------------------------------------------------- bad inputs
def test_empty_data_is_an_anomaly_not_a_traceback(frame, schema):
    report = validate(frame.iloc[:0], schema, profile(frame))
    assert kinds(report) == [(None, "no_rows", "error")]


def test_mixed_type_column_is_a_type_mismatch(frame, schema):
    data = frame.copy()
    data["city"] = data["city"].astype(object)
    data.loc[3, "city"] = 42
    report = validate(data, schema)
    assert kinds(report) == [("city", "type_mismatch", "error"), ("city", "unseen_category", "error")]
    assert "mixes value types (int, str)" in report.anomalies[0].message
    assert "('42')" in report.anomalies[1].message  # read as text, so the value is still checked


def test_unicode_and_spaces_in_column_names_end_to_end(tmp_path):
    data = pd.DataFrame({"prix € HT": [1.0, 2.0, 3.0], "  ville  ": ["Zürich", "東京", "Zürich"],
                         "<b>x</b>": [1, 2, 3]})
    path = tmp_path / "schéma.yaml"
    infer_schema(data).to_yaml(path)
    schema = Schema.from_yaml(path)
    assert list(schema.columns) == list(data.columns)
    assert validate(data, schema).ok
    assert schema["  ville  "].categories == ["Zürich", "東京"]


def test_csv_with_a_broken_row(tmp_path, frame, schema):
    path = tmp_path / "broken.csv"
    frame.iloc[:50].to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines.insert(10, lines[10] + ",unexpected,fields")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInput, match="has a row with 8 fields where the header has 6.*on_bad_rows='skip'"):
        profile_file(path)
    report = validate(path, schema, on_bad_rows="skip")
    assert (None, "skipped_rows", "warning") in kinds(report) and report.rows == 50


def test_text_in_a_numeric_csv_column_is_a_type_anomaly(tmp_path, frame):
    reference = frame[["age", "income k€", "city"]]
    schema, training = infer_schema(reference), profile(reference)
    path = tmp_path / "batch.csv"
    batch = reference.iloc[:3_000].astype({"age": object, "income k€": object})
    batch.loc[2_900, "age"], batch.loc[2_950, "income k€"], batch.loc[2_999, "income k€"] = "n/a?", "12,5", "12,5"
    batch.to_csv(path, index=False)  # the text comes after the first block of rows
    for report in (validate(path, schema, training, chunk_rows=1_000), validate(path, schema)):
        mismatches = {a.column: a for a in report.anomalies if a.kind == "type_mismatch"}
        assert set(mismatches) == {"age", "income k€"} and not report.ok
        assert mismatches["income k€"].details == {"expected": "float", "found": "text", "rows": 2,
                                                   "values": ["12,5"]}
        assert "2 values that are not numbers ('12,5')" in mismatches["income k€"].message
    age = profile(path, training)["age"]
    assert (age.count, age.missing, age.not_numbers) == (2_999, 0, 1)
    assert age.mean == pytest.approx(reference["age"].iloc[:3_000].drop(2_900).mean())
    assert validate(path, schema, training).drift.drifted_columns == []  # the numbers are still compared


def test_an_encoding_is_used_alike_when_logging_and_validating(tmp_path):
    path = tmp_path / "latin1.csv"
    rows = ["city,price"] + [f"{city},{i % 7}.5" for i, city in enumerate(["café", "Zürich", "Málaga"] * 200)]
    path.write_bytes("\n".join(rows).encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8 text.*encoding='latin-1'"):
        profile_file(path)
    reference = profile_file(path, encoding="latin-1")
    assert sorted(reference["city"].categories.counts) == ["Málaga", "Zürich", "café"]
    report = validate(path, infer_schema(reference), reference, encoding="latin-1")
    assert report.ok and report.anomalies == []
    with pytest.raises(InvalidInput, match="not UTF-8 text"):
        validate(path, infer_schema(reference), reference)
    with pytest.raises(InvalidInput, match="Unknown encoding 'latin-99'"):
        profile_file(path, encoding="latin-99")


def test_unreadable_inputs_are_clear_errors(tmp_path, schema):
    with pytest.raises(NotFound, match="No file or folder"):
        validate(tmp_path / "nope.parquet", schema)
    (tmp_path / "data.xlsx").write_bytes(b"not really")
    with pytest.raises(InvalidInput, match="Unsupported file type"):
        validate(tmp_path / "data.xlsx", schema)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InvalidInput, match="is empty"):
        profile_file(tmp_path / "empty.csv")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 but not really")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        profile_file(tmp_path / "bad.parquet")
    with pytest.raises(InvalidInput, match="schema must be a Schema"):
        validate(pd.DataFrame({"a": [1]}), {"a": "integer"})
    with pytest.raises(InvalidInput, match="Expected a pandas DataFrame"):
        profile([1, 2, 3])
    with pytest.raises(InvalidInput, match="repeated"):
        profile(pd.DataFrame([[1, 2]], columns=["a", "a"]))
    with pytest.raises(InvalidInput, match="chunk_rows"):
        profile(pd.DataFrame({"a": [1]}), chunk_rows=0)


def test_an_all_null_column_of_no_type(schema, frame):
    data = frame.copy()
    data["comment"] = pd.Series([None] * len(data), dtype=object)
    report = validate(data, schema)
    assert kinds(report) == [("comment", "missing_values", "error")]

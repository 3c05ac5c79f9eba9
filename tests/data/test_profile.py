"""Profiles: statistics against numpy/pandas, exact merges, chunked files equal to whole data."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcycle.data.profile import ColumnProfile, Profile, Profiler, profile, profile_file
from modelcycle.exceptions import InvalidInput
from tests.data.helpers import LETTERS, mixed_frame

QS = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def assert_same_profile(a: Profile, b: Profile, rel: float = 1e-9) -> None:
    """Equal where merges are exact; mean and std up to float rounding."""
    assert a.rows == b.rows and list(a.columns) == list(b.columns)
    for name in a.columns:
        x, y = a[name], b[name]
        assert (x.physical, x.rows, x.missing, x.infinite) == (y.physical, y.rows, y.missing, y.infinite), name
        assert x.distinct_sketch.hashes.tolist() == y.distinct_sketch.hashes.tolist(), name
        if x.categories is not None:
            assert x.categories.counts == y.categories.counts and x.categories.other == y.categories.other
        if x.histogram is not None:
            hx, hy = x.histogram, y.histogram
            assert (hx.exponent, hx.start, hx.below, hx.above) == (hy.exponent, hy.start, hy.below, hy.above), name
            assert hx.counts.tolist() == hy.counts.tolist(), name
            assert (x.min, x.max, x.count) == (y.min, y.max, y.count)
            if x.count:
                assert x.mean == pytest.approx(y.mean, rel=rel, abs=1e-12)
            if x.count > 1:
                assert x.std == pytest.approx(y.std, rel=1e-7, abs=1e-12)
        assert (x.magnitudes is None) == (y.magnitudes is None), name
        if x.magnitudes is not None:
            mx, my = x.magnitudes, y.magnitudes
            assert (mx.top, mx.zero) == (my.top, my.zero), name
            assert mx.negative.tolist() == my.negative.tolist() and mx.positive.tolist() == my.positive.tolist()


def test_statistics_match_numpy_and_pandas(frame):
    prof = profile(frame)
    assert prof.rows == len(frame)
    income = prof["income k€"]
    values = frame["income k€"].dropna().to_numpy()
    assert income.logical_type == "float"
    assert income.missing == frame["income k€"].isna().sum()
    assert income.count == values.size
    assert income.mean == pytest.approx(values.mean(), rel=1e-12)
    assert income.std == pytest.approx(values.std(ddof=1), rel=1e-9)
    assert (income.min, income.max) == (values.min(), values.max())
    width = income.histogram.width
    for q, estimate in income.quantiles(QS).items():  # off by at most one bin width
        assert abs(estimate - np.quantile(values, q, method="inverted_cdf")) <= width
    assert income.distinct == pytest.approx(len(np.unique(values)), rel=3 * 0.0313)  # 3 standard errors

    age = prof["age"]
    assert age.logical_type == "integer" and age.histogram.width == 1
    assert age.distinct == frame["age"].nunique() and age.distinct_exact  # below 1,024: exact
    expected = np.quantile(frame["age"], QS, method="inverted_cdf")
    assert list(age.quantiles(QS).values()) == pytest.approx(expected)

    city = prof["city"]
    assert city.logical_type == "categorical" and city.missing == frame["city"].isna().sum()
    counts = frame["city"].value_counts()
    assert dict(city.top(3)) == counts.head(3).to_dict()
    assert city.distinct == 10
    assert prof["active"].logical_type == "boolean"
    assert prof["active"].categories.counts == {"true": int(frame["active"].sum()),
                                                "false": int((~frame["active"]).sum())}
    assert prof["signed up"].logical_type == "datetime"
    assert prof["signed up"].min == frame["signed up"].min().timestamp()
    assert prof["comment"].logical_type == "text"


def test_distinct_is_approximate_above_the_sketch_size_with_the_stated_error():
    errors = []
    for seed in range(30):
        values = np.random.default_rng(seed).integers(0, 10**9, 60_000).astype(float)
        column = profile(pd.DataFrame({"x": values}))["x"]
        assert not column.distinct_exact
        true = len(np.unique(values))
        errors.append((column.distinct - true) / true)
    errors = np.array(errors)
    # The documented relative standard error is 1/sqrt(1024 - 2), about 3.1%; over 30 draws the
    # root-mean-square error lies within 25% of it, and the estimate is unbiased.
    assert 0.75 * 0.0313 < np.sqrt(np.mean(errors**2)) < 1.25 * 0.0313
    assert abs(errors.mean()) < 2.5 * 0.0313 / np.sqrt(len(errors))


def test_distinct_counts_large_64_bit_integers_one_by_one():
    ids = 1_500_000_000_000_000_000 + np.arange(1_000, dtype=np.int64) * 7  # float64 would merge them
    column = profile(pd.DataFrame({"id": ids}))["id"]
    assert (column.distinct, column.distinct_exact) == (1_000, True)
    unsigned = profile(pa.table({"u": pa.array(np.uint64(2**64 - 1) - np.arange(900, dtype=np.uint64))}))["u"]
    assert (unsigned.distinct, unsigned.distinct_exact) == (900, True)
    many = profile(pd.DataFrame({"id": np.repeat(ids[0] + np.arange(20_000), 3)}))["id"]
    assert not many.distinct_exact and abs(many.distinct - 20_000) / 20_000 < 3 * 0.031  # 3 standard errors
    # An integer and the equal float are one value, so integer and float parts still merge.
    merged = profile(pd.DataFrame({"x": [1, 2, 3]})).merge(profile(pd.DataFrame({"x": [3.0, 4.5]})))
    assert merged["x"].distinct == 4


@pytest.mark.parametrize("draw", ["cauchy", "pareto", "lognormal"])
def test_quantiles_of_heavy_tails_are_within_a_32nd_of_their_magnitude(draw):
    rng = np.random.default_rng(4)
    values = {"cauchy": rng.standard_cauchy(200_000), "pareto": rng.pareto(1.0, 200_000),
              "lognormal": rng.lognormal(0, 2, 200_000)}[draw]
    column = profile(pd.DataFrame({"x": values}))["x"]
    zero_band = 2.0 ** (column.magnitudes.top - 23)  # magnitudes this small count as zero
    for q, estimate in column.quantiles(QS).items():
        truth = np.quantile(values, q, method="inverted_cdf")
        assert abs(estimate - truth) <= max(abs(truth) / 32, zero_band), (q, estimate, truth)
        assert abs(estimate - truth) <= column.histogram.width  # never worse than the bins
    assert column.quantiles()[0.99] == pytest.approx(np.quantile(values, 0.99), rel=1 / 32)


def test_profiles_stored_before_magnitudes_still_load_and_merge(frame):
    new = profile(frame)
    stored = new.to_dict()
    for column in stored["columns"]:
        column.pop("magnitudes", None)
    old = Profile.from_dict(json.loads(json.dumps(stored)))
    income = old["income k€"]
    assert income.magnitudes is None
    assert list(income.quantiles(QS).values()) == income.histogram.quantiles(QS, income.min, income.max)
    merged = old.merge(new)
    assert merged["income k€"].magnitudes is None and merged.rows == 2 * len(frame)
    assert merged.merge(profile(frame.iloc[:0])).rows == 2 * len(frame)


def test_infinite_values_are_counted_apart():
    column = profile(pd.DataFrame({"x": [1.0, np.inf, -np.inf, np.nan, 3.0]}))["x"]
    assert (column.count, column.missing, column.infinite, column.max) == (2, 1, 2, 3.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(2, 400), seed=st.integers(0, 10_000), cuts=st.lists(st.floats(0, 1), max_size=4))
def test_merging_random_splits_equals_profiling_the_whole(rows, seed, cuts):
    data = mixed_frame(rows, seed)
    rng = np.random.default_rng(seed)
    data["wide"] = rng.standard_cauchy(rows) * 10.0 ** rng.integers(-3, 6)  # any scale, heavy tails
    whole = profile(data)
    points = sorted({0, rows, *(int(c * rows) for c in cuts)})
    parts = [profile(data.iloc[a:b]) for a, b in itertools.pairwise(points) if b > a]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert_same_profile(merged, whole)


def test_chunk_size_does_not_change_the_profile(frame):
    assert_same_profile(profile(frame, chunk_rows=333), profile(frame))


def test_parquet_file_chunk_by_chunk_equals_profiling_it_whole(tmp_path, frame):
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=700)
    assert pq.ParquetFile(path).num_row_groups > 5
    chunked = profile_file(path, chunk_rows=250)
    assert_same_profile(chunked, profile(frame))
    assert_same_profile(profile_file(str(tmp_path), chunk_rows=400), chunked)  # a folder of Parquet


def test_csv_is_streamed_in_blocks(tmp_path, frame):
    path = tmp_path / "data.csv"
    numbers = frame[["age", "income k€", "city"]]
    numbers.to_csv(path, index=False)
    streamed = profile_file(path)
    assert_same_profile(streamed, profile(pd.read_csv(path)))


def test_profile_against_a_reference_uses_its_bins():
    rng = np.random.default_rng(1)
    reference = profile(pd.DataFrame({"x": rng.normal(0, 1, 10_000)}))
    current_values = rng.normal(0.5, 2, 10_000)
    current = profile(pd.DataFrame({"x": current_values}), reference)
    grid, binned = reference["x"].histogram, current["x"].histogram
    assert binned.pinned and binned.same_grid(grid)
    low, high = grid.edges()[0], grid.edges()[-1]
    assert binned.below == (current_values < low).sum() and binned.above == (current_values >= high).sum()
    assert binned.below_sum == pytest.approx(current_values[current_values < low].sum())
    # Parts binned on the same reference merge exactly, tails included.
    halves = [profile(pd.DataFrame({"x": half}), reference) for half in np.array_split(current_values, 2)]
    assert_same_profile(halves[0].merge(halves[1]), current)
    with pytest.raises(InvalidInput, match="same `reference=`"):
        halves[0].merge(profile(pd.DataFrame({"x": current_values[:10]})))


def test_profiles_round_trip_through_compact_json(frame):
    prof = profile(frame)
    text = json.dumps(prof.to_dict())
    assert len(text) < 120_000  # six columns, sketches packed
    back = Profile.from_dict(json.loads(text))
    assert_same_profile(back, prof, rel=0)
    assert back["income k€"].quantiles() == prof["income k€"].quantiles()
    assert back.summary() == prof.summary()
    with pytest.raises(InvalidInput, match="Not a modelcycle profile"):
        Profile.from_dict({"rows": 3})


def test_summary_is_plain_data(frame):
    summary = profile(frame).summary()
    json.dumps(summary, allow_nan=False)
    assert summary["columns"]["signed up"]["min"].startswith("2024-01-01T")
    assert summary["columns"]["city"]["top"][0]["count"] > 0


def test_profiler_takes_batches_one_at_a_time(frame):
    profiler = Profiler()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for batch in table.to_batches(max_chunksize=1_000):
        profiler.add(batch)
    assert_same_profile(profiler.result(), profile(frame))


def test_integer_and_float_parts_merge_but_text_and_numbers_do_not():
    ints = profile(pd.DataFrame({"x": [1, 2, 3]}))
    floats = profile(pd.DataFrame({"x": [1.5, np.nan]}))
    merged = ints.merge(floats)
    assert merged["x"].logical_type == "float" and merged["x"].count == 4 and merged["x"].missing == 1
    with pytest.raises(InvalidInput, match="only profiles of the same columns and types merge"):
        ints.merge(profile(pd.DataFrame({"x": LETTERS[:3]})))
    with pytest.raises(InvalidInput, match="only in the first"):
        ints.merge(profile(pd.DataFrame({"y": [1]})))


def test_column_profile_of_an_empty_array():
    column = ColumnProfile.of("x", pa.array([], pa.float64()))
    assert (column.rows, column.count, column.mean, column.quantiles()) == (0, 0, None, {})


def test_a_url_is_read_through_fsspec(frame):
    import fsspec

    with fsspec.open("memory://bucket/data.parquet", "wb") as handle:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), handle, row_group_size=1_000)
    assert_same_profile(profile_file("memory://bucket/data.parquet", chunk_rows=300), profile(frame))


def test_a_csv_profiled_against_a_reference_is_read_with_its_types(tmp_path):
    reference = profile(pd.DataFrame({"code": ["007", "012", "007"], "n": [1, 2, 3]}))
    path = tmp_path / "current.csv"
    path.write_text("code,n\n007,1.5\n9,\n")
    current = profile_file(path, reference=reference)
    assert current["code"].logical_type == "categorical" and current["code"].top() == [("007", 1), ("9", 1)]
    assert current["n"].logical_type == "float" and current["n"].missing == 1

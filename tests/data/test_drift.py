"""Drift: binned statistics against SciPy, defaults on same and shifted distributions, settings."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelcycle.data.drift import (
    COARSE_BINS,
    _aligned_bins,
    chi_square,
    default_threshold,
    drift,
    jensen_shannon,
    psi,
)
from modelcycle.data.profile import Profile, profile
from modelcycle.data.schema import infer_schema
from modelcycle.exceptions import InvalidInput
from tests.data.helpers import LETTERS

SHIFTED_LETTERS = [0.3] + [0.7 / 9] * 9  # "a" from 10% to 30%


def samples(rows: int, seed: int, drifted: bool = False) -> pd.DataFrame:
    """Two numerical and one categorical column of the same distribution, or with drift injected:
    a mean shift of half a standard deviation, a scale change of 1.5x, a category frequency shift."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "shift": rng.normal(0.5 if drifted else 0.0, 1.0, rows),
        "scale": rng.exponential(1.5 if drifted else 1.0, rows),
        "steady": rng.gamma(2.0, 2.0, rows),
        "letter": rng.choice(LETTERS, rows, p=SHIFTED_LETTERS if drifted else None),
        "flag": rng.integers(0, 2, rows),
    })


def binned(reference: np.ndarray, current: np.ndarray):
    ref = profile(pd.DataFrame({"x": reference}))
    cur = profile(pd.DataFrame({"x": current}), ref)
    return ref["x"], _aligned_bins(ref["x"], cur["x"])


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5])
def test_binned_ks_is_close_to_scipy(shift):
    rng = np.random.default_rng(7)
    a, b = rng.normal(0, 1, 5_000), rng.normal(shift, 1, 4_000)
    report = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), columns={"x": "ks"})
    exact = stats.ks_2samp(a, b, method="asymp")
    result = report["x"]
    assert result.statistic <= exact.statistic + 1e-12
    assert result.statistic == pytest.approx(exact.statistic, abs=0.005)  # the stated tolerance
    # The p-value is SciPy's (two-sided, asymptotic), up to that tolerance in the statistic: never
    # smaller, as the binned statistic is never larger, and close in order of magnitude.
    assert exact.pvalue <= result.score + 1e-12
    assert math.log(result.score) == pytest.approx(math.log(exact.pvalue), rel=0.02, abs=0.1)


def test_binned_ks_is_exact_for_integers():
    rng = np.random.default_rng(8)
    a, b = rng.poisson(20, 3_000), rng.poisson(21, 3_000)
    result = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), columns={"x": "ks"})["x"]
    exact = stats.ks_2samp(a, b, method="asymp")
    assert result.statistic == pytest.approx(exact.statistic, abs=1e-12)
    assert result.score == pytest.approx(exact.pvalue, rel=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1.3])
def test_binned_wasserstein_is_close_to_scipy(scale):
    rng = np.random.default_rng(9)
    a, b = rng.lognormal(0, 0.5, 20_000), rng.lognormal(0.2, 0.5, 15_000) * scale
    reference, bins = binned(a, b)
    exact = stats.wasserstein_distance(a, b)
    assert bins.wasserstein() == pytest.approx(exact, abs=2 * reference.histogram.width)
    result = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), columns={"x": "wasserstein"})["x"]
    assert result.score == pytest.approx(bins.wasserstein() / np.std(a, ddof=1), rel=1e-9)


def test_wasserstein_is_exact_beyond_the_reference_range():
    a = np.linspace(0, 1, 1001)
    b = np.concatenate([a, [-50.0, 200.0]])  # far outside the reference's bins
    _, bins = binned(a, b)
    assert bins.cur_tails[0] == 1 and bins.cur_tails[2] == 1
    assert bins.wasserstein() == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-3)


def test_jensen_shannon_and_psi_on_the_reference_deciles():
    rng = np.random.default_rng(10)
    a, b = rng.normal(0, 1, 10_000), rng.normal(0.3, 1.2, 10_000)
    _, bins = binned(a, b)
    ref, cur = bins.coarse()
    assert ref.size == COARSE_BINS and ref.sum() == a.size and cur.sum() == b.size
    deciles = np.quantile(a, np.arange(1, 10) / 10)
    expected = np.histogram(a, np.concatenate([[-np.inf], deciles, [np.inf]]))[0]
    assert np.abs(ref - expected).max() <= 0.01 * a.size  # decile cuts snapped to fine edges
    assert jensen_shannon(ref, cur) == pytest.approx(jensenshannon(ref, cur), rel=1e-12)
    report = drift(pd.DataFrame({"x": a}), pd.DataFrame({"x": b}), columns={"x": "jensenshannon"})
    assert report["x"].score == pytest.approx(jensenshannon(ref, cur), rel=1e-12)


def test_psi_matches_a_hand_computed_value():
    ref, cur = np.array([50, 30, 20, 0]), np.array([40, 30, 20, 10])
    # sum((c - r) * ln(c / r)) with shares, an empty share counted as 0.0001
    by_hand = ((0.4 - 0.5) * math.log(0.4 / 0.5) + 0 + 0 + (0.1 - 0.0001) * math.log(0.1 / 0.0001))
    assert psi(ref, cur) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.02231 + 0.69009, abs=1e-4)


def test_chi_square_matches_scipy_contingency_and_goodness_of_fit():
    ref, cur = np.array([120, 80, 40, 10]), np.array([100, 95, 30, 25])
    statistic, p_value = chi_square(ref, cur)
    expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
    assert (statistic, p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-12)
    # With an enormous reference, homogeneity is goodness of fit to the reference's shares.
    big = ref * 1_000_000
    statistic, _ = chi_square(big, cur)
    fit = stats.chisquare(cur, big / big.sum() * cur.sum())
    assert statistic == pytest.approx(fit.statistic, rel=1e-4)


def test_categorical_drift_from_category_counts():
    rng = np.random.default_rng(11)
    a = pd.DataFrame({"c": rng.choice(LETTERS, 800)})
    b = pd.DataFrame({"c": rng.choice(LETTERS + ["new"], 900)})
    result = drift(a, b)["c"]
    assert result.method == "chisquare"  # fewer than 1,000 values
    counts_a, counts_b = a["c"].value_counts(), b["c"].value_counts()
    labels = sorted(set(counts_a.index) | set(counts_b.index))
    table = np.vstack([counts_a.reindex(labels, fill_value=0), counts_b.reindex(labels, fill_value=0)])
    assert result.score == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue, rel=1e-9)
    assert "new" in result.distribution["labels"]


@pytest.mark.parametrize("rows", [1_000, 1_000_000])
def test_defaults_stay_quiet_on_one_distribution_and_flag_injected_drift(rows):
    reference = profile(samples(rows, seed=1))
    same = drift(reference, samples(rows, seed=2))
    assert same.drifted_columns == [] and not same.dataset_drifted
    assert {c.method for c in same.columns} == {"wasserstein", "jensenshannon"}
    shifted = drift(reference, samples(rows, seed=3, drifted=True))
    assert shifted.drifted_columns == ["shift", "scale", "letter"]
    assert shifted.share == pytest.approx(3 / 5) and shifted.dataset_drifted


def test_small_samples_use_tests_and_still_flag_drift():
    reference = samples(300, seed=4)
    same, shifted = drift(reference, samples(300, seed=5)), drift(reference, samples(300, seed=6, drifted=True))
    assert {c.method for c in same.columns} == {"ks", "chisquare"}
    assert same.drifted_columns == []
    assert set(shifted.drifted_columns) >= {"shift", "scale"}


def test_one_rule_for_every_method():
    a, b = samples(3_000, 12), samples(3_000, 13, drifted=True)
    for method in ("ks", "wasserstein", "psi", "jensenshannon", "chisquare"):
        report = drift(a, b, types={"float": method})
        for result in report.columns:
            if result.direction == "above":
                assert result.drifted == (result.score > result.threshold)
            else:
                assert result.direction == "below" and result.drifted == (result.score < result.threshold)
    assert "above its threshold" in drift(a, b).to_dict()["rule"]


def test_settings_by_column_schema_and_type_in_that_order():
    a, b = samples(2_000, 14), samples(2_000, 15, drifted=True)
    schema = infer_schema(a)
    schema.columns["shift"].drift_method, schema.columns["shift"].drift_threshold = "psi", 5.0
    schema.columns["scale"].drift_method = "none"
    report = drift(a, b, schema=schema, columns={"letter": ("psi", 0.01)}, types={"float": "ks"})
    assert (report["shift"].method, report["shift"].threshold, report["shift"].drifted) == ("psi", 5.0, False)
    assert report["shift"].reason == "the schema's setting for this column"
    assert report["scale"].method == "none" and report["scale"].score is None
    assert (report["letter"].method, report["letter"].threshold) == ("psi", 0.01)
    assert report["steady"].method == "ks" and report["steady"].reason == "set for float columns"
    assert report["flag"].method == "jensenshannon"  # two values: compared as categories
    only_threshold = drift(a, b, columns={"shift": 0.9})["shift"]
    assert (only_threshold.method, only_threshold.threshold, only_threshold.drifted) == ("wasserstein", 0.9, False)


def test_default_thresholds_grow_for_small_samples():
    assert default_threshold("wasserstein", 1_000, 1_000) == pytest.approx(3.5 / math.sqrt(500))
    assert default_threshold("wasserstein", 1_000_000, 1_000_000) == 0.1
    assert default_threshold("ks", 10, 10) == 0.05


def test_drift_from_stored_profiles_equals_drift_from_data():
    a, b = samples(5_000, 16), samples(5_000, 17, drifted=True)
    reference = profile(a)
    current = profile(b, reference)
    stored_ref = Profile.from_dict(json.loads(json.dumps(reference.to_dict())))
    stored_cur = Profile.from_dict(json.loads(json.dumps(current.to_dict())))
    from_profiles, from_data = drift(stored_ref, stored_cur), drift(a, b)
    assert [(c.column, c.score) for c in from_profiles.columns] == [(c.column, c.score) for c in from_data.columns]
    # Profiled independently (each on its own bins): the grids are coarsened to match, same verdicts.
    independent = drift(reference, profile(b))
    assert independent.drifted_columns == from_data.drifted_columns
    for a_result, b_result in zip(independent.columns, from_data.columns):
        assert a_result.score == pytest.approx(b_result.score, abs=0.01)


def test_columns_on_one_side_are_listed_not_compared():
    a, b = samples(2_000, 18), samples(2_000, 19)
    report = drift(a.drop(columns=["flag"]), b.drop(columns=["steady"]))
    assert report.only_in_reference == ["steady"] and report.only_in_current == ["flag"]
    assert [c.column for c in report.columns] == ["shift", "scale", "letter"]


def test_wrong_settings_and_inputs_are_clear_errors():
    a, b = samples(500, 20), samples(500, 21)
    with pytest.raises(InvalidInput, match="does not apply to categorical column 'letter'"):
        drift(a, b, columns={"letter": "ks"})
    with pytest.raises(InvalidInput, match="unknown drift method 'magic'"):
        drift(a, b, types={"float": "magic"})
    with pytest.raises(InvalidInput, match="must be a method name, a threshold"):
        drift(a, b, columns={"shift": object()})
    with pytest.raises(InvalidInput, match="share_threshold"):
        drift(a, b, share_threshold=0)
    with pytest.raises(InvalidInput, match="current data has no rows"):
        drift(a, b.iloc[:0])


def test_a_column_missing_everywhere_is_not_scored():
    a, b = samples(1_500, 22), samples(1_500, 23)
    b["shift"] = np.nan
    result = drift(a, b)["shift"]
    assert result.score is None and not result.drifted
    assert "the current data has no value to compare (all missing or infinite)" in result.note


def test_columns_of_different_kinds_on_each_side_are_noted_not_compared():
    a = pd.DataFrame({"x": np.arange(2_000), "y": ["a", "b"] * 1_000})
    b = pd.DataFrame({"x": ["a"] * 2_000, "y": np.arange(2_000)})
    report = drift(a, b)
    assert [(c.score, c.drifted) for c in report.columns] == [(None, False), (None, False)]
    assert report["x"].note == "not compared: the reference is integer and the current data categorical"

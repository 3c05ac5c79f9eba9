"""Slices of the evaluation rows, and fairness gaps equal to Fairlearn's on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelcycle.evaluation.slices import SliceSpec, fairness, groups_of, parse_specs
from modelcycle.exceptions import InvalidInput

fairlearn_metrics = pytest.importorskip("fairlearn.metrics")


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1])
    base = {"a": 0.3, "b": 0.5, "c": 0.2, "d": 0.6}
    y = rng.random(n) < np.vectorize(base.get)(group)
    bias = {"a": 0.0, "b": 0.1, "c": -0.1, "d": 0.2}
    called = rng.random(n) < np.clip(0.2 + 0.5 * y + np.vectorize(bias.get)(group), 0, 1)
    return pd.Series(group, name="group"), y, called


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fairness_gaps_equal_fairlearns(seed):
    group, y, called = _data(seed=seed)
    report = fairness(groups_of(group, SliceSpec("group")), y, called)
    kw = {"sensitive_features": group.to_numpy()}
    y_int, called_int = y.astype(int), called.astype(int)
    assert report.demographic_parity_difference == pytest.approx(
        fairlearn_metrics.demographic_parity_difference(y_int, called_int, **kw), rel=1e-12)
    assert report.demographic_parity_ratio == pytest.approx(
        fairlearn_metrics.demographic_parity_ratio(y_int, called_int, **kw), rel=1e-12)
    assert report.equalized_odds_difference == pytest.approx(
        fairlearn_metrics.equalized_odds_difference(y_int, called_int, **kw), rel=1e-12)
    assert report.equal_opportunity_difference == pytest.approx(
        fairlearn_metrics.equal_opportunity_difference(y_int, called_int, **kw), rel=1e-12)
    frame = fairlearn_metrics.MetricFrame(
        metrics={"selection_rate": fairlearn_metrics.selection_rate,
                 "true_positive_rate": fairlearn_metrics.true_positive_rate,
                 "false_positive_rate": fairlearn_metrics.false_positive_rate},
        y_true=y_int, y_pred=called_int, sensitive_features=group.to_numpy()).by_group
    for row in report.groups:
        for key in ("selection_rate", "true_positive_rate", "false_positive_rate"):
            assert row[key] == pytest.approx(frame.loc[row["group"], key], rel=1e-12)
        assert row["count"] == int((group == row["group"]).sum())
    assert report.undefined == []


def test_a_group_without_positives_is_left_out_of_the_rates_it_lacks():
    group = pd.Series(list("aaaabbb"))
    y = np.array([1, 0, 1, 0, 0, 0, 0], bool)
    called = np.array([1, 0, 0, 1, 1, 0, 0], bool)
    report = fairness(groups_of(group, SliceSpec("g")), y, called)
    # Fairlearn counts b's true positive rate as 0 and reports a gap of 0.5; b has no positives
    assert fairlearn_metrics.equal_opportunity_difference(y, called, sensitive_features=group) == 0.5
    assert report.equal_opportunity_difference == 0.0
    assert report.undefined == ["b: no positives, so no true positive rate"]
    assert np.isnan(report.groups[1]["true_positive_rate"])
    # the false positive rates are defined for both: 1/2 in a, 1/3 in b
    assert report.equalized_odds_difference == pytest.approx(1 / 2 - 1 / 3)


def test_numerical_columns_are_cut_in_quantile_bins_and_missing_values_are_a_group():
    values = pd.Series(np.r_[np.arange(100, dtype=float), [np.nan, np.nan]])
    groups = groups_of(values, SliceSpec("x"))
    assert groups.kind == "bins"
    assert groups.labels == ["[0, 24.75)", "[24.75, 49.5)", "[49.5, 74.25)", "[74.25, 99]", "(missing)"]
    assert np.bincount(groups.codes).tolist() == [25, 25, 25, 25, 2]
    edges = groups_of(values, SliceSpec("x", (0, 10, 50, 99)))
    assert edges.labels[:3] == ["[0, 10)", "[10, 50)", "[50, 99]"]
    assert np.bincount(edges.codes).tolist() == [10, 40, 50, 2]


def test_few_distinct_values_are_each_a_group():
    groups = groups_of(pd.Series([3, 1, 2, 1, 3, 3]), SliceSpec("x"))
    assert groups.kind == "values" and groups.labels == ["1", "2", "3"]
    assert groups.codes.tolist() == [2, 0, 1, 0, 2, 2]


def test_bad_slice_specs_say_what_to_pass():
    with pytest.raises(InvalidInput, match="at least 2"):
        parse_specs([("age", 1)], "slices")
    with pytest.raises(InvalidInput, match="increasing"):
        parse_specs([("age", [10, 5])], "slices")
    with pytest.raises(InvalidInput, match="column name"):
        parse_specs([3], "slices")
    with pytest.raises(InvalidInput, match="not numerical"):
        groups_of(pd.Series(["x", "y"]), SliceSpec("c", 3))
    with pytest.raises(InvalidInput, match="distinct values"):
        groups_of(pd.Series([f"id{i}" for i in range(100)]), SliceSpec("id"))
    assert parse_specs(["a", ("b", 3), {"column": "c", "bins": [0, 1]}], "slices") == [
        SliceSpec("a"), SliceSpec("b", 3), SliceSpec("c", (0.0, 1.0))]

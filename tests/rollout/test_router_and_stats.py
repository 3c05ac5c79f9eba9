"""Sticky assignment (the same key, the same arm, in every process), shares within a binomial
tolerance, and the A/B statistics against SciPy on the same counts."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats as scipy_stats

from modelcycle.rollout import stats
from modelcycle.rollout.router import Router

SHARES = {"production": 50.0, "challenger": 30.0, "v3": 20.0}
CODE = ("from modelcycle.rollout.router import Router; r = Router({shares!r}, 'fraud-ab'); "
        "print(''.join(r.pick(f'user-{{i}}')[0] for i in range(2000)))")


def test_the_same_key_gets_the_same_arm_in_other_processes():
    here = "".join(Router(SHARES, "fraud-ab").pick(f"user-{i}")[0] for i in range(2000))
    for _ in range(2):  # two fresh interpreters: a different hash seed each (PYTHONHASHSEED random)
        other = subprocess.run([sys.executable, "-c", CODE.format(shares=SHARES)], capture_output=True, text=True,
                               check=True, env={"PYTHONHASHSEED": "random", "PATH": ""}).stdout.strip()
        assert other == here
    assert Router(SHARES, "another-salt").pick("user-1") is not None  # a new experiment reshuffles


def test_shares_over_ten_thousand_keys_are_within_a_binomial_tolerance():
    router = Router(SHARES, "fraud-ab")
    picks = [router.pick(f"user-{i}") for i in range(10_000)]
    for arm, share in SHARES.items():
        p, n = share / 100, len(picks)
        sd = math.sqrt(n * p * (1 - p))
        assert abs(picks.count(arm) - n * p) < 4 * sd, arm
    chi2, p_value = stats.srm([picks.count(a) for a in SHARES], list(SHARES.values()))
    assert p_value > 0.001  # no mismatch
    assert Router({"a": 100.0, "b": 0.0}, "s").pick("k") == "a"


def test_an_injected_sample_ratio_mismatch_is_detected():
    counts = [5300, 4700]  # 50/50 intended
    chi2, p_value = stats.srm(counts, [50, 50])
    expected = scipy_stats.chisquare(counts, [5000, 5000])
    assert chi2 == pytest.approx(expected.statistic) and p_value == pytest.approx(expected.pvalue, rel=1e-6)
    assert p_value < 0.001


def test_two_proportion_z_test_agrees_with_the_normal_formulas_of_scipy():
    d = stats.two_proportions(120, 1000, 150, 1000)
    p_a, p_b, pooled = 0.12, 0.15, 0.135
    z = (p_b - p_a) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert d.statistic == pytest.approx(z) and d.p_value == pytest.approx(2 * scipy_stats.norm.sf(abs(z)))
    se = math.sqrt(p_a * (1 - p_a) / 1000 + p_b * (1 - p_b) / 1000)
    assert (d.low, d.high) == pytest.approx((0.03 - scipy_stats.norm.ppf(0.975) * se,
                                             0.03 + scipy_stats.norm.ppf(0.975) * se))
    n = stats.samples_needed(0.12, 0.15)
    z_sum = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert n == math.ceil(z_sum ** 2 * (0.12 * 0.88 + 0.15 * 0.85) / 0.03 ** 2)


def test_welch_t_test_agrees_with_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 2, 40), rng.normal(11, 3.5, 55)
    d = stats.welch(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    expected = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert d.statistic == pytest.approx(expected.statistic) and d.p_value == pytest.approx(expected.pvalue, rel=1e-6)
    ci = expected.confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high), rel=1e-6)

"""The statistics of an A/B report, by hand formulas (no SciPy at run time): the two-proportion
z-test, Welch's t-test, the sample-ratio-mismatch chi-squared test and the samples a difference
needs for a given power. Plain numbers in, plain numbers out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Difference:
    """``b - a`` with its confidence interval and two-sided p-value."""

    a: float
    b: float
    difference: float
    low: float
    high: float
    statistic: float
    p_value: float
    test: str
    df: float | None = None


def two_proportions(successes_a: int, n_a: int, successes_b: int, n_b: int, confidence: float = 0.95) -> Difference:
    """The z-test with the pooled proportion; the interval uses the unpooled standard error."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("each arm needs at least one observation")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = (p_b - p_a) / se0 if se0 > 0 else 0.0
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    half = _NORMAL.inv_cdf(0.5 + confidence / 2) * se
    return Difference(p_a, p_b, p_b - p_a, p_b - p_a - half, p_b - p_a + half, z,
                      2 * (1 - _NORMAL.cdf(abs(z))), "two-proportion z-test")


def welch(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int,
          confidence: float = 0.95) -> Difference:
    """Welch's t-test from each arm's mean, sample variance (ddof=1) and count."""
    if n_a < 2 or n_b < 2:
        raise ValueError("each arm needs at least two observations")
    va, vb = var_a / n_a, var_b / n_b
    se = math.sqrt(va + vb)
    t = (mean_b - mean_a) / se if se > 0 else 0.0
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1)) if se > 0 else float(n_a + n_b - 2)
    p = 2 * t_sf(abs(t), df)
    half = t_ppf(0.5 + confidence / 2, df) * se
    d = mean_b - mean_a
    return Difference(mean_a, mean_b, d, d - half, d + half, t, p, "Welch's t-test", df)


def srm(counts: list[int], shares: list[float]) -> tuple[float, float]:
    """(chi-squared, p-value) of the assignment counts against the expected shares."""
    total, weight = sum(counts), sum(shares)
    chi2 = sum((c - total * s / weight) ** 2 / (total * s / weight) for c, s in zip(counts, shares) if s > 0)
    return chi2, chi2_sf(chi2, len([s for s in shares if s > 0]) - 1)


def samples_needed(p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Observations per arm for the two-proportion test to detect ``p_b - p_a`` at that power."""
    if p_a == p_b:
        return None
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    return math.ceil(z ** 2 * (p_a * (1 - p_a) + p_b * (1 - p_b)) / (p_a - p_b) ** 2)


def samples_needed_means(difference: float, sd_a: float, sd_b: float, alpha: float = 0.05,
                         power: float = 0.8) -> int | None:
    if difference == 0:
        return None
    z = _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)
    return math.ceil(z ** 2 * (sd_a ** 2 + sd_b ** 2) / difference ** 2)


# ---------------------------------------------------------------------- distributions
def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + aa * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return tail if t >= 0 else 1 - tail


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t (bisection on t_sf)."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - t_sf(mid, df) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for chi-squared with ``df`` degrees of freedom (regularized upper gamma)."""
    if x <= 0 or df <= 0:
        return 1.0
    a, x = df / 2, x / 2
    if x < a + 1:  # the series of the lower function
        term = total = 1 / a
        n = a
        for _ in range(1000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1 - total * math.exp(-x + a * math.log(x) - math.lgamma(a)))
    tiny = 1e-300  # the continued fraction of the upper function
    b, c, d = x + 1 - a, 1 / tiny, 1 / (x + 1 - a)
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > tiny else tiny)
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h

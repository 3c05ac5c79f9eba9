"""Drift between a reference and a current dataset, computed from their profiles.

One rule for every method: a column drifts when its ``score`` is on the wrong side of its
``threshold``: above it for distances (wasserstein, psi, jensenshannon), below it for p-values
(ks, chisquare). The dataset drifts when the share of drifted columns reaches
``share_threshold`` (default 0.5).

Methods work on the binned profiles, never on the rows:

* ``ks``: two-sample Kolmogorov-Smirnov statistic D from the two CDFs at the edges of the
  reference's fine bins (up to 2,048 over its range), p-value as ``scipy.stats.ks_2samp(...,
  method="asymp")`` computes it from D. The binned D is at most the exact one and lower by at most
  the largest share of values in one bin; on the tests' data it is within 0.005 of ks_2samp's.
* ``wasserstein``: the 1-Wasserstein distance (area between the CDFs, values spread evenly within
  a bin; values outside the reference's bins exactly) divided by the reference's standard
  deviation. Off by at most about one bin width.
* ``psi``: population stability index on 10 bins at the reference's deciles (categories for
  categorical columns); empty bins count as a share of 0.0001.
* ``jensenshannon``: Jensen-Shannon distance (natural log, as ``scipy.spatial.distance.jensenshannon``)
  on the same bins or categories.
* ``chisquare``: p-value of the chi-squared test of homogeneity on the 2 x k table of category
  counts (``scipy.stats.chi2_contingency(..., correction=False)``).

Defaults (see ``default_method``): text columns are not compared; numerical columns with at most
5 distinct reference values are compared as categories; with fewer than 1,000 values on either side
the tests (ks for numbers, chisquare for categories) at p < 0.05; from 1,000 values on both sides a
distance, because p-values flag negligible differences on large samples: wasserstein for numbers,
jensenshannon for categories. A distance's default threshold is 0.1, raised for smaller samples to
stay above the distance two samples of one distribution show by chance (which shrinks like
1/sqrt(n)): wasserstein max(0.1, 3.5 / sqrt(n_eff)), jensenshannon
max(0.1, 3 * sqrt((k - 1) / (8 n_eff))), psi max(0.1, 3 (k - 1) / n_eff), with
n_eff = n_ref * n_cur / (n_ref + n_cur) and k bins or categories. At 1,000 rows a side that is
0.157 for wasserstein; from about 2,500 rows a side it is 0.1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from modelcycle.data.columns import DATETIME
from modelcycle.data.profile import ColumnProfile, Profile, profile
from modelcycle.data.reading import DEFAULT_CHUNK_ROWS
from modelcycle.data.schema import DRIFT_METHODS, Schema
from modelcycle.data.sketches import Histogram
from modelcycle.exceptions import InvalidInput

NUMERICAL_METHODS = ("ks", "wasserstein", "psi", "jensenshannon")
CATEGORICAL_METHODS = ("chisquare", "jensenshannon", "psi")
P_VALUE_METHODS = ("ks", "chisquare")
LARGE_SAMPLE = 1000  # values on each side from which a distance replaces a test
FEW_VALUES = 5  # numerical columns with at most this many distinct values compare as categories
COARSE_BINS = 10  # psi and jensenshannon bins for numerical columns, at the reference's deciles
PSI_FLOOR = 1e-4
MAX_COMPARED_CATEGORIES = 100  # the rest are pooled as "(other)"
DISPLAY_BINS = 40
DISPLAY_CATEGORIES = 20
SHARE_THRESHOLD = 0.5
OTHER = "(other)"
RULE = ("A column drifts when its score is above its threshold (distances: wasserstein, psi, "
        "jensenshannon) or below it (p-values: ks, chisquare). The dataset drifts when the share of "
        "drifted columns reaches share_threshold.")


@dataclass
class ColumnDrift:
    column: str
    type: str  # the reference's logical type
    method: str
    score: float | None
    threshold: float | None
    direction: str  # "above" or "below": where the score must be, relative to threshold, to drift
    drifted: bool
    reason: str  # where the method came from
    statistic: float | None = None  # KS D or chi-squared statistic behind a p-value
    reference_count: int = 0
    current_count: int = 0
    note: str | None = None
    distribution: dict[str, Any] | None = None  # binned shares of both sides, for display

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DriftReport:
    columns: list[ColumnDrift]
    share: float
    share_threshold: float
    dataset_drifted: bool
    reference_rows: int
    current_rows: int
    only_in_reference: list[str] = field(default_factory=list)
    only_in_current: list[str] = field(default_factory=list)
    rule: str = RULE

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    def __getitem__(self, column: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == column:
                return result
        raise KeyError(f"No drift result for column {column!r}.")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["drifted_columns"] = self.drifted_columns
        return data


# ---------------------------------------------------------------------- entry point
def drift(reference: Any, current: Any, *, schema: Schema | None = None,
          columns: Mapping[str, Any] | None = None, types: Mapping[str, Any] | None = None,
          share_threshold: float = SHARE_THRESHOLD, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> DriftReport:
    """Compare ``current`` with ``reference`` (each a Profile or data that ``profile`` reads).

    Data for ``current`` is profiled on the reference's bins. Method and threshold per column come
    from, in order: ``columns[name]``, the schema's column ``drift`` settings, ``types[logical
    type]``, then the default. Each setting is a method name, a threshold, a (method, threshold)
    pair or a mapping with "method" and/or "threshold"."""
    if not isinstance(share_threshold, (int, float)) or isinstance(share_threshold, bool) \
            or not 0 < share_threshold <= 1:
        raise InvalidInput(f"share_threshold is a fraction in (0, 1]; got {share_threshold!r}.")
    ref = reference if isinstance(reference, Profile) else profile(reference, chunk_rows=chunk_rows)
    cur = current if isinstance(current, Profile) else profile(current, ref, chunk_rows=chunk_rows)
    for side, prof in (("reference", ref), ("current", cur)):
        if prof.rows == 0:
            raise InvalidInput(f"The {side} data has no rows; drift needs data on both sides.")
    by_column = {name: _setting(spec, f"columns[{name!r}]") for name, spec in (columns or {}).items()}
    by_type = {name: _setting(spec, f"types[{name!r}]") for name, spec in (types or {}).items()}
    results = []
    for name, ref_column in ref.columns.items():
        if name not in cur.columns:
            continue
        levels = [(by_column.get(name), "set for this column")]
        if schema is not None and name in schema.columns:
            col = schema.columns[name]
            levels.append(((col.drift_method, col.drift_threshold), "the schema's setting for this column"))
        levels.append((by_type.get(_kind(ref_column, schema)), f"set for {_kind(ref_column, schema)} columns"))
        results.append(column_drift(ref_column, cur.columns[name], levels, _kind(ref_column, schema)))
    scored = [r for r in results if r.score is not None]
    share = sum(r.drifted for r in scored) / len(scored) if scored else 0.0
    return DriftReport(results, share, float(share_threshold), bool(scored) and share >= share_threshold,
                       ref.rows, cur.rows,
                       only_in_reference=[n for n in ref.columns if n not in cur.columns],
                       only_in_current=[n for n in cur.columns if n not in ref.columns])


def column_drift(reference: ColumnProfile, current: ColumnProfile, levels=(), kind: str | None = None) -> ColumnDrift:
    """Drift of one column. ``levels``: ((method, threshold) or None, reason) pairs, first wins."""
    kind = kind or reference.logical_type
    n_ref, n_cur = reference.count, current.count
    as_categories = _compare_as_categories(reference, current, kind)
    method, threshold, reason = None, None, None
    for setting, why in levels:
        if setting is None:
            continue
        chosen, limit = setting
        if threshold is None and limit is not None:
            threshold, reason = limit, why
        if chosen is not None:
            method, reason = chosen, why
            break
    if method is None:
        method, default_reason = default_method(kind, n_ref, n_cur, as_categories)
        reason = default_reason if reason is None else f"{default_reason}; threshold {reason}"
    direction = "below" if method in P_VALUE_METHODS else "above"
    result = ColumnDrift(reference.name, kind, method, None, threshold, direction, False, reason,
                         reference_count=n_ref, current_count=n_cur)
    if method == "none":
        result.note = "not compared"
        return result
    if reference.numeric != current.numeric:
        result.note = (f"not compared: the reference is {reference.logical_type} and the current data "
                       f"{current.logical_type}")
        return result
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current data"
        result.note = f"not compared: the {side} has no value to compare (all missing or infinite)"
        return result
    allowed = CATEGORICAL_METHODS if not reference.numeric else NUMERICAL_METHODS + CATEGORICAL_METHODS
    if method not in allowed:
        raise InvalidInput(f"Drift method {method!r} does not apply to {kind} column {reference.name!r}; "
                           f"use one of {list(allowed)}.")
    if reference.numeric:
        bins = _aligned_bins(reference, current)
        result.distribution = bins.display(reference.physical == DATETIME)
        if method in ("ks", "wasserstein"):
            score, statistic, k = _numeric_score(method, bins, reference)
        else:
            r, c = bins.as_categories()[1:] if as_categories else bins.coarse()
            score, statistic, k = _categorical_score(method, r, c)
    else:
        labels, r, c = _aligned_categories(reference, current)
        result.distribution = _category_display(labels, r, c)
        score, statistic, k = _categorical_score(method, r, c)
    if result.threshold is None:
        result.threshold = default_threshold(method, n_ref, n_cur, k)
    result.score, result.statistic = float(score), statistic
    result.drifted = bool(score > result.threshold if direction == "above" else score < result.threshold)
    return result


def default_method(kind: str, n_ref: int, n_cur: int, as_categories: bool) -> tuple[str, str]:
    """The default method for a column and why it was chosen."""
    if kind == "text":
        return "none", "default: text columns are not compared (set a method to compare their values)"
    large = min(n_ref, n_cur) >= LARGE_SAMPLE
    size = f"{'at least' if large else 'fewer than'} {LARGE_SAMPLE:,} values {'on both sides' if large else 'on a side'}"
    if kind in ("integer", "float", "datetime") and not as_categories:
        return ("wasserstein" if large else "ks"), f"default: numerical, {size}"
    what = "categorical" if kind not in ("integer", "float", "datetime") else f"at most {FEW_VALUES} distinct values"
    return ("jensenshannon" if large else "chisquare"), f"default: {what}, {size}"


def default_threshold(method: str, n_ref: int, n_cur: int, k: int = COARSE_BINS) -> float:
    """p < 0.05 for tests; for distances 0.1, or more where chance alone reaches 0.1 (module doc)."""
    if method in P_VALUE_METHODS:
        return 0.05
    n_eff = n_ref * n_cur / (n_ref + n_cur)
    if method == "wasserstein":
        return max(0.1, 3.5 / math.sqrt(n_eff))
    if method == "jensenshannon":
        return max(0.1, 3.0 * math.sqrt(max(k - 1, 1) / (8.0 * n_eff)))
    return max(0.1, 3.0 * max(k - 1, 1) / n_eff)  # psi


# ---------------------------------------------------------------------- statistics
def ks_statistic(ref_cdf: np.ndarray, cur_cdf: np.ndarray) -> float:
    return float(np.max(np.abs(ref_cdf - cur_cdf))) if ref_cdf.size else 0.0


def ks_p_value(statistic: float, n_ref: int, n_cur: int) -> float:
    from scipy.stats import kstwo

    n_eff = max(1, round(n_ref * n_cur / (n_ref + n_cur)))
    return float(min(1.0, max(0.0, kstwo.sf(statistic, n_eff))))


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """(statistic, p-value) of the test of homogeneity of two count vectors."""
    from scipy.stats import chi2

    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    return statistic, float(chi2.sf(statistic, table.shape[1] - 1))


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        right = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(math.sqrt(max(0.0, (left + right) / 2)))


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    p = np.maximum(ref_counts / ref_counts.sum(), PSI_FLOOR)
    q = np.maximum(cur_counts / cur_counts.sum(), PSI_FLOOR)
    return float(((q - p) * np.log(q / p)).sum())


def _numeric_score(method: str, bins: _AlignedBins, reference: ColumnProfile):
    if method == "ks":
        statistic = ks_statistic(*bins.cdfs())
        return ks_p_value(statistic, bins.n_ref, bins.n_cur), statistic, bins.size
    std = reference.std or 0.0  # a constant reference: the distance is left in the column's units
    return bins.wasserstein() / (std if std > 0 else 1.0), None, bins.size


def _categorical_score(method: str, r: np.ndarray, c: np.ndarray):
    if method == "chisquare":
        statistic, p_value = chi_square(r, c)
        return p_value, statistic, r.size
    return (psi(r, c) if method == "psi" else jensen_shannon(r, c)), None, r.size


# ---------------------------------------------------------------------- aligning two profiles
@dataclass
class _AlignedBins:
    """Both sides' counts on one grid, with the values outside it (tails) and their sums."""

    edges: np.ndarray
    ref: np.ndarray
    cur: np.ndarray
    ref_tails: tuple[int, float, int, float]  # below, below_sum, above, above_sum
    cur_tails: tuple[int, float, int, float]

    @property
    def n_ref(self) -> int:
        return int(self.ref.sum()) + self.ref_tails[0] + self.ref_tails[2]

    @property
    def n_cur(self) -> int:
        return int(self.cur.sum()) + self.cur_tails[0] + self.cur_tails[2]

    @property
    def size(self) -> int:
        return int(self.ref.size)

    def cdfs(self) -> tuple[np.ndarray, np.ndarray]:
        """Both CDFs at every edge."""
        ref = (self.ref_tails[0] + np.concatenate([[0], np.cumsum(self.ref)])) / self.n_ref
        cur = (self.cur_tails[0] + np.concatenate([[0], np.cumsum(self.cur)])) / self.n_cur
        return ref, cur

    def wasserstein(self) -> float:
        ref, cur = self.cdfs()
        d0, d1 = (ref - cur)[:-1], (ref - cur)[1:]
        width = np.diff(self.edges)
        same_sign = d0 * d1 >= 0
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = np.where(np.abs(d0) + np.abs(d1) > 0, (d0**2 + d1**2) / (2 * (np.abs(d0) + np.abs(d1))), 0.0)
        inside = float((np.where(same_sign, (np.abs(d0) + np.abs(d1)) / 2, crossing) * width).sum())
        # Beyond the grid only one side has values in practice (the reference defines the grid):
        # there the area is exactly sum(distance to the grid's edge) / n.
        low, high = self.edges[0], self.edges[-1]
        below_ref = (self.ref_tails[0] * low - self.ref_tails[1]) / self.n_ref if self.ref_tails[0] else 0.0
        below_cur = (self.cur_tails[0] * low - self.cur_tails[1]) / self.n_cur if self.cur_tails[0] else 0.0
        above_ref = (self.ref_tails[3] - self.ref_tails[2] * high) / self.n_ref if self.ref_tails[2] else 0.0
        above_cur = (self.cur_tails[3] - self.cur_tails[2] * high) / self.n_cur if self.cur_tails[2] else 0.0
        return inside + abs(below_ref - below_cur) + abs(above_ref - above_cur)

    def coarse(self) -> tuple[np.ndarray, np.ndarray]:
        """Counts on COARSE_BINS bins cut at the reference's deciles (snapped to fine edges);
        the outer bins reach to -inf and +inf."""
        cumulative = np.cumsum(self.ref) + self.ref_tails[0]
        targets = self.n_ref * np.arange(1, COARSE_BINS) / COARSE_BINS
        cuts = np.unique(np.searchsorted(cumulative, targets, side="left") + 1)
        cuts = cuts[(cuts > 0) & (cuts < self.ref.size)]
        starts = np.concatenate([[0], cuts])
        ref = np.add.reduceat(self.ref, starts) if self.ref.size else np.zeros(1, np.int64)
        cur = np.add.reduceat(self.cur, starts) if self.cur.size else np.zeros(1, np.int64)
        ref[0] += self.ref_tails[0]
        ref[-1] += self.ref_tails[2]
        cur[0] += self.cur_tails[0]
        cur[-1] += self.cur_tails[2]
        return ref, cur

    def as_categories(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Non-empty bins as categories (for columns with few distinct values)."""
        used = (self.ref > 0) | (self.cur > 0)
        labels = [_number_label(v) for v in self.edges[:-1][used]]
        ref, cur = list(self.ref[used]), list(self.cur[used])
        for name, r, c in (("below the reference", self.ref_tails[0], self.cur_tails[0]),
                           ("above the reference", self.ref_tails[2], self.cur_tails[2])):
            if r or c:
                labels.append(name)
                ref.append(r)
                cur.append(c)
        return labels, np.asarray(ref, np.int64), np.asarray(cur, np.int64)

    def display(self, datetime: bool) -> dict[str, Any]:
        group = max(1, math.ceil(self.size / DISPLAY_BINS))
        starts = np.arange(0, self.size, group)
        edges = np.concatenate([self.edges[starts], [self.edges[-1]]])
        n_ref, n_cur = max(self.n_ref, 1), max(self.n_cur, 1)
        return {"kind": "numerical", "datetime": datetime, "edges": edges.tolist(),
                "reference": (np.add.reduceat(self.ref, starts) / n_ref).tolist() if self.size else [],
                "current": (np.add.reduceat(self.cur, starts) / n_cur).tolist() if self.size else [],
                "below": [self.ref_tails[0] / n_ref, self.cur_tails[0] / n_cur],
                "above": [self.ref_tails[2] / n_ref, self.cur_tails[2] / n_cur]}


def _tails(histogram: Histogram) -> tuple[int, float, int, float]:
    return histogram.below, histogram.below_sum, histogram.above, histogram.above_sum


def _aligned_bins(reference: ColumnProfile, current: ColumnProfile) -> _AlignedBins:
    a, b = reference.histogram, current.histogram
    if a.same_grid(b):
        return _AlignedBins(a.edges(), a.counts, b.counts, _tails(a), _tails(b))
    if a.pinned or b.pinned:
        raise InvalidInput(
            f"Column {reference.name!r}: the current profile was binned on another reference's bins. "
            "Profile the current data against this reference: profile(current, reference=reference_profile).")
    exponent = max(a.exponent, b.exponent)
    a, b = a.coarsen(exponent), b.coarsen(exponent)
    start = min(a.start, b.start)
    size = max(a.start + a.counts.size, b.start + b.counts.size) - start
    ref, cur = np.zeros(size, np.int64), np.zeros(size, np.int64)
    ref[a.start - start:a.start - start + a.counts.size] = a.counts
    cur[b.start - start:b.start - start + b.counts.size] = b.counts
    edges = (start + np.arange(size + 1)) * 2.0**exponent
    return _AlignedBins(edges, ref, cur, (0, 0.0, 0, 0.0), (0, 0.0, 0, 0.0))


def _aligned_categories(reference: ColumnProfile, current: ColumnProfile):
    ref_counts, cur_counts = reference.categories.counts, current.categories.counts
    ranked = sorted(set(ref_counts) | set(cur_counts),
                    key=lambda v: (-ref_counts.get(v, 0), -cur_counts.get(v, 0), v))
    kept, pooled = ranked[:MAX_COMPARED_CATEGORIES], ranked[MAX_COMPARED_CATEGORIES:]
    ref = [ref_counts.get(v, 0) for v in kept]
    cur = [cur_counts.get(v, 0) for v in kept]
    ref_other = reference.categories.other + sum(ref_counts.get(v, 0) for v in pooled)
    cur_other = current.categories.other + sum(cur_counts.get(v, 0) for v in pooled)
    if ref_other or cur_other:
        kept, ref, cur = kept + [OTHER], ref + [ref_other], cur + [cur_other]
    return kept, np.asarray(ref, np.int64), np.asarray(cur, np.int64)


def _category_display(labels: list[str], r: np.ndarray, c: np.ndarray) -> dict[str, Any]:
    n_ref, n_cur = max(int(r.sum()), 1), max(int(c.sum()), 1)
    shown = labels[:DISPLAY_CATEGORIES]
    ref, cur = (r[:DISPLAY_CATEGORIES] / n_ref).tolist(), (c[:DISPLAY_CATEGORIES] / n_cur).tolist()
    if len(labels) > DISPLAY_CATEGORIES:
        shown = shown + ["(rest)"]
        ref.append(float(r[DISPLAY_CATEGORIES:].sum() / n_ref))
        cur.append(float(c[DISPLAY_CATEGORIES:].sum() / n_cur))
    return {"kind": "categorical", "labels": shown, "reference": ref, "current": cur}


def _compare_as_categories(reference: ColumnProfile, current: ColumnProfile, kind: str) -> bool:
    return reference.numeric and kind in ("integer", "float", "datetime") and reference.distinct <= FEW_VALUES


def _kind(column: ColumnProfile, schema: Schema | None) -> str:
    if schema is not None and column.name in schema.columns:
        return schema.columns[column.name].type
    return column.logical_type


def _setting(spec: Any, where: str) -> tuple[str | None, float | None]:
    method = threshold = None
    if isinstance(spec, str):
        method = spec
    elif isinstance(spec, (int, float)) and not isinstance(spec, bool):
        threshold = spec
    elif isinstance(spec, Mapping) and set(spec) <= {"method", "threshold"}:
        method, threshold = spec.get("method"), spec.get("threshold")
    elif isinstance(spec, (tuple, list)) and len(spec) == 2:
        method, threshold = spec
    else:
        raise InvalidInput(f"{where} must be a method name, a threshold, (method, threshold) or "
                           f"{{'method': ..., 'threshold': ...}}; got {spec!r}.")
    if method is not None and method not in DRIFT_METHODS:
        raise InvalidInput(f"{where}: unknown drift method {method!r}; use one of {list(DRIFT_METHODS)}.")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold)):
        raise InvalidInput(f"{where}: the threshold must be a finite number; got {threshold!r}.")
    return method, None if threshold is None else float(threshold)


def _number_label(value: float) -> str:
    return f"{value:g}"

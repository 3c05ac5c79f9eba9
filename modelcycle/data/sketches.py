"""Mergeable summaries of one column: moments, a histogram on a power-of-two grid, counts on a
logarithmic grid, a distinct-value sketch and category counts.

Each summary of a whole column equals the merge of the summaries of its parts:
``Histogram``, ``Magnitudes`` and ``CategoryCounts`` (up to ``CategoryCounts.limit`` distinct values)
and the distinct sketch exactly, ``Moments`` up to floating-point rounding (Chan et al.'s pairwise
update). bench/sketches.py measures them against Apache DataSketches' KLL, REQ, t-digest, HLL and
Theta sketches.

The histogram's bins are ``[i * 2**e, (i + 1) * 2**e)`` for integers ``i``: every grid is a
coarsening of every finer one, so two histograms always line up after coarsening the finer one,
and the exponent ``e`` is a function of the column's min and max alone. That is what makes the
merge exact: merging two parts picks the exponent the whole would have picked.
"""

from __future__ import annotations

import base64
import math
import threading
import zlib
from dataclasses import dataclass, field

import numpy as np

from modelcycle.exceptions import InvalidInput

DEFAULT_BINS = 2048
DISTINCT_SKETCH_SIZE = 1024
CATEGORY_LIMIT = 10_000
# The narrowest bin is 2**-40 of the column's largest magnitude: finer than that is float noise.
_RELATIVE_FLOOR_BITS = 40
_TWO64 = 2.0**64


_scratch = threading.local()


def scratch(name: str, size: int, dtype) -> np.ndarray:
    """A reusable work array of ``size`` items (contents undefined). Reusing one buffer per
    thread instead of allocating a temporary per column and chunk avoids page-faulting fresh
    memory on every call, which dominated the cost of profiling."""
    buffers = _scratch.__dict__
    buffer = buffers.get(name)
    if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
        buffer = buffers[name] = np.empty(max(size, 1024), dtype)
    return buffer[:size]


def pack_array(values: np.ndarray) -> str:
    """Compact, JSON-safe text for an integer array (little-endian, zlib, base64)."""
    raw = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def unpack_array(text: str, dtype) -> np.ndarray:
    try:
        raw = zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
    except (ValueError, zlib.error) as exc:
        raise InvalidInput(f"A packed array in the profile is corrupt ({exc}); "
                           "compute the profile again.") from None


# ---------------------------------------------------------------------- moments
@dataclass
class Moments:
    """Count, mean, sum of squared deviations, min and max of the finite values."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    integral: bool = True  # every value is a whole number (an integer column stored as float)

    @classmethod
    def of(cls, values: np.ndarray, integral: bool | None = None) -> Moments:
        """``integral``: known in advance (an integer column), or None to check the values."""
        if values.size == 0:
            return cls()
        mean = float(values.mean())
        work = scratch("moments", values.size, np.float64)
        deviations = np.subtract(values, mean, out=work)
        m2 = float(np.dot(deviations, deviations))
        if integral is None:
            integral = bool(np.equal(values, np.floor(values, out=work), out=scratch("mask", values.size, bool)).all())
        return cls(int(values.size), mean, m2, float(values.min()), float(values.max()), integral)

    def merge(self, other: Moments) -> Moments:
        if other.count == 0:
            return Moments(**vars(self))
        if self.count == 0:
            return Moments(**vars(other))
        n = self.count + other.count
        delta = other.mean - self.mean
        return Moments(n, self.mean + delta * other.count / n,
                       self.m2 + other.m2 + delta * delta * self.count * other.count / n,
                       min(self.minimum, other.minimum), max(self.maximum, other.maximum),
                       self.integral and other.integral)

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1, as pandas' ``describe``)."""
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else None

    def to_dict(self) -> dict:
        if self.count == 0:
            return {"count": 0}
        return {"count": self.count, "mean": self.mean, "m2": self.m2, "min": self.minimum,
                "max": self.maximum, "integral": self.integral}

    @classmethod
    def from_dict(cls, data: dict) -> Moments:
        if not data.get("count"):
            return cls()
        return cls(int(data["count"]), float(data["mean"]), float(data["m2"]), float(data["min"]),
                   float(data["max"]), bool(data["integral"]))


# ---------------------------------------------------------------------- histogram
def grid_exponent(low: float, high: float, max_bins: int, integral: bool) -> int:
    """The smallest exponent whose grid covers [low, high] in at most ``max_bins`` bins.

    It only grows when [low, high] widens, so the exponent of a merge is at least each part's.
    Integer columns never get bins narrower than 1: each bin then holds one value exactly."""
    magnitude = max(abs(low), abs(high))
    exponent = math.frexp(magnitude)[1] - _RELATIVE_FLOOR_BITS if magnitude > 0 else -1000
    if integral:
        exponent = max(exponent, 0)
    span = high - low
    if span > 0:
        exponent = max(exponent, math.ceil(math.log2(span / max_bins)) - 1)
        while math.floor(high / 2.0**exponent) - math.floor(low / 2.0**exponent) + 1 > max_bins:
            exponent += 1
    return exponent


@dataclass
class Histogram:
    """Counts on the grid of width ``2**exponent``; ``counts[j]`` is grid bin ``start + j``.

    A pinned histogram was binned on another histogram's grid (a reference): values outside that
    grid are counted in ``below``/``above`` with their sums, which keeps the Wasserstein distance
    exact for the tails."""

    exponent: int = 0
    start: int = 0
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pinned: bool = False
    below: int = 0
    below_sum: float = 0.0
    above: int = 0
    above_sum: float = 0.0

    @property
    def width(self) -> float:
        return 2.0**self.exponent

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.below + self.above

    @property
    def empty(self) -> bool:
        return self.counts.size == 0 and self.below == 0 and self.above == 0

    def edges(self) -> np.ndarray:
        return (self.start + np.arange(self.counts.size + 1)) * self.width

    def same_grid(self, other: Histogram) -> bool:
        return (self.exponent, self.start, self.counts.size) == (other.exponent, other.start, other.counts.size)

    @classmethod
    def of(cls, values: np.ndarray, low: float, high: float, max_bins: int, integral: bool) -> Histogram:
        """Bin finite ``values`` (whose min and max are ``low`` and ``high``) on their own grid."""
        if values.size == 0:
            return cls()
        exponent = grid_exponent(low, high, max_bins, integral)
        start = math.floor(low * 2.0**-exponent)
        size = math.floor(high * 2.0**-exponent) - start + 1
        return cls(exponent, start, np.bincount(_bin_index(values, exponent, start), minlength=size).astype(np.int64))

    @classmethod
    def on_grid(cls, values: np.ndarray, low: float, high: float, grid: Histogram) -> Histogram:
        """Bin finite ``values`` on ``grid``'s bins; those outside go to ``below``/``above``."""
        size = grid.counts.size
        pinned = cls(grid.exponent, grid.start, np.zeros(size, np.int64), pinned=True)
        if values.size == 0:
            return pinned
        first, last = grid.start, grid.start + size - 1
        if math.floor(low * 2.0**-grid.exponent) >= first and math.floor(high * 2.0**-grid.exponent) <= last:
            pinned.counts = np.bincount(_bin_index(values, grid.exponent, first), minlength=size).astype(np.int64)
            return pinned
        scaled = values * 2.0**-grid.exponent
        index = np.floor(scaled)
        under, over = index < first, index > last
        pinned.below, pinned.above = int(under.sum()), int(over.sum())
        pinned.below_sum, pinned.above_sum = float(values[under].sum()), float(values[over].sum())
        inside = index[~(under | over)].astype(np.int64) - first
        pinned.counts = np.bincount(inside, minlength=size).astype(np.int64)
        return pinned

    def coarsen(self, exponent: int) -> Histogram:
        """The same counts on the grid of width ``2**exponent`` (>= this one's)."""
        if exponent < self.exponent:
            raise ValueError("a histogram can only be coarsened")
        if exponent == self.exponent or self.counts.size == 0:
            return Histogram(exponent if self.counts.size == 0 else self.exponent, self.start,
                             self.counts.copy(), self.pinned, self.below, self.below_sum,
                             self.above, self.above_sum)
        shift = exponent - self.exponent
        index = (self.start + np.arange(self.counts.size, dtype=np.int64)) >> shift
        start = int(index[0])
        counts = np.zeros(int(index[-1]) - start + 1, np.int64)
        np.add.at(counts, index - start, self.counts)
        return Histogram(exponent, start, counts, self.pinned, self.below, self.below_sum,
                         self.above, self.above_sum)

    def merge(self, other: Histogram, low: float, high: float, max_bins: int, integral: bool) -> Histogram:
        """Sum of two histograms of one column; ``low``/``high`` are the merged min and max."""
        if other.empty and not other.pinned:
            return self.coarsen(self.exponent)
        if self.empty and not self.pinned:
            return other.coarsen(other.exponent)
        if self.pinned or other.pinned:
            if not (self.pinned and other.pinned and self.same_grid(other)):
                raise InvalidInput(
                    "These profiles were binned on different grids (one against a reference, the other "
                    "not, or against different references); profile both parts with the same "
                    "`reference=` to merge them.")
            return Histogram(self.exponent, self.start, self.counts + other.counts, True,
                             self.below + other.below, self.below_sum + other.below_sum,
                             self.above + other.above, self.above_sum + other.above_sum)
        exponent = max(grid_exponent(low, high, max_bins, integral), self.exponent, other.exponent)
        a, b = self.coarsen(exponent), other.coarsen(exponent)
        start = min(a.start, b.start)
        counts = np.zeros(max(a.start + a.counts.size, b.start + b.counts.size) - start, np.int64)
        counts[a.start - start:a.start - start + a.counts.size] += a.counts
        counts[b.start - start:b.start - start + b.counts.size] += b.counts
        return Histogram(exponent, start, counts)

    def cdf_points(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        """Points (x, number of values <= x) of the piecewise-linear CDF, assuming values spread
        evenly within each bin and between the tails' extremes and the grid."""
        edges = np.clip(self.edges(), low, high)
        cumulative = self.below + np.concatenate([[0], np.cumsum(self.counts)])
        xs = np.concatenate([[low], edges, [high]])
        cs = np.concatenate([[0], cumulative, [cumulative[-1] + self.above]])
        return xs, cs.astype(np.float64)

    def quantiles(self, qs, low: float, high: float, integral: bool = False) -> list[float]:
        """Quantiles by linear interpolation within bins: off by at most one bin width. For whole
        numbers on bins of width <= 1 (one value a bin) they are exact: the value where the
        cumulative count first reaches q * count."""
        total = self.total
        if total == 0:
            return [math.nan for _ in qs]
        if integral and self.exponent <= 0 and not (self.below or self.above):
            cumulative = np.cumsum(self.counts)
            edges = self.edges()
            return [float(min(max(math.ceil(edges[min(int(np.searchsorted(cumulative, max(q * total, 1), "left")),
                                                       self.counts.size - 1)]), low), high)) for q in qs]
        xs, cs = self.cdf_points(low, high)
        out = []
        for q in qs:
            target = q * total
            j = int(np.searchsorted(cs, target, side="left"))
            if j <= 0:
                out.append(float(low))
                continue
            if j >= cs.size:
                out.append(float(high))
                continue
            c0, c1 = cs[j - 1], cs[j]
            fraction = 0.0 if c1 == c0 else (target - c0) / (c1 - c0)
            out.append(float(min(max(xs[j - 1] + fraction * (xs[j] - xs[j - 1]), low), high)))
        return out

    def to_dict(self) -> dict:
        data = {"exponent": self.exponent, "start": self.start, "counts": pack_array(self.counts)}
        if self.pinned:
            data.update(pinned=True, below=self.below, below_sum=self.below_sum,
                        above=self.above, above_sum=self.above_sum)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Histogram:
        return cls(int(data["exponent"]), int(data["start"]), unpack_array(data["counts"], np.int64),
                   bool(data.get("pinned", False)), int(data.get("below", 0)),
                   float(data.get("below_sum", 0.0)), int(data.get("above", 0)),
                   float(data.get("above_sum", 0.0)))


def _bin_index(values: np.ndarray, exponent: int, start: int) -> np.ndarray:
    """Grid index minus ``start`` of each value, in a scratch array."""
    work = np.multiply(values, 2.0**-exponent, out=scratch("bins", values.size, np.float64))
    index = scratch("index", values.size, np.int64)
    np.copyto(index, np.floor(work, out=work), casting="unsafe")
    return np.subtract(index, start, out=index)


# ---------------------------------------------------------------------- magnitudes
# A float64 is sign, 11 exponent bits and 52 mantissa bits: its top MAGNITUDE_BITS mantissa bits
# with the exponent name a bucket 1/2**MAGNITUDE_BITS of a power of two wide. MAGNITUDE_OCTAVES
# powers of two below the largest magnitude are kept; smaller magnitudes count as zero.
MAGNITUDE_BITS, MAGNITUDE_OCTAVES = 5, 24
_STEPS = 1 << MAGNITUDE_BITS
_SIDE = MAGNITUDE_OCTAVES * _STEPS  # buckets on each side of zero


@dataclass
class Magnitudes:
    """Counts of finite values by sign and magnitude on a logarithmic grid, for quantiles of
    heavy-tailed columns, where the histogram's equal bins span the extremes (on Cauchy data a
    bin is wider than the distance from the median to p99).

    The grid is fixed: bucket ``i`` of a side holds magnitudes from ``2**e * (1 + k/32)`` to
    ``2**e * (1 + (k+1)/32)`` where ``e = i // 32 + top - 23`` and ``k = i % 32``, so a quantile read
    from it is within 1/32 of its magnitude. Only the 24 powers of two below the largest magnitude
    (exponent ``top``) are kept, a function of that magnitude alone, so merging parts keeps exactly
    what the whole keeps; smaller magnitudes count in ``zero``."""

    top: int = 0  # unbiased exponent of the largest magnitude: it lies in [2**top, 2**(top + 1))
    zero: int = 0
    negative: np.ndarray = field(default_factory=lambda: np.zeros(_SIDE, np.int64))
    positive: np.ndarray = field(default_factory=lambda: np.zeros(_SIDE, np.int64))

    @property
    def total(self) -> int:
        return self.zero + int(self.negative.sum()) + int(self.positive.sum())

    @classmethod
    def of(cls, values: np.ndarray, low: float, high: float) -> Magnitudes:
        """Count finite float64 ``values``, whose min and max are ``low`` and ``high``."""
        if values.size == 0:
            return cls()
        top = math.frexp(max(abs(low), abs(high)))[1] - 1
        base = (top + 1023 - MAGNITUDE_OCTAVES + 1) * _STEPS  # biased exponent and mantissa bits
        bits = scratch("magnitude_bits", values.size, np.uint64)
        np.right_shift(np.ascontiguousarray(values, np.float64).view(np.uint64),
                       np.uint64(52 - MAGNITUDE_BITS), out=bits)  # sign, exponent, top mantissa bits
        index = scratch("magnitude_index", values.size, np.int64)
        np.bitwise_and(bits, np.uint64((1 << (11 + MAGNITUDE_BITS)) - 1), out=index.view(np.uint64))
        np.subtract(index, base - 1, out=index)  # 0: below the kept octaves (and zero itself); 1..: buckets
        np.maximum(index, 0, out=index)
        sign = np.right_shift(bits, np.uint64(11 + MAGNITUDE_BITS), out=bits).view(np.int64)
        np.multiply(sign, _SIDE + 1, out=sign)  # negatives counted after the positives
        np.add(index, sign, out=index)
        counts = np.bincount(index, minlength=2 * (_SIDE + 1))
        return cls(top, int(counts[0] + counts[_SIDE + 1]), counts[_SIDE + 2:].astype(np.int64),
                   counts[1:_SIDE + 1].astype(np.int64))

    def rescaled(self, top: int) -> Magnitudes:
        """The same counts with the largest magnitude's exponent ``top`` (>= this one's)."""
        shift = (top - self.top) * _STEPS
        if shift == 0:
            return Magnitudes(self.top, self.zero, self.negative.copy(), self.positive.copy())
        sides = []
        zero = self.zero
        for side in (self.negative, self.positive):
            moved = np.zeros(_SIDE, np.int64)
            if shift < _SIDE:
                moved[:_SIDE - shift] = side[shift:]
            zero += int(side[:min(shift, _SIDE)].sum())
            sides.append(moved)
        return Magnitudes(top, zero, *sides)

    def merge(self, other: Magnitudes) -> Magnitudes:
        if other.total == 0:
            return self.rescaled(self.top)
        if self.total == 0:
            return other.rescaled(other.top)
        top = max(self.top, other.top)
        a, b = self.rescaled(top), other.rescaled(top)
        return Magnitudes(top, a.zero + b.zero, a.negative + b.negative, a.positive + b.positive)

    def quantiles(self, qs, low: float, high: float) -> list[tuple[float, float]]:
        """(estimate, bound) of each inverted-CDF quantile: interpolated within the bucket holding
        it, as if its values were spread evenly there, and that bucket's width (clipped to the
        column's [low, high]), which the error does not exceed."""
        starts = 2.0 ** (np.arange(_SIDE) // _STEPS + self.top - MAGNITUDE_OCTAVES + 1) \
            * (1.0 + (np.arange(_SIDE) % _STEPS) / _STEPS)
        ends = starts * (1.0 + 1.0 / (_STEPS + np.arange(_SIDE) % _STEPS))
        band = 2.0 ** (self.top - MAGNITUDE_OCTAVES + 1)
        lows = np.concatenate([-ends[::-1], [-band], starts])
        highs = np.concatenate([-starts[::-1], [band], ends])
        counts = np.concatenate([self.negative[::-1], [self.zero], self.positive])
        cumulative = np.cumsum(counts)
        total = cumulative[-1]
        out = []
        for q in qs:
            target = q * total
            k = min(int(np.searchsorted(cumulative, target, side="left")), cumulative.size - 1)
            a, b = min(max(lows[k], low), high), min(max(highs[k], low), high)
            before = cumulative[k] - counts[k]
            fraction = 0.0 if counts[k] == 0 else min(max((target - before) / counts[k], 0.0), 1.0)
            out.append((float(a + fraction * (b - a)), float(b - a)))
        return out

    def to_dict(self) -> dict:
        return {"top": self.top, "zero": self.zero, "negative": pack_array(self.negative),
                "positive": pack_array(self.positive)}

    @classmethod
    def from_dict(cls, data: dict) -> Magnitudes:
        sides = [unpack_array(data[side], np.int64) for side in ("negative", "positive")]
        if any(side.size != _SIDE for side in sides):
            raise InvalidInput("The profile's magnitude counts are of another size; compute the profile again.")
        return cls(int(data["top"]), int(data["zero"]), *sides)


# ---------------------------------------------------------------------- distinct values
def hash_numbers(values: np.ndarray) -> np.ndarray:
    """64-bit hashes (splitmix64) of float64 values; -0.0 and 0.0 hash alike. The result is a
    scratch array: use it before the next call."""
    values = np.asarray(values, np.float64)
    z = scratch("hash", values.size, np.uint64)
    np.add(values, 0.0, out=z.view(np.float64))
    return _splitmix(z, 0x9E3779B97F4A7C15)


# Added to the bits of whole numbers that float64 cannot hold, one constant per signedness, so they
# hash apart from every float and from each other.
_INT64_OFFSET, _UINT64_OFFSET = 0xD1B54A32D192ED03, 0x8CB92BA72F3D8DD7


def hash_integers(values: np.ndarray) -> np.ndarray:
    """64-bit hashes of int64 or uint64 values. Those that float64 holds exactly hash as that float
    (an integer and the equal float are one value); larger ones (ids near 1.5e18, say) hash by
    their own bits instead of colliding on the nearest float. The result may be a scratch array:
    use it before the next call."""
    values = np.asarray(values)
    if values.size == 0 or (int(values.min()) >= -2**53 and int(values.max()) <= 2**53):
        return hash_numbers(values)
    as_float = values.astype(np.float64)
    with np.errstate(invalid="ignore"):
        inexact = as_float.astype(values.dtype) != values  # 2**63 wraps around, so it is caught too
    hashes = hash_numbers(as_float).copy()
    offset = _UINT64_OFFSET if values.dtype == np.uint64 else _INT64_OFFSET
    hashes[inexact] = _splitmix(values[inexact].view(np.uint64).copy(), offset)
    return hashes


def _splitmix(z: np.ndarray, offset: int) -> np.ndarray:
    """The splitmix64 finaliser of ``z + offset``, in place on ``z`` (uint64)."""
    shifted = scratch("hash_shift", z.size, np.uint64)
    with np.errstate(over="ignore"):
        np.add(z, np.uint64(offset), out=z)
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            np.bitwise_xor(z, np.right_shift(z, np.uint64(shift), out=shifted), out=z)
            np.multiply(z, np.uint64(factor), out=z)
        return np.bitwise_xor(z, np.right_shift(z, np.uint64(31), out=shifted), out=z)


def hash_strings(values) -> np.ndarray:
    import pandas as pd

    return pd.util.hash_array(np.asarray(values, dtype=object)).astype(np.uint64)


@dataclass
class DistinctSketch:
    """K minimum values (KMV): the ``size`` smallest distinct hashes seen.

    Exact below ``size`` distinct values; above it the estimate's relative standard error is about
    1/sqrt(size - 2), 3% for the default 1024. The merge keeps the smallest of both sets, which is
    exactly the sketch of the union."""

    size: int = DISTINCT_SKETCH_SIZE
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    def add(self, hashes: np.ndarray) -> None:
        if hashes.size == 0:
            return
        if self.hashes.size >= self.size:
            hashes = hashes[hashes < self.hashes[-1]]
        elif hashes.size > 8 * self.size:
            # The size smallest of n distinct uniform hashes lie below about size/n of the range.
            # A column with repeated values has fewer distinct ones: widen the cut until it keeps
            # enough (each step 16 times wider), rather than deduplicating every hash at once.
            fraction = 4.0 * self.size / hashes.size
            while True:
                if fraction >= 1.0:
                    import pandas as pd

                    hashes = pd.unique(hashes)
                    break
                unique = np.unique(hashes[hashes <= np.uint64(min(_TWO64 - 4096, fraction * _TWO64))])
                if unique.size >= self.size:
                    hashes = unique
                    break
                fraction *= 16.0
        if hashes.size == 0:
            return
        merged = np.union1d(self.hashes, hashes)
        self.hashes = merged[: self.size]

    def merge(self, other: DistinctSketch) -> DistinctSketch:
        size = min(self.size, other.size)
        return DistinctSketch(size, np.union1d(self.hashes, other.hashes)[:size])

    def estimate(self) -> int:
        if self.hashes.size < self.size:
            return int(self.hashes.size)
        return round((self.size - 1) / (float(self.hashes[-1]) / _TWO64))

    @property
    def exact(self) -> bool:
        return self.hashes.size < self.size

    def to_dict(self) -> dict:
        return {"size": self.size, "hashes": pack_array(self.hashes)}

    @classmethod
    def from_dict(cls, data: dict) -> DistinctSketch:
        return cls(int(data["size"]), unpack_array(data["hashes"], np.uint64))


# ---------------------------------------------------------------------- category counts
@dataclass
class CategoryCounts:
    """How often each value occurs. Exact while a column has at most ``limit`` distinct values;
    past that the rarest are folded into ``other`` and the kept counts become lower bounds."""

    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0
    limit: int = CATEGORY_LIMIT

    def add(self, values, counts) -> None:
        for value, count in zip(values, counts):
            self.counts[value] = self.counts.get(value, 0) + int(count)
        self._truncate()

    def merge(self, other: CategoryCounts) -> CategoryCounts:
        merged = CategoryCounts(dict(self.counts), self.other + other.other, min(self.limit, other.limit))
        merged.add(other.counts.keys(), other.counts.values())
        return merged

    @property
    def truncated(self) -> bool:
        return self.other > 0

    def top(self, k: int | None = None) -> list[tuple[str, int]]:
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return ranked if k is None else ranked[:k]

    def _truncate(self) -> None:
        if len(self.counts) > self.limit:
            ranked = self.top()
            self.other += sum(count for _, count in ranked[self.limit:])
            self.counts = dict(ranked[: self.limit])

    def to_dict(self) -> dict:
        data = {"counts": dict(self.top())}
        if self.other:
            data["other"] = self.other
        if self.limit != CATEGORY_LIMIT:
            data["limit"] = self.limit
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CategoryCounts:
        return cls({str(k): int(v) for k, v in data["counts"].items()}, int(data.get("other", 0)),
                   int(data.get("limit", CATEGORY_LIMIT)))

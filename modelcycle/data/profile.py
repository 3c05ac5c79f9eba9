"""Column profiles: mergeable statistics computed batch by batch in bounded memory.

``profile(A).merge(profile(B))`` equals ``profile(A + B)``: exactly for row, missing and category
counts, min, max and histograms; up to floating-point rounding for mean and std; and for distinct
counts exactly below 1,024 distinct values, within about 3% above (a KMV sketch that merges
exactly). Quantiles come from the histogram of up to ``bins`` (2,048) equal bins over the
column's range, so each is off by at most one bin width: (max - min) / 1,024 or less; or, where
that is closer (heavy tails, whose extremes make the bins wide), from counts on a logarithmic
grid, within 1/32 of the quantile's magnitude. Both merge exactly.

Profiled against a reference profile, numerical columns are binned on the reference's bins
(values outside them are counted below/above), so a serving window compares with a stored
reference without reading the reference data again. Categories are counted exactly either way.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from modelcycle.data.columns import (
    BOOLEAN,
    DATETIME,
    FLOAT,
    INTEGER,
    NULL,
    NUMERIC,
    STRING,
    category_counts,
    integer_values,
    merged_physical_type,
    numeric_values,
    physical_type,
)
from modelcycle.data.reading import DEFAULT_CHUNK_ROWS, is_location, open_batches
from modelcycle.data.sketches import (
    DEFAULT_BINS,
    CategoryCounts,
    DistinctSketch,
    Histogram,
    Magnitudes,
    Moments,
    hash_integers,
    hash_numbers,
    hash_strings,
)
from modelcycle.exceptions import InvalidInput

FORMAT = "modelcycle.profile/1"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# A text column has more distinct values than this; at most this many, it is categorical.
MAX_CATEGORIES = 100


@dataclass
class ColumnProfile:
    name: str
    physical: str
    rows: int = 0
    missing: int = 0  # null or NaN
    infinite: int = 0  # +-inf: counted, left out of the numerical statistics
    moments: Moments | None = None
    histogram: Histogram | None = None
    categories: CategoryCounts | None = None
    distinct_sketch: DistinctSketch = field(default_factory=DistinctSketch)
    mixed_types: tuple[str, ...] = ()  # Python types found together in one pandas column
    bins: int = DEFAULT_BINS
    not_numbers: int = 0  # text in a CSV column read as numbers: left out like missing values
    not_number_examples: tuple[str, ...] = ()
    magnitudes: Magnitudes | None = None  # numbers (not datetimes); None in profiles stored before it

    # ------------------------------------------------------------------ derived statistics
    @property
    def numeric(self) -> bool:
        return self.physical in NUMERIC

    @property
    def logical_type(self) -> str:
        """integer, float, datetime, boolean, categorical, text; or "unknown" when every value is
        missing and the input had no type."""
        if self.physical == STRING:
            return "text" if self.distinct > MAX_CATEGORIES else "categorical"
        return "unknown" if self.physical == NULL else self.physical

    @property
    def count(self) -> int:
        """Values present (neither missing nor infinite nor text where a number belongs)."""
        return self.rows - self.missing - self.infinite - self.not_numbers

    @property
    def missing_fraction(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def distinct(self) -> int:
        if self.categories is not None and not self.categories.truncated:
            return len(self.categories.counts)
        return self.distinct_sketch.estimate()

    @property
    def distinct_exact(self) -> bool:
        if self.categories is not None:
            return not self.categories.truncated
        return self.distinct_sketch.exact

    @property
    def mean(self) -> float | None:
        return self.moments.mean if self.moments and self.moments.count else None

    @property
    def std(self) -> float | None:
        return self.moments.std if self.moments else None

    @property
    def min(self) -> float | None:
        return self.moments.minimum if self.moments and self.moments.count else None

    @property
    def max(self) -> float | None:
        return self.moments.maximum if self.moments and self.moments.count else None

    def quantiles(self, qs=QUANTILES) -> dict[float, float]:
        """The inverted-CDF quantiles (numpy method="inverted_cdf"), each within the smaller of one
        histogram bin width and 1/32 of its magnitude (read from the magnitude counts), whichever
        grid is finer there."""
        if not self.numeric or self.histogram is None or not self.count:
            return {}
        histogram = self.histogram
        linear = histogram.quantiles(qs, self.min, self.max, self.moments.integral)
        exact = self.moments.integral and histogram.exponent <= 0 and not (histogram.below or histogram.above)
        if self.magnitudes is None or exact:
            return dict(zip(qs, linear))
        total, out = histogram.total, {}
        for q, by_bins, (by_magnitude, bound) in zip(qs, linear, self.magnitudes.quantiles(qs, self.min, self.max)):
            # In a pinned histogram's tails (beyond a reference's bins) the bins say little.
            in_bins = histogram.below < q * total <= total - histogram.above
            out[q] = by_magnitude if bound < (histogram.width if in_bins else math.inf) else by_bins
        return out

    def estimate_outside(self, low: float | None, high: float | None) -> int:
        """About how many values lie below ``low`` or above ``high``, from the histogram (exact
        when the limits fall on bin edges, and for values beyond a reference's bins)."""
        if not self.numeric or self.histogram is None or not self.count:
            return 0
        histogram = self.histogram
        if self.moments.integral and histogram.exponent <= 0:  # one whole number a bin: exact
            starts = histogram.edges()[:-1]
            below = histogram.below + (histogram.counts[starts < low].sum() if low is not None else 0)
            above = histogram.above + (histogram.counts[starts > high].sum() if high is not None else 0)
            below = below if low is not None and low > self.min else 0
            above = above if high is not None and high < self.max else 0
            return int(below + above)
        xs, cs = histogram.cdf_points(self.min, self.max)
        below = 0.0 if low is None or low <= self.min else float(np.interp(low, xs, cs))
        above = 0.0 if high is None or high >= self.max else cs[-1] - float(np.interp(high, xs, cs))
        outside = round(below + above)
        return max(outside, int(low is not None and low > self.min) + int(high is not None and high < self.max))

    def top(self, k: int = 10) -> list[tuple[str, int]]:
        return self.categories.top(k) if self.categories is not None else []

    # ------------------------------------------------------------------ building
    @classmethod
    def of(cls, name: str, array: pa.Array, grid: Histogram | None = None,
           bins: int = DEFAULT_BINS, as_text: bool = False) -> ColumnProfile:
        physical = STRING if as_text else physical_type(array.type)
        column = cls(name, physical, rows=len(array), bins=bins)
        if physical in NUMERIC:
            values = numeric_values(array, physical)
            finite_mask = np.isfinite(values)
            if finite_mask.all():
                finite = values
            else:
                column.missing = int(np.isnan(values).sum())
                finite = values[finite_mask]
                column.infinite = column.rows - column.missing - int(finite.size)
            column.moments = Moments.of(finite, integral=True if physical == INTEGER else None)
            if physical != DATETIME:  # seconds since 1970: a relative grid is no finer than the bins
                column.magnitudes = Magnitudes.of(finite, column.moments.minimum, column.moments.maximum)
            low, high = column.moments.minimum, column.moments.maximum
            if grid is not None and grid.counts.size:
                column.histogram = Histogram.on_grid(finite, low, high, grid)
            else:
                column.histogram = Histogram.of(finite, low, high, bins, physical == INTEGER)
            if physical == INTEGER:  # from the integers themselves: float64 merges large ones
                column.distinct_sketch.add(hash_integers(integer_values(array)))
            else:
                column.distinct_sketch.add(hash_numbers(finite))
        elif physical in (BOOLEAN, STRING):
            keys, counts = category_counts(array)
            column.missing = array.null_count
            column.categories = CategoryCounts()
            column.categories.add(keys, counts)
            column.distinct_sketch.add(hash_strings(keys))
        else:
            column.missing = column.rows
        return column

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        physical = merged_physical_type(self.physical, other.physical)
        if physical is None:
            raise InvalidInput(
                f"Column {self.name!r} is {self.logical_type} in one profile and {other.logical_type} "
                "in the other; only profiles of the same columns and types merge.")
        merged = ColumnProfile(
            self.name, physical, self.rows + other.rows, self.missing + other.missing,
            self.infinite + other.infinite, distinct_sketch=self.distinct_sketch.merge(other.distinct_sketch),
            mixed_types=tuple(sorted(set(self.mixed_types) | set(other.mixed_types))),
            bins=min(self.bins, other.bins), not_numbers=self.not_numbers + other.not_numbers,
            not_number_examples=tuple(dict.fromkeys(self.not_number_examples + other.not_number_examples))[:5])
        if physical in NUMERIC:
            merged.moments = (self.moments or Moments()).merge(other.moments or Moments())
            merged.magnitudes = _merge_magnitudes(self, other)
            if self.histogram is None or other.histogram is None:
                merged.histogram = self.histogram or other.histogram
            else:
                merged.histogram = self.histogram.merge(
                    other.histogram, merged.moments.minimum, merged.moments.maximum, merged.bins,
                    physical == INTEGER)
        elif physical in (BOOLEAN, STRING):
            merged.categories = (self.categories or CategoryCounts()).merge(other.categories or CategoryCounts())
        return merged

    # ------------------------------------------------------------------ plain data
    def summary(self, quantiles=QUANTILES, top: int = 10) -> dict[str, Any]:
        """The statistics as plain values (datetimes as ISO-8601 text, UTC)."""
        out: dict[str, Any] = {
            "type": self.logical_type, "rows": self.rows, "count": self.count, "missing": self.missing,
            "missing_fraction": self.missing_fraction, "distinct": self.distinct,
            "distinct_exact": self.distinct_exact}
        if self.mixed_types:
            out["mixed_types"] = list(self.mixed_types)
        if self.not_numbers:
            out["not_numbers"] = self.not_numbers
        if self.numeric:
            show = _iso if self.physical == DATETIME else (lambda v: v)
            out.update(infinite=self.infinite, mean=_maybe(show, self.mean), std=self.std,
                       min=_maybe(show, self.min), max=_maybe(show, self.max),
                       quantiles={str(q): show(v) for q, v in self.quantiles(quantiles).items()})
        elif self.categories is not None:
            out["top"] = [{"value": v, "count": c} for v, c in self.top(top)]
        return out

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.physical, "rows": self.rows,
                                "missing": self.missing}
        if self.infinite:
            data["infinite"] = self.infinite
        if self.moments is not None:
            data["moments"] = self.moments.to_dict()
        if self.histogram is not None:
            data["histogram"] = self.histogram.to_dict()
        if self.categories is not None:
            data["categories"] = self.categories.to_dict()
        data["distinct"] = self.distinct_sketch.to_dict()
        if self.mixed_types:
            data["mixed_types"] = list(self.mixed_types)
        if self.bins != DEFAULT_BINS:
            data["bins"] = self.bins
        if self.not_numbers:
            data["not_numbers"] = {"rows": self.not_numbers, "examples": list(self.not_number_examples)}
        if self.magnitudes is not None:
            data["magnitudes"] = self.magnitudes.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        return cls(
            str(data["name"]), str(data["type"]), int(data["rows"]), int(data["missing"]),
            int(data.get("infinite", 0)),
            Moments.from_dict(data["moments"]) if "moments" in data else None,
            Histogram.from_dict(data["histogram"]) if "histogram" in data else None,
            CategoryCounts.from_dict(data["categories"]) if "categories" in data else None,
            DistinctSketch.from_dict(data["distinct"]), tuple(data.get("mixed_types", ())),
            int(data.get("bins", DEFAULT_BINS)), int(data.get("not_numbers", {}).get("rows", 0)),
            tuple(map(str, data.get("not_numbers", {}).get("examples", ()))),
            Magnitudes.from_dict(data["magnitudes"]) if "magnitudes" in data else None)


@dataclass
class Profile:
    """Per-column profiles of one dataset (or window of data)."""

    columns: dict[str, ColumnProfile] = field(default_factory=dict)
    rows: int = 0
    bad_rows: int = 0  # CSV rows skipped with on_bad_rows="skip"

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"No column {name!r} in this profile; it has {list(self.columns)}.") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    @property
    def binned_on_reference(self) -> bool:
        return any(c.histogram is not None and c.histogram.pinned for c in self.columns.values())

    def merge(self, other: Profile) -> Profile:
        if set(self.columns) != set(other.columns):
            only_self = sorted(set(self.columns) - set(other.columns))
            only_other = sorted(set(other.columns) - set(self.columns))
            raise InvalidInput(f"Profiles of different columns don't merge: only in the first {only_self}, "
                               f"only in the second {only_other}. Profile data with the same columns.")
        return Profile({name: column.merge(other.columns[name]) for name, column in self.columns.items()},
                       self.rows + other.rows, self.bad_rows + other.bad_rows)

    def summary(self, quantiles=QUANTILES, top: int = 10) -> dict[str, Any]:
        return {"rows": self.rows, "bad_rows": self.bad_rows,
                "columns": {name: c.summary(quantiles, top) for name, c in self.columns.items()}}

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "rows": self.rows, "bad_rows": self.bad_rows,
                "columns": [c.to_dict() for c in self.columns.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise InvalidInput(f"Not a modelcycle profile (expected format {FORMAT!r}, found {found!r}); "
                               "pass what Profile.to_dict() returned.")
        try:
            columns = [ColumnProfile.from_dict(c) for c in data["columns"]]
            return cls({c.name: c for c in columns}, int(data["rows"]), int(data.get("bad_rows", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"The profile is incomplete or corrupt ({exc!r}); compute it again.") from None


class Profiler:
    """Builds a Profile from record batches fed one at a time: ``add(batch)`` then ``result()``."""

    def __init__(self, reference: Profile | None = None, *, bins: int = DEFAULT_BINS,
                 mixed_types: dict[str, tuple[str, ...]] | None = None):
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 16:
            raise InvalidInput(f"bins must be an integer of at least 16; got {bins!r}.")
        if reference is not None and not isinstance(reference, Profile):
            raise InvalidInput(f"reference must be a Profile (e.g. from profile(reference_data)); "
                               f"got {type(reference).__name__}.")
        self.reference = reference
        self.bins = bins
        self.mixed_types = dict(mixed_types or {})
        self._columns: dict[str, ColumnProfile] = {}
        self._rows = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        if isinstance(batch, pa.Table):
            for part in batch.to_batches():
                self.add(part)
            return
        names = batch.schema.names
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise InvalidInput(f"Column names must be unique; repeated: {repeated}. Rename them in the source.")
        for name, array in zip(names, batch.columns):
            if name not in self._columns and self._rows:  # a column absent from earlier batches
                self._columns[name] = ColumnProfile(name, NULL, self._rows, self._rows)
            chunk = ColumnProfile.of(name, array, self._grid(name), self.bins, name in self.mixed_types)
            chunk.mixed_types = self.mixed_types.get(name, ())
            existing = self._columns.get(name)
            self._columns[name] = chunk if existing is None else existing.merge(chunk)
        self._rows += batch.num_rows
        for name, column in self._columns.items():  # columns this batch lacked: missing there
            if column.rows < self._rows:
                column.missing += self._rows - column.rows
                column.rows = self._rows

    def result(self) -> Profile:
        return Profile(dict(self._columns), self._rows)

    def _grid(self, name: str) -> Histogram | None:
        if self.reference is None or name not in self.reference.columns:
            return None
        return self.reference.columns[name].histogram


def profile(data: Any, reference: Profile | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
            bins: int = DEFAULT_BINS, on_bad_rows: str = "error", encoding: str = "utf-8",
            numbers=(), texts=()) -> Profile:
    """Profile a DataFrame, a pyarrow Table/RecordBatch or a CSV/Parquet path or URL.

    With ``reference`` (a Profile), numerical columns are binned on the reference's bins so the
    two can be compared, and a CSV is read with the reference's types: its numbers as numbers
    (text among them is counted in ``not_numbers``, not raised), its text as text (codes like
    "007" stay text). ``numbers`` and ``texts`` name more CSV columns to read so. ``on_bad_rows=
    "skip"`` skips (and counts) CSV rows with the wrong number of fields instead of raising;
    ``encoding`` is that of CSV files."""
    if isinstance(data, Profile):
        return data
    numbers, texts = set(numbers), set(texts)
    if reference is not None:
        numbers |= {n for n, c in reference.columns.items() if c.physical in (INTEGER, FLOAT)}
        texts |= {n for n, c in reference.columns.items() if c.physical == STRING}
    source = open_batches(data, chunk_rows, column_types={name: pa.string() for name in texts - numbers},
                          numeric_columns=numbers, on_bad_rows=on_bad_rows, encoding=encoding)
    profiler = Profiler(reference, bins=bins, mixed_types=source.mixed_types)
    for batch in source.batches:
        profiler.add(batch)
    result = profiler.result()
    result.bad_rows = source.bad_rows[0]
    for name, found in source.not_numbers.items():  # read as missing; counted apart
        column = result.columns[name]
        column.missing -= found.rows
        column.not_numbers, column.not_number_examples = found.rows, tuple(found.examples)
    return result


def profile_file(path_or_url, reference: Profile | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 bins: int = DEFAULT_BINS, on_bad_rows: str = "error", encoding: str = "utf-8") -> Profile:
    """Profile a Parquet file or folder, or a CSV/TSV file, batch by batch in bounded memory."""
    if not is_location(path_or_url):
        raise InvalidInput(f"profile_file takes a path or URL; got {type(path_or_url).__name__}. "
                           "Use profile() for in-memory data.")
    return profile(path_or_url, reference, chunk_rows=chunk_rows, bins=bins, on_bad_rows=on_bad_rows,
                   encoding=encoding)


def _merge_magnitudes(a: ColumnProfile, b: ColumnProfile) -> Magnitudes | None:
    """A part without numbers adds nothing; a part profiled before magnitudes were counted
    leaves them unknown."""
    if not b.count:
        return a.magnitudes
    if not a.count:
        return b.magnitudes
    if a.magnitudes is None or b.magnitudes is None:
        return None
    return a.magnitudes.merge(b.magnitudes)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat()


def _maybe(fn, value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else fn(value)

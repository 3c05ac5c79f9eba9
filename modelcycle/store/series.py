"""Metric histories for charts: the packed chunks of a (run, key) read as NumPy columns, cut to an
x range and downsampled to a number of equal-width buckets that keep each bucket's least and
greatest value and its last point, so a chart of a million points gets the shape of all of them
from a thousand.

NaN follows the filter language's rule: it compares with nothing, so a bucket's min and max leave
it out (and are NaN only when every value of the bucket is); the last point keeps its value,
whatever it is."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from modelcycle.exceptions import InvalidInput
from modelcycle.store.entities import MetricSeries
from modelcycle.store.validation import _RUN_ID, INT64_MAX, INT64_MIN, check_key

MAX_BUCKETS = 10_000
MAX_SERIES_RUNS = 500
X_AXES = ("step", "timestamp")
_VALUES, _INTEGERS = np.dtype("<f8"), np.dtype("<i8")  # store/points.py's format


def check_series_request(run_ids: Sequence[str], key: str, buckets: int | None, x: str,
                         start: float | None, end: float | None) -> list[str]:
    """The run ids once each, in the order given, after checking every argument."""
    if isinstance(run_ids, str) or not isinstance(run_ids, Sequence):
        raise InvalidInput(f"run_ids must be a list of run ids; got {run_ids!r}.")
    if len(run_ids) > MAX_SERIES_RUNS:
        raise InvalidInput(f"run_ids holds at most {MAX_SERIES_RUNS} runs; got {len(run_ids)}. "
                           "Ask for the histories in several requests.")
    for position, run_id in enumerate(run_ids):
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise InvalidInput(f"run_ids[{position}] is {run_id!r}, not a run id: a run id is 32 lowercase hex "
                               "characters.")
    ids = list(dict.fromkeys(run_ids))
    check_key("metric", key)
    if buckets is not None and (isinstance(buckets, bool) or not isinstance(buckets, int)
                                or not 1 <= buckets <= MAX_BUCKETS):
        raise InvalidInput(f"buckets must be an integer in [1, {MAX_BUCKETS}] (or none, for every point); "
                           f"got {buckets!r}.")
    if x not in X_AXES:
        raise InvalidInput(f"x must be 'step' or 'timestamp'; got {x!r}.")
    for name, bound in (("start", start), ("end", end)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))
                                  or not math.isfinite(bound)):
            raise InvalidInput(f"{name} must be a finite number (a {x}) or none; got {bound!r}.")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"start must not be after end; got start={start!r} and end={end!r}.")
    return ids


def columns(chunks: Sequence[tuple[bytes, bytes, bytes]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values, steps and timestamps of ``chunks`` (in the order written), ordered by step, then
    timestamp, then the order logged, as get_metric_history orders them."""
    values, steps, stamps = (np.frombuffer(b"".join(c[i] for c in chunks), kind)
                             for i, kind in enumerate((_VALUES, _INTEGERS, _INTEGERS)))
    if steps.size > 1 and not (steps[1:] > steps[:-1]).all():
        same = steps[1:] == steps[:-1]
        if not ((steps[1:] > steps[:-1]) | (same & (stamps[1:] >= stamps[:-1]))).all():
            order = np.lexsort((stamps, steps))  # stable: equal points stay in logged order
            values, steps, stamps = values[order], steps[order], stamps[order]
    return values, steps, stamps


def _in_order(steps: np.ndarray, stamps: np.ndarray) -> bool:
    """The points are in (step, timestamp) order."""
    if steps.size < 2 or (steps[1:] > steps[:-1]).all():
        return True
    return bool(((steps[1:] > steps[:-1]) | ((steps[1:] == steps[:-1]) & (stamps[1:] >= stamps[:-1]))).all())


def _ordered_parts(chunks: Sequence[tuple[bytes, bytes, bytes]], x: str) -> list[tuple] | None:
    """The chunks as NumPy views (no copy), if together they are in (step, timestamp) order and,
    on the timestamp axis, in timestamp order too; else None. Histories logged in step order, the
    usual case, are read this way without joining their chunks."""
    parts = [tuple(np.frombuffer(c[i], kind) for i, kind in enumerate((_VALUES, _INTEGERS, _INTEGERS)))
             for c in chunks]
    parts = [part for part in parts if part[0].size]
    previous = None
    for _values, steps, stamps in parts:
        if previous is not None and (previous[0], previous[1]) > (int(steps[0]), int(stamps[0])):
            return None
        if x == "timestamp" and previous is not None and previous[1] > int(stamps[0]):
            return None
        if not _in_order(steps, stamps) or (x == "timestamp" and not _rising(stamps)):
            return None
        previous = (int(steps[-1]), int(stamps[-1]))
    return parts


def _series_of_parts(run_id: str, key: str, parts: list[tuple], buckets: int | None, x: str,
                     low: int | None, high: int | None) -> MetricSeries:
    """series() over chunks in order along the axis, one chunk at a time: each gives the
    buckets it holds points of, and a bucket across two chunks is merged from both."""
    count_all = sum(part[0].size for part in parts)
    picked = []
    for values, steps, stamps in parts:
        axis = steps if x == "step" else stamps
        first = 0 if low is None else int(np.searchsorted(axis, low, "left"))
        last = axis.size if high is None else int(np.searchsorted(axis, high, "right"))
        if first < last:
            picked.append((values[first:last], steps[first:last], stamps[first:last]))
    total = sum(part[0].size for part in picked)
    if buckets is None or total <= buckets:
        values, steps, stamps = (np.concatenate([part[i] for part in picked]) if picked else np.empty(0)
                                 for i in range(3))
        return MetricSeries(run_id, key, total, count_all, False, steps.astype(np.int64).tolist(),
                            stamps.astype(np.int64).tolist(), values.tolist(), values.tolist(), values.tolist())
    along = 1 if x == "step" else 2
    lo, hi = int(picked[0][along][0]), int(picked[-1][along][-1])
    edges = _edges(lo, hi, buckets)
    ids, lows, highs, lasts = [], [], [], []
    for part in picked:
        values, axis = part[0], part[along]
        bounds = np.concatenate(([0], np.searchsorted(axis, edges, "left"), [axis.size]))
        held = np.flatnonzero(bounds[:-1] < bounds[1:])  # the buckets this chunk has points of
        starts = bounds[held]
        ids.append(held)
        lows.append(np.fmin.reduceat(values, starts))
        highs.append(np.fmax.reduceat(values, starts))
        ends = bounds[held + 1] - 1
        lasts.append((values[ends], part[1][ends], part[2][ends]))
    ids, lows, highs = np.concatenate(ids), np.concatenate(lows), np.concatenate(highs)
    values, steps, stamps = (np.concatenate([last[i] for last in lasts]) for i in range(3))
    groups = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    ends = np.append(groups[1:], ids.size) - 1  # a bucket's last point is in its last chunk
    return MetricSeries(run_id, key, total, count_all, True, steps[ends].tolist(), stamps[ends].tolist(),
                        values[ends].tolist(), np.fmin.reduceat(lows, groups).tolist(),
                        np.fmax.reduceat(highs, groups).tolist())


def _edges(lo: int, hi: int, buckets: int) -> np.ndarray:
    """The first x of buckets 1 to buckets - 1: lo + ceil(k * (hi - lo) / buckets), exactly (in
    Python ints, so that a span of the whole 64 bits does not overflow)."""
    span = hi - lo
    return np.array([lo - (-k * span // buckets) for k in range(1, buckets)], dtype=np.int64)


def _bound(value: float | int | None, rounding) -> int | None:
    """An x bound on the integer axis: inside it, within 64 bits."""
    if value is None:
        return None
    whole = value if isinstance(value, int) else rounding(value)
    return min(max(whole, INT64_MIN), INT64_MAX)


def series(run_id: str, key: str, chunks: Sequence[tuple[bytes, bytes, bytes]], buckets: int | None,
           x: str = "step", start: float | None = None, end: float | None = None) -> MetricSeries:
    """The points of [start, end] on the x axis, ordered along it; with ``buckets``, and more
    points than buckets in the range, one point per non-empty bucket.

    The buckets cut the span [lo, hi] of the points' x values: bucket k holds the x with
    k <= (x - lo) * buckets / (hi - lo) < k + 1 (the last one also hi), computed exactly, as
    the first x of each bucket is lo + ceil(k * (hi - lo) / buckets)."""
    low, high = _bound(start, math.ceil), _bound(end, math.floor)
    parts = _ordered_parts(chunks, x)
    if parts is not None:
        return _series_of_parts(run_id, key, parts, buckets, x, low, high)
    values, steps, stamps = columns(chunks)
    count_all = int(values.size)
    axis = steps if x == "step" else stamps
    in_order = x == "step" or _rising(axis)
    if in_order:  # the range is a slice, found by bisection
        first = 0 if low is None else int(np.searchsorted(axis, low, "left"))
        last = count_all if high is None else int(np.searchsorted(axis, high, "right"))
        picked: slice | np.ndarray = slice(first, max(first, last))
    elif low is not None or high is not None:
        inside = np.ones(count_all, bool)
        if low is not None:
            inside &= axis >= low
        if high is not None:
            inside &= axis <= high
        picked = np.flatnonzero(inside)
    else:
        picked = slice(None)
    values, steps, stamps, axis = values[picked], steps[picked], stamps[picked], axis[picked]
    total = int(values.size)
    if buckets is None or total <= buckets:
        if not in_order:  # along the axis; equal timestamps in step order
            order = np.argsort(axis, kind="stable")
            values, steps, stamps = values[order], steps[order], stamps[order]
        return MetricSeries(run_id, key, total, count_all, False, steps.tolist(), stamps.tolist(),
                            values.tolist(), values.tolist(), values.tolist())

    lo, hi = (int(axis[0]), int(axis[-1])) if in_order else (int(axis.min()), int(axis.max()))
    edges = _edges(lo, hi, buckets)
    if in_order:
        firsts = np.searchsorted(axis, edges, "left")
    else:
        # Timestamps out of step order: the points grouped by bucket, in (step, timestamp,
        # logged) order within each (a stable sort of small integers is a radix sort).
        index = np.searchsorted(edges, axis, "right").astype(np.int16)
        order = np.argsort(index, kind="stable")
        values, steps, stamps = values[order], steps[order], stamps[order]
        firsts = np.searchsorted(index[order], np.arange(1, buckets, dtype=np.int16), "left")
    bounds = np.concatenate(([0], firsts, [total]))
    starts = bounds[:-1][bounds[:-1] < bounds[1:]]  # of the buckets that hold points
    ends = np.append(starts[1:], total) - 1  # each bucket's last point: the highest step, then timestamp
    return MetricSeries(run_id, key, total, count_all, True, steps[ends].tolist(), stamps[ends].tolist(),
                        values[ends].tolist(), np.fmin.reduceat(values, starts).tolist(),
                        np.fmax.reduceat(values, starts).tolist())


def _rising(column: np.ndarray) -> bool:
    return column.size < 2 or bool((column[1:] >= column[:-1]).all())

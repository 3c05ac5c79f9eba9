"""Metric histories for charts (Store.get_metric_series): cut to an x range and downsampled to
equal-width buckets that keep each bucket's least and greatest value and its last point, checked
against a plain reference computed point by point, on SQLite, PostgreSQL and through the server."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from modelcycle import InvalidInput, Metric, NotFound
from modelcycle.store import series as series_module
from modelcycle.store.points import pack

T0 = 1_700_000_000_000
UNKNOWN_RUN = "0" * 32
NAN = math.nan


def expected(points: list[tuple[float, int, int]], buckets: int | None, x: str = "step",
             start: float | None = None, end: float | None = None) -> dict:
    """The answer worked out point by point: ``points`` are (value, step, timestamp) as logged."""
    order = sorted(range(len(points)), key=lambda i: (points[i][1], points[i][2], i))  # step, time, logged
    along = 1 if x == "step" else 2
    kept = [i for i in order if (start is None or points[i][along] >= start)
            and (end is None or points[i][along] <= end)]
    result = {"total": len(kept), "count_all": len(points)}
    if buckets is None or len(kept) <= buckets:
        kept.sort(key=lambda i: points[i][along])  # stable: equal x keep (step, time, logged) order
        values = [points[i][0] for i in kept]
        return {**result, "downsampled": False, "steps": [points[i][1] for i in kept],
                "timestamps": [points[i][2] for i in kept], "values": values, "min": values, "max": values}
    lo = min(points[i][along] for i in kept)
    span = max(points[i][along] for i in kept) - lo
    groups: dict[int, list[int]] = {}
    for i in kept:  # floor((x - lo) * buckets / span), exactly; the greatest x in the last bucket
        index = min(buckets - 1, (points[i][along] - lo) * buckets // span) if span else 0
        groups.setdefault(index, []).append(i)
    lasts, lows, highs = [], [], []
    for index in sorted(groups):
        members = groups[index]
        lasts.append(max(members, key=lambda i: (points[i][1], points[i][2], i)))
        numbers = [points[i][0] for i in members if not math.isnan(points[i][0])]
        lows.append(min(numbers) if numbers else NAN)
        highs.append(max(numbers) if numbers else NAN)
    return {**result, "downsampled": True, "steps": [points[i][1] for i in lasts],
            "timestamps": [points[i][2] for i in lasts], "values": [points[i][0] for i in lasts],
            "min": lows, "max": highs}


def as_dict(found) -> dict:
    return {name: getattr(found, name) for name in (
        "total", "count_all", "downsampled", "steps", "timestamps", "values", "min", "max")}


def same(a: dict, b: dict) -> bool:
    """Equal, NaN equal to NaN."""
    def norm(v):
        return [("nan" if isinstance(x, float) and math.isnan(x) else x) for x in v] if isinstance(v, list) else v

    return {k: norm(v) for k, v in a.items()} == {k: norm(v) for k, v in b.items()}


def log(store, points: list[tuple[float, int, int]], key: str = "loss", batches: int = 1) -> str:
    run = store.create_run(store.create_experiment(f"series-{random.random()}").id)
    size = -(-len(points) // batches)
    for start in range(0, len(points), size):
        store.log_batch(run.id, [Metric(key, v, s, t) for v, s, t in points[start:start + size]])
    return run.id


# ---------------------------------------------------------------------------- by hand
HAND = [(4.0, 0, T0), (2.0, 1, T0 + 1), (NAN, 2, T0 + 2), (9.0, 3, T0 + 3), (1.0, 4, T0 + 4),
        (5.0, 5, T0 + 5), (NAN, 6, T0 + 6), (NAN, 7, T0 + 7), (3.0, 9, T0 + 9)]


def test_buckets_keep_min_max_and_last_worked_out_by_hand(store):
    run_id = log(store, HAND)
    (found,) = store.get_metric_series([run_id], "loss", buckets=3)
    # steps 0..9 in three buckets of width 3: [0, 3), [3, 6), [6, 9]
    assert found.downsampled and (found.total, found.count_all) == (9, 9)
    assert found.steps == [2, 5, 9] and found.timestamps == [T0 + 2, T0 + 5, T0 + 9]
    assert math.isnan(found.values[0]) and found.values[1:] == [5.0, 3.0]  # the last point as it is
    assert found.min == [2.0, 1.0, 3.0] and found.max == [4.0, 9.0, 3.0]  # NaN left out


def test_a_bucket_of_nan_only_has_nan_bounds(store):
    run_id = log(store, [(1.0, 0, T0), (NAN, 5, T0), (NAN, 6, T0), (2.0, 10, T0)])
    (found,) = store.get_metric_series([run_id], "loss", buckets=3)
    assert found.steps == [0, 6, 10]
    assert found.min[0] == 1.0 and math.isnan(found.min[1]) and math.isnan(found.max[1]) and found.max[2] == 2.0


def test_the_last_point_of_a_bucket_is_the_highest_step_then_timestamp(store):
    # logged out of order, with repeated steps: the last is (7, T0 + 9), not the last logged
    points = [(1.0, 7, T0 + 9), (2.0, 7, T0 + 3), (3.0, 0, T0), (4.0, 6, T0 + 20), (5.0, 1, T0 + 1)]
    run_id = log(store, points)
    (found,) = store.get_metric_series([run_id], "loss", buckets=2)
    assert (found.steps, found.timestamps, found.values) == ([1, 7], [T0 + 1, T0 + 9], [5.0, 1.0])
    assert (found.min, found.max) == ([3.0, 1.0], [5.0, 4.0])


def test_few_points_come_back_raw(store):
    run_id = log(store, HAND)
    (found,) = store.get_metric_series([run_id], "loss", buckets=9)
    assert not found.downsampled and found.steps == [p[1] for p in HAND]
    assert same(as_dict(found), expected(HAND, 9))
    assert same({"min": found.min, "max": found.max}, {"min": found.values, "max": found.values})
    (everything,) = store.get_metric_series([run_id], "loss")
    assert same(as_dict(everything), as_dict(found))


def test_the_range_is_inclusive_and_counted(store):
    run_id = log(store, HAND)
    (found,) = store.get_metric_series([run_id], "loss", start=3, end=6)
    assert found.steps == [3, 4, 5, 6] and (found.total, found.count_all) == (4, 9)
    (between,) = store.get_metric_series([run_id], "loss", start=3.5, end=4.5)
    assert between.steps == [4]
    (nothing,) = store.get_metric_series([run_id], "loss", buckets=5, start=100, end=200)
    assert (nothing.total, nothing.steps, nothing.downsampled) == (0, [], False)
    (by_time,) = store.get_metric_series([run_id], "loss", x="timestamp", start=T0 + 8, end=T0 + 100)
    assert by_time.steps == [9]


# ---------------------------------------------------------------------------- against the reference
def _random_points(rng: random.Random, n: int, shuffled: bool) -> list[tuple[float, int, int]]:
    points = []
    for i in range(n):
        value = rng.choice([NAN, math.inf, -math.inf]) if rng.random() < 0.05 else rng.uniform(-10, 10)
        step = i // 3 if rng.random() < 0.5 else i  # repeated steps
        stamp = T0 + (rng.randrange(0, 5 * n) if shuffled else i)
        points.append((value, step, stamp))
    if shuffled:
        rng.shuffle(points)
    return points


@pytest.mark.parametrize("x", ["step", "timestamp"])
@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "out-of-order"])
def test_downsampling_matches_the_reference(store, x, shuffled):
    rng = random.Random(f"{x}{shuffled}")
    points = _random_points(rng, 3000, shuffled)
    run_id = log(store, points, batches=3)
    axis = [p[1] if x == "step" else p[2] for p in points]
    for buckets, start, end in [(1, None, None), (7, None, None), (100, None, None), (2999, None, None),
                                (10_000, None, None), (50, min(axis) + 10, max(axis) - 10),
                                (10, float(sorted(axis)[500]) + 0.5, None), (3, None, sorted(axis)[20])]:
        (found,) = store.get_metric_series([run_id], "loss", buckets=buckets, x=x, start=start, end=end)
        assert same(as_dict(found), expected(points, buckets, x, start, end)), (buckets, start, end)


@pytest.mark.parametrize("x", ["step", "timestamp"])
def test_downsampling_of_histories_logged_in_order_matches_the_reference(store, x):
    """Steps and timestamps that only rise, with repeats, over several batches: read chunk by chunk."""
    rng = random.Random(x)
    steps = sorted(rng.randrange(0, 400) for _ in range(2000))
    stamps = sorted(T0 + rng.randrange(0, 300) for _ in range(2000))
    points = [(rng.choice([NAN, rng.uniform(-5, 5)]) if rng.random() < 0.1 else rng.uniform(-5, 5), s, t)
              for s, t in zip(steps, stamps)]
    run_id = log(store, points, batches=7)
    axis = steps if x == "step" else stamps
    for buckets, start, end in [(1, None, None), (13, None, None), (500, None, None), (1999, None, None),
                                (40, axis[100], axis[1500]), (7, axis[100] + 0.5, None), (3000, None, axis[10])]:
        (found,) = store.get_metric_series([run_id], "loss", buckets=buckets, x=x, start=start, end=end)
        assert same(as_dict(found), expected(points, buckets, x, start, end)), (buckets, start, end)


def test_steps_across_the_whole_64_bits(store):
    points = [(float(i), s, T0 + i) for i, s in enumerate([-(2**63), -5, 0, 7, 2**62, 2**63 - 1])]
    run_id = log(store, points)
    (found,) = store.get_metric_series([run_id], "loss", buckets=2)
    assert same(as_dict(found), expected(points, 2))
    (top,) = store.get_metric_series([run_id], "loss", start=2**62, end=2**63 - 1)
    assert top.steps == [2**62, 2**63 - 1]


def test_a_history_of_several_chunks(store):
    n = 150_000  # three chunks
    values = np.sin(np.arange(n) / 500.0)
    values[::997] = NAN
    points = [(float(v), i, T0 + i) for i, v in enumerate(values)]
    run_id = log(store, points)
    (found,) = store.get_metric_series([run_id], "loss", buckets=1000)
    assert len(found.steps) == 1000 and found.total == n
    assert same(as_dict(found), expected(points, 1000))


# ---------------------------------------------------------------------------- many runs
def test_many_runs_in_one_call(store):
    first = log(store, HAND)
    second = log(store, [(1.0, 0, T0), (2.0, 1, T0)])
    without = store.create_run(store.create_experiment("no loss").id).id
    found = store.get_metric_series([second, first, without, second], "loss", buckets=3)
    assert [s.run_id for s in found] == [second, first, without]  # once each, in the order asked
    assert same(as_dict(found[1]), expected(HAND, 3))
    assert (found[0].values, found[0].downsampled) == ([1.0, 2.0], False)
    assert (found[2].total, found[2].count_all, found[2].steps) == (0, 0, [])
    assert store.get_metric_series([], "loss") == []


def test_an_unknown_run_is_not_found(store):
    run_id = log(store, HAND)
    with pytest.raises(NotFound, match=UNKNOWN_RUN):
        store.get_metric_series([UNKNOWN_RUN], "loss", buckets=10)
    with pytest.raises(NotFound, match=UNKNOWN_RUN):
        store.get_metric_series([run_id, UNKNOWN_RUN], "loss", buckets=10)


@pytest.mark.parametrize("kwargs, field", [
    ({"buckets": 0}, "buckets"), ({"buckets": 10_001}, "buckets"), ({"buckets": 2.5}, "buckets"),
    ({"buckets": True}, "buckets"), ({"x": "time"}, "x"), ({"start": 5, "end": 1}, "start"),
    ({"start": math.nan}, "start"), ({"end": math.inf}, "end"), ({"start": "1"}, "start"),
    ({"run_ids": ["0" * 32] * 501}, "run_ids"), ({"run_ids": ["not-a-run"]}, "run_ids\\[0\\]"),
    ({"run_ids": "0" * 32}, "run_ids"), ({"key": ""}, "metric key"),
])
def test_arguments_are_checked(store, kwargs, field):
    arguments = {"run_ids": [UNKNOWN_RUN], "key": "loss", **kwargs}
    with pytest.raises(InvalidInput, match=field):
        store.get_metric_series(**arguments)


# ---------------------------------------------------------------------------- the columns alone
def test_columns_of_one_chunk_in_logged_order_are_sorted_stably():
    chunk = (pack("d", [1.0, 2.0, 3.0, 4.0]), pack("q", [2, 1, 1, 0]), pack("q", [5, 9, 9, 1]))
    values, steps, stamps = series_module.columns([chunk])
    assert values.tolist() == [4.0, 2.0, 3.0, 1.0]  # equal (step, time): logged order
    assert steps.tolist() == [0, 1, 1, 2] and stamps.tolist() == [1, 9, 9, 5]

"""Metric points stored in chunks: the points one call logs for one key, packed as arrays.

A chunk holds its values as little-endian float64 (NaN and infinities bit for bit) and its
steps and timestamps as little-endian int64. A batch of 100,000 points is two rows instead of
100,000, and a whole history reads back as three byte strings joined and unpacked at once."""

from __future__ import annotations

import gc
import math
import sys
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from itertools import islice, repeat
from operator import itemgetter, le

from modelcycle.store.entities import Metric

MAX_CHUNK_POINTS = 65_536  # 512 KiB per column: well within any database's limit for one value
_SWAP = sys.byteorder != "little"


def pack(typecode: str, items: Sequence) -> bytes:
    packed = array(typecode, items)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def unpack(typecode: str, data: bytes) -> list:
    unpacked = array(typecode)
    unpacked.frombytes(data)
    if _SWAP:
        unpacked.byteswap()
    return unpacked.tolist()


def chunk_rows(run_id: str, metrics: list[Metric], stamp: int) -> tuple[list[tuple], list[tuple]]:
    """Rows (run_id, key, num_points, values, steps, timestamps) for the chunk table, and rows
    (run_id, key, value, step, timestamp, min, max, count) with the latest point of each key and
    a summary of its points, for checked ``metrics``. A timestamp of 0 means ``stamp``; the
    latest point is the one with the highest (step, timestamp), the last logged among equals;
    NaN is None (SQL NULL), and min and max leave it out (None when every value is NaN)."""
    keys = list(map(itemgetter(0), metrics))
    if len(set(keys)) == 1:
        groups = {keys[0]: metrics}
    else:
        groups = {}
        for key, point in zip(keys, metrics):
            groups.setdefault(key, []).append(point)
    chunks, latest = [], []
    for key, points in groups.items():
        values = list(map(itemgetter(1), points))
        steps = list(map(itemgetter(2), points))
        stamps = list(map(itemgetter(3), points))
        if 0 in stamps:
            stamps = [ts or stamp for ts in stamps]
        for start in range(0, len(points), MAX_CHUNK_POINTS):
            part = slice(start, start + MAX_CHUNK_POINTS)
            chunks.append((run_id, key, min(len(points) - start, MAX_CHUNK_POINTS), pack("d", values[part]),
                           pack("q", steps[part]), pack("q", stamps[part])))
        order = list(zip(steps, stamps))
        top = max(order)
        last = len(order) - 1 - order[::-1].index(top)
        value = values[last]
        low, high = bounds(values)
        latest.append((run_id, key, None if math.isnan(value) else value, steps[last], stamps[last],
                       low, high, len(values)))
    return chunks, latest


def bounds(values: list[float]) -> tuple[float | None, float | None]:
    """The least and greatest value, NaN left out (it compares with nothing); None, None when
    every value is NaN."""
    if len(values) > 64:
        import numpy as np

        column = np.asarray(values, dtype=np.float64)
        low = float(np.fmin.reduce(column))  # fmin and fmax leave NaN out unless all is NaN
        return (None, None) if math.isnan(low) else (low, float(np.fmax.reduce(column)))
    numbers = [v for v in values if v == v]
    return (min(numbers), max(numbers)) if numbers else (None, None)


def history(key: str, chunks: Sequence[tuple[bytes, bytes, bytes]]) -> list[Metric]:
    """The points of ``chunks`` (value, step and timestamp bytes, in the order they were
    written), ordered by step, then timestamp, then the order they were logged in."""
    # The collector is paused while the points are made: it would otherwise scan the whole heap
    # many times over for objects that cannot form cycles.
    with collector_paused():
        values = unpack("d", b"".join(map(itemgetter(0), chunks)))
        steps = unpack("q", b"".join(map(itemgetter(1), chunks)))
        stamps = unpack("q", b"".join(map(itemgetter(2), chunks)))
        order = list(zip(steps, stamps))
        if not all(map(le, order, islice(order, 1, None))):
            # A stable sort: points with equal step and timestamp stay in logged order.
            ranked = sorted(range(len(order)), key=order.__getitem__)
            values, steps, stamps = ([column[i] for i in ranked] for column in (values, steps, stamps))
        # tuple.__new__ builds the named tuples in C, without a Python call per point.
        return list(map(partial(tuple.__new__, Metric), zip(repeat(key), values, steps, stamps)))


@contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector off for a block that makes many objects that cannot form cycles."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

"""The profile's sketches against Apache DataSketches: accuracy, size and speed.

    python bench/sketches.py            # 1,000,000 values, 10 draws per distinct count; writes results/
    python bench/sketches.py --quick    # 100,000 values, 3 draws (nothing written)

Needs Apache DataSketches' Python package (pip install datasketches); modelcycle does not.

Quantiles: modelcycle's column profile (a histogram of up to 2,048 bins on a power-of-two grid,
and counts on a logarithmic grid for heavy tails; both exactly mergeable) against KLL (k=200,
DataSketches' default), REQ (k=12, high ranks accurate) and t-digest (k=200), on normal,
lognormal, Cauchy and datetime-like data. Each reports p01, p50 and p99, the error against numpy's
exact quantile (inverted CDF), that error as a rank (how many percent of the values lie between
the estimate and the truth), its serialized size (modelcycle: the column's profile without its
distinct sketch, as JSON), the time to build it from one array, and whether merging ten parts
gives what sketching the whole gives. KLL and REQ compact at random: their figures vary by run.

Distinct counts: modelcycle's KMV sketch (1,024 smallest 64-bit hashes, exact below 1,024 distinct
values) against HLL (lg_k 12 in 4 bits a bucket, and lg_k 13 in 8 bits: the KMV's 8 KiB) and Theta
(lg_k 10: 1,024 hashes, as the KMV), on integer columns of 500 to 1,000,000 distinct values. Each
reports the root-mean-square relative error over the draws, the size and the time to add the
column's values (the DataSketches bindings take one value per call).
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
QS = (0.01, 0.5, 0.99)


def distributions(n: int, rng) -> dict[str, np.ndarray]:
    return {"normal": rng.normal(0, 1, n), "lognormal": rng.lognormal(0, 1, n),
            "cauchy": rng.standard_cauchy(n),
            "datetime": 1.7e9 + rng.uniform(0, 365 * 86400, n)}  # seconds: a narrow span far from 0


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# ---------------------------------------------------------------------- quantile sketches
def modelcycle_quantiles(values: np.ndarray) -> dict:
    import pyarrow as pa

    from modelcycle.data.profile import ColumnProfile
    from modelcycle.data.sketches import DEFAULT_BINS, Histogram, Magnitudes

    column = ColumnProfile.of("x", pa.array(values))
    # The time of the two grids the quantiles come from, as the others time their sketch alone.
    _, seconds = timed(lambda: (Histogram.of(values, column.min, column.max, DEFAULT_BINS, False),
                                Magnitudes.of(values, column.min, column.max)))
    parts = [ColumnProfile.of("x", pa.array(part)) for part in np.array_split(values, 10)]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    sketch = {k: v for k, v in column.to_dict().items() if k not in ("distinct", "name")}
    return {"quantiles": list(column.quantiles(QS).values()), "bytes": len(json.dumps(sketch)),
            "seconds": seconds, "merge_equal": list(merged.quantiles(QS).values()) == list(column.quantiles(QS).values())}


def datasketches_quantiles(kind: str, values: np.ndarray) -> dict:
    import datasketches as ds

    def build(part):
        if kind == "kll":
            sketch = ds.kll_doubles_sketch(200)
            sketch.update(part)
        elif kind == "req":
            sketch = ds.req_floats_sketch(12, True)
            sketch.update(part.astype(np.float32))
        else:
            sketch = ds.tdigest_double(200)
            sketch.update(part)
        return sketch

    sketch, seconds = timed(lambda: build(values))
    parts = [build(part) for part in np.array_split(values, 10)]
    merged = parts[0]
    for part in parts[1:]:
        merged.merge(part)
    quantiles = [float(sketch.get_quantile(q)) for q in QS]
    return {"quantiles": quantiles, "bytes": len(sketch.serialize()), "seconds": seconds,
            "merge_equal": [float(merged.get_quantile(q)) for q in QS] == quantiles}


def quantile_rows(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for name, values in distributions(n, rng).items():
        ordered = np.sort(values)
        truth = np.quantile(values, QS, method="inverted_cdf")
        for method in ("modelcycle", "kll", "req", "tdigest"):
            result = modelcycle_quantiles(values) if method == "modelcycle" else datasketches_quantiles(method, values)
            estimate = np.array(result["quantiles"])
            # How far off, in ranks: the share of values between the estimate and the truth.
            ranks = np.searchsorted(ordered, estimate, side="right") / n
            rows.append({"data": name, "method": method, "true": truth.tolist(), "estimate": estimate.tolist(),
                         "abs_error": np.abs(estimate - truth).tolist(),
                         "rank_error": np.abs(ranks - np.array(QS)).tolist(),
                         "bytes": result["bytes"], "seconds": result["seconds"],
                         "merge_equal": result["merge_equal"]})
    return rows


# ---------------------------------------------------------------------- distinct sketches
def distinct_estimate(method: str, values: np.ndarray) -> tuple[float, int, float]:
    """(estimate, bytes, seconds to add the values)."""
    if method == "modelcycle KMV":
        from modelcycle.data.sketches import DistinctSketch, hash_integers

        sketch = DistinctSketch()
        _, seconds = timed(lambda: sketch.add(hash_integers(values)))
        return sketch.estimate(), sketch.hashes.size * 8, seconds
    import datasketches as ds

    if method.startswith("HLL"):
        lg_k, kind = (12, ds.HLL_4) if method == "HLL_4 lg_k=12" else (13, ds.HLL_8)
        sketch = ds.hll_sketch(lg_k, kind)
    else:
        sketch = ds.update_theta_sketch(10)
    items = values.tolist()

    def add():
        for item in items:
            sketch.update(item)

    _, seconds = timed(add)
    size = len(sketch.serialize_compact()) if method.startswith("HLL") else len(sketch.compact().serialize())
    return sketch.get_estimate(), size, seconds


def distinct_rows(n: int, draws: int) -> list[dict]:
    rows = []
    methods = ("modelcycle KMV", "HLL_4 lg_k=12", "HLL_8 lg_k=13", "Theta lg_k=10")
    for cardinality in (500, 10_000, 100_000, 1_000_000):
        if cardinality > n:
            continue
        errors = {m: [] for m in methods}
        sizes, seconds = {}, {m: [] for m in methods}
        for draw in range(draws):
            rng = np.random.default_rng([cardinality, draw])
            ids = rng.choice(2**62, cardinality, replace=False).astype(np.int64)
            values = ids[rng.integers(0, cardinality, n)]
            values[:cardinality] = ids  # every id occurs
            for method in methods:
                estimate, sizes[method], took = distinct_estimate(method, values)
                errors[method].append(estimate / cardinality - 1.0)
                seconds[method].append(took)
        for method in methods:
            rows.append({"distinct": cardinality, "method": method,
                         "rms_error": float(np.sqrt(np.mean(np.square(errors[method])))),
                         "bytes": sizes[method], "seconds": float(np.median(seconds[method]))})
    return rows


# ---------------------------------------------------------------------- report
def render(record: dict) -> str:
    lines = [f"Quantile sketches on {record['values']:,} values (p01, p50, p99)", ""]
    header = f"{'data':<10} {'method':<11} {'estimate':<34} {'rank error %':<20} {'bytes':>7} {'ms':>7}  merge=whole"
    lines += [header, "-" * len(header)]
    for row in record["quantiles"]:
        if row["method"] == "modelcycle":
            lines.append(f"{row['data']:<10} {'(true)':<11} " + "  ".join(f"{v:.6g}" for v in row["true"]))
        estimate = "  ".join(f"{v:.6g}" for v in row["estimate"])
        ranks = " ".join(f"{100 * r:.3f}" for r in row["rank_error"])
        lines.append(f"{'':<10} {row['method']:<11} {estimate:<34} {ranks:<20} {row['bytes']:>7,} "
                     f"{1000 * row['seconds']:>7.1f}  {'yes' if row['merge_equal'] else 'no'}")
    lines += ["", f"Distinct counts on {record['values']:,} integer values, {record['draws']} draws each", ""]
    header = f"{'distinct':>9} {'method':<15} {'rms error %':>11} {'bytes':>7} {'ms to add':>10}"
    lines += [header, "-" * len(header)]
    for row in record["distinct"]:
        lines.append(f"{row['distinct']:>9,} {row['method']:<15} {100 * row['rms_error']:>11.2f} "
                     f"{row['bytes']:>7,} {1000 * row['seconds']:>10.1f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes; nothing written")
    args = parser.parse_args()
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("datasketches")
    except PackageNotFoundError:
        raise SystemExit("This benchmark compares with Apache DataSketches: pip install datasketches") from None

    n, draws = (100_000, 3) if args.quick else (1_000_000, 10)
    quantile_rows(1_000, seed=1)  # first calls allocate work buffers: leave them out of the times
    import modelcycle

    record = {"date": datetime.date.today().isoformat(), "modelcycle": modelcycle.__version__,
              "datasketches": version("datasketches"), "values": n, "draws": draws,
              "quantiles": quantile_rows(n, seed=0), "distinct": distinct_rows(n, draws)}
    text = render(record)
    print(text)
    if not args.quick:
        stem = HERE / "results" / f"sketches-{record['date']}"
        stem.with_suffix(".txt").write_text(text + "\n")
        stem.with_suffix(".json").write_text(json.dumps(record, indent=2))
        print(f"\nResults written to {stem}.txt and .json")


if __name__ == "__main__":
    main()

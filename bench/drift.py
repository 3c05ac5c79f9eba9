"""Data drift: modelcycle's profile + drift and Evidently's DataDriftPreset side by side.

    python bench/drift.py            # 100,000 and 1,000,000 rows, and a 10,000,000-row profile
    python bench/drift.py --quick    # small sizes, for a smoke run (nothing written)

Reference and current tables have 20 columns (15 numerical, 5 categorical with 10 categories);
drift is injected into 5 of them. Both sides read the same Parquet files, written here chunk by
chunk, and each runs in its own subprocess, so wall time (from reading the files to the drift
verdict; imports excluded) and peak memory (the process's VmHWM, interpreter and libraries
included) are measured alike. Evidently runs from its own virtual environment, created on first
use. A last subprocess profiles a 10,000,000-row file to show that memory does not grow with it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY_SPEC = ["evidently==0.7.23", "pandas<3"]  # 0.7.23 does not import with pandas 3

FULL = {"sizes": [100_000, 1_000_000], "big": 10_000_000, "big_baseline": 1_000_000}
QUICK = {"sizes": [20_000, 100_000], "big": 1_000_000, "big_baseline": 100_000}
ROW_GROUP = 262_144
NUMERICAL = [f"num_{i}" for i in range(15)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
DRIFTED = ["num_0", "num_1", "num_7", "cat_0", "cat_1"]
LABELS = [f"v{k}" for k in range(10)]


# ---------------------------------------------------------------------- data
def make_chunk(rows: int, seed: int, chunk: int, drifted: bool):
    """One chunk of the table: five kinds of numerical columns, and categories of uneven
    frequency. Drift: num_0 mean +0.5 sd, num_1 scale x1.5, num_7 shifted by 10% of its range,
    cat_0 one category 10% -> 30%, cat_1 frequencies reversed."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng([seed, chunk])
    columns = {}
    for i, name in enumerate(NUMERICAL):
        kind = i % 5
        if kind == 0:
            values = rng.normal(i, 1 + i / 10, rows)
        elif kind == 1:
            values = rng.lognormal(0, 0.5, rows)
        elif kind == 2:
            values = rng.uniform(0, 100, rows)
        elif kind == 3:
            values = rng.exponential(2.0, rows)
        else:
            values = rng.poisson(20, rows)
        if drifted and name == "num_0":
            values = values + 0.5 * (1 + i / 10)
        if drifted and name == "num_1":
            values = values * 1.5
        if drifted and name == "num_7":
            values = values + 10
        columns[name] = values
    uneven = np.arange(1, 11, dtype=float) / 55
    for name in CATEGORICAL:
        p = uneven
        if drifted and name == "cat_0":
            p = np.array([0.3] + [0.7 / 9] * 9)
        if drifted and name == "cat_1":
            p = uneven[::-1]
        codes = rng.choice(10, rows, p=p / p.sum()).astype(np.int32)
        columns[name] = pa.DictionaryArray.from_arrays(codes, pa.array(LABELS)).cast(pa.string())
    return pa.table(columns)


def write_table(path: Path, rows: int, seed: int, drifted: bool) -> None:
    """Written chunk by chunk, so generating 10,000,000 rows stays in bounded memory."""
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, make_chunk(1, seed, 0, drifted).schema) as writer:
        for chunk, start in enumerate(range(0, rows, ROW_GROUP)):
            writer.write_table(make_chunk(min(ROW_GROUP, rows - start), seed, chunk, drifted))


def peak_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------- sides
def use_this_checkout() -> None:
    """Import modelcycle from the repository this script belongs to, whatever is installed."""
    sys.path.insert(0, str(HERE.parent))


def run_modelcycle(reference: str, current: str) -> dict:
    use_this_checkout()
    import pandas  # noqa: F401  imports are left out of the timings on both sides

    import modelcycle
    from modelcycle.data.drift import drift
    from modelcycle.data.profile import profile_file

    start = time.perf_counter()
    reference_profile = profile_file(reference)
    current_profile = profile_file(current, reference=reference_profile)
    report = drift(reference_profile, current_profile)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": peak_mib(), "flagged": report.drifted_columns,
            "dataset_drifted": report.dataset_drifted, "version": modelcycle.__version__,
            "columns": {c.column: {"method": c.method, "score": c.score, "threshold": c.threshold,
                                   "drifted": c.drifted} for c in report.columns}}


def run_evidently(reference: str, current: str) -> dict:
    import evidently
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    start = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    ref = Dataset.from_pandas(pd.read_parquet(reference), data_definition=definition)
    cur = Dataset.from_pandas(pd.read_parquet(current), data_definition=definition)
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    seconds = time.perf_counter() - start
    columns, dataset_drifted = {}, None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            method, threshold, score = config["method"], config["threshold"], metric["value"]
            drifted = score < threshold if "p_value" in method else score >= threshold
            columns[config["column"]] = {"method": method, "score": score, "threshold": threshold,
                                         "drifted": bool(drifted)}
        elif config.get("type", "").endswith("DriftedColumnsCount"):
            dataset_drifted = metric["value"]["share"] >= config["drift_share"]
    return {"seconds": seconds, "peak_mib": peak_mib(), "version": evidently.__version__,
            "flagged": [name for name, c in columns.items() if c["drifted"]],
            "dataset_drifted": dataset_drifted, "columns": columns}


def run_profile(path: str) -> dict:
    use_this_checkout()
    import pandas  # noqa: F401

    from modelcycle.data.profile import profile_file

    start = time.perf_counter()
    result = profile_file(path)
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "rows": result.rows}


# ---------------------------------------------------------------------- driver
def evidently_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        print(f"Creating {EVIDENTLY_VENV} with {' '.join(EVIDENTLY_SPEC)} (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_SPEC], check=True)
    return str(python)


def side(python: str, name: str, *paths: Path) -> dict:
    args = [python, __file__, "--side", name, *map(str, paths)]
    out = subprocess.run(args, capture_output=True, text=True, check=False,
                         env={**os.environ, "DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"})
    if out.returncode != 0:
        raise SystemExit(f"{name} side failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--side", choices=["modelcycle", "evidently", "profile"])
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--evidently-python")
    args = parser.parse_args()
    if args.side:
        run = {"modelcycle": run_modelcycle, "evidently": run_evidently, "profile": run_profile}[args.side]
        print(json.dumps(run(*args.paths)))
        return

    from rich.console import Console
    from rich.table import Table

    plan = QUICK if args.quick else FULL
    python = evidently_python(args.evidently_python)
    record: dict = {"date": datetime.date.today().isoformat(), "plan": plan, "drifted": DRIFTED, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        for rows in plan["sizes"]:
            reference, current = Path(tmp) / f"reference-{rows}.parquet", Path(tmp) / f"current-{rows}.parquet"
            print(f"Writing {rows:,}-row reference and current tables...", flush=True)
            write_table(reference, rows, seed=1, drifted=False)
            write_table(current, rows, seed=2, drifted=True)
            print(f"  modelcycle on {rows:,} rows...", flush=True)
            ours = side(sys.executable, "modelcycle", reference, current)
            print(f"  Evidently on {rows:,} rows...", flush=True)
            peer = side(python, "evidently", reference, current)
            record["runs"].append({"rows": rows, "modelcycle": ours, "evidently": peer})
        profiles = {}
        for rows in (plan["big_baseline"], plan["big"]):
            path = Path(tmp) / f"big-{rows}.parquet"
            if not path.exists():
                print(f"Writing a {rows:,}-row file in {ROW_GROUP:,}-row groups...", flush=True)
                write_table(path, rows, seed=3, drifted=False)
            print(f"  profiling {rows:,} rows...", flush=True)
            profiles[rows] = side(sys.executable, "profile", path)
        record["profiles"] = {str(k): v for k, v in profiles.items()}

    version = record["runs"][0]
    table = Table(title=f"Data drift, 20 columns (5 drifted): modelcycle {version['modelcycle']['version']} "
                        f"vs Evidently {version['evidently']['version']} DataDriftPreset")
    for column in ("rows", "modelcycle s", "Evidently s", "speed-up", "modelcycle peak MiB",
                   "Evidently peak MiB", "memory ratio", "modelcycle found", "Evidently found"):
        table.add_column(column, justify="right")
    for run in record["runs"]:
        ours, peer = run["modelcycle"], run["evidently"]
        run["speed_up"] = peer["seconds"] / ours["seconds"]
        run["memory_ratio"] = peer["peak_mib"] / ours["peak_mib"]
        table.add_row(f"{run['rows']:,}", f"{ours['seconds']:.2f}", f"{peer['seconds']:.2f}", f"{run['speed_up']:.1f}x",
                      f"{ours['peak_mib']:,.0f}", f"{peer['peak_mib']:,.0f}", f"{run['memory_ratio']:.1f}x",
                      verdict(ours["flagged"]), verdict(peer["flagged"]))
    console = Console(record=True, width=160)
    console.print(table)
    for run in record["runs"]:
        console.print(f"{run['rows']:,} rows flagged: modelcycle {run['modelcycle']['flagged']}; "
                      f"Evidently {run['evidently']['flagged']} (injected: {DRIFTED}).")
    methods = sorted({c["method"] for c in record["runs"][-1]["modelcycle"]["columns"].values()})
    peer_methods = sorted({c["method"] for c in record["runs"][-1]["evidently"]["columns"].values()})
    console.print(f"Methods at {record['runs'][-1]['rows']:,} rows: modelcycle {methods}; Evidently {peer_methods}.")

    profile_table = Table(title="Profiling one Parquet file in bounded memory (modelcycle profile_file)")
    for column in ("rows", "seconds", "rows/s", "peak MiB"):
        profile_table.add_column(column, justify="right")
    for rows, result in profiles.items():
        profile_table.add_row(f"{rows:,}", f"{result['seconds']:.2f}", f"{rows / result['seconds']:,.0f}",
                              f"{result['peak_mib']:,.0f}")
    console.print(profile_table)
    growth = profiles[plan["big"]]["peak_mib"] / profiles[plan["big_baseline"]]["peak_mib"]
    record["big_peak_growth"] = growth
    console.print(f"Peak memory at {plan['big']:,} rows is {growth:.2f}x that at {plan['big_baseline']:,} rows "
                  f"({plan['big'] // plan['big_baseline']}x the rows).")
    last = record["runs"][-1]
    console.print(f"Targets at {last['rows']:,} rows: >= 30x faster ({last['speed_up']:.1f}x), lower peak memory "
                  f"({last['memory_ratio']:.1f}x lower), the 5 drifted columns found and none of the 15 others "
                  f"({'yes' if sorted(last['modelcycle']['flagged']) == sorted(DRIFTED) else 'no'}).")
    if not args.quick:
        stem = HERE / "results" / f"drift-{record['date']}"
        stem.parent.mkdir(exist_ok=True)
        stem.with_suffix(".txt").write_text(console.export_text())
        stem.with_suffix(".json").write_text(json.dumps(record, indent=2))
        console.print(f"Results written to {stem}.txt and .json")


def verdict(flagged: list[str]) -> str:
    found = len(set(flagged) & set(DRIFTED))
    extra = len(set(flagged) - set(DRIFTED))
    return f"{found}/5" + (f" +{extra} false" if extra else "")


if __name__ == "__main__":
    main()

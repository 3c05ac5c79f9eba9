"""Runs as a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from modelcycle.store.entities import Run

BASE_COLUMNS = ["run_id", "experiment_id", "name", "status", "start_time", "end_time", "parent_id"]


def runs_to_frame(runs: Sequence[Run], include_system_tags: bool = True) -> pd.DataFrame:
    rows = []
    for run in runs:
        row = {"run_id": run.id, "experiment_id": run.experiment_id, "name": run.name,
               "status": run.status.value, "start_time": run.start_time, "end_time": run.end_time,
               "parent_id": run.parent_id}
        row.update({f"metrics.{k}": m.value for k, m in run.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.params.items()})
        row.update({f"tags.{k}": v for k, v in run.tags.items()
                    if include_system_tags or not k.startswith("mc.")})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=None if rows else BASE_COLUMNS)
    extra = sorted(c for c in frame.columns if c not in BASE_COLUMNS)
    order = ([c for c in extra if c.startswith("metrics.")] + [c for c in extra if c.startswith("params.")]
             + [c for c in extra if c.startswith("tags.")])
    frame = frame[BASE_COLUMNS + order]
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame

"""Where a cross-validation or a study logs: in ``experiment`` if given; else beside the active
run, as its child; else in the experiment set with mc.set_experiment (or the default one)."""

from __future__ import annotations

from dataclasses import dataclass

from modelcycle.store.validation import check_name
from modelcycle.tracking import fluent
from modelcycle.tracking.client import DEFAULT_EXPERIMENT, Client


@dataclass(frozen=True)
class Placement:
    client: Client
    experiment_id: int
    parent_id: str | None


def placement(experiment: str | int | None) -> Placement:
    if isinstance(experiment, str):
        check_name("experiment", experiment)  # "" is not the default experiment
    client = fluent.client()
    active = fluent.active_run()
    if experiment is None:
        if active is not None:
            return Placement(client, active.experiment_id, active.id)
        experiment = fluent.current_experiment()
    if experiment is None or isinstance(experiment, str):
        experiment_id = client.get_or_create_experiment(experiment or DEFAULT_EXPERIMENT).id
    else:
        experiment_id = client.get_experiment(experiment).id
    parent = active.id if active is not None and active.experiment_id == experiment_id else None
    return Placement(client, experiment_id, parent)


def first_line(exc: BaseException, limit: int = 500) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."

"""`modelcycle experiments ...`."""

from __future__ import annotations

import shlex
from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli.common import View, ViewOpt, client, find_experiment, parse_pairs
from modelcycle.render import Output, OutputOpt, console, emit, fmt_time

app = typer.Typer(name="experiments", help="Create, list, rename, delete and restore experiments.",
                  no_args_is_help=True)


@app.command("ls")
def experiments_ls(output: OutputOpt = Output.table, view: ViewOpt = View.active) -> None:
    """List experiments."""
    rows = [{"id": e.id, "name": e.name, "created": fmt_time(e.created_at),
             "deleted": "yes" if e.deleted else "", "tags": ", ".join(f"{k}={v}" for k, v in e.tags.items())}
            for e in client().list_experiments(view.value)]
    emit(rows, ["id", "name", "created", "deleted", "tags"], output.value, title="Experiments")


@app.command("create")
def experiments_create(
    name: str,
    tag: Annotated[Optional[list[str]], typer.Option(help="KEY=VALUE, repeatable.")] = None,
) -> None:
    """Create an experiment."""
    experiment = client().create_experiment(name, parse_pairs(tag))
    console.print(Text.assemble("Created experiment ", (experiment.name, "bold"), f" (id {experiment.id})."))


ById = Annotated[bool, typer.Option("--id", help="EXPERIMENT is the experiment's id, not its name.")]


@app.command("rename")
def experiments_rename(experiment: str, new_name: str, by_id: ById = False) -> None:
    """Rename an experiment, given by name (or id with --id)."""
    old = find_experiment(experiment, by_id)
    renamed = client().rename_experiment(old.id, new_name)
    console.print(Text.assemble("Renamed experiment ", old.name, f" (id {renamed.id}) to ", (renamed.name, "bold"),
                                "."))


@app.command("delete")
def experiments_delete(experiment: str, by_id: ById = False) -> None:
    """Delete an experiment, given by name (or id with --id); it can be restored."""
    found = find_experiment(experiment, by_id)
    client().delete_experiment(found.id)
    console.print(f"Deleted experiment {found.name} (id {found.id}). "
                  f"Undo with `modelcycle experiments restore {shlex.quote(found.name)}`.", markup=False)


@app.command("restore")
def experiments_restore(experiment: str, by_id: ById = False) -> None:
    """Restore a deleted experiment, given by name (or id with --id)."""
    found = find_experiment(experiment, by_id)
    client().restore_experiment(found.id)
    console.print(f"Restored experiment {found.name} (id {found.id}).", markup=False)

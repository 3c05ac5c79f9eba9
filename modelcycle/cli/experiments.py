"""`modelcycle experiments ...`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.text import Text

from modelcycle.cli.common import View, ViewOpt, client, parse_pairs
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


@app.command("rename")
def experiments_rename(experiment: str, new_name: str) -> None:
    """Rename an experiment (by name or id)."""
    renamed = client().rename_experiment(experiment, new_name)
    console.print(Text.assemble(f"Renamed experiment {renamed.id} to ", (renamed.name, "bold"), "."))


@app.command("delete")
def experiments_delete(experiment: str) -> None:
    """Delete an experiment (it can be restored)."""
    client().delete_experiment(experiment)
    console.print(f"Deleted experiment {experiment}. Undo with `modelcycle experiments restore {experiment}`.",
                  markup=False)


@app.command("restore")
def experiments_restore(experiment: str) -> None:
    """Restore a deleted experiment."""
    client().restore_experiment(experiment)
    console.print(f"Restored experiment {experiment}.", markup=False)

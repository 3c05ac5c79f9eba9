"""What every command group shares: the client, options, argument parsing and error handling."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from modelcycle.exceptions import InvalidInput, ModelcycleError, NotFound
from modelcycle.render import err_console

# Names, paths and messages come from users: they are printed with markup off, or as Text,
# never inside console markup, so that a name like '[/]' is shown as it is.


class View(str, Enum):
    active = "active"
    deleted = "deleted"
    all = "all"


ViewOpt = Annotated[View, typer.Option("--view", help="active, deleted or all.")]


def client():
    """The client of the tracking URI in use (--tracking-uri, MODELCYCLE_TRACKING_URI or the embedded store)."""
    from modelcycle.tracking.fluent import client as fluent_client

    return fluent_client()


def find_experiment(value: str, by_id: bool = False, id_option: str = "--id"):
    """The experiment a command names. Arguments are names, whatever they look like ("2024" is a
    name); an id is given with an option (`--id`, `--experiment-id`)."""
    store = client().store
    if by_id:
        if not re.fullmatch(r"[0-9]{1,12}", value):
            raise InvalidInput(f"{id_option} takes an experiment id, a number such as 3; got {value!r}.")
        return store.get_experiment(int(value))
    try:
        return store.get_experiment_by_name(value)
    except NotFound as exc:
        if re.fullmatch(r"[0-9]{1,12}", value):  # most likely an id copied from `experiments ls`
            raise NotFound(f"{exc.message} If {value} is the experiment's id, give it as {id_option} {value}.") \
                from None
        raise


def output_file(path: Path, option: str) -> Path:
    """A file the command will write, checked before it does any work: not a folder, and in a
    folder that exists or can be made."""
    if path.is_dir():
        raise InvalidInput(f"{option} {str(path)!r} is a folder; give a file name in it, "
                           f"such as {str(path / 'out')!r}.")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InvalidInput(f"Cannot write {option} {str(path)!r}: {str(folder)!r} is a file, not a folder.")
    if not os.access(folder, os.W_OK):
        raise InvalidInput(f"Cannot write {option} {str(path)!r}: the folder {str(folder)!r} is not writable.")
    return path


@contextmanager
def writing(path: Path, option: str) -> Iterator[None]:
    """The file system's refusal to write a file the user named is that option's error."""
    try:
        yield
    except OSError as exc:
        raise InvalidInput(f"Cannot write {option} {str(path)!r}: {exc.strerror or exc}.") from None


def parse_pairs(items: list[str] | None) -> dict[str, str]:
    pairs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def run(app: typer.Typer) -> None:
    """Run the command line. Usage errors are answered by the command-line parser itself
    (exit 2); errors of modelcycle become one line on stderr and the exit code of their class."""
    try:
        app()
    except ModelcycleError as exc:
        _print_error(exc.message)
        sys.exit(exc.exit_code)
    except OSError as exc:  # the file system refused what a command needed, e.g. a full disk
        _print_error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        sys.exit(1)


_LINE = 1000  # an error line longer than this (a pasted file, a 100 kB name) is cut in the middle


def _print_error(message: str) -> None:
    lines = []
    for line in message.splitlines() or [""]:
        if len(line) > _LINE:
            line = f"{line[:700]}… ({len(line) - 900} more characters) …{line[-200:]}"
        lines.append(line)
    err_console.print(Text.assemble(("Error:", "red"), " ", "\n".join(lines)))

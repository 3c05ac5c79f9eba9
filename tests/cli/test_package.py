"""The command line's package: one module per command group, imports in one direction."""

from __future__ import annotations

import ast
from pathlib import Path

import modelcycle.cli as cli

PACKAGE = Path(cli.__file__).parent


def _cli_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("modelcycle.cli"):
            if node.module == "modelcycle.cli":
                names |= {f"modelcycle.cli.{a.name}" for a in node.names}
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("modelcycle.cli")}
    return names


def test_group_modules_import_only_common():
    groups = [p for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "common")]
    assert {p.stem for p in groups} == set(cli.GROUPS)
    for path in groups:
        assert _cli_imports(path) <= {"modelcycle.cli.common"}, path.name
    assert _cli_imports(PACKAGE / "common.py") == set()


def test_every_group_is_registered_in_help_order():
    import importlib

    import typer.main

    commands = list(typer.main.get_command(cli.app).commands)
    expected = []
    for group in cli.GROUPS:
        sub = importlib.import_module(f"modelcycle.cli.{group}").app
        expected += [sub.info.name] if sub.info.name else [c.name or c.callback.__name__
                                                           for c in sub.registered_commands]
    assert commands == expected
    assert commands[:6] == ["quickstart", "server", "experiments", "runs", "data", "models"]

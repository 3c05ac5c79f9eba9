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
            names |= {node.module} if node.module != "modelcycle.cli" else {f"modelcycle.cli.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("modelcycle.cli")}
    return names


def test_group_modules_import_only_common():
    groups = [p for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "common")]
    assert {p.stem for p in groups} == set(cli.GROUPS)
    for path in groups:
        assert _cli_imports(path) <= {"modelcycle.cli.common"}, path.name
    assert _cli_imports(PACKAGE / "common.py") == set()


def test_every_group_is_registered_once_in_help_order():
    import typer.main

    commands = typer.main.get_command(cli.app).commands
    assert list(commands) == ["quickstart", "server", "experiments", "runs", "data", "models"]

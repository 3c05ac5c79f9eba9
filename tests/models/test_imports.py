"""Dependencies point one way: the registry builds on models, models on tracking and the store.
Nothing reaches back, and nothing imports another package's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "modelcycle"


def _imports(package: str):
    """(module file, imported module, imported names, under TYPE_CHECKING) of every import."""
    for path in sorted((PACKAGE / package).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for node in ast.walk(block)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                yield path.name, node.module, [a.name for a in node.names], id(node) in guarded
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    yield path.name, alias.name, [], id(node) in guarded


@pytest.mark.parametrize("package, never", [("models", "modelcycle.registry"), ("tracking", "modelcycle.models"),
                                            ("tracking", "modelcycle.registry")])
def test_no_import_reaches_back(package, never):
    back = [(f, m) for f, m, _, guarded in _imports(package) if m.startswith(never) and not guarded]
    assert not back, f"{package} imports {never}: {back}"


@pytest.mark.parametrize("package", ["models", "registry"])
def test_no_private_name_of_another_package_is_imported(package):
    private = [(f, m, n) for f, m, names, _ in _imports(package) for n in names
               if n.startswith("_") and not m.startswith(f"modelcycle.{package}") and m != "__future__"]
    assert not private, private

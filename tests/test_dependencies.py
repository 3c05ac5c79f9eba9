"""Every library the package imports is declared in pyproject.toml: a test environment can hold
a library only because another test dependency pulled it in, which hides a missing one."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalise(re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0])


def _imported_top_level_modules() -> set[str]:
    modules = set()
    for path in (ROOT / "modelcycle").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"modelcycle", "__future__"}


def test_every_imported_library_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    extras = {_requirement_name(r) for group in project["optional-dependencies"].values() for r in group}
    distributions = metadata.packages_distributions()
    undeclared = []
    for module in sorted(_imported_top_level_modules()):
        provided_by = {_normalise(d) for d in distributions.get(module, [])}
        if not provided_by & (core | extras):
            undeclared.append(f"{module} (installed from {', '.join(sorted(provided_by)) or 'nothing'})")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_embedded_workflow_needs_no_extra():
    """What `modelcycle quickstart` imports must come with a plain `pip install modelcycle`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = {_requirement_name(r) for r in project["dependencies"]}
    distributions = metadata.packages_distributions()
    for module in ("jinja2", "markupsafe", "scipy", "skl2onnx", "onnx", "onnxruntime", "cloudpickle", "multipart",
                   "matplotlib", "sklearn"):
        provided_by = {_normalise(d) for d in distributions.get(module, [])}
        assert provided_by & core, f"{module} must be a core dependency"

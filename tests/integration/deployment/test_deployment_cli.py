"""``promote``, ``rollback`` and ``history`` as a user runs them (in-process, real registry and store)."""

from __future__ import annotations

import json

import pytest

from support.deployment import BETTER, SHUFFLED, WEAK


@pytest.fixture
def run(tracking_uri, store_url, tmp_path, monkeypatch, cli_run):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", store_url)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width; keep rows on one line
    return cli_run


def test_promote_prints_the_gate_report_and_the_move(run):
    code, out, err = run("promote", WEAK, "--to", "staging")
    assert code == 0, err
    for name in ("macro_f1_vs_incumbent", "min_macro_f1", "artifacts_sha256", "smoke_test", "p99_latency_ms"):
        assert name in out
    assert "PASS" in out and "staging: none → 1" in out and "event 1 (promote) recorded" in out


def test_a_refused_promotion_prints_the_report_and_exits_1_with_one_line(run):
    assert run("promote", BETTER, "--to", "staging")[0] == 0
    code, out, err = run("promote", SHUFFLED, "--to", "staging")
    assert code == 1
    assert "FAIL" in out and "min_macro_f1" in out
    assert err.count("\n") == 1 and err.startswith("error: version 3 refused: gate fail")
    assert "Traceback" not in err


def test_force_rollback_and_history(run):
    run("promote", BETTER, "--to", "staging")
    code, out, err = run("promote", SHUFFLED, "--to", "staging", "--force", "--reason", "incident drill")
    assert code == 0, err
    assert "FORCED" in out and "forced: incident drill" in out
    code, out, err = run("rollback", "--env", "staging")
    assert code == 0, err
    assert "staging: 3 → 2 (rollback)" in out

    code, out, _ = run("history")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("│")]
    assert len(lines) == 3
    assert "incident drill" in out and "forced" in out and "2 → 3" in out and "3 → 2" in out

    code, out, _ = run("history", "--env", "staging", "--json")
    events = json.loads(out)
    assert [(e["action"], e["from_version"], e["to_version"]) for e in events] == [
        ("promote", None, BETTER), ("promote", BETTER, SHUFFLED), ("rollback", SHUFFLED, BETTER)]
    assert events[1]["report"]["verdict"] == "forced"
    assert run("history", "--env", "production")[1].startswith("no deployment events for production")


def test_usage_errors_are_one_line(run):
    code, _, err = run("promote", WEAK, "--to", "staging", "--force")
    assert code == 1 and "--force needs --reason" in err
    code, _, err = run("rollback", "--env", "canary")
    assert code == 1 and "no canary is running" in err
    code, _, err = run("promote", "--to", "qa")
    assert code == 2
    code, _, err = run("promote", "7", "--to", "staging")
    assert code == 1 and "version 7 of SentimentAnalysisModel does not exist" in err


def test_canary_commands(run):
    run("promote", WEAK, "--to", "staging")
    run("promote", "--to", "production")
    run("promote", BETTER, "--to", "staging")
    code, out, err = run("promote", "--to", "production", "--canary", "10")
    assert code == 0, err
    assert "canary started: 10% of production traffic → 2 (production stays 1)" in out
    code, out, err = run("rollback", "--env", "canary")
    assert code == 0, err
    assert "canary of 2 aborted (10%)" in out
    code, out, _ = run("history", "--env", "canary")
    assert "canary-start" in out and "canary-abort" in out

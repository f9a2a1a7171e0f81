"""``train --with-feedback``'s bad input: one line on stderr, exit 1, nothing trained. The happy path, with a real
server, real feedback and the domain-adaptation bar, is tests/e2e/test_retrain_loop.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize(("args", "message"), [
    (["--env", "qa"], "--env must be one of local, staging, production, got 'qa'"),
    (["--since", "last tuesday"], "--since must be a date like 2026-11-30"),
    (["--feedback-weight", "0"], "--feedback-weight must be above 0, got 0"),
])
def test_bad_feedback_options_are_one_line_and_exit_1(isolated, cli_run, args, message):
    code, out, err = cli_run("train", "--with-feedback", *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_options_without_with_feedback_and_a_store_without_feedback_are_refused(isolated, slice_csv, cli_run,
                                                                                 monkeypatch):
    code, _, err = cli_run("train", "--env", "production")
    assert code == 1 and "--env: only with --with-feedback" in err
    monkeypatch.setenv("SENTIMENT_MLOPS_STORE_URL", f"sqlite:///{isolated}/logs/predictions.db")
    code, _, err = cli_run("train", "--with-feedback", "--data", str(slice_csv), "--env", "production")
    assert code == 1 and "no labelled feedback for production in the prediction store" in err
    assert not (isolated / "models").exists()

from __future__ import annotations

import sys

import pytest

from sentiment_mlops.cli import main, run
from sentiment_mlops.errors import ConfigurationError


def _exit_code(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


def test_an_invalid_setting_is_one_line_and_exit_1(isolated, monkeypatch, capsys):
    monkeypatch.setenv("SENTIMENT_MLOPS_POLL_SECONDS", "-1")
    assert _exit_code(["models"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting poll_seconds") and err.count("\n") == 1


def test_usage_errors_exit_2(capsys):
    assert _exit_code(["no-such-command"]) == 2
    assert _exit_code(["train", "--seed", "abc"]) == 2


def test_debug_shows_the_exception_instead_of_one_line(isolated):
    with pytest.raises(ConfigurationError, match="unknown model 'forest'"):
        main(["--debug", "train", "--model", "forest"])


@pytest.mark.usefixtures("tracked")
def test_console_entry_exits_with_the_command_status(isolated, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["sentiment-mlops", "models"])
    with pytest.raises(SystemExit) as info:
        run()
    assert info.value.code == 0
    assert "no versions of SentimentAnalysisModel yet" in capsys.readouterr().out

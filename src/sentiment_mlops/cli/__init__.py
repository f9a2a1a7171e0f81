"""The ``sentiment-mlops`` command line (``app``), its entry points, and the state of one invocation."""

from __future__ import annotations

from sentiment_mlops.cli.app import app, main, run
from sentiment_mlops.cli.context import _State, console, err_console, settings

__all__ = ["_State", "app", "console", "err_console", "main", "run", "settings"]

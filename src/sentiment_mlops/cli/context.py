"""What every command of one invocation shares: the consoles, the settings, and the exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import SentimentMLOpsError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3

console = Console()
err_console = Console(stderr=True)

ModelsDir = Annotated[Path | None, typer.Option("--models-dir", help="Where the artifacts are written.")]
AllowPickle = Annotated[bool, typer.Option("--allow-pickle", help="Load models/'s seed-compatible pickles instead "
                                           "of its skops file (unpickling runs any code the file holds).")]


def allow_pickle(allowed: bool, *, in_workers: bool = False) -> None:
    """``--allow-pickle``: this invocation's settings load the pickles (and, ``in_workers``, every server worker
    it starts, which read their settings from the environment)."""
    if allowed:
        settings().allow_pickle = True
        if in_workers:
            import os

            os.environ["SENTIMENT_MLOPS_ALLOW_PICKLE"] = "true"


class _State:
    debug = False
    settings: Settings | None = None
    # Set by commands that leave nothing behind but files already closed (train): tearing down an
    # interpreter holding scikit-learn, pandas and MLflow costs over a second of garbage collection.
    skip_teardown = False

    @classmethod
    def reset(cls) -> None:
        """One invocation, one reading of the environment (tests call ``main`` repeatedly)."""
        cls.settings = None
        cls.debug = False
        cls.skip_teardown = False


def settings() -> Settings:
    """Build the settings once per invocation, mapping a bad value to one clear line."""
    if _State.settings is None:
        from pydantic import ValidationError

        try:
            _State.settings = Settings()
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise SentimentMLOpsError(f"invalid setting {field}: {first['msg']}") from exc
    return _State.settings


def say(line: str) -> None:
    """One plain line on the console (no markup guessing, no wrapping of long URLs)."""
    console.print(line, highlight=False, soft_wrap=True)

"""The ``sentiment-mlops`` command line: one Typer app, a module per command group, and the one mapping
from the exception tree to exit codes (0 ok, 1 failure, 2 usage, 3 drift with ``--fail-on-drift``)."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer
from rich.markup import escape
from typer.exceptions import TyperException

from sentiment_mlops.cli import deployment, logs, monitoring, scaling, serving, training
from sentiment_mlops.cli.context import EXIT_FAILURE, _State, err_console
from sentiment_mlops.config import mask_passwords
from sentiment_mlops.errors import SentimentMLOpsError

app = typer.Typer(
    name="sentiment-mlops",
    help="Train, track, serve, promote and monitor a sentiment classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _State.debug = debug


for command in (training.train, training.models, training.predict, deployment.promote, deployment.rollback,
                deployment.history, serving.serve, monitoring.drift, monitoring.monitor, scaling.score):
    app.command()(command)
app.add_typer(logs.logs_app, name="logs")


def main(argv: list[str] | None = None) -> object:
    """Entry point: map the exception tree to exit codes, in this one place."""
    _State.reset()
    try:
        args = deployment.with_shadow_default(sys.argv[1:] if argv is None else list(argv))
        code = app(args=args, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code
    except SentimentMLOpsError as exc:
        if _State.debug:
            raise
        # escape: a message may hold brackets (pip install 'sentiment-mlops[dask]') that are not markup; and
        # messages quote URLs (a driver's message names the one it used): never print a password.
        err_console.print(f"[bold red]error:[/] {escape(mask_passwords(str(exc)))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_FAILURE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(EXIT_FAILURE)
    except (click.ClickException, TyperException) as exc:  # usage errors; typer vendors its own click
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(f"error: {exc}", highlight=False)
        sys.exit(exc.exit_code)


def run() -> None:
    """Console-script entry: ``main()``, then exit without the slow interpreter teardown where safe."""
    try:
        main()
        code: str | int | None = 0
    except SystemExit as exc:
        code = exc.code
    if not _State.skip_teardown or "coverage" in sys.modules:
        sys.exit(code)  # coverage saves its data at normal exit; other commands may own threads
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code is None else code if isinstance(code, int) else EXIT_FAILURE)

"""The ``sentiment-mlops`` command line: wires settings into the modules and prints their results."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from typer.exceptions import TyperException

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import SentimentMLOpsError

app = typer.Typer(
    name="sentiment-mlops",
    help="Train, track, serve, promote and monitor a sentiment classifier.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

EXIT_FAILURE = 1
EXIT_DRIFT = 3


class _State:
    debug = False
    settings: Settings | None = None
    # Set by commands that leave nothing behind but files already closed (train): tearing down an
    # interpreter holding scikit-learn, pandas and MLflow costs over a second of garbage collection.
    skip_teardown = False


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


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False) -> None:
    _State.debug = debug


ModelsDir = Annotated[Path | None, typer.Option("--models-dir", help="Where the artifacts are written.")]


@app.command()
def train(
    data: Annotated[str, typer.Option(help="'builtin' or a CSV / JSON Lines / Parquet file.")] = "builtin",
    text_column: Annotated[str, typer.Option(help="Column holding the texts.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column holding the labels.")] = "sentiment",
    model: Annotated[str, typer.Option(help="mnb, complement_nb, logreg or linear_svc.")] = "mnb",
    param: Annotated[list[str] | None, typer.Option(help="Hyperparameter as name=value; repeatable.")] = None,
    test_size: Annotated[float, typer.Option(help="Held-out share for evaluation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed for the split and the model.")] = 42,
    search: Annotated[int, typer.Option(help="Trials of cross-validated random search (0: none).")] = 0,
    register: Annotated[bool, typer.Option(help="Register a model version in MLflow.")] = True,
    models_dir: ModelsDir = None,
) -> None:
    """Train, evaluate, write artifacts, log to MLflow and register a version."""
    from sentiment_mlops.terminal import train_command

    _State.skip_teardown = True
    train_command(settings(), console, data=data, text_column=text_column, label_column=label_column,
                  model=model, params=param or [], test_size=test_size, seed=seed, search=search,
                  register=register, models_dir=models_dir)


@app.command()
def models() -> None:
    """List registered versions with their metrics and aliases."""
    from sentiment_mlops.terminal import models_command

    models_command(settings(), console)


@app.command()
def predict(
    texts: Annotated[list[str], typer.Argument(help="Texts to score.")],
    env: Annotated[str | None, typer.Option(help="Score with the version behind this alias.")] = None,
    model_uri: Annotated[str | None, typer.Option(help="models:/SentimentAnalysisModel/3 or @alias.")] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Score texts without a server (local artifacts by default)."""
    from sentiment_mlops.terminal import predict_command

    predict_command(settings(), console, texts=texts, env=env, model_uri=model_uri, models_dir=models_dir)


class PromoteTarget(str, Enum):
    staging = "staging"
    production = "production"


class RollbackTarget(str, Enum):
    staging = "staging"
    production = "production"
    canary = "canary"


@app.command()
def promote(
    version: Annotated[str | None, typer.Argument(help="Version to promote (default: latest for staging, "
                                                       "the staging version for production).")] = None,
    to: Annotated[PromoteTarget, typer.Option("--to", help="Target environment.")] = ...,  # type: ignore[assignment]
    canary: Annotated[float | None, typer.Option("--canary", help="Send this % of production traffic to the "
                                                                  "candidate instead of promoting it.")] = None,
    force: Annotated[bool, typer.Option(help="Override every gate rule (needs --reason; recorded).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history.")] = None,
    eval_data: Annotated[Path | None, typer.Option(help="Labelled file to gate on instead of the candidate's "
                                                        "held-out split.")] = None,
) -> None:
    """Gate a version and move the staging or production alias to it (or start a canary)."""
    from sentiment_mlops.deployment.commands import promote_command

    promote_command(settings(), console, version=version, to=to.value, canary_percent=canary, force=force,
                    reason=reason, eval_data=eval_data)


@app.command()
def rollback(
    env: Annotated[RollbackTarget, typer.Option("--env", help="Environment to roll back; canary aborts a "
                                                             "running canary.")] = ...,  # type: ignore[assignment]
    to: Annotated[str | None, typer.Option("--to", help="Version to go back to (default: the one before).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history.")] = None,
) -> None:
    """Put an environment back on the version it had before (no gate: rollback must always be possible)."""
    from sentiment_mlops.deployment.commands import rollback_command

    rollback_command(settings(), console, env=env.value, to=to, reason=reason)


@app.command()
def history(
    env: Annotated[RollbackTarget | None, typer.Option("--env", help="Only this environment.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the last N events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every deployment change: time, environment, action, versions, who, reason, gate verdict."""
    from sentiment_mlops.deployment.commands import history_command

    history_command(settings(), console, env=env.value if env else None, limit=limit, as_json=as_json)


@app.command()
def serve(
    env: Annotated[str | None, typer.Option(help="local (models/), staging or production (registry alias).")] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (metrics aggregate across them).")] = 1,
    bootstrap: Annotated[bool, typer.Option(help="With --env staging: point an empty staging alias at the "
                                                 "newest version first.")] = False,
) -> None:
    """Serve the model behind --env over HTTP (web UI at /, API docs at /docs, metrics at /metrics)."""
    from sentiment_mlops.service import serve as run_service

    run_service(settings(), environment=env or "local", host=host, port=port, workers=workers,
                require_model=env is not None, bootstrap=bootstrap,
                echo=lambda line: console.print(line, highlight=False, soft_wrap=True))


@app.command()
def drift(
    data: Annotated[Path, typer.Option(help="CSV / JSON Lines / Parquet / .txt file of texts.")],
    text_column: Annotated[str, typer.Option(help="Column holding the texts.")] = "text",
    env: Annotated[str | None, typer.Option(help="Compare with the version behind this alias.")] = None,
    version: Annotated[str | None, typer.Option(help="Compare with this registered version.")] = None,
    models_dir: ModelsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    fail_on_drift: Annotated[bool, typer.Option(help="Exit with code 3 when drift is detected.")] = False,
) -> None:
    """Offline drift report: a file of texts against a model version's reference profile."""
    from sentiment_mlops.drift_commands import drift_command

    code = drift_command(settings(), console, data=data, text_column=text_column, env=env, version=version,
                         models_dir=models_dir, as_json=as_json, fail_on_drift=fail_on_drift)
    if code:
        raise typer.Exit(code)


@app.command()
def monitor(
    env: Annotated[str, typer.Option(help="local, staging or production.")] = "production",
    window: Annotated[int, typer.Option(help="How many of the latest logged predictions to check.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep evaluating the alert rules until Ctrl-C.")] = False,
    interval: Annotated[float | None, typer.Option(help="Seconds between passes with --watch "
                                                         "(default SENTIMENT_MLOPS_MONITOR_INTERVAL_SECONDS).")] = None,
    auto_rollback: Annotated[bool, typer.Option("--auto-rollback", help="Roll back a version that fails within "
                                                "the bake window after its promotion (once, or every interval "
                                                "with --watch).")] = False,
    metrics_url: Annotated[str | None, typer.Option(help="With --watch: the service's /metrics URL, for the "
                                                         "error rate.")] = None,
    iterations: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Online drift report over the latest logged predictions; --watch: live metrics, alerts, auto-rollback."""
    if watch or auto_rollback:
        from sentiment_mlops.watch_commands import watch_command

        current = settings()
        watch_command(current, console, env=env, window=window,
                      interval=interval if interval is not None else current.monitor_interval_seconds,
                      auto_rollback=auto_rollback, metrics_url=metrics_url, iterations=iterations if watch else 1)
        return
    from sentiment_mlops.drift_commands import monitor_command

    monitor_command(settings(), console, env=env, window=window, as_json=as_json)


logs_app = typer.Typer(help="The prediction log.", no_args_is_help=True)
app.add_typer(logs_app, name="logs")


class ExportFormat(str, Enum):
    jsonl = "jsonl"


@logs_app.command("export")
def logs_export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = ExportFormat.jsonl,
    out: Annotated[Path, typer.Option(help="Where to write the export.")] = Path("logs/predictions.jsonl"),
) -> None:
    """Export the prediction log, oldest first, one JSON object per prediction."""
    del fmt  # JSON Lines is the one format so far; the option keeps the documented command line stable
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.export import export_jsonl

    with PredictionStore(settings().store_url) as store:
        written = export_jsonl(store, out)
    console.print(f"wrote {written:,} predictions to {out}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: map the exception tree to exit codes, in this one place."""
    _State.settings = None  # one invocation, one reading of the environment (tests call main repeatedly)
    _State.debug = False
    _State.skip_teardown = False
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code
    except SentimentMLOpsError as exc:
        if _State.debug:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
        code: Any = 0
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

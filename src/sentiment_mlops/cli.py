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
) -> None:
    """Online drift report over the latest logged predictions of an environment's current version."""
    from sentiment_mlops.drift_commands import monitor_command

    monitor_command(settings(), console, env=env, window=window, as_json=as_json)


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
    from sentiment_mlops.serving.server import serve as run_server

    run_server(settings(), environment=env or "local", host=host, port=port, workers=workers,
               require_model=env is not None, bootstrap=bootstrap,
               echo=lambda line: console.print(line, highlight=False))


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
    from sentiment_mlops.monitoring.export import export_jsonl
    from sentiment_mlops.monitoring.store import PredictionStore

    with PredictionStore(settings().store_url) as store:
        written = export_jsonl(store, out)
    console.print(f"wrote {written:,} predictions to {out} ({fmt.value})", highlight=False)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: map the exception tree to exit codes, in this one place."""
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
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TyperException as exc:  # recent typer vendors click: its usage errors are not click's classes
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(exc.format_message(), highlight=False)
        sys.exit(exc.exit_code)

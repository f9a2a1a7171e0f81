"""``train``, ``models`` and ``predict``: what they run and what they print (rich tables, status lines)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sentiment_mlops.cli import context
from sentiment_mlops.cli.context import AllowPickle, ModelsDir
from sentiment_mlops.config import Settings, masked_url
from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.scaling.kinds import EngineKind
from sentiment_mlops.training.models import DEFAULT_MODEL, MODEL_TYPES

if TYPE_CHECKING:
    from datetime import datetime

    from sentiment_mlops.data.loading import DataSummary
    from sentiment_mlops.registry.tracker_process import TrackerProcess
    from sentiment_mlops.training.evaluation import Evaluation
    from sentiment_mlops.training.feedback import FeedbackData
    from sentiment_mlops.training.run import TrainResult
    from sentiment_mlops.training.search import Trial


def step_printer(console: Console) -> Callable[[str, float], None]:
    def on_step(name: str, seconds: float) -> None:
        console.print(f"  [dim]{name:<10}[/] {seconds:6.2f} s")

    return on_step


def print_data_summary(console: Console, summary: DataSummary) -> None:
    table = Table(title="Data", show_header=False, title_justify="left")
    table.add_row("source", summary.source)
    table.add_row("rows read", f"{summary.rows_read:,}")
    table.add_row("dropped (empty)", f"{summary.dropped_empty:,}")
    table.add_row("dropped (duplicate)", f"{summary.dropped_duplicate:,}")
    table.add_row("rows kept", f"{summary.rows_kept:,}")
    for label, count in summary.class_counts.items():
        table.add_row(f"  {label}", f"{count:,}")
    table.add_row("fingerprint", summary.fingerprint[:16] + "…")
    console.print(table)


def print_evaluation(console: Console, evaluation: Evaluation, train_size: int, test_size: int) -> None:
    console.print(f"split: {train_size:,} train / {test_size:,} held out")
    console.print(f"[bold]accuracy[/] {evaluation.accuracy:.4f}   [bold]macro-F1[/] {evaluation.macro_f1:.4f}")
    report = Table(title="Held-out classification report", title_justify="left")
    for column in ("label", "precision", "recall", "F1", "support"):
        report.add_column(column, justify="right" if column != "label" else "left")
    for label, scores in evaluation.per_class().items():
        report.add_row(label, f"{scores['precision']:.3f}", f"{scores['recall']:.3f}",
                       f"{scores['f1-score']:.3f}", f"{int(scores['support']):,}")
    console.print(report)
    matrix = Table(title="Confusion matrix (rows: true, columns: predicted)", title_justify="left")
    matrix.add_column("")
    for label in evaluation.labels:
        matrix.add_column(label, justify="right")
    for label, row in zip(evaluation.labels, evaluation.confusion_matrix, strict=False):
        matrix.add_row(label, *(f"{n:,}" for n in row))
    console.print(matrix)


@dataclass(frozen=True)
class FeedbackOptions:
    """``train --with-feedback [--env] [--since] [--feedback-weight]``: which labelled predictions to add."""

    environment: str | None = None
    since: datetime | None = None
    weight: float = 1.0


def parse_since(value: str) -> datetime:
    """``--since``: an ISO date or date-time (UTC when no zone is given); one clear line otherwise."""
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigurationError(f"--since must be a date like 2026-11-30 or 2026-11-30T08:00, got {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def feedback_options(*, with_feedback: bool, env: str | None, since: str | None,
                     weight: float | None) -> FeedbackOptions | None:
    """Check the feedback options together; None without ``--with-feedback``."""
    from sentiment_mlops.config import Environment

    if not with_feedback:
        given = [name for name, value in (("--env", env), ("--since", since), ("--feedback-weight", weight))
                 if value is not None]
        if given:
            raise ConfigurationError(f"{', '.join(given)}: only with --with-feedback")
        return None
    if weight is not None and not weight > 0:
        raise ConfigurationError(f"--feedback-weight must be above 0, got {weight:g}")
    return FeedbackOptions(environment=Environment.parse(env).value if env is not None else None,
                           since=parse_since(since) if since is not None else None,
                           weight=1.0 if weight is None else weight)


def read_feedback(settings: Settings, options: FeedbackOptions, *, base_texts: list[str],
                  test_size: float) -> FeedbackData:
    """The labelled predictions of the store the settings name, assembled for training."""
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.training.feedback import read_feedback as assemble

    with PredictionStore(settings.store_url) as store:
        return assemble(store, base_texts=base_texts, test_size=test_size, weight=options.weight,
                        environment=options.environment, since=options.since)


def print_feedback_summary(console: Console, feedback: FeedbackData, store_url: str) -> None:
    table = Table(title=f"Feedback ({masked_url(store_url)})", show_header=False, title_justify="left")
    table.add_row("environment", feedback.environment or "any")
    table.add_row("since", feedback.since.isoformat() if feedback.since else "-")
    table.add_row("labelled rows read", f"{feedback.rows_read:,}")
    table.add_row("dropped (no text logged)", f"{feedback.without_text:,}")
    table.add_row("dropped (no token)", f"{feedback.untrusted:,}")
    table.add_row("dropped (repeated text)", f"{feedback.duplicate:,}")
    table.add_row("dropped (in base data)", f"{feedback.duplicate_of_base:,}")
    table.add_row("rows used", f"{feedback.rows_used:,}")
    for label, count in feedback.class_counts.items():
        table.add_row(f"  {label}", f"{count:,}")
    table.add_row("train / held out", f"{len(feedback.train_texts):,} / {len(feedback.test_texts):,}")
    table.add_row("weight", f"{feedback.weight:g}")
    table.add_row("fingerprint", feedback.fingerprint[:16] + "…")
    console.print(table)


def start_tracker(settings: Settings) -> TrackerProcess:
    from sentiment_mlops.registry.tracker_process import TrackerProcess

    return TrackerProcess(settings.tracking_uri, settings.experiment_name, settings.registered_model_name)


def train_command(settings: Settings, console: Console, *, data: str, text_column: str, label_column: str,
                  model: str, params: list[str], test_size: float, seed: int, search: int, register: bool,
                  models_dir: Path | None, feedback: FeedbackOptions | None = None) -> None:
    target = models_dir or settings.models_dir
    started = time.perf_counter()
    # Opening MLflow (importing it, creating or checking the SQLite schema, importing skops) takes 4-6 s
    # of pure Python: a second process does it on the other core while scikit-learn imports, the corpus
    # loads and the model fits. It starts before anything else (it imports at once, and opens the store
    # only once the options and the data have been checked; bad ones stop it before it touches the store).
    with start_tracker(settings) as tracker:
        from sentiment_mlops.data import load_dataset
        from sentiment_mlops.training.pipeline import parse_params
        from sentiment_mlops.training.run import TrainOptions, train

        options = TrainOptions(model=model, params=parse_params(params), test_size=test_size, seed=seed,
                               search_trials=search, register=register)
        options.validate()
        with console.status(f"loading {data} …"):
            dataset = load_dataset(data, text_column=text_column, label_column=label_column)
        print_data_summary(console, dataset.summary)
        feedback_data = None
        if feedback is not None:
            feedback_data = read_feedback(settings, feedback, base_texts=dataset.texts, test_size=test_size)
            print_feedback_summary(console, feedback_data, settings.store_url)
        if options.params:
            # Fail before any training when a --param name does not exist for this model.
            from sentiment_mlops.training.pipeline import build_pipeline

            build_pipeline(options.model, options.params, seed=seed)
        tracker.open()
        from sentiment_mlops.registry.tracking import git_commit

        def on_trial(trial: Trial) -> None:
            console.print(f"  trial {trial.number:>3}/{search}: CV macro-F1 {trial.cv_macro_f1:.4f} "
                          f"± {trial.cv_std:.4f}  {trial.params}")

        console.print(f"MLflow: {masked_url(settings.tracking_uri)} · experiment [bold]{settings.experiment_name}[/]")
        console.print("[bold]Steps[/]")
        with console.status(f"training {model} …"):
            result = train(dataset, options, models_dir=target, tracker=tracker, on_step=step_printer(console),
                           on_trial=on_trial, commit=git_commit(), feedback=feedback_data)
    print_evaluation(console, result.evaluation, result.train_size, result.test_size)
    if feedback_data is not None and result.feedback_evaluation is not None:
        fed = result.feedback_evaluation
        console.print(f"[bold]held-out feedback[/] ({len(feedback_data.test_texts):,} rows): accuracy "
                      f"{fed.accuracy:.4f}   macro-F1 {fed.macro_f1:.4f}", highlight=False)
    if result.calibration:
        from sentiment_mlops.calibration import ConfidenceCalibration

        console.print(ConfidenceCalibration.from_dict(result.calibration).summary())
    console.print(f"artifacts: {target}/ (sentiment_model.pkl, sentiment_model_vectorizer.pkl, metrics.json, "
                  "confusion_matrix.json/.png, reference_profile.json, manifest.json)")
    print_run_footer(console, settings, result, started)


def print_run_footer(console: Console, settings: Settings, result: TrainResult, started: float) -> None:
    """The last lines of every ``train`` (in memory or on Dask): the MLflow run, the version, the total time."""
    console.print(f"MLflow run: {result.run_id}")
    if result.model_version:
        console.print(f"registered: [bold]{settings.registered_model_name}[/] version "
                      f"[bold green]{result.model_version}[/]")
    else:
        console.print("registered: no (--no-register)")
    console.print(f"total: {time.perf_counter() - started:.2f} s")


def models_command(settings: Settings, console: Console) -> None:
    from sentiment_mlops.registry import ModelRegistry

    versions = ModelRegistry.from_settings(settings).versions()
    if not versions:
        console.print(f"no versions of {settings.registered_model_name} yet; run: sentiment-mlops train")
        return
    table = Table(title=f"{settings.registered_model_name} ({masked_url(settings.tracking_uri)})", title_justify="left")
    for column in ("version", "created (UTC)", "model", "accuracy", "macro-F1", "data", "aliases"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            v.version, v.created.strftime("%Y-%m-%d %H:%M:%S"), v.tags.get("model_type", "?"),
            f"{v.metric('accuracy'):.4f}" if v.metric("accuracy") is not None else "-",
            f"{v.metric('macro_f1'):.4f}" if v.metric("macro_f1") is not None else "-",
            v.tags.get("data_fingerprint", "")[:12], ", ".join(v.aliases) or "-",
        )
    console.print(table)


def predict_command(settings: Settings, console: Console, *, texts: list[str], env: str | None,
                    model_uri: str | None, models_dir: Path | None) -> None:
    from sentiment_mlops.registry.uri import choose_model, load_model

    cleaned = [t.strip() for t in texts]
    if not all(cleaned):
        raise ConfigurationError("every text must contain at least one non-whitespace character")
    loaded = load_model(settings, choose_model(settings, env=env, model_uri=model_uri, models_dir=models_dir),
                        seal_check_beside_imports=True)
    probabilities = loaded.pipeline.predict_proba(cleaned)
    classes = [str(c) for c in loaded.pipeline.classes_]
    table = Table(title=f"model version {loaded.version} ({loaded.source})", title_justify="left")
    table.add_column("text", overflow="fold", max_width=60)
    table.add_column("sentiment")
    table.add_column("confidence", justify="right")
    for label in classes:
        table.add_column(f"p({label})", justify="right")
    for text, row in zip(cleaned, probabilities, strict=False):
        best = int(row.argmax())
        table.add_row(text, classes[best], f"{row[best]:.3f}", *(f"{p:.3f}" for p in row))
    console.print(table)


def train(
    data: Annotated[str, typer.Option(help="'builtin' or a CSV / JSON Lines / Parquet file.")] = "builtin",
    text_column: Annotated[str, typer.Option(help="Column holding the texts.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column holding the labels.")] = "sentiment",
    model: Annotated[str, typer.Option(help=f"One of {', '.join(MODEL_TYPES)}.")] = DEFAULT_MODEL,
    param: Annotated[list[str] | None, typer.Option(help="Hyperparameter as name=value; repeatable.")] = None,
    test_size: Annotated[float, typer.Option(help="Held-out share for evaluation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed for the split and the model.")] = 42,
    search: Annotated[int, typer.Option(help="Trials of cross-validated random search (0: none).")] = 0,
    register: Annotated[bool, typer.Option(help="Register a model version in MLflow.")] = True,
    models_dir: ModelsDir = None,
    engine: Annotated[EngineKind, typer.Option(help="local: in memory; dask: out of core over files of any "
                                                    "size, on a Dask cluster.")] = EngineKind.LOCAL,
    epochs: Annotated[int, typer.Option(help="Passes over the data (dask); the Naive Bayes models are exact "
                                             "in one.")] = 1,
    scheduler: Annotated[str | None, typer.Option(help="tcp://HOST:8786 of a running Dask scheduler "
                                                       "(default: a LocalCluster on 127.0.0.1).")] = None,
    workers: Annotated[int | None, typer.Option(help="LocalCluster workers (default: one per core).")] = None,
    partition_rows: Annotated[int, typer.Option(help="Rows a worker reads at a time (dask).")] = 50_000,
    with_feedback: Annotated[bool, typer.Option("--with-feedback", help="Add the labelled predictions of the "
                                                "prediction store (POST /feedback) to the training data.")] = False,
    env: Annotated[str | None, typer.Option(help="With --with-feedback: only predictions served in this "
                                                 "environment.")] = None,
    since: Annotated[str | None, typer.Option(help="With --with-feedback: only predictions made on or after "
                                                   "this date (2026-11-30 or 2026-11-30T08:00, UTC).")] = None,
    feedback_weight: Annotated[float | None, typer.Option(help="With --with-feedback: sample weight of each "
                                                               "feedback row (base rows weigh 1).")] = None,
) -> None:
    """Train, evaluate, write artifacts, log to MLflow and register a version."""
    context._State.skip_teardown = True
    feedback = feedback_options(with_feedback=with_feedback, env=env, since=since, weight=feedback_weight)
    if engine is EngineKind.DASK:
        if feedback is not None:
            raise ConfigurationError("--with-feedback trains in memory; leave out --engine dask")
        from sentiment_mlops.cli.scaling import train_out_of_core_command

        train_out_of_core_command(context.settings(), context.console, data=data, text_column=text_column,
                                  label_column=label_column, model=model, params=param or [], test_size=test_size,
                                  seed=seed, search=search, register=register, models_dir=models_dir,
                                  epochs=epochs, scheduler=scheduler, workers=workers, partition_rows=partition_rows)
        return
    if scheduler is not None or workers is not None or epochs != 1:
        raise ConfigurationError("--scheduler, --workers and --epochs need --engine dask")
    train_command(context.settings(), context.console, data=data, text_column=text_column,
                  label_column=label_column, model=model, params=param or [], test_size=test_size, seed=seed,
                  search=search, register=register, models_dir=models_dir, feedback=feedback)


def models() -> None:
    """List registered versions with their metrics and aliases."""
    models_command(context.settings(), context.console)


def predict(
    texts: Annotated[list[str], typer.Argument(help="Texts to score.")],
    env: Annotated[str | None, typer.Option(help="Score with the version behind this alias.")] = None,
    model_uri: Annotated[str | None, typer.Option(help="models:/SentimentAnalysisModel/3 or @alias.")] = None,
    models_dir: ModelsDir = None,
    allow_pickle: AllowPickle = False,
) -> None:
    """Score texts without a server (local artifacts by default)."""
    context.allow_pickle(allow_pickle)
    predict_command(context.settings(), context.console, texts=texts, env=env, model_uri=model_uri,
                    models_dir=models_dir)

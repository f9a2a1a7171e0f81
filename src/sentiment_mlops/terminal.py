"""What each command prints: rich tables, progress and status lines around the package's functions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError, ModelNotFoundError


def _step_printer(console: Console) -> Any:
    def on_step(name: str, seconds: float) -> None:
        console.print(f"  [dim]{name:<10}[/] {seconds:6.2f} s")

    return on_step


def print_data_summary(console: Console, summary: Any) -> None:
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


def print_evaluation(console: Console, evaluation: Any, train_size: int, test_size: int) -> None:
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


def _start_tracker(settings: Settings) -> Any:
    from sentiment_mlops.registry.tracker_process import TrackerProcess

    return TrackerProcess(settings.tracking_uri, settings.experiment_name, settings.registered_model_name)


def train_command(settings: Settings, console: Console, *, data: str, text_column: str, label_column: str,
                  model: str, params: list[str], test_size: float, seed: int, search: int, register: bool,
                  models_dir: Path | None) -> None:
    target = models_dir or settings.models_dir
    started = time.perf_counter()
    # Opening MLflow (importing it, creating or checking the SQLite schema, importing skops) takes 4-6 s
    # of pure Python: a second process does it on the other core while scikit-learn imports, the corpus
    # loads and the model fits. It starts before anything else (it imports at once, and opens the store
    # only once the options and the data have been checked; bad ones stop it before it touches the store).
    with _start_tracker(settings) as tracker:
        from sentiment_mlops.data import load_dataset
        from sentiment_mlops.training.pipeline import parse_params
        from sentiment_mlops.training.run import TrainOptions, train

        options = TrainOptions(model=model, params=parse_params(params), test_size=test_size, seed=seed,
                               search_trials=search, register=register)
        options.validate()
        with console.status(f"loading {data} …"):
            dataset = load_dataset(data, text_column=text_column, label_column=label_column)
        print_data_summary(console, dataset.summary)
        if options.params:
            # Fail before any training when a --param name does not exist for this model.
            from sentiment_mlops.training.pipeline import build_pipeline

            build_pipeline(options.model, options.params, seed=seed)
        tracker.open()
        from sentiment_mlops.registry.tracking import git_commit

        def on_trial(trial: Any) -> None:
            console.print(f"  trial {trial.number:>3}/{search}: CV macro-F1 {trial.cv_macro_f1:.4f} "
                          f"± {trial.cv_std:.4f}  {trial.params}")

        console.print(f"MLflow: {settings.tracking_uri} · experiment [bold]{settings.experiment_name}[/]")
        console.print("[bold]Steps[/]")
        with console.status(f"training {model} …"):
            result = train(dataset, options, models_dir=target, tracker=tracker, on_step=_step_printer(console),
                           on_trial=on_trial, commit=git_commit())
    print_evaluation(console, result.evaluation, result.train_size, result.test_size)
    if result.calibration:
        from sentiment_mlops.calibration import ConfidenceCalibration

        console.print(ConfidenceCalibration.from_dict(result.calibration).summary())
    console.print(f"artifacts: {target}/ (sentiment_model.pkl, sentiment_model_vectorizer.pkl, metrics.json, "
                  "confusion_matrix.json/.png, reference_profile.json, manifest.json)")
    console.print(f"MLflow run: {result.run_id}")
    if result.model_version:
        console.print(f"registered: [bold]{settings.registered_model_name}[/] version "
                      f"[bold green]{result.model_version}[/]")
    else:
        console.print("registered: no (--no-register)")
    console.print(f"total: {time.perf_counter() - started:.2f} s")


def models_command(settings: Settings, console: Console) -> None:
    from sentiment_mlops.registry import ModelRegistry

    registry = ModelRegistry(settings.tracking_uri, settings.registered_model_name, settings.experiment_name)
    versions = registry.versions()
    if not versions:
        console.print(f"no versions of {settings.registered_model_name} yet; run: sentiment-mlops train")
        return
    table = Table(title=f"{settings.registered_model_name} ({settings.tracking_uri})", title_justify="left")
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


def resolve_model_uri(settings: Settings, env: str | None, model_uri: str | None) -> tuple[str | None, str | None]:
    """``(version, alias)`` from ``--env`` or a ``models:/Name/3`` / ``models:/Name@alias`` URI."""
    if env and model_uri:
        raise ConfigurationError("give either --env or --model-uri, not both")
    if env:
        return None, env
    if model_uri is None:
        return None, None
    prefix = "models:/"
    if not model_uri.startswith(prefix):
        raise ConfigurationError(f"--model-uri must look like models:/NAME/VERSION or models:/NAME@ALIAS, "
                                 f"got {model_uri!r}")
    rest = model_uri[len(prefix):]
    name, sep, alias_text = rest.partition("@")
    version: str | None = None
    alias: str | None = alias_text
    if not sep:
        name, _, version_text = rest.partition("/")
        if not version_text.isdigit():
            raise ConfigurationError(f"--model-uri version must be a number, got {model_uri!r}")
        version, alias = version_text, None
    if name != settings.registered_model_name:
        raise ConfigurationError(f"--model-uri names model {name!r}; this project registers "
                                 f"{settings.registered_model_name!r}")
    return version, alias or None


def load_model_for(settings: Settings, env: str | None, model_uri: str | None, models_dir: Path | None) -> Any:
    """Load the model a command asked for: local artifacts, an alias, or a version."""
    from sentiment_mlops.registry import ModelRegistry, load_local, load_version

    version, alias = resolve_model_uri(settings, env, model_uri)
    if version is None and alias is None:
        return load_local(models_dir or settings.models_dir)
    registry = ModelRegistry(settings.tracking_uri, settings.registered_model_name, settings.experiment_name)
    if alias is not None:
        info = registry.alias_version(alias)
        if info is None:
            raise ModelNotFoundError(f"no version has alias {alias!r} in {settings.registered_model_name}; "
                                     f"promote one with: sentiment-mlops promote VERSION --to {alias}")
        version = info.version
    return load_version(registry, str(version))


def predict_command(settings: Settings, console: Console, *, texts: list[str], env: str | None,
                    model_uri: str | None, models_dir: Path | None) -> None:
    loaded = load_model_for(settings, env, model_uri, models_dir)
    cleaned = [t.strip() for t in texts]
    if not all(cleaned):
        raise ConfigurationError("every text must contain at least one non-whitespace character")
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

"""``score``: batch scoring of CSV / JSON Lines / Parquet files of any size, locally or on Dask."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sentiment_mlops.cli import context
from sentiment_mlops.cli.context import ModelsDir
from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.scaling.kinds import EngineKind

if TYPE_CHECKING:
    from sentiment_mlops.scaling.score import ScoreJob, ScoreSummary


def print_summary(console: Console, summary: ScoreSummary, job: ScoreJob, version: str, engine: str) -> None:
    rate = summary.rows_scored / summary.seconds if summary.seconds else 0.0
    console.print(f"scored {summary.rows_scored:,} rows in {summary.partitions_written:,} partitions with model "
                  f"version {version} on {engine}: {summary.seconds:.2f} s, {rate:,.0f} texts/s", highlight=False)
    if summary.reader == "workers":
        console.print("the workers read the input and wrote the parts themselves (they see the same files)")
    if summary.partitions_skipped:
        console.print(f"skipped {summary.partitions_skipped:,} partitions already written (resumed)")
    if summary.rows_empty:
        console.print(f"left unscored: {summary.rows_empty:,} empty texts (sentiment null)")
    if summary.rows_logged:
        console.print(f"logged {summary.rows_logged:,} predictions to the store (source batch)")
    console.print(f"output: {job.out}/ (Parquet, one part per partition; pandas.read_parquet reads it whole)",
                  highlight=False)


def score_command(settings: Settings, console: Console, *, data: str, out: Path, text_column: str, id_column: str,
                  env: str | None, version: str | None, model_uri: str | None, models_dir: Path | None,
                  engine: EngineKind, scheduler: str | None, workers: int | None, partition_rows: int,
                  log: bool) -> None:
    from sentiment_mlops.registry.uri import choose_model, load_model
    from sentiment_mlops.scaling.engine import open_engine
    from sentiment_mlops.scaling.inputs import check_columns, expand_inputs, parquet_rows
    from sentiment_mlops.scaling.output import ScoreOutput
    from sentiment_mlops.scaling.partition import ScoringModel
    from sentiment_mlops.scaling.score import BatchLog, ScoreJob, score_files
    from sentiment_mlops.serving.scorer import compile_scorer

    # Everything a user can get wrong is checked before the model loads or a cluster starts.
    if partition_rows < 1:
        raise ConfigurationError(f"--partition-rows must be at least 1, got {partition_rows}")
    if engine is EngineKind.LOCAL and (scheduler is not None or workers is not None):
        raise ConfigurationError("--scheduler and --workers need --engine dask")
    reference = choose_model(settings, env=env, version=version, model_uri=model_uri, models_dir=models_dir)
    files = expand_inputs(data)
    has_id = check_columns(files, text_column, id_column)
    ScoreOutput.check_path(out)
    job = ScoreJob(files=files, out=out, text_column=text_column, id_column=id_column if has_id else None,
                   partition_rows=partition_rows)
    # Resolved and sha256-verified here, once, never on a worker.
    loaded = load_model(settings, reference, seal_check_beside_imports=True)
    model = ScoringModel(compile_scorer(loaded.pipeline), loaded.version)
    store = None
    batch_log = None
    if log:
        from sentiment_mlops.store import PredictionStore

        store = PredictionStore(settings.store_url)
        batch_log = BatchLog(store, environment=env or "batch", log_text=settings.log_text)
    with console.status(f"starting the {engine} engine …"):
        runner = open_engine(engine, scheduler, workers, trim_memory=False)
    try:
        columns = [TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"), TimeElapsedColumn()]
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("score", total=parquet_rows(files))
            summary = score_files(job, model, runner, log=batch_log,
                                  on_progress=lambda rows: progress.advance(task, rows))
    finally:
        runner.close()
        if store is not None:
            store.close()
    print_summary(console, summary, job, model.version, runner.description)


def train_out_of_core_command(settings: Settings, console: Console, *, data: str, text_column: str,
                              label_column: str, model: str, params: list[str], test_size: float, seed: int,
                              search: int, register: bool, models_dir: Path | None, epochs: int,
                              scheduler: str | None, workers: int | None, partition_rows: int) -> None:
    """``train --engine dask``: the three out-of-core passes, then the same publishing as an in-memory run."""
    import time

    from sentiment_mlops.cli.training import print_evaluation, print_run_footer, start_tracker, step_printer
    from sentiment_mlops.config import masked_url
    from sentiment_mlops.data import BUILTIN

    started = time.perf_counter()
    target = models_dir or settings.models_dir
    if data == BUILTIN:
        raise ConfigurationError("--engine dask reads files: pass --data a CSV / JSON Lines / Parquet path or "
                                 "glob (e.g. 'corpus/*.parquet'); the built-in corpus trains in memory")
    if partition_rows < 1:
        raise ConfigurationError(f"--partition-rows must be at least 1, got {partition_rows}")
    with start_tracker(settings) as tracker:
        from sentiment_mlops.registry.tracking import git_commit
        from sentiment_mlops.scaling.engine import open_engine
        from sentiment_mlops.scaling.inputs import expand_inputs
        from sentiment_mlops.scaling.training import (
            PASSES,
            check_out_of_core_options,
            check_training_files,
            fit_out_of_core,
        )
        from sentiment_mlops.scaling.training_tasks import TrainingInputs
        from sentiment_mlops.training.pipeline import parse_params
        from sentiment_mlops.training.run import StepTimer, TrainOptions, publish, publishing

        # Everything a user can get wrong is checked before the cluster starts or a row is read.
        options = TrainOptions(model=model, params=parse_params(params), test_size=test_size, seed=seed,
                               search_trials=search, register=register)
        template = check_out_of_core_options(options, epochs)
        files = expand_inputs(data)
        check_training_files(files, text_column, label_column)
        inputs = TrainingInputs(files=files, text_column=text_column, label_column=label_column,
                                partition_rows=partition_rows, test_size=test_size, seed=seed)
        with console.status("starting the dask engine …"):
            runner = open_engine(EngineKind.DASK, scheduler, workers)
        try:
            tracker.open()
            console.print(f"data: {len(files):,} files ({data}) on {runner.description}", highlight=False,
                          soft_wrap=True)
            console.print(f"MLflow: {masked_url(settings.tracking_uri)} · experiment "
                          f"[bold]{settings.experiment_name}[/]")
            console.print("[bold]Steps[/]")
            timer = StepTimer(step_printer(console))
            with publishing(target) as parent:
                columns = [TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("files"), TimeElapsedColumn()]
                with Progress(*columns, console=console, transient=True) as progress:
                    tasks = {name: progress.add_task(name, total=len(files)) for name in PASSES}
                    fitted = fit_out_of_core(inputs, options, runner, template=template, timer=timer, source=data,
                                             engine_name=EngineKind.DASK.value,
                                             on_progress=lambda name, done: progress.update(tasks[name],
                                                                                            completed=done))
                runner.close()  # the workers' memory is free before publishing's peak (skops, MLflow)
                result = publish(fitted, options, models_dir=target, staging_parent=parent, tracker=tracker,
                                 timer=timer, commit=git_commit())
        finally:
            runner.close()
    meta = fitted.extra_metadata
    console.print(f"rows: {meta['rows_read']:,} read, {meta['dropped_empty']:,} empty dropped, "
                  f"{fitted.dataset_size:,} kept (repeated texts are kept; each text falls wholly in one split)",
                  highlight=False, soft_wrap=True)
    print_evaluation(console, result.evaluation, result.train_size, result.test_size)
    console.print(f"artifacts: {target}/ (the files an in-memory run writes; reference profile and heldout.jsonl "
                  f"from a sample of {meta['heldout_sample_size']:,} held-out rows)", highlight=False, soft_wrap=True)
    print_run_footer(console, settings, result, started)


def score(
    data: Annotated[str, typer.Option(help="A CSV / JSON Lines / Parquet file, or a glob ('tickets/*.parquet').")],
    out: Annotated[Path, typer.Option(help="Output directory of Parquet parts, e.g. scores.parquet.")],
    text_column: Annotated[str, typer.Option(help="Column holding the texts.")] = "text",
    id_column: Annotated[str, typer.Option(help="Column copied to the output's id, when the input has it.")] = "id",
    env: Annotated[str | None, typer.Option(help="Score with the version behind this alias.")] = None,
    version: Annotated[str | None, typer.Option(help="Score with this registered version.")] = None,
    model_uri: Annotated[str | None, typer.Option(help="models:/SentimentAnalysisModel/3 or @alias.")] = None,
    models_dir: ModelsDir = None,
    engine: Annotated[EngineKind, typer.Option(help="local: this process; dask: a Dask cluster.")] = EngineKind.LOCAL,
    scheduler: Annotated[str | None, typer.Option(help="tcp://HOST:8786 of a running Dask scheduler "
                                                       "(default: a LocalCluster on 127.0.0.1).")] = None,
    workers: Annotated[int | None, typer.Option(help="LocalCluster workers (default: one per core).")] = None,
    partition_rows: Annotated[int, typer.Option(help="Rows per partition (and per output part).")] = 50_000,
    log: Annotated[bool, typer.Option("--log", help="Also record the rows in the prediction store "
                                                    "(source batch).")] = False,
) -> None:
    """Score files of any size in bounded memory, writing Parquet; reruns skip the parts already written."""
    score_command(context.settings(), context.console, data=data, out=out, text_column=text_column,
                  id_column=id_column, env=env, version=version, model_uri=model_uri, models_dir=models_dir,
                  engine=engine, scheduler=scheduler, workers=workers, partition_rows=partition_rows, log=log)

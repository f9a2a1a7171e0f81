"""``logs export`` and ``logs prune``: the prediction log as JSON Lines, and retention."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sentiment_mlops.cli import context

logs_app = typer.Typer(help="The prediction log.", no_args_is_help=True)


class ExportFormat(StrEnum):
    JSONL = "jsonl"


@logs_app.command("export")
def logs_export(
    fmt: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = ExportFormat.JSONL,
    out: Annotated[Path, typer.Option(help="Where to write the export.")] = Path("logs/predictions.jsonl"),
) -> None:
    """Export the prediction log, oldest first, one JSON object per prediction."""
    del fmt  # JSON Lines is the one format so far; the option keeps the documented command line stable
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.export import export_jsonl

    with PredictionStore(context.settings().store_url) as store:
        written = export_jsonl(store, out)
    context.say(f"wrote {written:,} predictions to {out}")


@logs_app.command("prune")
def logs_prune(
    older_than: Annotated[str, typer.Option("--older-than", help="Delete predictions older than this age: "
                                                                 "30d, 12h, 2w (units s, m, h, d, w).")],
    archive: Annotated[Path | None, typer.Option(help="First write the deleted predictions (with their feedback "
                                                      "label) to this Parquet file.")] = None,
) -> None:
    """Delete old predictions and their feedback (after archiving them to Parquet with --archive)."""
    from sentiment_mlops.store import PredictionStore
    from sentiment_mlops.store.retention import parse_age, prune

    age = parse_age(older_than)
    with PredictionStore(context.settings().store_url) as store:
        result = prune(store, age, archive=archive)
    cutoff = result.cutoff.isoformat(timespec="seconds")
    if result.archive is not None:
        context.say(f"archived {result.archived:,} predictions to {result.archive}")
    context.say(f"deleted {result.deleted:,} predictions created before {cutoff} (older than {older_than})")

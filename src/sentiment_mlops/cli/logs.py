"""``logs export``: the prediction log as JSON Lines."""

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

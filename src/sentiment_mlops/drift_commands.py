"""What ``sentiment-mlops drift`` and ``sentiment-mlops monitor`` do and print.

The checks live in ``monitoring.drift``; this module loads the model version (registry or local
artifacts), scores the texts or reads the prediction log, and renders the report as a table or JSON.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from sentiment_mlops.config import Settings
from sentiment_mlops.errors import ConfigurationError, DataError
from sentiment_mlops.monitoring.drift import DriftReport

EXIT_OK = 0
EXIT_DRIFT = 3
MONITOR_ENVIRONMENTS = ("local", "staging", "production")


def _format_number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.4f}"


def print_drift_report(console: Console, report: DriftReport, *, title: str) -> None:
    """A readable table: one row per check, then the verdict and any skipped checks."""
    # No vertical rules: the table fits an 80-column terminal (and CI logs) without truncating a name.
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    for column, justify in (("check", "left"), ("test", "left"), ("value", "right"), ("p-value", "right"),
                            ("threshold", "right"), ("drift", "left")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for check in report.checks:
        threshold = (f"p<{check.threshold:.4g}" if check.test != "jensen_shannon"
                     else f">{_format_number(check.threshold)}")
        table.add_row(check.name, check.test, f"{check.statistic:.4g}", _format_number(check.p_value),
                      threshold, "[bold red]yes[/]" if check.drift else "[green]no[/]")
    for skipped in report.skipped:
        table.add_row(skipped.name, "-", "-", "-", "-", "[dim]skipped[/]")
    console.print(table)
    labels = report.checks[0].details
    console.print(f"predicted labels: reference {labels['reference_share']} · current {labels['current_share']} "
                  f"· PSI {labels['psi']:.4f}", highlight=False)
    words = next((c.details.get("top_words") for c in report.checks if c.name == "new_terms" and c.drift), None)
    if words:
        console.print("words the model never saw, most significant first (texts): "
                      + ", ".join(f"{w['word']} ({w['texts']:,})" for w in words), highlight=False, markup=False)
    for skipped in report.skipped:
        console.print(f"[dim]{skipped.name} skipped: {skipped.reason}[/]", highlight=False)
    console.print(f"{report.current_size:,} current vs {report.reference_size:,} reference texts; "
                  f"family-wise alpha {report.family_alpha} ({report.correction} over {len(report.checks)} checks)",
                  highlight=False)
    if report.drift_detected:
        console.print(f"[bold red]drift detected[/] in: {', '.join(report.drifted_checks)}")
    else:
        console.print("[bold green]no drift detected[/]")


def emit_report(console: Console, report: DriftReport, *, as_json: bool, title: str) -> None:
    if as_json:
        # Plain stdout, not rich: the JSON must not be wrapped or coloured when piped to jq.
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
    else:
        print_drift_report(console, report, title=title)


def _require_profile(loaded: Any) -> dict[str, Any]:
    if not loaded.profile:
        raise DataError(f"model version {loaded.version} ({loaded.source}) has no reference profile "
                        "(reference_profile.json); retrain it with: sentiment-mlops train")
    return dict(loaded.profile)


def load_drift_model(settings: Settings, *, env: str | None, version: str | None, models_dir: Path | None) -> Any:
    """The model the user chose with ``--env``, ``--version`` or ``--models-dir`` (local artifacts by default)."""
    from sentiment_mlops.registry import load_local
    from sentiment_mlops.terminal import load_model_for

    chosen = [name for name, value in (("--env", env), ("--version", version), ("--models-dir", models_dir))
              if value is not None]
    if len(chosen) > 1:
        raise ConfigurationError(f"give one of --env, --version or --models-dir, not {' and '.join(chosen)}")
    if env == "local":
        return load_local(settings.models_dir)
    if version is not None:
        if not str(version).isdigit():
            raise ConfigurationError(f"--version must be a registered version number, got {version!r}")
        return load_model_for(settings, None, f"models:/{settings.registered_model_name}/{version}", None)
    return load_model_for(settings, env, None, models_dir)


def drift_command(settings: Settings, console: Console, *, data: Path, text_column: str, env: str | None,
                  version: str | None, models_dir: Path | None, as_json: bool, fail_on_drift: bool) -> int:
    """Offline drift: score a file of texts with the chosen version and compare with its reference profile."""
    from sentiment_mlops.data import load_texts
    from sentiment_mlops.monitoring.drift import drift_report

    texts = load_texts(data, text_column=text_column)
    loaded = load_drift_model(settings, env=env, version=version, models_dir=models_dir)
    profile = _require_profile(loaded)
    probabilities = loaded.pipeline.predict_proba(texts)
    classes = [str(c) for c in loaded.pipeline.classes_]
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    report = drift_report(profile, texts, predicted, probabilities.max(axis=1), model_version=loaded.version)
    emit_report(console, report, as_json=as_json,
                title=f"Drift of {data} against model version {loaded.version} ({loaded.source})")
    return EXIT_DRIFT if fail_on_drift and report.drift_detected else EXIT_OK


def monitor_report(settings: Settings, *, env: str, window: int, store: Any = None,
                   loaded: Any = None) -> tuple[DriftReport, Any]:
    """Drift of the last ``window`` logged predictions of ``env``'s current version: ``(report, model)``.

    The alert loop calls this with its own ``store`` and an already loaded model to avoid reloading.
    """
    from sentiment_mlops.monitoring.drift.online import logged_drift_report

    if env not in MONITOR_ENVIRONMENTS:
        raise ConfigurationError(f"--env must be one of {', '.join(MONITOR_ENVIRONMENTS)}, got {env!r}")
    if loaded is None:
        loaded = load_drift_model(settings, env=env, version=None, models_dir=None)
    profile = _require_profile(loaded)
    from sentiment_mlops.store import PredictionStore

    with nullcontext(store) if store is not None else PredictionStore(settings.store_url) as opened:
        report = logged_drift_report(opened, profile, environment=env, model_version=loaded.version, window=window)
    return report, loaded


def monitor_command(settings: Settings, console: Console, *, env: str, window: int, as_json: bool) -> int:
    """Online drift: print the report for the last ``window`` predictions of ``env``'s current version."""
    report, loaded = monitor_report(settings, env=env, window=window)
    emit_report(console, report, as_json=as_json,
                title=f"Drift of the last {report.current_size:,} predictions in {env} (model version "
                      f"{loaded.version})")
    return EXIT_OK

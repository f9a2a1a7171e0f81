"""``drift`` and ``monitor``: drift reports (offline over a file, online over the prediction log) and the
watch loop's status lines. The checks live in ``monitoring.drift``; the loop is wired in ``service``.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sentiment_mlops.cli import context
from sentiment_mlops.cli.context import EXIT_DRIFT, EXIT_OK, AllowPickle, ModelsDir
from sentiment_mlops.config import Environment, Settings
from sentiment_mlops.errors import ConfigurationError

if TYPE_CHECKING:
    from sentiment_mlops.monitoring.drift import DriftReport
    from sentiment_mlops.monitoring.retrain_policy import RetrainPolicy
    from sentiment_mlops.monitoring.watch import Iteration


WORD_CHECK_LABELS = {"new_terms": "words the model never saw",
                     "known_terms": "words the model knows, far more common than in the reference"}
DRIVER_TEXT_WIDTH = 100  # characters of a driver text printed; --json has them whole


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
    for name, label in WORD_CHECK_LABELS.items():
        words = next((c.details.get("top_words") for c in report.checks if c.name == name and c.drift), None)
        if words:
            console.print(f"{label}, most significant first (texts): "
                          + ", ".join(f"{w['word']} ({w['texts']:,})" for w in words), highlight=False, markup=False)
    if report.drift_detected and report.drivers:
        console.print("texts furthest from the reference (position in the window: text · drifting words · "
                      "unseen tokens):", highlight=False, soft_wrap=True)
        for driver in report.drivers:
            text = driver.text if len(driver.text) <= DRIVER_TEXT_WIDTH else driver.text[:DRIVER_TEXT_WIDTH - 1] + "…"
            repeats = f" · ×{driver.repeats}" if driver.repeats > 1 else ""
            words = ", ".join(driver.drifting_words) or "-"
            line = f"  {driver.position + 1}: {' '.join(text.split())} · {words} · {driver.oov_rate:.0%}{repeats}"
            console.print(line, highlight=False, markup=False, soft_wrap=True)
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


def drift_command(settings: Settings, console: Console, *, data: Path, text_column: str, env: str | None,
                  version: str | None, models_dir: Path | None, as_json: bool, fail_on_drift: bool) -> int:
    """Offline drift: score a file of texts with the chosen version and compare with its reference profile."""
    from sentiment_mlops.data import load_texts
    from sentiment_mlops.monitoring.drift import drift_report
    from sentiment_mlops.monitoring.served import require_profile
    from sentiment_mlops.registry.uri import choose_model, load_model

    reference = choose_model(settings, env=env, version=version, models_dir=models_dir)
    texts = load_texts(data, text_column=text_column)
    loaded = load_model(settings, reference)
    profile = require_profile(loaded)
    probabilities = loaded.pipeline.predict_proba(texts)
    classes = [str(c) for c in loaded.pipeline.classes_]
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    report = drift_report(profile, texts, predicted, probabilities.max(axis=1), model_version=loaded.version)
    emit_report(console, report, as_json=as_json,
                title=f"Drift of {data} against model version {loaded.version} ({loaded.source})")
    return EXIT_DRIFT if fail_on_drift and report.drift_detected else EXIT_OK


def monitor_command(settings: Settings, console: Console, *, env: str, window: int, as_json: bool) -> int:
    """Online drift: print the report for the last ``window`` predictions of ``env``'s current version."""
    from sentiment_mlops.monitoring.served import monitor_report

    if window < 1:
        raise ConfigurationError(f"--window must be at least 1 prediction, got {window}")
    report, loaded = monitor_report(settings, env=env, window=window)
    emit_report(console, report, as_json=as_json,
                title=f"Drift of the last {report.current_size:,} predictions in {env} (model version "
                      f"{loaded.version})")
    return EXIT_OK


def _pct(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def status_line(iteration: Iteration) -> str:
    """One line per pass: traffic, errors, latency, accuracy live and estimated, drift, firing rules."""
    s = iteration.snapshot
    drift = "-" if s.drift is None else ("YES" if s.drift.get("drift_detected") else "no")
    requests = "-" if s.requests is None else f"{s.requests:,} req {_pct(s.error_rate)} err"
    p95 = "-" if s.p95_latency_ms is None else f"{s.p95_latency_ms:.1f} ms"
    parts = [
        s.taken_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{s.environment} v{s.model_version or '-'}",
        requests,
        f"p95 {p95}",
        f"live acc {_pct(s.live_accuracy)} ({s.labelled})",
        f"est acc {_pct(s.estimated_accuracy)} (ref {_pct(s.reference_accuracy)})",
        f"drift {drift}",
        f"firing: {', '.join(iteration.firing) or 'none'}",
    ]
    return " · ".join(parts)


class ConsoleAlertLog(logging.Handler):
    """Shows the alert log channel (``sentiment_mlops.alerts``) on the terminal, indented under the status."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        style = "red" if record.levelno >= logging.WARNING else "green"
        self.console.print(f"  [{style}]{escape(record.getMessage())}[/]", highlight=False, soft_wrap=True)


def print_iteration(console: Console, iteration: Iteration) -> None:
    """The status line; the alerts themselves were printed as they were sent (``ConsoleAlertLog``)."""
    console.print(escape(status_line(iteration)), highlight=False, soft_wrap=True)
    if iteration.rollback_result is not None:
        console.print(f"  [bold red]auto-rollback:[/] {escape(str(iteration.rollback_result.message))}",
                      soft_wrap=True)
    for error in iteration.errors:
        console.print(f"  [yellow]{escape(error)}[/]", soft_wrap=True)


def load_retrain_policy(path: Path, env: str) -> RetrainPolicy:
    """``--retrain POLICY.yml``, validated, for the environment being watched."""
    from sentiment_mlops.monitoring.retrain_policy import load_policy

    policy = load_policy(path)
    if policy.environment != env:
        raise ConfigurationError(f"{path} retrains {policy.environment}, but this monitor watches {env}; "
                                 f"run it with --env {policy.environment}")
    return policy


def watch_command(settings: Settings, console: Console, *, env: str, window: int, interval: float,
                  auto_rollback: bool, metrics_url: str | None, iterations: int | None = None,
                  retrain: RetrainPolicy | None = None) -> None:
    """Run until Ctrl-C (or ``iterations`` passes), printing a status line per pass (and, with ``retrain``,
    the retraining loop's step)."""
    from sentiment_mlops.monitoring.retrain_policy import Rollout
    from sentiment_mlops.service import build_retrain_loop, build_watch_loop
    from sentiment_mlops.store import PredictionStore

    if interval <= 0:
        raise ConfigurationError(f"--interval must be a positive number of seconds, got {interval:g}")
    store = PredictionStore(settings.store_url)
    loop = build_watch_loop(settings, store, env=env, window=window, auto_rollback=auto_rollback,
                            metrics_url=metrics_url)
    retrain_loop = build_retrain_loop(settings, store, retrain) if retrain is not None else None

    def on_iteration(iteration: Iteration) -> None:
        print_iteration(console, iteration)
        if retrain_loop is not None:
            console.print(f"  {escape(retrain_loop.step(iteration.snapshot))}", highlight=False, soft_wrap=True)

    alert_log = logging.getLogger("sentiment_mlops.alerts")
    handler = ConsoleAlertLog(console)
    alert_log.addHandler(handler)
    previous_level, alert_log.propagate = alert_log.level, False
    alert_log.setLevel(logging.INFO)
    guard = f", auto-rollback within {settings.bake_minutes:g} min of a promotion" if auto_rollback else ""
    if retrain is not None:
        share = retrain.shadow_percent if retrain.rollout is Rollout.SHADOW else retrain.canary_percent
        guard += (f", retraining when {retrain.min_new_labels} new labels and {retrain.require.value} "
                  f"({retrain.rollout.value} {share:g}%, promotion {retrain.promotion.value})")
    if iterations == 1:
        console.print(f"checking {env} once (store {store.display_url}{guard})", highlight=False, soft_wrap=True)
    else:
        console.print(f"watching {env} every {interval:g} s (store {store.display_url}{guard}); Ctrl-C stops",
                      highlight=False, soft_wrap=True)
    try:
        loop.run(interval=interval, iterations=iterations, on_iteration=on_iteration)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        loop.stop()
        if retrain_loop is not None:
            retrain_loop.close()
        store.close()
        alert_log.removeHandler(handler)
        alert_log.setLevel(previous_level)
        alert_log.propagate = True


def drift(
    data: Annotated[Path, typer.Option(help="CSV / JSON Lines / Parquet / .txt file of texts.")],
    text_column: Annotated[str, typer.Option(help="Column holding the texts.")] = "text",
    env: Annotated[str | None, typer.Option(help="Compare with the version behind this alias (or local).")] = None,
    version: Annotated[str | None, typer.Option(help="Compare with this registered version.")] = None,
    models_dir: ModelsDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report.")] = False,
    fail_on_drift: Annotated[bool, typer.Option(help="Exit with code 3 when drift is detected.")] = False,
    allow_pickle: AllowPickle = False,
) -> None:
    """Offline drift report: a file of texts against a model version's reference profile."""
    context.allow_pickle(allow_pickle)
    code = drift_command(context.settings(), context.console, data=data, text_column=text_column,
                         env=Environment.parse(env).value if env else None, version=version,
                         models_dir=models_dir, as_json=as_json, fail_on_drift=fail_on_drift)
    if code:
        raise typer.Exit(code)


def monitor(
    env: Annotated[str, typer.Option(help="local, staging or production.")] = Environment.PRODUCTION.value,
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
    retrain: Annotated[Path | None, typer.Option("--retrain", metavar="POLICY.yml", help="With --watch: retrain "
                                                 "from feedback, gate, canary or shadow, and promote when the policy's "
                                                 "conditions hold (opt-in; see the README for the file).")] = None,
) -> None:
    """Drift over the latest logged predictions; --watch: live metrics, alerts, auto-rollback, retraining."""
    settings = context.settings()
    environment = Environment.parse(env).value
    if retrain is not None and not watch:
        raise ConfigurationError("--retrain needs --watch: the loop runs after each pass of the monitor")
    policy = load_retrain_policy(retrain, environment) if retrain is not None else None
    if watch or auto_rollback:
        watch_command(settings, context.console, env=environment, window=window,
                      interval=interval if interval is not None else settings.monitor_interval_seconds,
                      auto_rollback=auto_rollback, metrics_url=metrics_url, iterations=iterations if watch else 1,
                      retrain=policy)
        return
    monitor_command(settings, context.console, env=environment, window=window, as_json=as_json)

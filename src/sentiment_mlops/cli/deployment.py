"""``promote``, ``rollback`` and ``history``: rich tables around ``deployment.actions`` and its history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from sentiment_mlops.cli import context
from sentiment_mlops.cli.traffic import traffic_summary
from sentiment_mlops.config import ALIASES, ENVIRONMENTS, LOOP_ENVIRONMENT, Settings, masked_url
from sentiment_mlops.errors import PromotionRefusedError

if TYPE_CHECKING:
    from sentiment_mlops.deployment.actions import DeploymentResult
    from sentiment_mlops.deployment.history import DeploymentEvent
    from sentiment_mlops.deployment.policy import GateReport
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.store import PredictionStore

PromoteTarget = StrEnum("PromoteTarget", {name.upper(): name for name in ENVIRONMENTS})  # type: ignore[misc]
AliasChoice = StrEnum("AliasChoice", {name.upper(): name for name in ALIASES})  # type: ignore[misc]
# history --env also shows the retraining loop's own steps (store.deployments.LOOP_ENVIRONMENT).
HistoryChoice = StrEnum("HistoryChoice", {name.upper(): name for name in (*ALIASES, LOOP_ENVIRONMENT)})  # type: ignore[misc]

_VERDICT_STYLE = {"pass": "green", "fail": "red", "forced": "yellow"}


@contextmanager
def open_registry_and_store(settings: Settings) -> Iterator[tuple[ModelRegistry, PredictionStore]]:
    """The registry and the prediction store the settings point at, closed afterwards."""
    from sentiment_mlops.registry import ModelRegistry
    from sentiment_mlops.store import PredictionStore

    registry = ModelRegistry.from_settings(settings)
    store = PredictionStore(settings.store_url)
    try:
        yield registry, store
    finally:
        store.close()


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def report_table(report: GateReport) -> Table:
    """One row per rule: value, threshold, verdict and detail."""
    style = _VERDICT_STYLE.get(report.verdict, "white")
    incumbent = f"v{report.incumbent_version}" if report.incumbent_version else "none (empty environment)"
    title = (f"Gate: candidate v{report.candidate_version} vs incumbent {incumbent} — "
             f"[{style}]{report.verdict.upper()}[/]")
    table = Table(title=title, title_justify="left")
    for column in ("rule", "value", "threshold", "result", "detail"):
        table.add_column(column, overflow="fold")
    for rule in report.rules:
        result = "skipped" if rule.skipped else ("pass" if rule.passed else "[red]FAIL[/]")
        table.add_row(rule.name, _value(rule.value), _value(rule.threshold), result, rule.detail)
    if report.forced_reason:
        table.caption = f"forced: {report.forced_reason}"
    return table


def print_report(console: Console, report: GateReport) -> None:
    """The rule table, then the evidence from logged traffic (replay, shadow) when the gate gathered any."""
    from sentiment_mlops.cli.traffic import print_traffic_evidence

    console.print(report_table(report))
    print_traffic_evidence(console, report.replay, report.shadow)


def _print_result(console: Console, result: DeploymentResult) -> None:
    if result.report is not None:
        print_report(console, result.report)
    style = "bold green" if result.changed else "bold"
    console.print(f"[{style}]{result.message}[/]", highlight=False)
    if result.event_id is not None:
        console.print(f"history: event {result.event_id} ({result.action}) recorded", highlight=False)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def promote_command(settings: Settings, console: Console, *, version: str | None, to: str,
                    canary_percent: float | None, force: bool, reason: str | None,
                    eval_data: Path | None, replay: int | None = None,
                    shadow_percent: float | None = None) -> DeploymentResult:
    """Run the gate and move the alias; on refusal print the report, then let the error exit 1.

    ``replay`` None replays ``settings.replay_size`` texts."""
    from sentiment_mlops.deployment import replay as traffic
    from sentiment_mlops.deployment.actions import promote
    from sentiment_mlops.deployment.gate import rules_from_settings
    from sentiment_mlops.deployment.policy import GateReport

    with open_registry_and_store(settings) as (registry, store):
        try:
            with console.status(f"gating {'version ' + version if version else 'the candidate'} for {to} …"):
                result = promote(registry, store, version=version, to=to, canary_percent=canary_percent,
                                 force=force, reason=reason, eval_path=eval_data,
                                 rules=rules_from_settings(settings),
                                 replay_size=settings.replay_size if replay is None else replay,
                                 replay_rules=traffic.rules_from_settings(settings), shadow_percent=shadow_percent)
        except PromotionRefusedError as exc:
            if isinstance(exc.report, GateReport):
                print_report(console, exc.report)
            raise
    _print_result(console, result)
    return result


def approve_command(settings: Settings, event_id: int, *, others: dict[str, object]) -> None:
    """``promote --approve EVENT_ID``: the retraining loop's waiting step, completed through the gate."""
    from sentiment_mlops.errors import ConfigurationError
    from sentiment_mlops.service import approve_loop_step

    given = [name for name, value in others.items() if value is not None]
    if given:
        raise ConfigurationError(f"--approve takes no {', '.join(given)}: the waiting step names its version")
    context.say(approve_loop_step(settings, event_id))


def rollback_command(settings: Settings, console: Console, *, env: str, to: str | None,
                     reason: str | None) -> DeploymentResult:
    from sentiment_mlops.deployment.actions import rollback

    with open_registry_and_store(settings) as (registry, store):
        result = rollback(registry, store, environment=env, to_version=to, reason=reason)
    _print_result(console, result)
    return result


def _versions(event: DeploymentEvent) -> str:
    return f"{event.from_version or '-'} → {event.to_version or '-'}"


def history_table(events: list[DeploymentEvent], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("#", "time (UTC)", "env", "action", "from → to", "who", "reason", "gate"):
        table.add_column(column, overflow="fold")
    for event in events:
        when = event.created_at.strftime("%Y-%m-%d %H:%M:%S") if event.created_at else "-"
        verdict = event.gate_verdict
        if verdict is not None:
            gate = f"[{_VERDICT_STYLE.get(verdict, 'white')}]{verdict}[/]" + traffic_summary(event.report)
        elif event.report and "evidence" in event.report:
            gate = "evidence: " + json.dumps(event.report["evidence"], default=str)[:80]
        else:
            gate = "-"
        table.add_row(str(event.id or ""), when, event.environment, event.action, _versions(event),
                      event.actor or "-", event.reason or "-", gate)
    return table


def verify_command(settings: Settings, console: Console) -> int:
    """Compare every alias in the registry with the history's last word on it; 1 when any disagrees."""
    from sentiment_mlops.deployment.history import read_history, verify_history

    with open_registry_and_store(settings) as (registry, store):
        aliases = {}
        for alias in ALIASES:
            info = registry.alias_version(alias)
            aliases[alias] = info.version if info is not None else None
        disagreements = verify_history(read_history(store), aliases)
    for alias, version in aliases.items():
        context.say(f"{alias}: {version or 'unset'}")
    if not disagreements:
        context.say(f"history agrees with the registry on {', '.join(ALIASES)}")
        return context.EXIT_OK
    for disagreement in disagreements:
        context.err_console.print(f"[bold red]disagreement:[/] {disagreement}", highlight=False, soft_wrap=True)
    return context.EXIT_FAILURE


def history_command(settings: Settings, console: Console, *, env: str | None, limit: int | None,
                    as_json: bool) -> list[DeploymentEvent]:
    from sentiment_mlops.deployment.history import read_history

    with open_registry_and_store(settings) as (_registry, store):
        events = read_history(store, env, limit)
    if as_json:
        rows = [{**event.__dict__, "created_at": event.created_at.isoformat() if event.created_at else None}
                for event in events]
        console.print_json(json.dumps(rows, default=str))
        return events
    if not events:
        where = f" for {env}" if env else ""
        console.print(f"no deployment events{where} yet; promote a version with: "
                      "sentiment-mlops promote VERSION --to staging", highlight=False)
        return events
    title = f"Deployment history{' · ' + env if env else ''} ({masked_url(settings.store_url)})"
    console.print(history_table(events, title))
    return events


SHADOW_OPTION = "--shadow"
SHADOW_DEFAULT_PERCENT = "100"


def with_shadow_default(argv: list[str]) -> list[str]:
    """``promote … --shadow`` with no percentage means 100: click options cannot take an optional value.

    >>> with_shadow_default(["promote", "4", "--to", "production", "--shadow"])[-1]
    '100'
    >>> with_shadow_default(["promote", "4", "--shadow", "--to", "production"])[2:4]
    ['--shadow', '100']
    >>> with_shadow_default(["promote", "4", "--shadow", "20", "--to", "production"])[3]
    '20'
    """
    if "promote" not in argv or SHADOW_OPTION not in argv:
        return argv
    at = argv.index(SHADOW_OPTION)
    following = argv[at + 1] if at + 1 < len(argv) else None
    if following is None or following.startswith("-"):
        return [*argv[:at + 1], SHADOW_DEFAULT_PERCENT, *argv[at + 1:]]
    return argv


def promote(
    version: Annotated[str | None, typer.Argument(help="Version to promote (default: latest for staging, "
                                                       "the staging version for production).")] = None,
    to: Annotated[PromoteTarget | None, typer.Option("--to", help="Target environment.")] = None,
    canary: Annotated[float | None, typer.Option("--canary", help="Send this % of production traffic to the "
                                                                  "candidate instead of promoting it.")] = None,
    force: Annotated[bool, typer.Option(help="Override every gate rule (needs --reason; recorded).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history.")] = None,
    eval_data: Annotated[Path | None, typer.Option(help="Labelled file to gate on instead of the candidate's "
                                                        "held-out split.")] = None,
    replay: Annotated[int | None, typer.Option("--replay", help="Replay the target's last N logged texts through "
                                                                "candidate and incumbent (default "
                                                                "SENTIMENT_MLOPS_REPLAY_SIZE, 2000; 0 skips).")] = None,
    shadow: Annotated[float | None, typer.Option("--shadow", help="Make the version a shadow of production scoring "
                                                                  "PCT% of its requests (--shadow alone: 100).",
                                                 metavar="[PCT]")] = None,
    approve: Annotated[int | None, typer.Option("--approve", metavar="EVENT_ID",
                                                help="Complete the retraining-loop step waiting at this history "
                                                     "event (needs SENTIMENT_MLOPS_ADMIN_TOKEN).")] = None,
) -> None:
    """Gate a version and move the staging or production alias to it (or start a canary or a shadow)."""
    if approve is not None:
        approve_command(context.settings(), approve, others={"VERSION": version, "--to": to, "--canary": canary,
                                                            "--force": force or None, "--eval-data": eval_data,
                                                            "--replay": replay, "--shadow": shadow})
        return
    if to is None:
        raise typer.BadParameter("Missing option '--to' (or --approve EVENT_ID).")
    promote_command(context.settings(), context.console, version=version, to=to.value, canary_percent=canary,
                    force=force, reason=reason, eval_data=eval_data, replay=replay, shadow_percent=shadow)


def rollback(
    env: Annotated[AliasChoice, typer.Option("--env", help="Environment to roll back; canary aborts a "
                                                          "running canary, shadow ends a shadow.")] = ...,  # type: ignore[assignment]
    to: Annotated[str | None, typer.Option("--to", help="Version to go back to (default: the one before).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in the history.")] = None,
) -> None:
    """Put an environment back on the version it had before (no gate: rollback must always be possible)."""
    rollback_command(context.settings(), context.console, env=env.value, to=to, reason=reason)


def history(
    env: Annotated[HistoryChoice | None, typer.Option("--env", help="Only this environment (loop: the retraining "
                                                                      "loop's steps).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the last N events.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Check that the history agrees with the registry's "
                                                          "aliases; exit 1 when it does not.")] = False,
) -> None:
    """Every deployment change: time, environment, action, versions, who, reason, gate verdict."""
    if verify:
        code = verify_command(context.settings(), context.console)
        if code:
            raise typer.Exit(code)
        return
    history_command(context.settings(), context.console, env=env.value if env else None, limit=limit,
                    as_json=as_json)

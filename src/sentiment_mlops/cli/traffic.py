"""The gate report's evidence from logged traffic (replay, shadow) as rich tables, beside the rule table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _p(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3g}"


def _accuracy(comparison: dict[str, Any]) -> str:
    if not comparison.get("labelled"):
        return "no feedback on these texts"
    return (f"candidate {comparison['candidate_accuracy']:.4f} vs incumbent {comparison['incumbent_accuracy']:.4f} "
            f"(n={comparison['labelled']} labelled; right only by candidate {comparison['candidate_only_right']}, "
            f"only by incumbent {comparison['incumbent_only_right']}; one-sided p of a drop "
            f"{_p(comparison['accuracy_drop_p'])})")


def evidence_tables(evidence: dict[str, Any]) -> list[Table | str]:
    """A ``TrafficEvidence.to_dict()`` as a summary table and the flip matrix (or one line when empty)."""
    kind = str(evidence.get("kind", "replay"))
    candidate, incumbent = evidence.get("candidate_version"), evidence.get("incumbent_version")
    comparison = evidence.get("comparison")
    if not comparison:
        return [f"{kind.capitalize()}: {evidence.get('note') or 'nothing to compare'} (rule passes)"]
    title = (f"{kind.capitalize()}: candidate v{candidate} vs incumbent v{incumbent} on {comparison['n']:,} texts "
             f"({evidence.get('note', '')}; {float(evidence.get('seconds') or 0):.2f} s)")
    summary = Table(title=title, title_justify="left")
    summary.add_column("measure")
    summary.add_column("value", overflow="fold")
    summary.add_row("agreement", f"{comparison['agreement']:.4f}")
    mix = ", ".join(f"{label} {comparison['incumbent_mix'].get(label, 0)} → {comparison['candidate_mix'].get(label, 0)}"
                    for label in comparison["flips"])
    summary.add_row("label mix (incumbent → candidate)",
                    f"{mix}; chi2 {_p(comparison['label_shift_chi2'])}, p {_p(comparison['label_shift_p'])}")
    summary.add_row("labelled accuracy", _accuracy(comparison))
    latency = evidence.get("latency_ms")
    if latency:
        summary.add_row("latency ms (live / shadow)",
                        f"mean {_p(latency['live_mean'])} / {_p(latency['shadow_mean'])}, "
                        f"p99 {_p(latency['live_p99'])} / {_p(latency['shadow_p99'])}")
    flips = Table(title=f"{kind.capitalize()} flips: incumbent label (rows) → candidate label (columns)",
                  title_justify="left")
    labels = list(comparison["flips"])
    flips.add_column("incumbent \\ candidate")
    for label in labels:
        flips.add_column(label, justify="right")
    for label in labels:
        flips.add_row(label, *(str(comparison["flips"][label].get(other, 0)) for other in labels))
    return [summary, flips]


def traffic_summary(report: dict[str, Any] | None) -> str:
    """`` · replay 0.912 agree (n=2,000)``: what a history row shows of an event's traffic evidence."""
    parts = []
    for kind in ("replay", "shadow"):
        evidence = (report or {}).get(kind)
        comparison = evidence.get("comparison") if isinstance(evidence, dict) else None
        if comparison:
            parts.append(f"{kind} {comparison['agreement']:.3f} agree (n={comparison['n']:,})")
        elif isinstance(evidence, dict):
            parts.append(f"{kind}: {str(evidence.get('note') or 'nothing compared').split(':')[0]}")
    return "".join(f" · {part}" for part in parts)


def print_traffic_evidence(console: Console, replay: dict[str, Any] | None, shadow: dict[str, Any] | None) -> None:
    for evidence in (replay, shadow):
        if evidence is not None:
            for part in evidence_tables(evidence):
                console.print(part, highlight=False)

"""The promotion gate as a pure decision: evidence about a candidate (and the incumbent) in, a typed report out.

Nothing here touches MLflow, the store or the clock; ``deployment/gate.py`` gathers the evidence and
``deployment/actions.py`` acts on the verdict.

>>> rules = GateRules()
>>> good = CandidateEvidence(version="2", macro_f1=0.70, artifacts_ok=True, smoke_ok=True, p99_latency_ms=0.4)
>>> evaluate_gate(good, None, rules).verdict
'pass'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

# Rule names, as they appear in reports, the history and the CLI table.
RULE_VS_INCUMBENT = "macro_f1_vs_incumbent"
RULE_MIN_MACRO_F1 = "min_macro_f1"
RULE_ARTIFACTS = "artifacts_sha256"
RULE_SMOKE = "smoke_test"
RULE_LATENCY = "p99_latency_ms"
RULE_FEEDBACK_TRADEOFF = "base_vs_feedback_heldout"

VERDICT_PASS = "pass"
VERDICT_FAIL = "fail"
VERDICT_FORCED = "forced"


@dataclass(frozen=True)
class GateRules:
    """The thresholds a candidate must meet; every one can be changed (see ``Settings.gate_*``)."""

    max_macro_f1_drop: float = 0.01
    min_macro_f1: float = 0.50
    max_p99_latency_ms: float = 5.0
    require_artifacts: bool = True
    require_smoke_test: bool = True
    # Neither held-out set (base, production feedback) may lose more than this against the incumbent.
    max_feedback_tradeoff: float = 0.01


@dataclass(frozen=True)
class CandidateEvidence:
    """What was measured about one model version on the shared evaluation set.

    A ``None`` metric means it could not be measured (for example the artifacts failed verification);
    a rule that needs it then fails and says why.
    """

    version: str
    macro_f1: float | None = None
    accuracy: float | None = None
    artifacts_ok: bool = False
    artifacts_detail: str = ""
    smoke_ok: bool = False
    smoke_detail: str = ""
    p99_latency_ms: float | None = None
    p99_wall_ms: float | None = None
    eval_source: str = ""
    eval_size: int = 0
    # The same measure on held-out production feedback (``train --with-feedback``); None: no such set.
    feedback_macro_f1: float | None = None
    feedback_eval_size: int = 0
    feedback_eval_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: the measured value, the threshold it was held to, and whether it passed."""

    name: str
    value: float | str | None
    threshold: float | str | None
    passed: bool
    detail: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class GateReport:
    """Every rule's result plus the overall verdict (``pass``, ``fail`` or ``forced``)."""

    candidate_version: str
    incumbent_version: str | None
    rules: list[RuleResult]
    verdict: str
    candidate: dict[str, Any] = field(default_factory=dict)
    incumbent: dict[str, Any] | None = None
    forced_reason: str | None = None
    # The candidate against the incumbent on logged traffic (deployment/replay.py): the replay of the target's
    # last texts, and the shadow's answers to live requests; each a ``ReplayEvidence.to_dict()``.
    replay: dict[str, Any] | None = None
    shadow: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """True when the promotion may go ahead (every rule passed, or it was forced)."""
        return self.verdict in (VERDICT_PASS, VERDICT_FORCED)

    @property
    def failed_rules(self) -> list[RuleResult]:
        return [rule for rule in self.rules if not rule.passed]

    def summary(self) -> str:
        """One line: the verdict and the rules that failed, for error messages and logs."""
        failed = self.failed_rules
        if not failed:
            return f"gate {self.verdict}: all {len(self.rules)} rules passed"
        names = "; ".join(f"{r.name} ({r.detail})" if r.detail else r.name for r in failed)
        return f"gate {self.verdict}: {len(failed)} of {len(self.rules)} rules failed: {names}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> GateReport:
        rules = [RuleResult(**rule) for rule in payload.get("rules", [])]
        return cls(
            candidate_version=str(payload["candidate_version"]),
            incumbent_version=payload.get("incumbent_version"),
            rules=rules,
            verdict=str(payload["verdict"]),
            candidate=dict(payload.get("candidate") or {}),
            incumbent=payload.get("incumbent"),
            forced_reason=payload.get("forced_reason"),
            replay=payload.get("replay"),
            shadow=payload.get("shadow"),
        )


def _rule_vs_incumbent(candidate: CandidateEvidence, incumbent: CandidateEvidence | None,
                       rules: GateRules) -> RuleResult:
    if incumbent is None:
        return RuleResult(RULE_VS_INCUMBENT, None, rules.max_macro_f1_drop, True,
                          "no incumbent (empty environment): absolute rules only", skipped=True)
    if incumbent.macro_f1 is None:
        # An incumbent that cannot be evaluated cannot hold the candidate back; the absolute rules still do.
        return RuleResult(RULE_VS_INCUMBENT, None, rules.max_macro_f1_drop, True,
                          f"incumbent version {incumbent.version} could not be evaluated "
                          f"({incumbent.artifacts_detail or 'no metrics'}); absolute rules only", skipped=True)
    if candidate.macro_f1 is None:
        return RuleResult(RULE_VS_INCUMBENT, None, rules.max_macro_f1_drop, False,
                          "candidate could not be evaluated")
    drop = incumbent.macro_f1 - candidate.macro_f1
    passed = drop <= rules.max_macro_f1_drop + 1e-12
    detail = f"v{candidate.version} {candidate.macro_f1:.4f} vs v{incumbent.version} {incumbent.macro_f1:.4f}"
    return RuleResult(RULE_VS_INCUMBENT, round(drop, 6), rules.max_macro_f1_drop, passed, detail)


def _rule_min_macro_f1(candidate: CandidateEvidence, rules: GateRules) -> RuleResult:
    value = candidate.macro_f1
    passed = value is not None and value >= rules.min_macro_f1
    detail = f"{candidate.eval_size:,} rows of {candidate.eval_source or '?'}"
    if value is None:
        detail = "not measured: the candidate could not be loaded"
    return RuleResult(RULE_MIN_MACRO_F1, value, rules.min_macro_f1, passed, detail)


def _rule_artifacts(candidate: CandidateEvidence, rules: GateRules) -> RuleResult:
    if not rules.require_artifacts:
        return RuleResult(RULE_ARTIFACTS, "not checked", "required: no", True, "disabled", skipped=True)
    detail = candidate.artifacts_detail or ("sha256 verified" if candidate.artifacts_ok else "not verified")
    return RuleResult(RULE_ARTIFACTS, "ok" if candidate.artifacts_ok else "failed", "all present, sha256 match",
                      candidate.artifacts_ok, detail)


def _rule_smoke(candidate: CandidateEvidence, rules: GateRules) -> RuleResult:
    if not rules.require_smoke_test:
        return RuleResult(RULE_SMOKE, "not run", "required: no", True, "disabled", skipped=True)
    return RuleResult(RULE_SMOKE, "ok" if candidate.smoke_ok else "failed", "valid predictions",
                      candidate.smoke_ok, candidate.smoke_detail)


def _rule_latency(candidate: CandidateEvidence, rules: GateRules) -> RuleResult:
    value = candidate.p99_latency_ms
    passed = value is not None and value <= rules.max_p99_latency_ms
    detail = "not measured"
    if value is not None:
        detail = "CPU time per one-text call"
        if candidate.p99_wall_ms is not None:
            detail += f" (wall clock p99 {candidate.p99_wall_ms:.3f} ms)"
    return RuleResult(RULE_LATENCY, None if value is None else round(value, 4), rules.max_p99_latency_ms,
                      passed, detail)


def _rule_feedback_tradeoff(candidate: CandidateEvidence, incumbent: CandidateEvidence | None,
                            rules: GateRules) -> RuleResult:
    """Candidate vs incumbent on both held-out sets: no gain on one bought with a loss over the margin on the
    other (nor a loss over the margin on either).

    >>> new = CandidateEvidence("3", macro_f1=0.70, feedback_macro_f1=0.80, feedback_eval_size=200)
    >>> old = CandidateEvidence("2", macro_f1=0.72, feedback_macro_f1=0.50, feedback_eval_size=200)
    >>> rule = _rule_feedback_tradeoff(new, old, GateRules())
    >>> rule.passed, rule.value
    (False, 0.02)
    """
    margin = rules.max_feedback_tradeoff
    if candidate.feedback_macro_f1 is None or incumbent is None or incumbent.feedback_macro_f1 is None \
            or candidate.macro_f1 is None or incumbent.macro_f1 is None:
        why = "no held-out feedback set" if candidate.feedback_macro_f1 is None else "no incumbent measured on it"
        return RuleResult(RULE_FEEDBACK_TRADEOFF, None, margin, True, f"{why}: base held-out only", skipped=True)
    base = candidate.macro_f1 - incumbent.macro_f1
    fed = candidate.feedback_macro_f1 - incumbent.feedback_macro_f1
    loss = max(0.0, -base, -fed)
    detail = (f"macro-F1 change v{incumbent.version} → v{candidate.version}: base {base:+.4f} "
              f"({candidate.eval_size:,} rows), feedback {fed:+.4f} ({candidate.feedback_eval_size:,} rows)")
    return RuleResult(RULE_FEEDBACK_TRADEOFF, round(loss, 6), margin, loss <= margin + 1e-12, detail)


def evaluate_gate(candidate: CandidateEvidence, incumbent: CandidateEvidence | None,
                  rules: GateRules) -> GateReport:
    """Apply every rule; ``incumbent`` is None when the target environment has no version yet.

    The comparison with the incumbent only makes sense when both were evaluated on the same rows, which
    is the caller's job (``gate.gather_gate_evidence`` evaluates both on one set).
    """
    results = [
        _rule_vs_incumbent(candidate, incumbent, rules),
        _rule_min_macro_f1(candidate, rules),
        _rule_artifacts(candidate, rules),
        _rule_smoke(candidate, rules),
        _rule_latency(candidate, rules),
        _rule_feedback_tradeoff(candidate, incumbent, rules),
    ]
    verdict = VERDICT_PASS if all(r.passed for r in results) else VERDICT_FAIL
    return GateReport(
        candidate_version=candidate.version,
        incumbent_version=incumbent.version if incumbent is not None else None,
        rules=results,
        verdict=verdict,
        candidate=candidate.to_dict(),
        incumbent=incumbent.to_dict() if incumbent is not None else None,
    )


def force_report(report: GateReport, reason: str) -> GateReport:
    """The same report, overridden by ``--force``: every rule keeps its real result, the verdict says forced."""
    if report.verdict == VERDICT_PASS:
        # Nothing was overridden; recording it as forced would hide that the candidate passed on its own.
        return replace(report, forced_reason=reason)
    return replace(report, verdict=VERDICT_FORCED, forced_reason=reason)

"""Evidence from logged traffic for the gate: replay the target's last texts through both versions, or read
what a shadow answered to live requests. The comparison itself is ``deployment.comparison``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from sentiment_mlops.deployment.comparison import Comparison, ReplayRules, compare_answers, comparison_rules
from sentiment_mlops.deployment.policy import VERDICT_FAIL, VERDICT_PASS, GateReport
from sentiment_mlops.integrity import text_digest
from sentiment_mlops.layout import ADMIN_ACTOR, FEEDBACK_ACTOR

if TYPE_CHECKING:
    from sentiment_mlops.config import Settings
    from sentiment_mlops.registry import LoadedModel
    from sentiment_mlops.store import PredictionStore

NO_TRAFFIC = "no traffic to replay"
TEXTS_NOT_KEPT = ("texts not kept: the servers log only digests (SENTIMENT_MLOPS_LOG_TEXT=false), so there is "
                  "nothing to replay")
# Who can vouch for a candidate with a label: feedback given with a token (as for training, training.feedback).
TRUSTED_ACTORS = frozenset({FEEDBACK_ACTOR, ADMIN_ACTOR})
LEFT_OUT = "their texts were feedback a version trained on"
SHADOW_PAIRS = 10_000  # the newest live/shadow pairs the gate and the dashboard compare


class EvidenceKind(StrEnum):
    """Where the candidate's answers on production traffic came from."""

    REPLAY = "replay"
    SHADOW = "shadow"


@dataclass(frozen=True)
class TrafficEvidence:
    """The candidate against the incumbent on logged texts; ``comparison`` None when there was nothing to
    compare (``note`` says why)."""

    kind: EvidenceKind
    environment: str
    candidate_version: str
    incumbent_version: str | None
    requested: int
    comparison: Comparison | None
    note: str = ""
    seconds: float = 0.0
    latency_ms: dict[str, float | None] | None = None
    # The same answers on the labels that may explain a low agreement: given with a token, on texts no compared
    # version trained on (``vouching_labels``); None where that was not worked out.
    explaining: Comparison | None = None

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["kind"] = self.kind.value
        return payload


@dataclass(frozen=True)
class TrafficChecks:
    """What ``run_gate`` adds to the gate: the replay of ``environment``'s last ``replay_size`` texts (0 skips)
    and, when the candidate is production's shadow, the shadow's evidence."""

    store: PredictionStore
    environment: str
    replay_size: int
    rules: ReplayRules
    shadow_version: str | None = None


def rules_from_settings(settings: Settings) -> ReplayRules:
    """The replay and shadow thresholds a user configured (``SENTIMENT_MLOPS_REPLAY_*``)."""
    return ReplayRules(min_agreement=settings.replay_min_agreement, accuracy_alpha=settings.replay_accuracy_alpha,
                       min_labelled=settings.replay_min_labelled)


def _labels(model: LoadedModel, texts: list[str]) -> list[str]:
    from sentiment_mlops.deployment.gate import make_predictor

    predict, classes, _how = make_predictor(model.pipeline)
    probabilities = np.asarray(predict(texts))
    return [classes[i] for i in probabilities.argmax(axis=1)]


def replay_traffic(store: PredictionStore, environment: str, size: int, candidate: LoadedModel,
                   incumbent: LoadedModel | None) -> TrafficEvidence:
    """Score ``environment``'s newest ``size`` logged texts with both versions and compare them."""
    started = time.perf_counter()
    base = TrafficEvidence(EvidenceKind.REPLAY, environment, str(candidate.version),
                           str(incumbent.version) if incumbent is not None else None, size, None)
    if incumbent is None:
        return replace(base, note=f"{environment} has no version to compare with: nothing to replay")
    rows = store.replay_rows(environment, size)
    if not rows:
        return replace(base, note=f"{NO_TRAFFIC}: no predictions logged in {environment}",
                       seconds=time.perf_counter() - started)
    kept = [row for row in rows if row["text"] is not None]
    if not kept:
        return replace(base, note=TEXTS_NOT_KEPT, seconds=time.perf_counter() - started)
    texts = [str(row["text"]) for row in kept]
    truth, withheld = unseen_labels(texts, [row["label"] for row in kept], (candidate, incumbent))
    answers = _labels(incumbent, texts), _labels(candidate, texts)
    comparison = compare_answers(*answers, truth=truth)
    explaining = compare_answers(*answers, truth=vouching_labels(truth, [row.get("actor") for row in kept]))
    note = f"the last {len(kept):,} texts logged in {environment}"
    if len(kept) < len(rows):
        note += f" ({len(rows) - len(kept):,} more were logged as digests only: texts not kept)"
    if withheld:
        note += f"; {withheld:,} labels left out: {LEFT_OUT}"
    return replace(base, comparison=comparison, note=note, seconds=round(time.perf_counter() - started, 3),
                   explaining=explaining)


def vouching_labels(labels: Sequence[str | None], actors: Sequence[str | None]) -> list[str | None]:
    """The labels given with a token (feedback or admin): open feedback can come from anyone, so it may show a
    candidate worse (the labelled-accuracy rule) but never vouch for one.

    >>> vouching_labels(["positive", "negative", None], ["feedback-token", "anonymous", "admin-token"])
    ['positive', None, None]
    """
    return [label if actor in TRUSTED_ACTORS else None for label, actor in zip(labels, actors, strict=True)]


def _feedback_seen(model: LoadedModel) -> Callable[[str], bool] | None:
    """Whether ``model`` may have trained on a text, as production feedback; None when it trained without
    feedback. Exact where the version lists the digests of its training feedback; for a version trained before
    that list existed, every feedback text it did not hold out counts as seen."""
    trained, held_out = model.feedback_trained_path, model.feedback_heldout_path
    if trained is not None:
        with trained.open(encoding="ascii") as handle:
            digests = {line.strip() for line in handle if line.strip()}
        return lambda text: text_digest(text.strip()) in digests
    if held_out is not None:
        with held_out.open(encoding="utf-8") as handle:
            kept = {str(json.loads(line)["text"]).strip() for line in handle if line.strip()}
        return lambda text: text.strip() not in kept
    return None


def unseen_labels(texts: Sequence[str | None], labels: Sequence[str | None],
                  models: Sequence[LoadedModel | None]) -> tuple[list[str | None], int]:
    """``labels`` without those of texts a model may have learned from production feedback (a text logged as a
    digest only never trained anything). Returns the labels and how many were left out."""
    seen = [check for check in (_feedback_seen(m) for m in models if m is not None) if check is not None]
    if not seen:
        return list(labels), 0
    kept: list[str | None] = []
    for text, label in zip(texts, labels, strict=True):
        kept.append(None if label is not None and text is not None and any(check(text) for check in seen) else label)
    return kept, sum(1 for a, b in zip(labels, kept, strict=True) if a is not None and b is None)


def _mean(values: Sequence[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None


def _p99(values: Sequence[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(float(np.percentile(known, 99)), 4) if known else None


def compare_shadow_pairs(pairs: Sequence[Mapping[str, Any]], *, shadow_version: str, live_version: str | None,
                         models: Sequence[LoadedModel | None] | None = None) -> TrafficEvidence:
    """Live vs shadow on the same requests (``PredictionStore.shadow_pairs``), restricted to ``live_version``'s
    answers when given (a canary's or an older version's answers are not production's). With the two versions'
    ``models``, labels of texts either may have trained on are left out (``unseen_labels``)."""
    rows = [pair for pair in pairs if live_version is None or str(pair["live_version"]) == str(live_version)]
    base = TrafficEvidence(EvidenceKind.SHADOW, "production", str(shadow_version), live_version, len(pairs), None)
    if not rows:
        return replace(base, note=f"no shadow answers of version {shadow_version} to live requests of "
                                  f"{'version ' + live_version if live_version else 'production'} yet")
    truth, withheld = [r["label"] for r in rows], 0
    if models is not None:
        truth, withheld = unseen_labels([r.get("text") for r in rows], truth, models)
    answers = [str(r["live_sentiment"]) for r in rows], [str(r["shadow_sentiment"]) for r in rows]
    comparison = compare_answers(*answers, truth=truth)
    explaining = (compare_answers(*answers, truth=vouching_labels(truth, [r.get("actor") for r in rows]))
                  if models is not None else None)
    latency = {"live_mean": _mean([r["live_latency_ms"] for r in rows]),
               "shadow_mean": _mean([r["shadow_latency_ms"] for r in rows]),
               "live_p99": _p99([r["live_latency_ms"] for r in rows]),
               "shadow_p99": _p99([r["shadow_latency_ms"] for r in rows])}
    note = f"the shadow's answers to the last {len(rows):,} live requests"
    if withheld:
        note += f"; {withheld:,} labels left out: {LEFT_OUT}"
    return replace(base, comparison=comparison, latency_ms=latency, note=note, explaining=explaining)


def shadow_evidence(store: PredictionStore, shadow_version: str, live_version: str | None,
                    models: Sequence[LoadedModel | None] | None = None) -> TrafficEvidence:
    """What the shadow ``shadow_version`` answered to production's requests, against production's answers."""
    pairs = store.shadow_pairs(shadow_version, limit=SHADOW_PAIRS, with_text=models is not None)
    return compare_shadow_pairs(pairs, shadow_version=shadow_version, live_version=live_version, models=models)


def gather_traffic_evidence(checks: TrafficChecks, loaded: Mapping[str, LoadedModel], candidate: str,
                            incumbent: str | None) -> tuple[TrafficEvidence | None, TrafficEvidence | None]:
    """``(replay, shadow)`` evidence for the gate; None where not asked for."""
    replay_evidence = None
    if checks.replay_size > 0 and candidate in loaded:
        incumbent_model = loaded.get(incumbent) if incumbent is not None else None
        if incumbent is not None and incumbent_model is None:
            replay_evidence = TrafficEvidence(EvidenceKind.REPLAY, checks.environment, candidate, incumbent,
                                              checks.replay_size, None,
                                              note=f"incumbent version {incumbent} could not be loaded: not replayed")
        else:
            replay_evidence = replay_traffic(checks.store, checks.environment, checks.replay_size, loaded[candidate],
                                             incumbent_model)
    shadow = None
    if checks.shadow_version is not None and checks.shadow_version == candidate:
        shadow = shadow_evidence(checks.store, candidate, incumbent,
                                 models=[loaded.get(candidate), loaded.get(incumbent) if incumbent else None])
    return replay_evidence, shadow


def with_traffic_evidence(report: GateReport, rules: ReplayRules, replay_evidence: TrafficEvidence | None,
                          shadow: TrafficEvidence | None) -> GateReport:
    """``report`` with the replay and shadow rules added (and the verdict recomputed) and their evidence kept."""
    added = []
    for evidence in (replay_evidence, shadow):
        if evidence is not None:
            added += comparison_rules(evidence.comparison, rules, what=evidence.kind.value,
                                      skipped_reason=evidence.note, explaining=evidence.explaining)
    if not added:
        return report
    every = [*report.rules, *added]
    return replace(report, rules=every, verdict=VERDICT_PASS if all(r.passed for r in every) else VERDICT_FAIL,
                   replay=replay_evidence.to_dict() if replay_evidence is not None else None,
                   shadow=shadow.to_dict() if shadow is not None else None)

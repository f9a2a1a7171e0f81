"""Gather the gate's evidence: load the candidate and the incumbent, evaluate both on ONE set, smoke test, time.

Thin on purpose: the decision itself is ``policy.evaluate_gate``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_mlops.deployment.policy import CandidateEvidence, GateRules
from sentiment_mlops.errors import DataError, IntegrityError, SentimentMLOpsError

# Canned texts for the smoke test: short, long, emoji, mentions, non-ASCII, punctuation only.
SMOKE_TEXTS = (
    "I love this, it is wonderful!",
    "This is the worst service I have ever had.",
    "The flight leaves at 9am tomorrow.",
    "@united thanks for nothing 😡 #fail",
    "Très bien, merci beaucoup",
    "?!",
    "ok " * 400,
)
LATENCY_TEXT = "@united my flight was delayed again but the crew were friendly and helpful"
LATENCY_CALLS = 200
LATENCY_WARMUP = 20
LATENCY_ROUNDS = 3


@dataclass(frozen=True)
class EvalSet:
    """The labelled rows both models are evaluated on."""

    texts: list[str]
    labels: list[str]
    source: str


def read_eval_set(path: Path) -> EvalSet:
    """Read labelled rows: a held-out JSONL ``{"text", "label"}`` or any file ``data.load_dataset`` reads."""
    from sentiment_mlops.data import load_dataset

    try:
        dataset = load_dataset(path, label_column="sentiment")
    except DataError as first:
        # Held-out splits and many user files name the column "label": try that one before giving up.
        if "'sentiment' not found" not in str(first):
            raise
        try:
            dataset = load_dataset(path, label_column="label")
        except DataError as second:
            if "'label' not found" in str(second):
                raise DataError(f"{path} needs a 'text' column and a 'sentiment' or 'label' column") from None
            raise
    return EvalSet(texts=dataset.texts, labels=dataset.labels, source=str(path))


def heldout_eval_set(path: Path, version: str) -> EvalSet:
    """The held-out split written at training time (kept as-is: it is what the version was scored on)."""
    texts, labels = [], []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                texts.append(str(row["text"]))
                labels.append(str(row["label"]))
    if not texts:
        raise DataError(f"the held-out split of version {version} ({path}) has no rows")
    return EvalSet(texts=texts, labels=labels, source=f"held-out split of v{version}")


def make_predictor(pipeline: Any) -> tuple[Callable[[list[str]], np.ndarray], list[str], str]:
    """``(predict_proba, classes, how)`` through the serving scorer: the gate measures what serving will run."""
    from sentiment_mlops.serving.scorer import compile_scorer

    scorer = compile_scorer(pipeline)
    how = "compiled serving scorer" if scorer.compiled else "serving scorer (pipeline fallback)"
    return scorer.predict_proba, list(scorer.classes), how


def smoke_test(predict: Callable[[list[str]], np.ndarray], classes: Sequence[str],
               texts: Sequence[str] = SMOKE_TEXTS) -> tuple[bool, str]:
    """Score canned texts one by one and as a batch; every row must be a finite distribution over ``classes``."""
    try:
        batch = np.asarray(predict(list(texts)))
        singles = np.vstack([np.asarray(predict([text])) for text in texts])
    except Exception as exc:  # any failure of the model on canned input is the finding, whatever its type
        return False, f"scoring canned texts raised {type(exc).__name__}: {exc}"
    expected = (len(texts), len(classes))
    if batch.shape != expected:
        return False, f"batch output has shape {batch.shape}, expected {expected}"
    if not np.all(np.isfinite(batch)):
        return False, "probabilities contain NaN or infinity"
    sums = batch.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        return False, f"probabilities do not sum to 1 (row sums {sums.min():.6f}..{sums.max():.6f})"
    if not np.allclose(batch, singles, atol=1e-9):
        return False, "batch and single-text scores differ"
    return True, f"{len(texts)} canned texts, single and batch"


def p99_latency_ms(predict: Callable[[list[str]], np.ndarray], text: str = LATENCY_TEXT, *,
                   calls: int = LATENCY_CALLS, rounds: int = LATENCY_ROUNDS) -> float:
    """p99 of single-text scoring in milliseconds, the best of ``rounds`` rounds.

    The best round, as ``timeit`` does, because other processes on a shared machine only ever add time.
    """
    for _ in range(LATENCY_WARMUP):
        predict([text])
    best = math.inf
    for _ in range(rounds):
        samples = np.empty(calls)
        for i in range(calls):
            start = time.perf_counter()
            predict([text])
            samples[i] = time.perf_counter() - start
        best = min(best, float(np.percentile(samples, 99)) * 1000)
    return best


def evaluate_version(registry: Any, version: str, eval_set: EvalSet | None, *,
                     cache_dir: Path | None = None) -> tuple[CandidateEvidence, EvalSet | None]:
    """Load (and so verify) ``version`` and measure it on ``eval_set`` (default: its own held-out split).

    Returns the evidence and the set it was evaluated on (None when the version failed verification).
    """
    from sklearn.metrics import accuracy_score, f1_score

    from sentiment_mlops.registry import load_version

    try:
        loaded = load_version(registry, version, cache_dir=cache_dir)
    except IntegrityError as exc:
        return CandidateEvidence(version=version, artifacts_ok=False, artifacts_detail=str(exc)), eval_set
    if eval_set is None:
        if loaded.heldout_path is None:
            raise DataError(f"version {version} has no held-out split to evaluate on; pass --eval-data FILE")
        eval_set = heldout_eval_set(loaded.heldout_path, version)
    predict, classes, how = make_predictor(loaded.pipeline)
    probabilities = np.asarray(predict(eval_set.texts))
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    labels = sorted(set(eval_set.labels) | set(classes))
    macro_f1 = float(f1_score(eval_set.labels, predicted, labels=labels, average="macro", zero_division=0))
    accuracy = float(accuracy_score(eval_set.labels, predicted))
    smoke_ok, smoke_detail = smoke_test(predict, classes)
    latency = p99_latency_ms(predict) if smoke_ok else None
    evidence = CandidateEvidence(
        version=version,
        macro_f1=round(macro_f1, 6),
        accuracy=round(accuracy, 6),
        artifacts_ok=True,
        artifacts_detail="model and run artifacts match manifest sha256",
        smoke_ok=smoke_ok,
        smoke_detail=f"{smoke_detail}, {how}",
        p99_latency_ms=latency,
        eval_source=eval_set.source,
        eval_size=len(eval_set.texts),
    )
    return evidence, eval_set


def gather_gate_evidence(registry: Any, candidate_version: str, incumbent_version: str | None, *,
                         eval_path: Path | None = None, cache_dir: Path | None = None
                         ) -> tuple[CandidateEvidence, CandidateEvidence | None]:
    """Evaluate the candidate and the incumbent on the same rows: ``eval_path`` or the candidate's held-out split."""
    eval_set = read_eval_set(eval_path) if eval_path is not None else None
    candidate, eval_set = evaluate_version(registry, candidate_version, eval_set, cache_dir=cache_dir)
    if incumbent_version is None:
        return candidate, None
    if eval_set is None:
        # The candidate failed verification, so there is nothing shared to compare on; the gate fails anyway.
        return candidate, CandidateEvidence(version=incumbent_version,
                                            artifacts_detail="not evaluated: the candidate could not be loaded")
    try:
        incumbent, _ = evaluate_version(registry, incumbent_version, eval_set, cache_dir=cache_dir)
    except SentimentMLOpsError as exc:
        incumbent = CandidateEvidence(version=incumbent_version, artifacts_detail=str(exc))
    return candidate, incumbent


def rules_from_settings(settings: Any) -> GateRules:
    """The gate thresholds a user configured (``SENTIMENT_MLOPS_GATE_*``)."""
    return GateRules(
        max_macro_f1_drop=settings.gate_max_macro_f1_drop,
        min_macro_f1=settings.gate_min_macro_f1,
        max_p99_latency_ms=settings.gate_max_p99_latency_ms,
    )

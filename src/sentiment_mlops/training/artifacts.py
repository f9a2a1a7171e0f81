"""Write the seed-compatible artifacts of a training run to ``models/``."""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sklearn.pipeline import Pipeline

from sentiment_mlops.integrity import (
    MANIFEST_NAME,
    atomic_write_bytes,
    atomic_write_json,
    build_manifest,
    text_digest,
)
from sentiment_mlops.layout import (
    CONFUSION_JSON,
    CONFUSION_PNG,
    FEEDBACK_HELDOUT_FILE,
    FEEDBACK_TRAINED_FILE,
    HELDOUT_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PROFILE_FILE,
    SKOPS_FILE,
    VECTORIZER_FILE,
)
from sentiment_mlops.serialization import dump_skops
from sentiment_mlops.training.evaluation import Evaluation


@dataclass(frozen=True)
class ArtifactPaths:
    """Where one run's files are."""

    directory: Path
    files: dict[str, Path]
    manifest: dict[str, str]


def confusion_matrix_png(evaluation: Evaluation, title: str) -> bytes:
    """The confusion matrix as a PNG: counts in the cells, shading by each true label's recall."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # not pyplot: no global state, a second faster to import

    matrix = np.asarray(evaluation.confusion_matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(5.2, 4.4), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(evaluation.labels))
    ax.set_xticks(ticks, evaluation.labels)
    ax.set_yticks(ticks, evaluation.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, j in np.ndindex(matrix.shape):
        ax.text(j, i, f"{matrix[i, j]:,}\n{shares[i, j]:.0%}", ha="center", va="center",
                color="white" if shares[i, j] > 0.5 else "black", fontsize=9)
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _jsonl(texts: list[str], labels: list[str]) -> str:
    return "".join(json.dumps({"text": t, "label": y}, ensure_ascii=False) + "\n"
                   for t, y in zip(texts, labels, strict=False))


def write_artifacts(directory: Path, pipeline: Pipeline, evaluation: Evaluation, *, metadata: dict[str, Any],
                    profile: dict[str, Any], heldout: tuple[list[str], list[str]],
                    confusion_png: bytes | None = None,
                    feedback_heldout: tuple[list[str], list[str]] | None = None,
                    feedback_trained: list[str] | None = None) -> ArtifactPaths:
    """Write every artifact atomically, the manifest last, so a reader never sees a half-written run."""
    directory.mkdir(parents=True, exist_ok=True)
    vectorizer = pipeline.named_steps["tfidf"]
    classifier = pipeline.named_steps["clf"]
    metrics = {
        "accuracy": evaluation.accuracy,
        "macro_f1": evaluation.macro_f1,
        "labels": evaluation.labels,
        "classification_report": evaluation.report,
        "confusion_matrix": evaluation.confusion_matrix,
        **metadata,
    }
    heldout_lines = _jsonl(*heldout)
    title = f"{metadata.get('model_type', 'model')} — accuracy {evaluation.accuracy:.3f}"
    payloads: dict[str, bytes] = {
        MODEL_FILE: pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL),
        VECTORIZER_FILE: pickle.dumps(vectorizer, protocol=pickle.HIGHEST_PROTOCOL),
        CONFUSION_PNG: confusion_png or confusion_matrix_png(evaluation, title),
        HELDOUT_FILE: heldout_lines.encode(),
        PROFILE_FILE: json.dumps(profile, separators=(",", ":")).encode(),
        # What serving and the CLI load: skops admits only trusted types, where a pickle runs any code.
        SKOPS_FILE: dump_skops(pipeline),
    }
    if feedback_heldout is not None:
        payloads[FEEDBACK_HELDOUT_FILE] = _jsonl(*feedback_heldout).encode()
    if feedback_trained is not None:
        payloads[FEEDBACK_TRAINED_FILE] = "".join(f"{text_digest(t)}\n" for t in feedback_trained).encode()
    for name, data in payloads.items():
        atomic_write_bytes(directory / name, data)
    atomic_write_json(directory / METRICS_FILE, metrics)
    atomic_write_json(directory / CONFUSION_JSON,
                      {"labels": evaluation.labels, "matrix": evaluation.confusion_matrix})
    names = [*payloads, METRICS_FILE, CONFUSION_JSON]
    manifest = build_manifest(directory, names)
    atomic_write_json(directory / MANIFEST_NAME, {"files": manifest, "run_id": metadata.get("run_id"),
                                                   "model_version": metadata.get("model_version")})
    return ArtifactPaths(directory=directory, files={n: directory / n for n in names}, manifest=manifest)

"""Evaluate a fitted pipeline on held-out rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


@dataclass(frozen=True)
class Evaluation:
    """Held-out metrics of one model."""

    accuracy: float
    macro_f1: float
    labels: list[str]
    report: dict[str, Any]
    confusion_matrix: list[list[int]]

    def per_class(self) -> dict[str, dict[str, float]]:
        """precision / recall / f1 / support per label."""
        return {label: {k: float(v) for k, v in self.report[label].items()} for label in self.labels}

    def flat_metrics(self) -> dict[str, float]:
        """The metrics MLflow logs: accuracy, macro_f1 and ``{label}_{precision,recall,f1}``."""
        metrics = {"accuracy": self.accuracy, "macro_f1": self.macro_f1}
        for label, scores in self.per_class().items():
            metrics[f"{label}_precision"] = scores["precision"]
            metrics[f"{label}_recall"] = scores["recall"]
            metrics[f"{label}_f1"] = scores["f1-score"]
        return metrics


def evaluate_predictions(y_true: Sequence[str], y_pred: Sequence[str] | np.ndarray,
                         labels: Sequence[str]) -> Evaluation:
    """Accuracy, macro-F1, the classification report and the confusion matrix (rows = true labels)."""
    return _evaluate(y_true, y_pred, list(labels))


def _evaluate(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray, labels: list[str],
              sample_weight: np.ndarray | None = None) -> Evaluation:
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0,
                                   sample_weight=sample_weight)
    matrix = confusion_matrix(y_true, y_pred, labels=labels, sample_weight=sample_weight)
    return Evaluation(
        accuracy=float(accuracy_score(y_true, y_pred, sample_weight=sample_weight)),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0,
                                sample_weight=sample_weight)),
        labels=labels,
        report=report,
        confusion_matrix=np.rint(matrix).astype(int).tolist(),
    )

def evaluate_confusion(matrix: np.ndarray, labels: Sequence[str]) -> Evaluation:
    """The same ``Evaluation`` from a confusion matrix (rows = true ``labels``), as streamed evaluation counts it.

    Each cell becomes one weighted (true, predicted) pair, so the metrics are exactly those of the rows.

    >>> evaluate_confusion(np.array([[3, 1], [0, 4]]), ["negative", "positive"]).accuracy
    0.875
    """
    labels = list(labels)
    true_index, predicted_index = np.nonzero(matrix)
    names = np.array(labels, dtype=object)
    evaluation = _evaluate(names[true_index], names[predicted_index], labels,
                           sample_weight=matrix[true_index, predicted_index])
    for label in labels:  # weighted supports come back as floats; they count rows
        evaluation.report[label]["support"] = int(evaluation.report[label]["support"])
    for average in ("macro avg", "weighted avg"):
        if average in evaluation.report:
            evaluation.report[average]["support"] = int(evaluation.report[average]["support"])
    return evaluation

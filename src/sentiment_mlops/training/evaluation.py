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
    labels = list(labels)
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return Evaluation(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        labels=labels,
        report=report,
        confusion_matrix=matrix.astype(int).tolist(),
    )

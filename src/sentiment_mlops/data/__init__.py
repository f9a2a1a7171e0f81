"""Load, validate and fingerprint labelled text data."""

from __future__ import annotations

from sentiment_mlops.data.labels import LABELS, normalise_labels
from sentiment_mlops.data.loading import BUILTIN, Dataset, DataSummary, builtin_corpus_path, load_dataset, load_texts

__all__ = [
    "BUILTIN",
    "LABELS",
    "Dataset",
    "DataSummary",
    "builtin_corpus_path",
    "load_dataset",
    "load_texts",
    "normalise_labels",
]

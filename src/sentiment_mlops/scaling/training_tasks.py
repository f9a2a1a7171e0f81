"""What a worker runs for out-of-core training: one input file per task, read in chunks of rows.

Three passes, each a pure function of one file and what the client broadcast:

1. ``count_file``: rows, empty texts, raw label values, the document frequency of every term over the
   training rows, a digest of the rows and the held-out rows with the smallest sample keys.
2. ``fit_file``: the file's training rows vectorised by the fitted vectorizer and fed to a copy of the
   classifier with ``partial_fit``; returns its per-class feature and row counts.
3. ``evaluate_file``: the file's held-out rows scored; returns their confusion matrix.

A row belongs to the held-out split when a keyed hash of its text falls below ``test_size``: the split
needs no shuffle and no global state, and copies of one text always land on the same side, so a corpus
with repeated texts never tests on rows it trained on.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np

from sentiment_mlops.errors import DataError
from sentiment_mlops.scaling.inputs import InputFile, read_chunks, text_values
from sentiment_mlops.serving.scorer import Scorer

SPLIT_BUCKETS = 1 << 32


@dataclass(frozen=True)
class TrainingInputs:
    """The files and columns to train on, how many rows a chunk holds, and how rows are split."""

    files: list[InputFile]
    text_column: str
    label_column: str
    partition_rows: int
    test_size: float
    seed: int

    def split_keys(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(is_test, sample_key)`` per text, from a hash of the text keyed by the seed."""
        key = self.seed.to_bytes(8, "little", signed=True)
        digests = b"".join(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16, key=key).digest()
                           for t in texts)
        words = np.frombuffer(digests, dtype="<u8").reshape(-1, 2) if texts else np.zeros((0, 2), np.uint64)
        is_test = (words[:, 0] >> np.uint64(32)) < np.uint64(int(self.test_size * SPLIT_BUCKETS))
        return is_test, words[:, 1]


@dataclass(frozen=True)
class _Chunk:
    texts: list[str]  # non-empty texts only, stripped
    raw_labels: list[object]
    is_test: np.ndarray
    sample_keys: np.ndarray
    rows_read: int


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or (
        isinstance(value, str) and not value.strip())


def _chunks(file: InputFile, inputs: TrainingInputs) -> Iterator[_Chunk]:
    first_row = 0
    for frame in read_chunks(file, [inputs.text_column, inputs.label_column], inputs.partition_rows):
        texts = text_values(frame[inputs.text_column].tolist(), file, first_row)
        raw = frame[inputs.label_column].tolist()
        kept = [i for i, text in enumerate(texts) if text]
        missing = [i for i in kept if _is_missing(raw[i])]
        if missing:
            raise DataError(f"column {inputs.label_column!r} of {file.path} has an empty label at row "
                            f"{first_row + missing[0]}; every row with a text needs a label")
        kept_texts = [texts[i] for i in kept]
        is_test, sample_keys = inputs.split_keys(kept_texts)
        yield _Chunk(kept_texts, [_plain(raw[i]) for i in kept], is_test, sample_keys, len(texts))
        first_row += len(texts)


def _plain(value: object) -> object:
    # Labels as written: strings stripped, numpy scalars as Python numbers (hashable, comparable, picklable).
    if isinstance(value, str):
        return value.strip()
    return value.item() if isinstance(value, np.generic) else value


def _select(items: Sequence[Any], mask: np.ndarray) -> list[Any]:
    return [item for item, keep in zip(items, mask.tolist(), strict=True) if keep]


@dataclass
class FileCounts:
    """What pass 1 learns from one file."""

    rows_read: int = 0
    dropped_empty: int = 0
    train_rows: int = 0
    test_rows: int = 0
    train_labels: Counter[object] = field(default_factory=Counter)
    test_labels: Counter[object] = field(default_factory=Counter)
    document_frequency: Counter[str] = field(default_factory=Counter)
    # (sample key, text, raw label) of the held-out rows with the smallest keys: a uniform sample.
    sample: list[tuple[int, str, object]] = field(default_factory=list)
    digest: str = ""


def count_file(file: InputFile, inputs: TrainingInputs, vectorizer: Any, sample_rows: int) -> FileCounts:
    """Pass 1 over ``file``: counts, raw labels, training-row document frequencies (of the terms the unfitted
    ``vectorizer``'s analyzer finds) and a held-out sample."""
    analyzer: Callable[[str], list[str]] = vectorizer.build_analyzer()
    counts = FileCounts()
    digest = hashlib.sha256()
    for chunk in _chunks(file, inputs):
        counts.rows_read += chunk.rows_read
        counts.dropped_empty += chunk.rows_read - len(chunk.texts)
        for text, label in zip(chunk.texts, chunk.raw_labels, strict=True):
            digest.update(f"{label}\t{text}\n".encode("utf-8", "surrogatepass"))
        train = ~chunk.is_test
        train_texts = _select(chunk.texts, train)
        counts.train_rows += len(train_texts)
        counts.test_rows += len(chunk.texts) - len(train_texts)
        counts.train_labels.update(_select(chunk.raw_labels, train))
        counts.test_labels.update(_select(chunk.raw_labels, chunk.is_test))
        # A term counts once per document: the set of each text's terms, counted in C.
        counts.document_frequency.update(chain.from_iterable(map(set, map(analyzer, train_texts))))
        held_out = zip(_select(chunk.sample_keys.tolist(), chunk.is_test), _select(chunk.texts, chunk.is_test),
                       _select(chunk.raw_labels, chunk.is_test), strict=True)
        counts.sample = heapq.nsmallest(sample_rows, chain(counts.sample, held_out), key=lambda row: row[0])
    counts.digest = digest.hexdigest()
    return counts


@dataclass(frozen=True)
class FileFit:
    """What pass 2 learns from one file: the classifier's sums over its training rows."""

    feature_count: np.ndarray  # (n_classes, n_features)
    class_count: np.ndarray  # (n_classes,)


def fit_file(file: InputFile, inputs: TrainingInputs, vectorizer: Any, classifier: Any,
             label_map: dict[object, str]) -> FileFit:
    """Pass 2 over ``file``: ``partial_fit`` a copy of ``classifier`` on the file's training rows."""
    from sklearn.base import clone

    model = clone(classifier)
    classes = np.array(sorted(set(label_map.values())))
    fitted = False
    for chunk in _chunks(file, inputs):
        train = ~chunk.is_test
        texts = _select(chunk.texts, train)
        if not texts:
            continue
        labels = [label_map[label] for label in _select(chunk.raw_labels, train)]
        model.partial_fit(vectorizer.transform(texts), labels, classes=classes)
        fitted = True
    if not fitted:
        n_features = len(vectorizer.vocabulary_)
        return FileFit(np.zeros((len(classes), n_features)), np.zeros(len(classes)))
    return FileFit(np.asarray(model.feature_count_), np.asarray(model.class_count_))


def evaluate_file(file: InputFile, inputs: TrainingInputs, scorer: Scorer, label_map: dict[object, str],
                  labels: list[str]) -> np.ndarray:
    """Pass 3 over ``file``: the confusion matrix (rows: true ``labels``) of its held-out rows."""
    index = {label: i for i, label in enumerate(labels)}
    columns = np.array([index[c] for c in scorer.classes], dtype=np.int64)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for chunk in _chunks(file, inputs):
        texts = _select(chunk.texts, chunk.is_test)
        if not texts:
            continue
        truth = np.array([index[label_map[label]] for label in _select(chunk.raw_labels, chunk.is_test)])
        predicted = columns[scorer.predict_proba(texts).argmax(axis=1)]
        np.add.at(matrix, (truth, predicted), 1)
    return matrix

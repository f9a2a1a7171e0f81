"""Out-of-core training (``train --engine dask``): files of any size, in three passes over the workers.

The model is the in-memory default's, built from counts that add up across files: a vocabulary pass
counts each term's document frequency over the training rows (``training_tasks.count_file``), which gives
the ``TfidfVectorizer``'s vocabulary and ``idf_`` exactly as ``fit`` would; a fit pass ``partial_fit``s a
copy of the Naive Bayes classifier on each file (``fit_file``) and the client adds their counts; an
evaluation pass scores the held-out rows (``evaluate_file``). Naive Bayes' fit is a sum, so neither the
order of the rows nor the number of partitions changes the model: no shuffle is needed and one pass is
exact. The result is an ordinary ``Pipeline(TfidfVectorizer, MultinomialNB)``: it is published through
``training.run.publish`` like any other run, and serving compiles and verifies it as it does every version.

Memory: each worker holds one chunk of rows at a time; the client holds the term counts (one entry per
distinct term of the training rows), the per-class feature counts and a held-out sample of at most
``HELDOUT_SAMPLE_ROWS`` texts (for the reference profile, ``heldout.jsonl`` and the promotion gate).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from sentiment_mlops.data.labels import normalise_labels
from sentiment_mlops.data.loading import MIN_ROWS_PER_CLASS
from sentiment_mlops.errors import ConfigurationError, DataError
from sentiment_mlops.scaling.engine import Engine
from sentiment_mlops.scaling.inputs import InputFile, columns_of
from sentiment_mlops.scaling.training_tasks import (
    FileCounts,
    FileFit,
    TrainingInputs,
    count_file,
    evaluate_file,
    fit_file,
)
from sentiment_mlops.serving.scorer import compile_scorer
from sentiment_mlops.training.evaluation import evaluate_confusion
from sentiment_mlops.training.pipeline import build_pipeline
from sentiment_mlops.training.run import FittedRun, StepTimer, TrainOptions, drop_stop_words

# Naive Bayes: fitted by sums, so partitions add up exactly. The word+char models (logreg, linear_svc) fit
# iteratively on features no single pass can count; they train in memory.
OUT_OF_CORE_MODELS = ("mnb", "mnb_lexicon", "complement_nb")
HELDOUT_SAMPLE_ROWS = 20_000
PASSES = ("vocabulary", "fit", "evaluate")

# (pass name, files done) after each file of each pass.
ProgressCallback = Callable[[str, int], None]


def check_training_files(files: list[InputFile], text_column: str, label_column: str) -> None:
    """Fail before any work when a file lacks the text or the label column (or cannot be read)."""
    for file in files:
        columns = columns_of(file)
        for column, option in ((text_column, "--text-column"), (label_column, "--label-column")):
            if column not in columns:
                raise DataError(f"column {column!r} not found in {file.path}; columns found: "
                                f"{', '.join(columns)} (choose it with {option})")


def check_out_of_core_options(options: TrainOptions, epochs: int) -> Pipeline:
    """The unfitted pipeline ``options`` describe, or a ``ConfigurationError`` for what this engine cannot do."""
    options.validate()
    if options.model not in OUT_OF_CORE_MODELS:
        raise ConfigurationError(f"--engine dask trains {', '.join(OUT_OF_CORE_MODELS)}, not {options.model!r} "
                                 "(its fit is iterative over features a single pass cannot count); "
                                 "train it in memory with --engine local")
    if options.search_trials:
        raise ConfigurationError("--search needs the data in memory; use --engine local")
    if epochs != 1:
        raise ConfigurationError(f"--epochs {epochs}: {options.model} sums counts over every row, which one pass "
                                 "makes exact; another pass would count each row twice (use --epochs 1)")
    template = build_pipeline(options.model, options.params, seed=options.seed)
    vectorizer = template.named_steps["tfidf"]
    if vectorizer.max_features is not None or vectorizer.vocabulary is not None:
        raise ConfigurationError("--engine dask does not support the max_features or vocabulary parameters")
    return template


@dataclass
class _Totals:
    counts: FileCounts
    digests: list[str]
    sample: list[tuple[int, str, object]]


def _vocabulary_pass(engine: Engine, inputs: TrainingInputs, template: Pipeline,
                     on_file: Callable[[], None]) -> _Totals:
    unfitted = clone(template.named_steps["tfidf"])
    totals = _Totals(FileCounts(), [], [])
    for counts in engine.run(count_file, inputs.files, inputs, unfitted, HELDOUT_SAMPLE_ROWS):
        merged = totals.counts
        merged.rows_read += counts.rows_read
        merged.dropped_empty += counts.dropped_empty
        merged.train_rows += counts.train_rows
        merged.test_rows += counts.test_rows
        merged.train_labels.update(counts.train_labels)
        merged.test_labels.update(counts.test_labels)
        merged.document_frequency.update(counts.document_frequency)
        totals.digests.append(counts.digest)
        totals.sample = heapq.nsmallest(HELDOUT_SAMPLE_ROWS, chain(totals.sample, counts.sample),
                                        key=lambda row: row[0])
        on_file()
    return totals


def _label_map(counts: FileCounts) -> dict[object, str]:
    """Raw label value -> negative/neutral/positive, decided once over every value seen (0/1 means two
    classes only when no 2 appears anywhere)."""
    raw = sorted(counts.train_labels.keys() | counts.test_labels.keys(), key=repr)
    if not raw:
        raise DataError("no usable rows: every text is empty")
    return dict(zip(raw, normalise_labels(raw), strict=True))


def _check_classes(counts: FileCounts, label_map: dict[object, str]) -> list[str]:
    totals: dict[str, int] = {}
    in_training: set[str] = set()
    for raw, n in chain(counts.train_labels.items(), counts.test_labels.items()):
        totals[label_map[raw]] = totals.get(label_map[raw], 0) + n
    for raw in counts.train_labels:
        in_training.add(label_map[raw])
    if len(totals) < 2:
        raise DataError(f"the data has only one class ({next(iter(totals))}); at least two are needed")
    small = {label: n for label, n in totals.items() if n < MIN_ROWS_PER_CLASS or label not in in_training}
    if small:
        listed = ", ".join(f"{label}={n}" for label, n in sorted(small.items()))
        raise DataError(f"every class needs at least {MIN_ROWS_PER_CLASS} rows, some of them in the training "
                        f"split; the data has {listed}")
    if not counts.test_rows:
        raise DataError("no row fell in the held-out split; raise --test-size or add rows")
    return sorted(totals)


def fitted_vectorizer(template: Any, document_frequency: dict[str, int], n_documents: int) -> Any:
    """A copy of the unfitted ``template`` vectorizer with the vocabulary and ``idf_`` its ``fit`` would learn
    from documents with these per-term document frequencies."""
    vectorizer = clone(template)
    min_df, max_df = vectorizer.min_df, vectorizer.max_df
    low = min_df if isinstance(min_df, int) else min_df * n_documents
    high = max_df if isinstance(max_df, int) else max_df * n_documents
    terms = sorted(term for term, df in document_frequency.items() if low <= df <= high)
    if not terms:
        raise DataError(f"no term occurs in at least min_df={min_df} of the {n_documents:,} training texts")
    vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
    if vectorizer.use_idf:
        df = np.fromiter((document_frequency[t] for t in terms), dtype=np.float64, count=len(terms))
        smooth = int(vectorizer.smooth_idf)
        # TfidfTransformer.fit's formula: ln((1 + n) / (1 + df)) + 1 (smooth_idf), ln(n / df) + 1 otherwise.
        vectorizer.idf_ = np.log((n_documents + smooth) / (df + smooth)) + 1.0
    return vectorizer


def _merged_classifier(template: Any, fits: Iterator[FileFit], classes: list[str]) -> Any:
    feature_count: np.ndarray | None = None
    class_count: np.ndarray | None = None
    for fit in fits:
        feature_count = fit.feature_count if feature_count is None else feature_count + fit.feature_count
        class_count = fit.class_count if class_count is None else class_count + fit.class_count
    if feature_count is None or class_count is None:
        raise DataError("no input file to train on")
    # Naive Bayes' fitted state is per-class sums of feature values and of rows. One row per class holding
    # that class's mean, weighted by its row count, adds exactly those sums through the public partial_fit.
    means = feature_count / np.maximum(class_count, 1.0)[:, np.newaxis]
    classifier = clone(template)
    classifier.partial_fit(sp.csr_matrix(means), np.array(classes, dtype=object), classes=np.array(classes),
                           sample_weight=class_count)
    return classifier


def fit_out_of_core(inputs: TrainingInputs, options: TrainOptions, engine: Engine, *, template: Pipeline,
                    timer: StepTimer, source: str, engine_name: str,
                    on_progress: ProgressCallback = lambda name, done: None) -> FittedRun:
    """The three passes over ``inputs`` on ``engine``: a fitted pipeline and its held-out evaluation."""

    @contextmanager
    def stage(name: str) -> Iterator[Callable[[], None]]:
        done = 0

        def on_file() -> None:
            nonlocal done
            done += 1
            on_progress(name, done)

        with timer.step(name):
            yield on_file

    with stage("vocabulary") as on_file:
        totals = _vocabulary_pass(engine, inputs, template, on_file)
        label_map = _label_map(totals.counts)
        labels = _check_classes(totals.counts, label_map)
        vectorizer = fitted_vectorizer(template.named_steps["tfidf"], totals.counts.document_frequency,
                                       totals.counts.train_rows)
        totals.counts.document_frequency = Counter()  # the largest thing the client holds; done with it
    with stage("fit") as on_file:
        fits = engine.run(fit_file, inputs.files, inputs, vectorizer, template.named_steps["clf"], label_map)
        classifier = _merged_classifier(template.named_steps["clf"], _each(fits, on_file), labels)
        pipeline = Pipeline([("tfidf", vectorizer), ("clf", classifier)])
        drop_stop_words(pipeline)
    with stage("evaluate") as on_file:
        scorer = compile_scorer(pipeline)
        matrices = engine.run(evaluate_file, inputs.files, inputs, scorer, label_map, labels)
        confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for matrix in _each(matrices, on_file):
            confusion += matrix
        evaluation = evaluate_confusion(confusion, labels)
        sample = sorted(totals.sample, key=lambda row: row[0])
        heldout_texts = [text for _, text, _ in sample]
        heldout_labels = [label_map[raw] for _, _, raw in sample]
        probabilities = pipeline.predict_proba(heldout_texts)
    fingerprint = hashlib.sha256("".join(totals.digests).encode()).hexdigest()
    counts = totals.counts
    return FittedRun(
        pipeline=pipeline, evaluation=evaluation, heldout_texts=heldout_texts, heldout_labels=heldout_labels,
        heldout_probabilities=probabilities, dataset_size=counts.train_rows + counts.test_rows,
        train_size=counts.train_rows, test_size=counts.test_rows, data_source=source,
        data_fingerprint=fingerprint,
        extra_metadata={"training_engine": engine_name, "input_files": len(inputs.files),
                        "rows_read": counts.rows_read, "dropped_empty": counts.dropped_empty,
                        "heldout_sample_size": len(heldout_texts)},
    )


def _each(results: Iterator[Any], on_file: Callable[[], None]) -> Iterator[Any]:
    for result in results:
        yield result
        on_file()

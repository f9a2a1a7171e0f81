"""The reference profile that drift monitoring compares live traffic with.

It is computed on the HELD-OUT split: on training rows every token is in the vocabulary by construction
and confidences are optimistic, so a profile of them would make every real window look drifted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from sentiment_mlops.data.text_stats import DEFAULT_TOKEN_PATTERN, make_tokenizer, text_stats
from sentiment_mlops.training.pipeline import word_vectorizer

PROFILE_VERSION = 2  # 2: per_text.oov_terms


def unigram_vocabulary(pipeline: Pipeline) -> list[str]:
    """The single-word terms the fitted vectorizer knows, in a stable order."""
    vocabulary = word_vectorizer(pipeline).vocabulary_
    return sorted(term for term in vocabulary if " " not in term)


def reference_profile(pipeline: Pipeline, texts: Sequence[str], *, probabilities: np.ndarray | None = None
                      ) -> dict[str, Any]:
    """Per-text predicted label, confidence, length, OOV rate and term ids, plus the tokenizer settings.

    Keeping per-text values (not only histograms) lets monitoring resample windows of any size from the
    reference to calibrate its thresholds.
    """
    vectorizer = word_vectorizer(pipeline)
    classes = [str(c) for c in pipeline.classes_]
    if probabilities is None:
        probabilities = pipeline.predict_proba(list(texts))
    predicted = [classes[i] for i in probabilities.argmax(axis=1)]
    terms = unigram_vocabulary(pipeline)
    index = {term: i for i, term in enumerate(terms)}
    lowercase = bool(vectorizer.lowercase)
    strip_accents = vectorizer.strip_accents if isinstance(vectorizer.strip_accents, str) else None
    token_pattern = str(vectorizer.token_pattern or DEFAULT_TOKEN_PATTERN)
    tokenizer_settings = {"lowercase": lowercase, "strip_accents": strip_accents, "token_pattern": token_pattern}
    stats = text_stats(texts, index, make_tokenizer(lowercase=lowercase, strip_accents=strip_accents,
                                                    token_pattern=token_pattern))
    term_counts = np.zeros(len(terms), dtype=np.int64)
    for ids in stats.term_ids:
        np.add.at(term_counts, ids, 1)
    label_counts = {label: predicted.count(label) for label in classes}
    return {
        "profile_version": PROFILE_VERSION,
        "size": len(texts),
        "labels": classes,
        "tokenizer": tokenizer_settings,
        "vocabulary": terms,
        "predicted_label_counts": label_counts,
        "term_counts": term_counts.tolist(),
        "per_text": {
            "predicted": predicted,
            "confidence": [round(float(p), 6) for p in probabilities.max(axis=1)],
            "length": stats.lengths.tolist(),
            "oov_rate": [round(float(r), 6) for r in stats.oov_rates],
            "term_ids": stats.term_ids,
            # Drift's new-terms check: which unseen words recur across texts of a window.
            "oov_terms": stats.oov_terms,
        },
    }

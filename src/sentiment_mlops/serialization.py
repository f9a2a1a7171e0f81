"""The skops form of a fitted pipeline: how it is written (``dump_skops``) and read (``load_skops``, trusted
types only). Training writes it into ``models/`` and MLflow; serving and the CLI load it, never a pickle
unless asked to.

Fitted text vocabularies travel as arrays for skops and are restored after loading:

skops writes a dict entry by entry as JSON nodes: a 58k-term word vocabulary takes about two seconds
to dump and one to load, a 200k-term character vocabulary several times that. A vectorizer given
its terms through the ``vocabulary`` parameter needs no ``vocabulary_`` dict (scikit-learn rebuilds it
on the first ``transform``), and skops writes a numpy string array as one ``.npy`` entry. So the logged
model carries each vocabulary as an array of terms in column order; ``restore_vocabularies`` turns it
back into exactly the fitted object. Predictions are identical either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sentiment_mlops.errors import IntegrityError

# Types skops refuses by default that a pipeline of this project may hold (all scikit-learn's or ours).
SKOPS_TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",  # linear_svc versions registered before 2026-11-30
    "sklearn.calibration._TemperatureScaling",
    # The word vectorizer's tokenizer of mnb_lexicon: the lexicon markers (training/lexicon.py), our own code.
    "sentiment_mlops.training.lexicon.tokenize_with_sentiment",
]


def _text_vectorizers(estimator: Any) -> Iterator[Any]:
    """Every fitted CountVectorizer/TfidfVectorizer inside pipelines and feature unions, depth first."""
    from sklearn.feature_extraction.text import CountVectorizer

    if isinstance(estimator, CountVectorizer):
        yield estimator
    for name in ("steps", "transformer_list"):
        for _, part in getattr(estimator, name, None) or []:
            yield from _text_vectorizers(part)


@contextlib.contextmanager
def vocabularies_as_arrays(pipeline: Any) -> Iterator[Any]:
    """Within the block, each fitted vectorizer keeps its terms as a string array instead of a dict."""
    swapped: list[tuple[Any, dict[str, Any]]] = []
    try:
        for vectorizer in _text_vectorizers(pipeline):
            if getattr(vectorizer, "vocabulary", None) is not None or not hasattr(vectorizer, "vocabulary_"):
                continue  # a user-fixed vocabulary or an unfitted vectorizer: nothing to compact
            saved = {k: vectorizer.__dict__[k] for k in ("vocabulary", "vocabulary_", "fixed_vocabulary_")}
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
            vectorizer.vocabulary = np.array(terms, dtype=str)
            del vectorizer.vocabulary_
            swapped.append((vectorizer, saved))
        yield pipeline
    finally:
        for vectorizer, saved in swapped:
            vectorizer.__dict__.update(saved)


def restore_vocabularies(pipeline: Any) -> Any:
    """Undo ``vocabularies_as_arrays`` on a loaded model: plain ``str -> column`` dicts, as after fit."""
    for vectorizer in _text_vectorizers(pipeline):
        terms = getattr(vectorizer, "vocabulary", None)
        if isinstance(terms, np.ndarray) and not hasattr(vectorizer, "vocabulary_"):
            vectorizer.vocabulary_ = {str(term): i for i, term in enumerate(terms.tolist())}
            vectorizer.vocabulary = None
            vectorizer.fixed_vocabulary_ = False
    return pipeline


def dump_skops(pipeline: Any) -> bytes:
    """The pipeline as skops bytes, vocabularies as arrays (a second or more faster to write and read)."""
    import skops.io

    with vocabularies_as_arrays(pipeline):
        return bytes(skops.io.dumps(pipeline))


def load_skops(path: Path, *, what: str) -> Any:
    """Load a skops file holding only trusted types (``IntegrityError`` naming any other), vocabularies restored.

    ``what`` names the model in messages ("version 3", "models/").
    """
    import skops.io

    untrusted = [t for t in skops.io.get_untrusted_types(file=path) if t not in SKOPS_TRUSTED_TYPES]
    if untrusted:
        raise IntegrityError(f"{what} contains types this project does not load: {untrusted}")
    return restore_vocabularies(skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES))

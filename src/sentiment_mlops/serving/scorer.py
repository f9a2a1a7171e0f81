"""Compile a fitted ``Pipeline(TfidfVectorizer, MultinomialNB | LogisticRegression)`` into a scorer that skips
sklearn's per-call work.

``Pipeline.predict_proba`` validates its input, builds a sparse matrix, runs three transformers and checks
the result at every call: about half a millisecond for one tweet. The compiled scorer keeps exactly the
same arithmetic (the vectorizer's own analyzer, its vocabulary, ``idf_``, sublinear tf and l2 norm, then
a linear score per class and a softmax) with everything that can be prepared once prepared once. Both
classifiers score that way: naive Bayes with ``feature_log_prob_`` and ``class_log_prior_``, a multinomial
logistic regression with ``coef_`` and ``intercept_``.
Any other estimator falls back to the pipeline itself, so every fitted model can be served.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class TokenContribution:
    """How much one token pushed the decision toward the predicted class."""

    token: str
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """The tokens behind one prediction, or why there are none."""

    label: str
    tokens: list[TokenContribution]
    note: str | None = None


class Scorer(Protocol):
    """What serving needs from a model: class names, probabilities for texts, and an explanation."""

    classes: list[str]
    compiled: bool

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...
    def explain(self, text: str, top_k: int = DEFAULT_TOP_K) -> Explanation: ...


def _softmax_rows(jll: np.ndarray) -> np.ndarray:
    # The same arithmetic as sklearn's predict_proba: exp(jll - logsumexp(jll)).
    top = jll.max(axis=1, keepdims=True)
    log_norm = top + np.log(np.exp(jll - top).sum(axis=1, keepdims=True))
    return np.exp(jll - log_norm)


# sklearn's default token pattern: its tokens never contain a space, so an n-gram term "a b" is exactly
# the token sequence (a, b), and n-grams can be looked up as sequences of token ids.
_DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# The token patterns the batch path reproduces without running them: (the shortest run of word characters
# that is a token, the characters that are tokens on their own). Each pattern's tokens are exactly the
# maximal runs of word characters at least that long and each of those characters alone, in text order
# (a character that is a token alone is not a word character, so the two kinds never overlap); none holds
# a space. Tokens of one character (runs or punctuation) only where the shortest run is 1.
BATCH_TOKEN_PATTERNS: dict[str, tuple[int, str]] = {
    _DEFAULT_TOKEN_PATTERN: (2, ""),
    r"(?u)\b\w+\b": (1, ""),
    r"(?u)\b\w+\b|[!?]": (1, "!?"),  # the default model's (training/pipeline.py)
}


class _NonWordToSpace(dict[int, str]):
    """``str.translate``'s table: each non-word character to a space, each word character to itself, each
    character that is a token alone to itself between spaces, filled in as characters are met. A word
    character is what the token pattern's ``\\w`` matches: ``isalnum()`` or ``_`` (re's definition, checked
    over every code point). With ``drop_combining``, combining characters (``unicodedata.combining``) are
    removed instead, as ``strip_accents="unicode"`` removes them after its NFKD normalisation."""

    def __init__(self, alone: str = "", *, drop_combining: bool = False) -> None:
        super().__init__({ord(char): f" {char} " for char in alone})
        self.drop_combining = drop_combining

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if self.drop_combining and unicodedata.combining(char):
            value = ""
        else:
            value = char if char.isalnum() or char == "_" else " "
        self[code] = value
        return value


class _Preprocessor:
    """A vectorizer's own preprocessing (``lowercase`` then ``strip_accents``) for a whole batch.

    ``strip_accents="unicode"`` is split in two: the NFKD normalisation of the texts that are not ASCII here,
    and the removal of combining characters by the tokenizing table (``_NonWordToSpace(drop_combining=True)``)
    in the same pass that turns non-word characters into spaces. scikit-learn's ``strip_accents_unicode``
    rebuilds each such text character by character in Python: a quarter of a batch's time on tweets, where
    one text in eight is not ASCII.
    """

    def __init__(self, *, lowercase: bool, strip_accents: bool) -> None:
        self.lowercase = lowercase
        self.strip_accents = strip_accents

    def __call__(self, texts: list[str]) -> list[str]:
        prepared = list(map(str.lower, texts)) if self.lowercase else list(texts)
        if self.strip_accents:
            normalize = unicodedata.normalize
            for i, text in enumerate(prepared):
                if not text.isascii():
                    prepared[i] = normalize("NFKD", text)
        return prepared


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _NgramIndex:
    """The feature ids of a vocabulary's n-grams, looked up by integer key with numpy: an open-addressing
    hash table (linear probing, at most a quarter full), probed for a whole batch of keys at once.

    Three times faster than ``np.searchsorted`` over the sorted keys for a batch of bigrams (most of which
    are in no vocabulary): one or two cache lines per key instead of a binary search's eighteen steps.
    """

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: Fibonacci hashing

    def __init__(self, keys: np.ndarray, features: np.ndarray) -> None:
        self.size = len(keys)
        bits = max(int(4 * self.size).bit_length(), 4)
        self.mask = (1 << bits) - 1
        self.shift = np.uint64(64 - bits)
        self.slot_keys = np.full(self.mask + 1, -1, dtype=np.int64)  # keys are >= 0: -1 is an empty slot
        self.slot_features = np.full(self.mask + 1, -1, dtype=np.int64)
        pending, values = np.asarray(keys, dtype=np.int64), np.asarray(features, dtype=np.int64)
        slots = self._home(pending)
        while len(pending):  # each round, every empty slot wanted takes its first claimant; the rest probe on
            free = self.slot_keys[slots] == -1
            _, first = np.unique(np.where(free, slots, -1), return_index=True)
            placed = np.zeros(len(pending), dtype=bool)
            placed[first] = True
            placed &= free
            self.slot_keys[slots[placed]] = pending[placed]
            self.slot_features[slots[placed]] = values[placed]
            pending, values, slots = pending[~placed], values[~placed], (slots[~placed] + 1) & self.mask

    def _home(self, keys: np.ndarray) -> np.ndarray:
        return ((keys.astype(np.uint64) * self._MULTIPLIER) >> self.shift).astype(np.int64)

    def __len__(self) -> int:
        return self.size

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The feature id of each key (all ``>= 0``), -1 where the vocabulary has no such n-gram."""
        found = np.full(len(keys), -1, dtype=np.int64)
        slots = self._home(keys)
        active = np.arange(len(keys))
        while len(active):
            at = slots[active]
            held = self.slot_keys[at]
            hit = held == keys[active]
            found[active[hit]] = self.slot_features[at[hit]]
            active = active[~hit & (held != -1)]  # an occupied slot of another key: probe the next one
            slots[active] = (slots[active] + 1) & self.mask
        return found



class BatchWordAnalyzer:
    """The word analyzer of a ``TfidfVectorizer`` applied to a whole batch at once.

    ``build_analyzer()`` runs a Python loop per token (n-grams joined into strings one at a time, then a
    dict lookup each): about 25 ms for 1,000 tweets. Here the vectorizer's own preprocessing runs for the
    batch (``_Preprocessor``, or its preprocessor per text); the token pattern's regular expression is
    replaced by what it computes (``BATCH_TOKEN_PATTERNS``), maximal runs of word characters and single
    punctuation tokens: each text's other non-word characters become spaces (``str.translate``). Arrow then
    splits the batch on spaces and looks every token up in the vocabulary's tokens (``index_in``, a C++ hash
    table), so no Python object is made per token. The n-grams are found with numpy: a token id indexes the
    unigram features directly; the ids of n > 1 consecutive tokens of one text make one integer key, looked
    up in a hash table of the vocabulary's n-grams (``_NgramIndex``). The terms found are exactly the
    analyzer's, so the counts and the probabilities are the same.
    """

    def __init__(self, *, preprocess: Callable[[str], str], vocabulary: dict[str, int],
                 ngram_range: tuple[int, int], token_pattern: str = _DEFAULT_TOKEN_PATTERN,
                 batch_preprocess: _Preprocessor | None = None) -> None:
        self.preprocess = preprocess
        self.batch_preprocess = batch_preprocess
        self.shortest_run, alone = BATCH_TOKEN_PATTERNS[token_pattern]
        self.min_n, self.max_n = ngram_range
        grams: list[list[tuple[list[str], int]]] = [[] for _ in range(self.max_n + 1)]
        for term, feature in vocabulary.items():
            parts = term.split(" ")
            if len(parts) <= self.max_n:
                grams[len(parts)].append((parts, feature))
        self.token_ids: dict[str, int] = {}
        for by_length in grams:
            for parts, _ in by_length:
                for token in parts:
                    self.token_ids.setdefault(token, len(self.token_ids))
        self.base = max(len(self.token_ids), 1)
        if (self.base + 1) ** self.max_n >= 2 ** 62:
            raise OverflowError(f"{self.base:,} tokens in {self.max_n}-grams: the n-gram keys would not fit in int64")
        self._token_values: Any = None  # the tokens as an Arrow array in id order, made on first use
        self.non_word_to_space = _NonWordToSpace(
            alone, drop_combining=batch_preprocess is not None and batch_preprocess.strip_accents)
        # Unigram feature of each token id; the extra last entry (-1) answers the id -1 of an unknown token.
        self.unigram_features = np.full(len(self.token_ids) + 1, -1, dtype=np.int64)
        for parts, feature in grams[1]:
            self.unigram_features[self.token_ids[parts[0]]] = feature
        # For each n > 1: the n-grams' feature ids by key, and which tokens can be an n-gram's first and last.
        self.ngrams: dict[int, _NgramIndex] = {}
        self.can_start: dict[int, np.ndarray] = {}
        self.can_end: dict[int, np.ndarray] = {}
        for n in range(max(self.min_n, 2), self.max_n + 1):
            ids = np.array([[self.token_ids[t] for t in parts] for parts, _ in grams[n]],
                           dtype=np.int64).reshape(-1, n)
            self.ngrams[n] = _NgramIndex(self._ngram_keys([ids[:, k] for k in range(n)]),
                                         np.array([feature for _, feature in grams[n]], dtype=np.int64))
            # Indexed by token id, the extra last entry for the id -1 of an unknown token (never either).
            self.can_start[n] = np.zeros(len(self.token_ids) + 1, dtype=bool)
            self.can_start[n][ids[:, 0]] = True
            self.can_end[n] = np.zeros(len(self.token_ids) + 1, dtype=bool)
            self.can_end[n][ids[:, -1]] = True

    def _ngram_keys(self, token_ids: list[np.ndarray]) -> np.ndarray:
        """The integer key of each n-gram, from the ids of its first, second, ... tokens: the ids as digits in
        base ``self.base`` (the index's keys and the batch's candidates are made here alike)."""
        key = np.zeros(len(token_ids[0]), dtype=np.int64)
        for ids in token_ids:
            key = key * self.base + ids
        return key

    @classmethod
    def for_vectorizer(cls, vectorizer: Any) -> BatchWordAnalyzer | None:
        """The batch analyzer of a fitted ``vectorizer``, or None where its analyzer does something this
        one would not (a callable or character analyzer, a custom tokenizer, a token pattern not in
        ``BATCH_TOKEN_PATTERNS``, stop words, file input)."""
        # A tokenizer of its own (the lexicon models' tokenize_with_sentiment, training/lexicon.py, adds marker
        # tokens that are in no text) keeps the per-text analyzer: the batch path makes the pattern's tokens only.
        plain = (vectorizer.analyzer == "word" and vectorizer.input == "content" and vectorizer.tokenizer is None
                 and vectorizer.token_pattern in BATCH_TOKEN_PATTERNS and vectorizer.get_stop_words() is None)
        min_n, max_n = vectorizer.ngram_range
        if not plain or not 1 <= min_n <= max_n:
            return None
        # scikit-learn's own preprocessing, done for the batch at once where it is lowercase and/or unicode
        # accent stripping (build_preprocessor's choices); anything else runs its preprocessor per text.
        batch_preprocess = None
        if vectorizer.preprocessor is None and vectorizer.strip_accents in (None, False, "unicode"):
            batch_preprocess = _Preprocessor(lowercase=bool(vectorizer.lowercase),
                                             strip_accents=vectorizer.strip_accents == "unicode")
        try:
            return cls(preprocess=vectorizer.build_preprocessor(), vocabulary=vectorizer.vocabulary_,
                       ngram_range=(min_n, max_n), token_pattern=vectorizer.token_pattern,
                       batch_preprocess=batch_preprocess)
        except OverflowError:  # the n-gram keys would not fit in int64
            return None

    def token_ids_of(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(token id, text index)`` of every token of ``texts`` in order (id -1: a token no term holds)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self._token_values is None:
            # A vocabulary token Arrow cannot hold as UTF-8 (a lone surrogate) never matches a batch token (the
            # tokenizing table turns surrogates into spaces): it stands as a string no split can produce.
            self._token_values = pa.array([token if _encodable(token) else f" {i}" for i, token
                                           in enumerate(self.token_ids)], type=pa.large_string())
        translate = self.non_word_to_space
        prepared = self.batch_preprocess(texts) if self.batch_preprocess is not None else map(self.preprocess, texts)
        # Only word characters, the tokens-alone and spaces are left: the tokens are what the spaces separate
        # (ASCII whitespace splitting suffices, and no byte of a multi-byte UTF-8 character is ASCII).
        words = pc.ascii_split_whitespace(pa.array([text.translate(translate) for text in prepared],
                                                   type=pa.large_string()))
        tokens = words.flatten()
        # Arrow keeps the empty strings before a text's first space and after its last; the shortest run
        # drops them with the runs the token pattern is too long for.
        keep = pc.greater_equal(pc.utf8_length(tokens), max(self.shortest_run, 1)).to_numpy(zero_copy_only=False)
        ids = pc.index_in(tokens, value_set=self._token_values).fill_null(-1).to_numpy(zero_copy_only=False)
        text_of = np.repeat(np.arange(len(texts), dtype=np.int64), pc.list_value_length(words).to_numpy())
        return ids[keep].astype(np.int64), text_of[keep]

    def feature_ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(row, feature id)`` of every in-vocabulary term occurrence of ``texts``, in any order."""
        if not all(isinstance(text, str) for text in texts):
            raise TypeError("texts must be str")  # the analyzer would decode bytes; refuse rather than differ
        ids, text_of = self.token_ids_of(texts)
        rows: list[np.ndarray] = []
        features: list[np.ndarray] = []
        if self.min_n == 1 and len(ids):
            found = self.unigram_features[ids]
            keep = found >= 0
            rows.append(text_of[keep])
            features.append(found[keep])
        for n in range(max(self.min_n, 2), self.max_n + 1):
            count = len(ids) - n + 1
            if count <= 0 or not len(self.ngrams[n]):
                continue
            # A candidate: first and last tokens in one text, every token known, the first one that starts
            # some n-gram of the vocabulary and the last one that ends one.
            keep = (text_of[:count] == text_of[n - 1:]) & self.can_start[n][ids[:count]] & self.can_end[n][ids[n - 1:]]
            for k in range(1, n - 1):
                keep &= ids[k:k + count] >= 0
            at = np.flatnonzero(keep)
            found = self.ngrams[n].lookup(self._ngram_keys([ids[at + k] for k in range(n)]))
            known = found >= 0
            rows.append(text_of[at[known]])
            features.append(found[known])
        if not features:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(rows), np.concatenate(features)


def _linear_parts(classifier: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(weights (n_classes, n_features), bias)`` whose softmax is the classifier's ``predict_proba``."""
    if hasattr(classifier, "feature_log_prob_"):  # MultinomialNB
        return np.asarray(classifier.feature_log_prob_, dtype=np.float64), np.asarray(classifier.class_log_prior_,
                                                                                       dtype=np.float64)
    coef = np.asarray(classifier.coef_, dtype=np.float64)
    intercept = np.asarray(classifier.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # binary: sigmoid(z) is the softmax of (-z/2, z/2)
        return np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


class CompiledLinear:
    """TF-IDF + MultinomialNB or LogisticRegression scoring with numpy, equal to ``Pipeline.predict_proba``
    within 1e-9."""

    compiled = True

    def __init__(self, vectorizer: Any, classifier: Any) -> None:
        self.analyzer = vectorizer.build_analyzer()
        self.vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self.binary = bool(vectorizer.binary)
        self.sublinear_tf = bool(vectorizer.sublinear_tf)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else None
        self.normalise = vectorizer.norm == "l2"
        self.classes = [str(c) for c in classifier.classes_]
        weights, bias = _linear_parts(classifier)
        # (n_features, n_classes), contiguous: one text gathers a few rows instead of scattering columns.
        self.log_prob_by_feature = np.ascontiguousarray(weights.T)
        self.class_log_prior = bias
        self.centred_log_prob = self.log_prob_by_feature - self.log_prob_by_feature.mean(axis=1, keepdims=True)
        self.terms = {index: term for term, index in self.vocabulary.items()}
        self.batch_analyzer = BatchWordAnalyzer.for_vectorizer(vectorizer)

    def _counts_one(self, text: str) -> tuple[list[int], list[int]]:
        lookup = self.vocabulary.get
        row: dict[int, int] = {}
        for index in map(lookup, self.analyzer(text)):
            if index is not None:
                row[index] = row.get(index, 0) + 1
        return list(row), list(row.values())

    def _counts_many(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Term counts of many texts, counted by numpy instead of a dict per text."""
        if self.batch_analyzer is not None:
            rows_of, found = self.batch_analyzer.feature_ids(texts)
        else:
            analyzer, lookup = self.analyzer, self.vocabulary.get
            ids: list[int] = []
            lengths: list[int] = []
            for text in texts:
                known = [i for i in map(lookup, analyzer(text)) if i is not None]
                ids.extend(known)
                lengths.append(len(known))
            rows_of = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
            found = np.array(ids, dtype=np.int64)
        n_features = self.log_prob_by_feature.shape[0]
        keys = rows_of * n_features + found
        unique, counts = np.unique(keys, return_counts=True)
        rows = unique // n_features
        offsets = np.zeros(len(texts) + 1, dtype=np.intp)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=offsets[1:])
        return offsets, (unique % n_features).astype(np.intp), counts

    def _rows(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The CSR parts (indptr, indices, tf-idf weights) of the rows ``TfidfVectorizer.transform`` builds."""
        if len(texts) == 1:
            indices, counts = self._counts_one(texts[0])
            offsets = np.array([0, len(indices)], dtype=np.intp)
            columns = np.array(indices, dtype=np.intp)
            tf = np.array(counts, dtype=np.float64)
        else:
            offsets, columns, raw = self._counts_many(texts)
            tf = raw.astype(np.float64)
        if self.binary:
            tf[:] = 1.0
        elif self.sublinear_tf:
            tf = np.log(tf) + 1.0
        weights = tf * self.idf[columns] if self.idf is not None else tf
        if self.normalise and len(weights):
            row_of = np.repeat(np.arange(len(texts)), np.diff(offsets))
            norms = np.sqrt(np.bincount(row_of, weights * weights, minlength=len(texts)))
            weights = weights / norms[row_of]
        return offsets, columns, weights

    def score_one(self, text: str) -> np.ndarray:
        """Class probabilities of one text, shape ``(n_classes,)``."""
        _, columns, weights = self._rows([text])
        jll = weights @ self.log_prob_by_feature[columns] + self.class_log_prior
        shifted = np.exp(jll - jll.max())
        return shifted / shifted.sum()

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:
            return self.score_one(texts[0])[np.newaxis, :]
        offsets, columns, weights = self._rows(texts)
        matrix = sp.csr_matrix((weights, columns, offsets), shape=(len(texts), self.log_prob_by_feature.shape[0]))
        jll = np.asarray(matrix @ self.log_prob_by_feature) + self.class_log_prior
        return _softmax_rows(jll)

    def explain(self, text: str, top_k: int = DEFAULT_TOP_K) -> Explanation:
        """Per-token contribution: tf-idf weight x (log P(token|class) - its mean over classes)."""
        _, columns, weights = self._rows([text])
        jll = weights @ self.log_prob_by_feature[columns] + self.class_log_prior
        best = int(jll.argmax())
        contributions = weights * self.centred_log_prob[columns, best]
        order = np.argsort(-contributions, kind="stable")[:top_k]
        tokens = [TokenContribution(self.terms[int(columns[i])], float(contributions[i])) for i in order]
        note = None if tokens else "no token of this text is in the model's vocabulary"
        return Explanation(self.classes[best], tokens, note)


class PipelineScorer:
    """The fallback: the sklearn pipeline as it is, for estimators the compiler does not know."""

    compiled = False

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.classes = [str(c) for c in pipeline.classes_]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.pipeline.predict_proba(texts), dtype=np.float64)

    def explain(self, text: str, top_k: int = DEFAULT_TOP_K) -> Explanation:
        probabilities = self.predict_proba([text])[0]
        best = int(probabilities.argmax())
        label = self.classes[best]
        transform, classifier = self.pipeline[:-1], self.pipeline[-1]
        coef = getattr(classifier, "coef_", None)
        names = getattr(transform, "get_feature_names_out", None)
        if coef is None or names is None:
            return Explanation(label, [], f"{type(classifier).__name__} has no per-feature coefficients to explain")
        row = transform.transform([text]).tocsr()
        coef = np.asarray(coef)
        # Binary linear models keep one coefficient row: it points toward classes_[1].
        weights = coef[best] if coef.shape[0] > 1 else (coef[0] if best == 1 else -coef[0])
        contributions = row.data * weights[row.indices]
        feature_names = names()
        order = np.argsort(-contributions, kind="stable")[:top_k]
        tokens = [TokenContribution(str(feature_names[row.indices[i]]), float(contributions[i])) for i in order]
        return Explanation(label, tokens, None if tokens else "no token of this text is in the model's vocabulary")


def _compilable(pipeline: Any) -> bool:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import MultinomialNB

    steps = getattr(pipeline, "steps", None)
    if not steps or len(steps) != 2:
        return False
    vectorizer, classifier = steps[0][1], steps[1][1]
    # Exact types: a subclass may override transform or predict in ways the compiled path would miss.
    # LogisticRegression's predict_proba is the softmax of its decision function for more than two classes
    # (multinomial, scikit-learn >= 1.5 for every solver but liblinear, which is one-vs-rest).
    linear = type(classifier) is MultinomialNB or (type(classifier) is LogisticRegression
                                                   and classifier.solver != "liblinear")
    return (type(vectorizer) is TfidfVectorizer and linear
            and vectorizer.norm in ("l2", None) and np.dtype(vectorizer.dtype) == np.float64)


def compile_scorer(pipeline: Any) -> CompiledLinear | PipelineScorer:
    """The fastest scorer that gives the pipeline's own probabilities.

    >>> from sentiment_mlops.training.pipeline import build_pipeline
    >>> texts, labels = ["good day", "bad day", "a day"], ["positive", "negative", "neutral"]
    >>> model = build_pipeline("mnb", {"min_df": 1}).fit(texts, labels)
    >>> type(compile_scorer(model)).__name__
    'CompiledLinear'
    """
    if _compilable(pipeline):
        return CompiledLinear(pipeline.steps[0][1], pipeline.steps[1][1])
    return PipelineScorer(pipeline)

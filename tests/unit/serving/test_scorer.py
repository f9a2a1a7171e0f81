"""The compiled scorer gives the pipeline's own probabilities; other estimators fall back to the pipeline."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentiment_mlops.serving.scorer import BATCH_TOKEN_PATTERNS, CompiledLinear, PipelineScorer, compile_scorer
from sentiment_mlops.training.lexicon import MARKERS
from sentiment_mlops.training.pipeline import build_pipeline


def test_compiled_probabilities_equal_the_pipeline_on_the_heldout_split(mnb_pipeline: Any, corpus_split: Any) -> None:
    _, x_test, _, _ = corpus_split
    scorer = compile_scorer(mnb_pipeline)
    assert isinstance(scorer, CompiledLinear)
    expected = mnb_pipeline.predict_proba(x_test)
    np.testing.assert_allclose(scorer.predict_proba(x_test), expected, rtol=0, atol=1e-9)
    one_by_one = np.vstack([scorer.predict_proba([text]) for text in x_test])
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-9)
    assert scorer.classes == [str(c) for c in mnb_pipeline.classes_]


@pytest.mark.slow
def test_compiled_probabilities_equal_the_pipeline_on_the_full_builtin_heldout_split() -> None:
    from sklearn.model_selection import train_test_split

    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.training.pipeline import build_pipeline

    data = load_dataset("builtin")
    x_train, x_test, y_train, _ = train_test_split(data.texts, data.labels, test_size=0.2, random_state=42,
                                                   stratify=data.labels)
    pipeline = build_pipeline("mnb").fit(x_train, y_train)
    np.testing.assert_allclose(compile_scorer(pipeline).predict_proba(x_test), pipeline.predict_proba(x_test),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("text", ["", "zzzz qqqq", "!!!", "😀", "\u0000", "a " * 3000])
def test_edge_texts_match_the_pipeline(mnb_pipeline: Any, text: str) -> None:
    scorer = compile_scorer(mnb_pipeline)
    np.testing.assert_allclose(scorer.predict_proba([text]), mnb_pipeline.predict_proba([text]), atol=1e-9)
    np.testing.assert_allclose(scorer.predict_proba([text, "thanks"]), mnb_pipeline.predict_proba([text, "thanks"]),
                               atol=1e-9)


@pytest.mark.parametrize("params", [{"sublinear_tf": False}, {"binary": True}, {"norm": None}, {"use_idf": False},
                                    {"fit_prior": True}, {"ngram_range": (1, 1), "strip_accents": None},
                                    {"ngram_range": (1, 3)}, {"ngram_range": (2, 2)}, {"lowercase": False},
                                    {"strip_accents": "ascii"}, {"token_pattern": r"(?u)\b\w+\b"}])
def test_vectorizer_and_prior_options_are_compiled_exactly(corpus_split: Any, params: dict[str, Any]) -> None:
    from sentiment_mlops.training.pipeline import build_pipeline

    x_train, x_test, y_train, _ = corpus_split
    pipeline = build_pipeline("mnb", params).fit(x_train[:800], y_train[:800])
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, CompiledLinear)
    np.testing.assert_allclose(scorer.predict_proba(x_test[:200]), pipeline.predict_proba(x_test[:200]), atol=1e-9)


@pytest.mark.parametrize("labels", [None, ("negative", "positive")])
def test_the_default_logistic_model_is_compiled_exactly(corpus_split: Any, labels: tuple[str, ...] | None) -> None:
    """The default (lexicon markers + multinomial logistic regression), and a two-class one (sigmoid)."""
    x_train, x_test, y_train, _ = corpus_split
    rows = [i for i, y in enumerate(y_train[:1500]) if labels is None or y in labels]
    pipeline = build_pipeline().fit([x_train[i] for i in rows], [y_train[i] for i in rows])
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, CompiledLinear) and scorer.batch_analyzer is not None
    texts = [*x_test[:300], "", "not bad at all", "😀"]
    np.testing.assert_allclose(scorer.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-9)
    np.testing.assert_allclose(scorer.predict_proba(texts[:1]), pipeline.predict_proba(texts[:1]), rtol=0, atol=1e-9)


@pytest.mark.parametrize("model", ["complement_nb", "logreg", "linear_svc"])
def test_other_estimators_fall_back_to_the_pipeline(corpus_split: Any, model: str) -> None:
    from sentiment_mlops.training.pipeline import build_pipeline

    x_train, x_test, y_train, _ = corpus_split
    pipeline = build_pipeline(model).fit(x_train[:900], y_train[:900])
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, PipelineScorer) and not scorer.compiled
    np.testing.assert_array_equal(scorer.predict_proba(x_test[:50]), pipeline.predict_proba(x_test[:50]))


def test_feature_union_falls_back(corpus_split: Any) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import FeatureUnion, Pipeline

    x_train, _, y_train, _ = corpus_split
    union = FeatureUnion([("word", TfidfVectorizer()), ("char", TfidfVectorizer(analyzer="char_wb"))])
    pipeline = Pipeline([("tfidf", union), ("clf", MultinomialNB())]).fit(x_train[:500], y_train[:500])
    assert isinstance(compile_scorer(pipeline), PipelineScorer)


def test_explain_ranks_the_tokens_of_the_text_for_the_predicted_class(mnb_pipeline: Any) -> None:
    scorer = compile_scorer(mnb_pipeline)
    text = "thank you so much, great crew and a lovely flight"
    explanation = scorer.explain(text, top_k=5)
    predicted = mnb_pipeline.predict([text])[0]
    assert explanation.label == predicted and 0 < len(explanation.tokens) <= 5
    values = [t.contribution for t in explanation.tokens]
    assert values == sorted(values, reverse=True)
    # A term is a word or bigram of the text, or made of the lexicon's marker tokens (training/lexicon.py).
    assert all(t.token in text or set(t.token.split()) & MARKERS for t in explanation.tokens)
    # The contributions are exactly tf-idf weight x centred log-probability of the predicted class.
    vectorizer, classifier = mnb_pipeline.steps[0][1], mnb_pipeline.steps[1][1]
    row = vectorizer.transform([text])
    klass = list(classifier.classes_).index(predicted)
    centred = classifier.feature_log_prob_ - classifier.feature_log_prob_.mean(axis=0)
    top = explanation.tokens[0]
    column = vectorizer.vocabulary_[top.token]
    assert top.contribution == pytest.approx(row[0, column] * centred[klass, column])


def test_explain_says_why_when_nothing_is_known(mnb_pipeline: Any) -> None:
    explanation = compile_scorer(mnb_pipeline).explain("qqqq zzzz")
    assert explanation.tokens == [] and "vocabulary" in (explanation.note or "")
    # With the lexicon markers (mnb_lexicon), unknown words leave the "no sentiment word" marker.
    lexicon = build_pipeline("mnb_lexicon", {"min_df": 1})
    lexicon.fit(["good day", "bad day", "a day"], ["positive", "negative", "neutral"])
    marked = compile_scorer(lexicon).explain("qqqq zzzz")
    assert marked.tokens and all(set(t.token.split()) <= MARKERS for t in marked.tokens)


def test_fallback_explain_uses_coefficients_or_says_why(corpus_split: Any) -> None:
    from sentiment_mlops.training.pipeline import build_pipeline

    x_train, _, y_train, _ = corpus_split
    logreg = compile_scorer(build_pipeline("logreg").fit(x_train[:900], y_train[:900]))
    explained = logreg.explain("thank you, great flight", top_k=3)
    assert 0 < len(explained.tokens) <= 3 and explained.note is None
    complement = compile_scorer(build_pipeline("complement_nb").fit(x_train[:900], y_train[:900]))
    assert complement.explain("thank you").tokens == []
    assert "ComplementNB" in (complement.explain("thank you").note or "")


def test_the_batch_path_finds_every_term_the_analyzer_finds(mnb_pipeline: Any, corpus_split: Any) -> None:
    """Counts, not only probabilities: the vectorised batch analyzer sees exactly the analyzer's n-grams,
    including ones that would straddle two texts if the batch were one string."""
    _, x_test, _, _ = corpus_split
    scorer = compile_scorer(mnb_pipeline)
    assert isinstance(scorer, CompiledLinear) and scorer.batch_analyzer is not None
    texts = x_test[:300] + ["thank you", "thank", "you", "", "you thank"]
    offsets, columns, counts = scorer._counts_many(texts)
    expected = mnb_pipeline.named_steps["tfidf"].transform(texts)
    expected.sum_duplicates()
    for row in range(len(texts)):
        got = dict(zip(columns[offsets[row]:offsets[row + 1]].tolist(), counts[offsets[row]:offsets[row + 1]].tolist(),
                       strict=True))
        assert set(got) == set(expected[row].indices.tolist()), texts[row]


def test_a_custom_token_pattern_keeps_the_per_text_analyzer(corpus_split: Any) -> None:
    from sentiment_mlops.training.pipeline import build_pipeline

    x_train, _, y_train, _ = corpus_split
    pipeline = build_pipeline("mnb", {"token_pattern": r"\S+"}).fit(x_train[:300], y_train[:300])
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, CompiledLinear) and scorer.batch_analyzer is None


def test_the_batch_tokens_are_the_token_patterns_on_any_characters(mnb_pipeline: Any, corpus_split: Any) -> None:
    """The batch path splits on non-word characters instead of running the token pattern: the same tokens
    for underscores, digits, other scripts, emoji, accents, NUL (once the batch's own separator) and tabs."""
    _, x_test, _, _ = corpus_split
    texts = ["foo_bar__ great day", "naïve café ÉTUDE", "great😀day 😀 flight", "١٢٣ great ٤٥", "x\x00\x00y \x00\x00",
             "great\tday\nflight", "a b c great", "ΣΑΣ ΟΔΟΣ great", "ｆｕｌｌ ｗｉｄｔｈ", "", "can't won't",
             *x_test[:200]]
    scorer = compile_scorer(mnb_pipeline)
    _assert_counts_are_count_vectorizers(scorer, mnb_pipeline, texts)
    np.testing.assert_allclose(scorer.predict_proba(texts), mnb_pipeline.predict_proba(texts), rtol=0, atol=1e-9)


@pytest.mark.parametrize("token_pattern", sorted(BATCH_TOKEN_PATTERNS))
def test_each_batch_token_pattern_counts_what_its_regex_counts(corpus_split: Any, token_pattern: str) -> None:
    """Runs of one word character, "!" and "?" alone or in runs, next to words, and NUL (once the batch's separator)."""
    x_train, x_test, y_train, _ = corpus_split
    pipeline = build_pipeline("mnb", {"token_pattern": token_pattern, "ngram_range": (1, 3)}).fit(x_train, y_train)
    texts = ["a great day!", "why?? really?!", "!great!day? ", "I ❤ it !!!", "x\x00\x00y !\x00\x00?", "¡¿ok? ？！",
             "u r 2 good", "", "!", *x_test[:200]]
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, CompiledLinear) and scorer.batch_analyzer is not None
    _assert_counts_are_count_vectorizers(scorer, pipeline, texts)
    np.testing.assert_allclose(scorer.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-9)


# Accents precomposed and combining, a ligature, superscripts, letters whose case changes their length or
# their neighbours, non-breaking space, NUL, emoji, lone surrogates.
_ACCENTED = st.text(alphabet=st.sampled_from(list("abcdeé É\u0301\u0308\u0327ﬁ²Ⅻ!?_ 1ΣσςİıßÅ\u00a0\x00.'😀\ud800")),
                    max_size=25)


@pytest.mark.parametrize("options", [{"strip_accents": "unicode"}, {"strip_accents": None},
                                     {"strip_accents": "unicode", "lowercase": False}, {"strip_accents": "ascii"}])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_ACCENTED, min_size=2, max_size=6))
def test_the_batch_preprocessing_counts_what_the_vectorizer_counts(options: dict[str, Any], texts: list[str]) -> None:
    """Lowercasing, NFKD and the removal of combining marks done for the batch at once give the terms of the
    vectorizer's own per-text preprocessor, for accents, ligatures, case-changing letters and NUL."""
    pipeline = _accent_pipeline(tuple(sorted(options.items())))
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, CompiledLinear) and scorer.batch_analyzer is not None
    _assert_counts_are_count_vectorizers(scorer, pipeline, texts)


@functools.cache
def _accent_pipeline(options: tuple[tuple[str, Any], ...]) -> Any:
    """A model whose vocabulary holds accented, unaccented, cased and ligature words and their bigrams."""
    words = ["cafe", "café", "naive", "naïve", "fi", "ﬁ", "etude", "étude", "Étude", "ΣΑΣ", "σας", "İi", "ss", "ß",
             "2", "xii", "Å", "a", "e"]
    texts = [f"{a} {b} !" for a in words for b in words]
    labels = ["positive", "negative", "neutral"] * (len(texts) // 3) + ["neutral"] * (len(texts) % 3)
    return build_pipeline("mnb", {"min_df": 1, "ngram_range": (1, 2), **dict(options)}).fit(texts, labels)


def test_the_ngram_index_finds_each_key_and_only_those() -> None:
    from sentiment_mlops.serving.scorer import _NgramIndex

    rng = np.random.default_rng(0)
    keys = rng.choice(2**40, size=5000, replace=False).astype(np.int64)
    index = _NgramIndex(keys, np.arange(5000, dtype=np.int64))
    assert len(index) == 5000
    queries = np.concatenate([keys, rng.integers(0, 2**40, size=5000), keys[:10]])
    expected = {int(k): i for i, k in enumerate(keys)}
    assert index.lookup(queries).tolist() == [expected.get(int(q), -1) for q in queries.tolist()]
    assert _NgramIndex(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)).lookup(keys[:3]).tolist() == [-1] * 3


def _assert_counts_are_count_vectorizers(scorer: Any, pipeline: Any, texts: list[str]) -> None:
    """The batch path's term counts are exactly ``CountVectorizer``'s with the pipeline's vocabulary and options."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = pipeline.named_steps["tfidf"]
    expected = CountVectorizer(vocabulary=vectorizer.vocabulary_, ngram_range=vectorizer.ngram_range,
                               strip_accents=vectorizer.strip_accents, lowercase=vectorizer.lowercase,
                               token_pattern=vectorizer.token_pattern).transform(texts).tocsr()
    expected.sort_indices()
    offsets, columns, counts = scorer._counts_many(texts)
    np.testing.assert_array_equal(offsets, expected.indptr)
    np.testing.assert_array_equal(columns, expected.indices)
    np.testing.assert_array_equal(counts, expected.data)


@pytest.mark.parametrize("model", ["mnb_lexicon", "logreg_words_lexicon"])
def test_lexicon_models_score_a_batch_as_their_pipeline_does(corpus_split: Any, model: str) -> None:
    """The lexicon tokenizer adds marker tokens that are in no text: the batch path, which makes the token
    pattern's tokens only, must not serve these models (a batch once scored them without the markers)."""
    x_train, x_test, y_train, _ = corpus_split
    pipeline = build_pipeline(model).fit(x_train[:1500], y_train[:1500])
    scorer = compile_scorer(pipeline)
    assert isinstance(scorer, CompiledLinear) and scorer.batch_analyzer is None
    texts = [*x_test[:300], "not bad at all", "never disappointed", "the food was great but the service was awful"]
    np.testing.assert_allclose(scorer.predict_proba(texts), pipeline.predict_proba(texts), rtol=0, atol=1e-9)


def test_a_vocabulary_token_arrow_cannot_hold_never_matches_and_breaks_nothing() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    from sentiment_mlops.serving.scorer import BatchWordAnalyzer

    vectorizer = CountVectorizer(vocabulary={"good": 0, "x\ud800": 1, "day": 2}, ngram_range=(1, 2))
    vectorizer._validate_vocabulary()
    analyzer = BatchWordAnalyzer.for_vectorizer(vectorizer)
    assert analyzer is not None
    texts = ["good day", "x\ud800 good", "bad"]
    rows, features = analyzer.feature_ids(texts)
    expected = vectorizer.transform(texts).tocoo()
    got = sorted(zip(rows.tolist(), features.tolist(), strict=True))
    assert got == sorted(zip(expected.row.tolist(), expected.col.tolist(), strict=True))


def test_ngram_keys_that_would_overflow_keep_the_per_text_analyzer() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    from sentiment_mlops.serving.scorer import BatchWordAnalyzer

    # 12,000 four-grams of distinct tokens: 48,000 tokens, 48,001**4 is past 2**62 (12,001**4 is not).
    vocabulary = {f"a{i} b{i} c{i} d{i}": i for i in range(12_000)}
    vectorizer = CountVectorizer(vocabulary=vocabulary, ngram_range=(4, 4))
    vectorizer._validate_vocabulary()
    assert BatchWordAnalyzer.for_vectorizer(vectorizer) is None

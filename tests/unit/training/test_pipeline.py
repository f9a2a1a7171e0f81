from __future__ import annotations

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.training.pipeline import (
    MODEL_TYPES,
    WORD_AND_CHAR_MODELS,
    build_pipeline,
    hyperparameters,
    num_features,
    parse_params,
    word_vectorizer,
)

TEXTS = ["the flight was great", "late again, awful service", "boarding at gate 5", "great crew, great food",
         "lost my bag, awful", "flight 12 departs at noon"] * 3
LABELS = ["positive", "negative", "neutral", "positive", "negative", "neutral"] * 3


@pytest.mark.parametrize("model", MODEL_TYPES)
def test_every_model_fits_and_gives_probabilities(model):
    pipeline = build_pipeline(model, {"min_df": 1} if model not in WORD_AND_CHAR_MODELS else {"word__min_df": 1,
                                                                                           "char__min_df": 1})
    pipeline.fit(TEXTS, LABELS)
    proba = pipeline.predict_proba(["great flight"])
    assert proba.shape == (1, 3) and abs(proba.sum() - 1) < 1e-9
    assert isinstance(word_vectorizer(pipeline), TfidfVectorizer)
    assert "great" in word_vectorizer(pipeline).vocabulary_
    assert num_features(pipeline) >= len(word_vectorizer(pipeline).vocabulary_)


@pytest.mark.parametrize("model", ["logreg", "linear_svc"])
def test_linear_models_use_word_and_char_features_under_the_tfidf_step(model):
    features = build_pipeline(model).named_steps["tfidf"]
    assert isinstance(features, FeatureUnion)
    parts = dict(features.transformer_list)
    assert parts["word"].analyzer == "word" and parts["char"].analyzer == "char_wb"


def test_the_calibrated_svm_keeps_its_own_decisions_on_a_topic_it_never_saw(corpus):
    """linear_svc's probabilities (temperature scaling) pick the label the SVM picks, also out of topic.

    Platt scaling (sigmoid, one-vs-rest, renormalised) did not: on this slice it changed 48 of the 500 labels;
    trained on every row outside the driverless-car tweets, it called 98% of them negative and none neutral,
    where its SVM said neutral for 87% (README, "Training").
    """
    import numpy as np

    from support.corpus_topics import TOPICS

    in_topic = [bool(TOPICS["driverless cars"].search(t)) for t in corpus.texts]
    rows = np.random.default_rng(0).permutation(len(corpus.texts))
    train = [i for i in rows if not in_topic[i]][:4000]
    unseen = [corpus.texts[i] for i in rows if in_topic[i]][:500]
    pipeline = build_pipeline("linear_svc").fit([corpus.texts[i] for i in train], [corpus.labels[i] for i in train])
    svm = pipeline.named_steps["clf"].calibrated_classifiers_[0].estimator
    decisions = svm.decision_function(pipeline.named_steps["tfidf"].transform(unseen))
    labels = pipeline.predict(unseen)
    assert list(labels) == [pipeline.classes_[i] for i in decisions.argmax(axis=1)]


def test_params_override_defaults_by_short_or_full_name():
    pipeline = build_pipeline("mnb", parse_params(["alpha=0.5", "tfidf__ngram_range=1,3", "sublinear_tf=false"]))
    params = pipeline.get_params()
    assert (params["clf__alpha"], params["tfidf__ngram_range"], params["tfidf__sublinear_tf"]) == (0.5, (1, 3), False)
    assert build_pipeline("linear_svc", {"C": 0.7}).get_params()["clf__estimator__C"] == 0.7


def test_unknown_ambiguous_and_malformed_params_are_refused():
    with pytest.raises(ConfigurationError, match="unknown parameter 'bogus'"):
        build_pipeline("mnb", {"bogus": 1})
    with pytest.raises(ConfigurationError, match="ambiguous: tfidf__char__min_df, tfidf__word__min_df"):
        build_pipeline("logreg", {"min_df": 1})
    with pytest.raises(ConfigurationError, match="expects name=value"):
        parse_params(["alpha"])
    with pytest.raises(ConfigurationError, match="unknown model 'forest'"):
        build_pipeline("forest")


def test_hyperparameters_include_nested_values_but_no_estimators():
    params = hyperparameters(build_pipeline("linear_svc"))
    assert params["clf__estimator__C"] == 0.2
    assert params["tfidf__char__ngram_range"] == (2, 5)
    assert not any(hasattr(v, "fit") for v in params.values())


def test_the_default_models_pickles_name_no_code_of_this_package() -> None:
    """The seed-compatible models/*.pkl of the default load with scikit-learn alone (no custom tokenizer)."""
    import pickle

    from sentiment_mlops.training.lexicon import tokenize_with_sentiment

    texts, labels = ["good day !", "bad day ?", "a day", "good bad day"], ["positive", "negative", "neutral", "neutral"]
    pipeline = build_pipeline(params={"min_df": 1}).fit(texts, labels)
    for step in ("tfidf", "clf"):
        assert b"sentiment_mlops" not in pickle.dumps(pipeline.named_steps[step])
    lexicon = build_pipeline("mnb_lexicon", {"min_df": 1}).fit(texts, labels)
    assert lexicon.named_steps["tfidf"].tokenizer is tokenize_with_sentiment
    assert b"sentiment_mlops" in pickle.dumps(lexicon.named_steps["tfidf"])  # the check can see a tokenizer

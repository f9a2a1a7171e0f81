"""The model families a user can choose with ``--model``, and their default hyperparameters."""

from __future__ import annotations

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.training.lexicon import tokenize_with_sentiment
from sentiment_mlops.training.models import DEFAULT_MODEL, MODEL_TYPES

__all__ = ["DEFAULT_MODEL", "MODEL_TYPES", "build_pipeline"]

# Measured on the built-in corpus (stratified 80/20, seed 42): word 1-2 grams with sublinear tf and
# min_df=2 lift MultinomialNB's macro-F1 from the seed's 0.613 to about 0.70; a small alpha (0.2) fits
# tweets better than the default 1.0, which over-smooths short documents.
VECTORIZER_DEFAULTS: dict[str, Any] = {
    "ngram_range": (1, 2),
    "sublinear_tf": True,
    "min_df": 2,
    "strip_accents": "unicode",
}
# The default (mnb) keeps one-character words ("u", "r", "2", "i") and each "!" and "?" as tokens: with them
# macro-F1 over 5 splits rises from 0.706 to 0.712 and out of topic from 0.391 to 0.403
# (benchmarks/quality.py --param token_pattern=...; README, "Quality"). A plain regular expression, so the
# pickled vectorizer still loads with scikit-learn alone, and the compiled scorer's batch path knows it
# (serving/scorer.py, BATCH_TOKEN_PATTERNS).
MNB_TOKEN_PATTERN = r"(?u)\b\w+\b|[!?]"
MNB_VECTORIZER_DEFAULTS: dict[str, Any] = {**VECTORIZER_DEFAULTS, "token_pattern": MNB_TOKEN_PATTERN}
# The word features carry VADER's lexicon as marker tokens (training/lexicon.py): the tokenizer splits as
# the default token pattern does and puts the markers in front (token_pattern=None: the tokenizer replaces
# it; the drift profile then uses the default pattern). Measured with benchmarks/quality.py (README,
# "Quality"): in-domain and out-of-topic macro-F1 both rise.
WORD_VECTORIZER_DEFAULTS: dict[str, Any] = {**VECTORIZER_DEFAULTS, "tokenizer": tokenize_with_sentiment,
                                            "token_pattern": None}
# ``--param``s that turn the lexicon markers off: the word features as they were before them.
WITHOUT_LEXICON: dict[str, Any] = {"tokenizer": None, "token_pattern": r"(?u)\b\w\w+\b"}
# Character 2-5 grams inside word boundaries catch misspellings, elongations ("soooo") and hashtags that
# word n-grams miss; with them a linear model gains ~0.02 macro-F1. Naive Bayes does not: its
# independence assumption double-counts the overlapping character grams, so it keeps words only.
CHAR_VECTORIZER_DEFAULTS: dict[str, Any] = {
    "analyzer": "char_wb",
    "ngram_range": (2, 5),
    "sublinear_tf": True,
    "min_df": 2,
    "strip_accents": "unicode",
}
WORD_AND_CHAR_MODELS = frozenset({"logreg", "logreg_lexicon", "linear_svc", "linear_svc_lexicon"})
LOGISTIC_MODELS = frozenset({"logreg", "logreg_lexicon", "logreg_words_lexicon"})
# The lexicon tokenizer is this package's code: the vectorizer pickle of these models (the default's too) and
# their MLflow model load only where sentiment_mlops is installed; the skops file trusts the tokenizer by name.
LEXICON_MODELS = frozenset({"logreg_words_lexicon", "mnb_lexicon", "logreg_lexicon", "linear_svc_lexicon"})


def _features(model: str) -> TfidfVectorizer | FeatureUnion:
    if model in WORD_AND_CHAR_MODELS:
        word = WORD_VECTORIZER_DEFAULTS if model in LEXICON_MODELS else VECTORIZER_DEFAULTS
        return FeatureUnion([("word", TfidfVectorizer(**word)),
                             ("char", TfidfVectorizer(**CHAR_VECTORIZER_DEFAULTS))])
    if model in LEXICON_MODELS:
        return TfidfVectorizer(**WORD_VECTORIZER_DEFAULTS)
    if model == "mnb":
        return TfidfVectorizer(**MNB_VECTORIZER_DEFAULTS)
    return TfidfVectorizer(**VECTORIZER_DEFAULTS)


def word_vectorizer(pipeline: Pipeline) -> TfidfVectorizer:
    """The word-level ``TfidfVectorizer`` of a pipeline: the ``tfidf`` step, or its ``word`` part.

    Drift monitoring and the reference profile work on word terms whatever features the model adds.
    """
    features = pipeline.named_steps["tfidf"]
    if isinstance(features, FeatureUnion):
        return dict(features.transformer_list)["word"]
    return features


def vectorizers(pipeline: Pipeline) -> list[TfidfVectorizer]:
    """Every ``TfidfVectorizer`` of the ``tfidf`` step (one, or the parts of a ``FeatureUnion``)."""
    features = pipeline.named_steps["tfidf"]
    if isinstance(features, FeatureUnion):
        return [part for _, part in features.transformer_list if isinstance(part, TfidfVectorizer)]
    return [features]


def num_features(pipeline: Pipeline) -> int:
    """How many columns the fitted ``tfidf`` step produces."""
    return sum(len(v.vocabulary_) for v in vectorizers(pipeline))


def _classifier(model: str, seed: int) -> Any:
    if model in ("mnb", "mnb_lexicon"):
        # fit_prior=False: uniform class priors lift recall of the rarer positive class (macro-F1 +0.01).
        return MultinomialNB(alpha=0.2, fit_prior=False)
    if model == "complement_nb":
        return ComplementNB(alpha=0.3)
    if model in LOGISTIC_MODELS:
        # saga reaches lbfgs' macro-F1 (0.754 on word+char features) in less than half the time.
        return LogisticRegression(C=4.0, class_weight="balanced", solver="saga", tol=1e-3, max_iter=300,
                                  random_state=seed)
    if model in ("linear_svc", "linear_svc_lexicon"):
        # LinearSVC has no predict_proba; temperature scaling (softmax of the SVM's decision scores over one
        # fitted temperature) gives the probabilities serving needs and keeps the SVM's own argmax. Sigmoid
        # (Platt) calibration, one-vs-rest and renormalised, did not: out of topic it overturned the SVM
        # (a model trained without the driverless-car tweets labelled 4,624 of their 4,731 negative, none
        # neutral, where the SVM itself said neutral for 4,117; out-of-topic macro-F1 0.26 against 0.4x).
        # ensemble=False fits one SVM on all training rows and fits the temperature on 3-fold out-of-fold
        # scores. class_weight="balanced" lifts recall of the rarer positive class.
        return CalibratedClassifierCV(LinearSVC(C=0.2, class_weight="balanced", random_state=seed),
                                      method="temperature", cv=3, ensemble=False)
    raise ConfigurationError(f"unknown model {model!r}; expected one of {', '.join(MODEL_TYPES)}")


def _coerce(value: str) -> Any:
    """Turn a ``--param`` string into the Python value it spells (int, float, bool, None, tuple)."""
    lowered = value.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    if "," in value:
        return tuple(_coerce(part) for part in value.split(","))
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def resolve_param_names(pipeline: Pipeline, params: dict[str, Any]) -> dict[str, Any]:
    """Expand short names (``alpha``, ``min_df``) to the pipeline's ``step__name`` keys."""
    available = pipeline.get_params(deep=True)
    resolved: dict[str, Any] = {}
    for name, value in params.items():
        if name in available:
            resolved[name] = value
            continue
        matches = sorted(k for k in available if k.endswith(f"__{name}"))
        if len(matches) > 1:  # prefer the shallowest: "C" means clf__C before clf__estimator__C
            depth = min(k.count("__") for k in matches)
            matches = [k for k in matches if k.count("__") == depth]
        if len(matches) != 1:
            choices = sorted(k for k in available if "__" in k and k.count("__") == 1)
            hint = "ambiguous: " + ", ".join(matches) if matches else "choose from " + ", ".join(choices)
            raise ConfigurationError(f"unknown parameter {name!r} for this model; {hint}")
        resolved[matches[0]] = value
    return resolved


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """Parse ``k=v`` strings from the command line."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ConfigurationError(f"--param expects name=value, got {pair!r} (e.g. --param alpha=0.3)")
        params[name.strip()] = _coerce(value)
    return params


def build_pipeline(model: str = DEFAULT_MODEL, params: dict[str, Any] | None = None, *, seed: int = 42) -> Pipeline:
    """A ``Pipeline(tfidf, clf)`` of the chosen family, with ``params`` applied on top of the defaults.

    >>> build_pipeline("mnb", {"alpha": 0.5}).get_params()["clf__alpha"]
    0.5
    """
    pipeline = Pipeline([("tfidf", _features(model)), ("clf", _classifier(model, seed))])
    if params:
        resolved = resolve_param_names(pipeline, params)
        try:
            pipeline.set_params(**resolved)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"invalid parameters {resolved}: {exc}") from exc
    return pipeline


def _is_plain(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def hyperparameters(pipeline: Pipeline) -> dict[str, Any]:
    """Every plain-valued ``step__[part__]name`` hyperparameter (numbers, strings, tuples; no estimators).

    Nested keys are kept so that ``tfidf__char__ngram_range`` and ``clf__estimator__C`` are logged too.
    """
    out: dict[str, Any] = {}
    for key, value in pipeline.get_params(deep=True).items():
        if "__" not in key or key.endswith("__dtype") or not _is_plain(value):
            continue
        out[key] = value
    return out

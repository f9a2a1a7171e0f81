"""Cross-validated random search over a model family's hyperparameters, on the training split only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import loguniform
from sklearn.model_selection import ParameterSampler, StratifiedKFold, cross_val_score

from sentiment_mlops.training.pipeline import build_pipeline

SEARCH_SPACES: dict[str, dict[str, Any]] = {
    "mnb": {"clf__alpha": loguniform(0.01, 1.0), "tfidf__min_df": [1, 2, 3],
            "tfidf__ngram_range": [(1, 1), (1, 2), (1, 3)], "tfidf__sublinear_tf": [True, False]},
    "complement_nb": {"clf__alpha": loguniform(0.01, 1.0), "tfidf__min_df": [1, 2, 3],
                      "tfidf__ngram_range": [(1, 1), (1, 2), (1, 3)]},
    "logreg": {"clf__C": loguniform(1.0, 30.0), "tfidf__word__min_df": [1, 2],
               "tfidf__char__ngram_range": [(2, 4), (2, 5)]},
    "linear_svc": {"clf__estimator__C": loguniform(0.05, 1.0), "tfidf__word__min_df": [1, 2],
                   "tfidf__char__ngram_range": [(2, 4), (2, 5)]},
    "logreg_words_lexicon": {"clf__C": loguniform(1.0, 30.0), "tfidf__min_df": [1, 2, 3],
                             "tfidf__ngram_range": [(1, 1), (1, 2), (1, 3)]},
}
# The lexicon variants search what their plain twins do (the markers have no hyperparameter here).
SEARCH_SPACES.update({f"{model}_lexicon": SEARCH_SPACES[model] for model in ("mnb", "logreg", "linear_svc")})
CV_FOLDS = 3


@dataclass(frozen=True)
class Trial:
    """One sampled configuration and its cross-validated macro-F1."""

    number: int
    params: dict[str, Any]
    cv_macro_f1: float
    cv_std: float


def random_search(model: str, texts: Sequence[str], labels: Sequence[str], *, trials: int, seed: int,
                  base_params: dict[str, Any] | None = None,
                  on_trial: Callable[[Trial], None] | None = None) -> list[Trial]:
    """Sample ``trials`` configurations and score each by stratified 3-fold CV macro-F1."""
    space = SEARCH_SPACES[model]
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    results: list[Trial] = []
    x, y = np.asarray(texts, dtype=object), np.asarray(labels)
    for number, sampled in enumerate(ParameterSampler(space, n_iter=trials, random_state=seed), start=1):
        # scipy samples numpy scalars; plain Python values print, log and compare cleanly.
        plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in sampled.items()}
        params = {**(base_params or {}), **plain}
        scores = cross_val_score(build_pipeline(model, params, seed=seed), x, y, cv=folds, scoring="f1_macro")
        trial = Trial(number=number, params=params, cv_macro_f1=float(scores.mean()), cv_std=float(scores.std()))
        results.append(trial)
        if on_trial is not None:
            on_trial(trial)
    return results

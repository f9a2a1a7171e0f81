"""The model families a user can choose with ``--model``, by name (no scikit-learn import: the CLI reads them)."""

from __future__ import annotations

MODEL_TYPES = ("logreg_words_lexicon", "mnb", "mnb_lexicon", "complement_nb", "logreg", "logreg_lexicon", "linear_svc",
               "linear_svc_lexicon")
# The default stays TF-IDF + MultinomialNB, whose pickles load with scikit-learn alone (the seed artifacts'
# promise). logreg_words_lexicon (word 1-2 grams with the VADER lexicon markers, training/lexicon.py, into a
# balanced logistic regression) gains about 0.03 macro-F1 in domain and 0.05 out of topic over it
# (benchmarks/quality.py; README, "Quality"), but its vectorizer pickle needs this package's tokenizer.
DEFAULT_MODEL = "mnb"

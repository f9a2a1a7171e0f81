"""The model families a user can choose with ``--model``, by name (no scikit-learn import: the CLI reads them)."""

from __future__ import annotations

MODEL_TYPES = ("logreg_words_lexicon", "mnb", "mnb_lexicon", "complement_nb", "logreg", "logreg_lexicon", "linear_svc",
               "linear_svc_lexicon")
# The default (issue 11, measured with benchmarks/quality.py; README, "Quality"): word 1-2 grams with the VADER
# lexicon markers (training/lexicon.py) into a balanced logistic regression. Against the former default (mnb)
# it gains about 0.04 macro-F1 in domain and 0.06 out of topic, for about a second more of training; the
# compiled scorer serves it.
DEFAULT_MODEL = "mnb"

"""drift_report over a real model's reference profile (a 3,000-row slice of the built-in corpus)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sentiment_mlops.errors import DataError
from sentiment_mlops.monitoring.drift import FAMILY_ALPHA, Reference, drift_report


@pytest.fixture(scope="module")
def small_model() -> dict[str, Any]:
    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.training.pipeline import build_pipeline
    from sentiment_mlops.training.profile import reference_profile

    dataset = load_dataset()
    rng = np.random.default_rng(0)
    rows = rng.choice(len(dataset.texts), 3000, replace=False)
    texts = [dataset.texts[i] for i in rows]
    labels = [dataset.labels[i] for i in rows]
    pipeline = build_pipeline("mnb").fit(texts[:2000], labels[:2000])
    return {"pipeline": pipeline, "profile": reference_profile(pipeline, texts[2000:]), "heldout": texts[2000:]}


def _score(pipeline: Any, texts: list[str]) -> tuple[list[str], np.ndarray]:
    probabilities = pipeline.predict_proba(texts)
    classes = [str(c) for c in pipeline.classes_]
    return [classes[i] for i in probabilities.argmax(axis=1)], probabilities.max(axis=1)


def test_report_has_the_design_json_shape(small_model: dict[str, Any]) -> None:
    texts = small_model["heldout"][:200]
    predicted, confidences = _score(small_model["pipeline"], texts)
    report = drift_report(small_model["profile"], texts, predicted, confidences, model_version="7")
    document = json.loads(json.dumps(report.to_dict()))
    assert {"drift_detected", "model_version", "reference_size", "current_size", "checks"} <= document.keys()
    assert document["model_version"] == "7"
    assert document["reference_size"] == 1000 and document["current_size"] == 200
    assert [c["name"] for c in document["checks"]] == [
        "prediction_distribution", "confidence", "text_length", "oov_rate", "vocabulary", "new_terms", "known_terms",
        "text_features"]
    for check in document["checks"]:
        assert {"name", "test", "statistic", "p_value", "threshold", "drift"} <= check.keys()
        if check["test"] != "jensen_shannon":
            assert check["threshold"] == pytest.approx(FAMILY_ALPHA / 8)
    assert document["checks"][0]["details"]["psi"] >= 0


def test_the_reference_texts_themselves_show_no_drift(small_model: dict[str, Any]) -> None:
    """Rounded like the profile, the same texts give identical distributions (a KS statistic of 0)."""
    texts = small_model["heldout"]
    predicted, confidences = _score(small_model["pipeline"], texts)
    report = drift_report(small_model["profile"], texts, predicted, confidences, model_version="1")
    assert not report.drift_detected
    assert report.check("confidence").statistic == 0.0
    assert report.check("text_length").statistic == 0.0
    assert report.check("vocabulary").statistic == pytest.approx(0.0, abs=1e-7)


def test_other_language_texts_drift(small_model: dict[str, Any]) -> None:
    texts = [f"Überraschung {i}: der Flug nach Köln war pünktlich und das Personal freundlich" for i in range(150)]
    predicted, confidences = _score(small_model["pipeline"], texts)
    report = drift_report(small_model["profile"], texts, predicted, confidences, model_version="1")
    assert report.drift_detected
    assert {"oov_rate", "vocabulary", "text_length"} <= set(report.drifted_checks)


def test_without_texts_only_label_confidence_and_length_run(small_model: dict[str, Any]) -> None:
    texts = small_model["heldout"][:300]
    predicted, confidences = _score(small_model["pipeline"], texts)
    report = drift_report(small_model["profile"], None, predicted, confidences, model_version="1",
                          lengths=[len(t) for t in texts])
    assert [c.name for c in report.checks] == ["prediction_distribution", "confidence", "text_length"]
    assert [s.name for s in report.skipped] == ["oov_rate", "vocabulary", "new_terms", "known_terms",
                                                "text_features"]
    assert report.checks[0].threshold == pytest.approx(FAMILY_ALPHA / 3)
    assert report.to_dict()["skipped_checks"][0]["reason"].startswith("the texts were not logged")
    with pytest.raises(KeyError):
        report.check("vocabulary")


def test_a_reference_object_caches_the_vocabulary_calibration(small_model: dict[str, Any]) -> None:
    reference = Reference.from_profile(small_model["profile"])
    for start in (0, 100, 200):
        texts = small_model["heldout"][start:start + 100]
        predicted, confidences = _score(small_model["pipeline"], texts)
        drift_report(reference, texts, predicted, confidences, model_version="1")
    assert len(reference.null_cache) == 1


def test_a_profile_from_before_the_new_terms_check_skips_only_it(small_model: dict[str, Any]) -> None:
    old = json.loads(json.dumps(small_model["profile"]))
    del old["per_text"]["oov_terms"]
    texts = small_model["heldout"][:300]
    predicted, confidences = _score(small_model["pipeline"], texts)
    report = drift_report(old, texts, predicted, confidences, model_version="1")
    assert [c.name for c in report.checks] == [
        "prediction_distribution", "confidence", "text_length", "oov_rate", "vocabulary", "known_terms",
        "text_features"]
    assert [(s.name, "retrain" in s.reason) for s in report.skipped] == [("new_terms", True)]
    assert report.checks[0].threshold == pytest.approx(FAMILY_ALPHA / 7)


def test_a_word_the_model_never_saw_recurring_across_texts_is_named(small_model: dict[str, Any]) -> None:
    """Held-out tweets plus 10% from the rest of the corpus that share a word outside the vocabulary."""
    from collections import Counter

    from sentiment_mlops.data import load_dataset
    from sentiment_mlops.data.text_stats import make_tokenizer

    vocabulary = set(small_model["profile"]["vocabulary"])
    tokenize = make_tokenizer(**small_model["profile"]["tokenizer"])
    heldout = small_model["heldout"][:270]
    others = [t for t in load_dataset().texts[:20_000] if t not in set(small_model["heldout"])]
    words = [set(tokenize(t)) - vocabulary for t in others]
    unseen, _ = Counter(w for found in words for w in found).most_common(1)[0]
    carriers = [t for t, found in zip(others, words, strict=True) if unseen in found][:30]
    window = heldout + carriers
    predicted, confidences = _score(small_model["pipeline"], window)
    report = drift_report(small_model["profile"], window, predicted, confidences, model_version="1")
    check = report.check("new_terms")
    assert check.drift
    top = check.details["top_words"][0]
    assert top["word"] == unseen and top["texts"] == 30 and top["p_value"] < 1e-6
    assert check.statistic == pytest.approx(30 / 300)
    # The texts that drove it are carriers of the word, named with it and with their position in the window.
    assert len(report.drivers) == 5
    for driver in report.drivers:
        assert driver.text in carriers and window[driver.position] == driver.text and unseen in driver.drifting_words
    assert report.to_dict()["drivers"][0]["text"] == report.drivers[0].text


@pytest.mark.parametrize(
    ("texts", "predicted", "confidences", "lengths", "message"),
    [
        ([], [], [], None, "window is empty"),
        (["a b"], ["positive"], [0.5, 0.6], None, "1 predicted labels but 2 confidences"),
        (["a b", "c d"], ["positive"], [0.5], None, "2 texts but 1 predicted"),
        (None, ["positive"], [0.5], None, "needs the texts or at least their lengths"),
        (None, ["positive"], [0.5], [3, 4], "2 text lengths but 1 predicted"),
        (["a b"], ["joyful"], [0.5], None, r"predicted labels \['joyful'\] are not the model's labels"),
    ],
)
def test_bad_windows_are_refused_with_a_clear_message(small_model: dict[str, Any], texts: Any, predicted: Any,
                                                      confidences: Any, lengths: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        drift_report(small_model["profile"], texts, predicted, confidences, model_version="1", lengths=lengths)


def test_profiles_without_per_text_values_are_refused(small_model: dict[str, Any]) -> None:
    old = {key: value for key, value in small_model["profile"].items() if key != "per_text"}
    with pytest.raises(DataError, match="retrain"):
        Reference.from_profile(old)
    broken = json.loads(json.dumps(small_model["profile"]))
    broken["per_text"]["predicted"][0] = "joyful"
    with pytest.raises(DataError, match="outside its labels"):
        Reference.from_profile(broken)
    broken["per_text"]["predicted"] = small_model["profile"]["per_text"]["predicted"][:5]
    with pytest.raises(DataError, match="different lengths"):
        Reference.from_profile(broken)

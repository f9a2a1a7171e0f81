"""The OpenAPI schema says exactly what validation does: the text pattern and the feedback shapes."""

from __future__ import annotations

import re
import sys

import pytest
from pydantic import TypeAdapter, ValidationError

from sentiment_mlops.serving.schemas import CONTENT_PATTERN, FeedbackRequest, PredictRequest, feedback_pairs

FEEDBACK = TypeAdapter(FeedbackRequest)


def test_the_content_pattern_refuses_exactly_what_str_strip_removes() -> None:
    pattern = re.compile(CONTENT_PATTERN)
    # Written with \x and \u escapes only, so ECMAScript (JSON Schema) reads the class as Python does.
    assert "\\s" not in CONTENT_PATTERN and "\\S" not in CONTENT_PATTERN
    disagree = [hex(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() == bool(pattern.fullmatch(chr(c)))]
    assert disagree == []


@pytest.mark.parametrize("text", ["\u001e", " \t\u2003", "\u0085\u00a0"])
def test_a_text_of_python_whitespace_is_refused_by_both(text: str) -> None:
    assert re.search(CONTENT_PATTERN, text) is None
    with pytest.raises(ValidationError, match="non-whitespace"):
        PredictRequest(text=text)


@pytest.mark.parametrize("text", ["\ufeff", "a", " \u001eb"])
def test_a_text_with_content_is_accepted_by_both(text: str) -> None:
    assert re.search(CONTENT_PATTERN, text) is not None
    assert PredictRequest(text=text).text == text


@pytest.mark.parametrize("body", [{"id": None, "label": "positive"}, {"id": "a", "label": None},
                                  {"items": None}, {"id": "a", "label": "positive", "items": None}, {}, [],
                                  {"id": "a", "label": "positive", "items": [{"id": "b", "label": "neutral"}]}])
def test_feedback_refuses_nulls_and_mixed_forms(body: object) -> None:
    with pytest.raises(ValidationError):
        FEEDBACK.validate_python(body)


def test_feedback_schema_has_two_exact_forms_without_nulls() -> None:
    schema = FEEDBACK.json_schema()
    forms = schema["oneOf"]
    definitions = schema["$defs"]
    shapes = [definitions[form["$ref"].rsplit("/", 1)[-1]] for form in forms]
    assert [sorted(shape["required"]) for shape in shapes] == [["id", "label"], ["items"]]
    assert all(shape["additionalProperties"] is False for shape in shapes)
    assert "null" not in str(schema)


def test_feedback_pairs_of_each_form() -> None:
    single = FEEDBACK.validate_python({"id": "a", "label": "positive"})
    batch = FEEDBACK.validate_python({"items": [{"id": "b", "label": "neutral"}, {"id": "c", "label": "negative"}]})
    assert [(p.id, p.label) for p in feedback_pairs(single)] == [("a", "positive")]
    assert [(p.id, p.label) for p in feedback_pairs(batch)] == [("b", "neutral"), ("c", "negative")]

"""The served OpenAPI document, read as schemathesis reads it (ECMA-262 patterns, jsonschema_rs), accepts exactly
the request bodies the server accepts: the bodies that made schemathesis report ST202 / ST201, sent to both."""

from __future__ import annotations

import sys
from typing import Any

import jsonschema_rs
import pytest

from support.serving import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Every character Python's str.strip removes, and U+FEFF, which ECMAScript's \s holds and Python's does not.
EDGE_CHARACTERS = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()] + ["\ufeff", "\u180e", "a"]


def _validator(document: dict[str, Any], path: str) -> Any:
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return jsonschema_rs.Draft202012Validator({**body, "components": document["components"]})


@pytest.fixture
def document(local_client: Any) -> dict[str, Any]:
    return local_client.get("/openapi.json").json()


def test_text_bodies_the_schema_allows_are_exactly_those_the_server_scores(local_client: Any, document: Any) -> None:
    single, batch = _validator(document, "/predict"), _validator(document, "/predict/batch")
    disagree = []
    for character in EDGE_CHARACTERS:
        for path, validator, body in (("/predict", single, {"text": character}),
                                      ("/predict/batch", batch, {"texts": ["fine", character]})):
            accepted = local_client.post(path, json=body).status_code == 200
            if validator.is_valid(body) != accepted:
                disagree.append((path, hex(ord(character)), accepted))
    assert disagree == []


@pytest.mark.parametrize("body", [{"id": "0", "items": None, "label": None}, {"id": None, "label": "positive"},
                                  {"items": None}, {"id": "a" * 32, "label": "positive", "items": None}])
def test_feedback_with_nulls_is_refused_by_the_schema_and_the_server(local_client: Any, document: Any,
                                                                      body: Any) -> None:
    assert not _validator(document, "/feedback").is_valid(body)
    response = local_client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 422, response.text


def test_feedback_forms_the_schema_allows_reach_the_lookup(local_client: Any, document: Any) -> None:
    for body in ({"id": "0" * 32, "label": "positive"}, {"items": [{"id": "0" * 32, "label": "neutral"}]}):
        assert _validator(document, "/feedback").is_valid(body)
        assert local_client.post("/feedback", json=body, headers=AUTH).status_code == 404  # valid, unknown id

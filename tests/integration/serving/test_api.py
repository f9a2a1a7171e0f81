"""Every route of the HTTP API in process (TestClient on create_app), against a model trained on a slice."""

from __future__ import annotations

from typing import Any

import pytest

from support.polling import wait_for
from support.serving import ADMIN_TOKEN

LABELS = {"negative", "neutral", "positive"}


def test_predict_returns_the_contract_shape(local_client: Any) -> None:
    response = local_client.post("/predict", json={"text": "The flight was great, thank you so much!"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "sentiment", "confidence", "probabilities", "model_version", "environment"}
    assert body["sentiment"] in LABELS and set(body["probabilities"]) == LABELS
    assert body["confidence"] == pytest.approx(max(body["probabilities"].values()))
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert body["environment"] == "local" and body["model_version"] == "local"
    assert len(body["id"]) == 32


def test_predict_scores_like_the_pipeline(local_client: Any, local_models: Any) -> None:
    from sentiment_mlops.registry import load_local

    pipeline = load_local(local_models).pipeline
    text = "worst customer service ever, delayed three hours"
    body = local_client.post("/predict", json={"text": text}).json()
    expected = dict(zip(pipeline.classes_, pipeline.predict_proba([text])[0], strict=True))
    for label, p in expected.items():
        assert body["probabilities"][label] == pytest.approx(p, abs=1e-9)


def test_explain_lists_tokens_pushing_the_prediction(local_client: Any) -> None:
    body = local_client.post("/predict?explain=true", json={"text": "thank you, great flight"}).json()
    explanation = body["explanation"]
    assert explanation["label"] == body["sentiment"]
    assert explanation["tokens"], explanation
    contributions = [t["contribution"] for t in explanation["tokens"]]
    assert contributions == sorted(contributions, reverse=True)
    assert all(t["token"] in "thank you, great flight" for t in explanation["tokens"])


def test_batch_uses_one_version_and_keeps_order(local_client: Any) -> None:
    texts = ["love it", "hate it", "it is a plane", "thanks!!!"]
    response = local_client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == 4
    assert {p["model_version"] for p in body["predictions"]} == {body["model_version"]}
    single = [local_client.post("/predict", json={"text": t}).json()["probabilities"] for t in texts]
    for batched, alone in zip(body["predictions"], single, strict=True):
        assert batched["probabilities"] == pytest.approx(alone, abs=1e-12)


def test_large_batch_is_scored(local_client: Any) -> None:
    texts = [f"text number {i} about a delayed flight" for i in range(1000)]
    response = local_client.post("/predict/batch", json={"texts": texts})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 1000


@pytest.mark.parametrize("text", ["😀😀 great 👍", "שלום, הטיסה הייתה נהדרת", "cafe\u0301 tre\u0300s bien",
                                  "nul\u0000inside", "ok\u200b\u202e reversed"])
def test_unicode_is_scored_not_rejected(local_client: Any, text: str) -> None:
    response = local_client.post("/predict", json={"text": text})
    assert response.status_code == 200, response.text
    assert response.json()["sentiment"] in LABELS


def test_lone_surrogate_escape_is_scored_and_logged(logged_client: Any) -> None:
    raw = b'{"text": "\\ud83d half an emoji and a \\u0000"}'
    response = logged_client.post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    prediction_id = response.json()["id"]
    feedback = logged_client.post("/feedback", json={"id": prediction_id, "label": "neutral"},
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert feedback.status_code == 200, feedback.text


BAD_INPUTS = [
    ("empty text", {"json": {"text": ""}}, "body.text"),
    ("whitespace text", {"json": {"text": " \t\n "}}, "body.text"),
    ("text over the limit", {"json": {"text": "a" * 5001}}, "5,000"),
    ("number as text", {"json": {"text": 5}}, "body.text"),
    ("null text", {"json": {"text": None}}, "body.text"),
    ("list as body", {"json": ["a"]}, "body"),
    ("missing field", {"json": {"txt": "a"}}, "body.text"),
    ("missing body", {}, "body"),
    ("malformed JSON", {"content": b'{"text": ', "headers": {"content-type": "application/json"}}, "JSON"),
    ("invalid UTF-8", {"content": b'{"text": "\xff\xfe"}', "headers": {"content-type": "application/json"}},
     "not valid JSON"),
    ("wrong content type", {"content": b"text=hello", "headers": {"content-type": "text/plain"}}, "application/json"),
    ("form body", {"data": {"text": "hello"}}, "application/json"),
]


@pytest.mark.parametrize(("case", "kwargs", "named"), BAD_INPUTS, ids=[c for c, _, _ in BAD_INPUTS])
def test_bad_single_input_is_422_naming_the_field(local_client: Any, case: str, kwargs: dict[str, Any],
                                                  named: str) -> None:
    response = local_client.post("/predict", **kwargs)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


BAD_BATCHES = [
    ("empty batch", {"texts": []}, "between 1 and 1,000"),
    ("batch over the limit", {"texts": ["a"] * 1001}, "limit is 1,000"),
    ("empty item", {"texts": ["fine", " "]}, "texts[1]"),
    ("long item", {"texts": ["fine", "b" * 5001]}, "body.texts.1"),
    ("wrong item type", {"texts": ["fine", 3]}, "body.texts.1"),
    ("texts not a list", {"texts": "fine"}, "body.texts"),
]


@pytest.mark.parametrize(("case", "body", "named"), BAD_BATCHES, ids=[c for c, _, _ in BAD_BATCHES])
def test_bad_batch_is_422_naming_the_field_and_limit(local_client: Any, case: str, body: Any, named: str) -> None:
    response = local_client.post("/predict/batch", json=body)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]


def test_body_over_the_limit_is_413_before_parsing(local_client: Any) -> None:
    oversized = b'{"text": "' + b"a" * (1024 * 1024) + b'"}'
    response = local_client.post("/predict", content=oversized, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "1048576 bytes" in response.json()["detail"]


def test_body_over_the_limit_without_content_length_is_413(local_client: Any) -> None:
    def chunks() -> Any:
        for _ in range(20):
            yield b"x" * 100_000

    response = local_client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_route_is_404_json(local_client: Any) -> None:
    response = local_client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_health_reports_model_and_store_summary(logged_client: Any) -> None:
    logged_client.post("/predict/batch", json={"texts": ["great", "awful", "great"]})
    # The log writer is asynchronous: wait for the three predictions to reach the store.
    body = wait_for(lambda: (b := logged_client.get("/health").json())["monitoring"]["total_predictions"] == 3 and b,
                    timeout=10, interval=0.05, what="three predictions in the store")
    assert body, "three predictions never reached the store"
    assert body["status"] == "ok" and body["model_version"] == "local" and body["environment"] == "local"
    assert sum(body["monitoring"]["sentiment_distribution"].values()) == 3
    assert 0 < body["monitoring"]["mean_confidence"] <= 1


def test_web_ui_is_self_contained(local_client: Any) -> None:
    response = local_client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "/predict/batch" in page and 'href="/docs"' in page and 'href="/dashboard"' in page
    assert "http://" not in page and "https://" not in page  # no CDN, no external request


def test_docs_and_openapi_carry_the_limits(local_client: Any) -> None:
    assert local_client.get("/docs").status_code == 200
    schema = local_client.get("/openapi.json").json()
    text = schema["components"]["schemas"]["PredictRequest"]["properties"]["text"]
    assert text["maxLength"] == 5000 and text["minLength"] == 1
    texts = schema["components"]["schemas"]["BatchRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 1000 and texts["minItems"] == 1

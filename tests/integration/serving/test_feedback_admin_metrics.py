"""POST /feedback, POST /admin/reload, GET /metrics, and a server with no model at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from support.serving import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_feedback_for_a_just_returned_id_is_recorded(logged_client: Any, settings_factory: Any) -> None:
    # No wait between predict and feedback: the row may still be in the log queue.
    prediction = logged_client.post("/predict", json={"text": "fine flight"}).json()
    response = logged_client.post("/feedback", json={"id": prediction["id"], "label": "positive"}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 1, "ids": [prediction["id"]]}


def test_feedback_batch_form(logged_client: Any) -> None:
    texts = ["awful", "lovely", "plane"]
    ids = [p["id"] for p in logged_client.post("/predict/batch", json={"texts": texts}).json()["predictions"]]
    items = [{"id": i, "label": label} for i, label in zip(ids, ["negative", "positive", "neutral"], strict=True)]
    response = logged_client.post("/feedback", json={"items": items}, headers=AUTH)
    assert response.status_code == 200 and response.json()["recorded"] == 3


def test_feedback_lands_in_the_store(logged_client: Any, settings_factory: Any) -> None:
    from sentiment_mlops.store import PredictionStore

    prediction = logged_client.post("/predict", json={"text": "ok then"}).json()
    logged_client.post("/feedback", json={"id": prediction["id"], "label": "neutral"}, headers=AUTH)
    with PredictionStore(settings_factory().store_url) as store:
        pairs = store.feedback_pairs()
    assert [(p["prediction_id"], p["label"], p["predicted"]) for p in pairs] == [
        (prediction["id"], "neutral", prediction["sentiment"])]


def test_feedback_for_an_unknown_id_is_404(local_client: Any) -> None:
    response = local_client.post("/feedback", json={"id": "0" * 32, "label": "positive"}, headers=AUTH)
    assert response.status_code == 404
    assert "0" * 32 in response.json()["detail"]


@pytest.mark.parametrize("body", [{"id": "abc", "label": "great"}, {"id": "abc"}, {"label": "positive"},
                                  {"items": []}, {"id": "", "label": "positive"},
                                  {"id": "a", "label": "positive", "items": [{"id": "b", "label": "neutral"}]}])
def test_invalid_feedback_is_422(local_client: Any, body: Any) -> None:
    response = local_client.post("/feedback", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], str)


def test_admin_reload_needs_the_bearer_token(local_client: Any) -> None:
    assert local_client.post("/admin/reload").status_code == 401
    wrong = local_client.post("/admin/reload", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    ok = local_client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200
    assert ok.json() == {"changed": False, "model_version": "local", "canary_version": None,
                         "canary_percent": 0.0, "status": "ok", "reason": None}


def test_admin_is_403_when_no_token_is_configured(settings_factory: Any, local_models: Path) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    with TestClient(create_app(settings_factory(models_dir=local_models), environment="local")) as client:
        response = client.post("/admin/reload", headers={"Authorization": "Bearer whatever-token-1234"})
    assert response.status_code == 403
    assert "SENTIMENT_MLOPS_ADMIN_TOKEN" in response.json()["detail"]


def _sample(metrics_text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_metrics_count_requests_predictions_and_model(local_client: Any) -> None:
    local_client.post("/predict", json={"text": "thank you"})
    local_client.post("/predict/batch", json={"texts": ["a nice day", "a bad day"]})
    local_client.post("/predict", json={"text": ""})
    local_client.get("/nowhere")
    response = local_client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _sample(text, "sentiment_http_requests_total", route="/predict", status="200") == 1
    assert _sample(text, "sentiment_http_requests_total", route="/predict", status="422") == 1
    assert _sample(text, "sentiment_http_requests_total", route="unmatched", status="404") == 1
    assert _sample(text, "sentiment_http_request_duration_seconds_count", route="/predict/batch") == 1
    assert _sample(text, "sentiment_predictions_total") == 3
    assert _sample(text, "sentiment_prediction_confidence_count") == 3
    assert _sample(text, "sentiment_model_info", model_version="local", role="primary") == 1
    assert "sentiment_prediction_log_queue_depth" in text
    assert "sentiment_prediction_log_backpressure_waits_total" in text


def test_no_model_answers_503_with_how_to_fix(settings_factory: Any, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app

    with TestClient(create_app(settings_factory(models_dir=tmp_path / "empty"), environment="local")) as client:
        single = client.post("/predict", json={"text": "hello"})
        batch = client.post("/predict/batch", json={"texts": ["hello"]})
        health = client.get("/health").json()
    for response in (single, batch):
        assert response.status_code == 503
        assert "sentiment-mlops train" in response.json()["detail"]
        assert "sentiment-mlops promote VERSION --to staging" in response.json()["detail"]
    assert health["status"] == "degraded" and health["model_version"] is None
    assert "sentiment-mlops train" in health["reason"]


def test_log_text_false_keeps_only_hash_and_length(settings_factory: Any, local_models: Path) -> None:
    import hashlib

    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.store import PredictionStore

    settings = settings_factory(models_dir=local_models, log_text=False, log_writer_process=True)
    with TestClient(create_app(settings, environment="local")) as client:
        prediction_id = client.post("/predict", json={"text": "secret text"}).json()["id"]
    with PredictionStore(settings.store_url) as store:
        row = store.get_prediction(prediction_id)
    assert row is not None and row["text"] is None
    assert row["text_sha256"] == hashlib.sha256(b"secret text").hexdigest() and row["text_length"] == 11
    assert row["route"] == "/predict" and row["environment"] == "local" and row["latency_ms"] > 0


def test_predictions_and_feedback_on_each_store_backend(settings_factory: Any, local_models: Path,
                                                        store_url: str) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.store import PredictionStore

    settings = settings_factory(models_dir=local_models, store_url=store_url, feedback_token=ADMIN_TOKEN,
                                log_writer_process=True)
    with TestClient(create_app(settings, environment="local")) as client:
        ids = [p["id"] for p in client.post("/predict/batch", json={"texts": ["good", "bad", "ok"]}).json()
               ["predictions"]]
        single = client.post("/predict", json={"text": "emoji 😀 and nul \u0000"}).json()["id"]
        assert client.post("/feedback", json={"id": single, "label": "positive"}, headers=AUTH).status_code == 200
    with PredictionStore(store_url) as store:
        assert store.count_predictions() == 4
        assert {store.get_prediction(i)["route"] for i in ids} == {"/predict/batch"}
        assert store.get_prediction(single)["text"] == "emoji 😀 and nul \ufffd"
        assert [p["prediction_id"] for p in store.feedback_pairs()] == [single]


def test_feedback_needs_a_token_and_records_who_gave_each_label(settings_factory: Any, local_models: Path) -> None:
    """Forged feedback is what moved production back on main: without a token it is refused."""
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.store import PredictionStore

    feedback_token = "f" * 24
    settings = settings_factory(models_dir=local_models, admin_token=ADMIN_TOKEN, feedback_token=feedback_token,
                                log_writer_process=True)
    with TestClient(create_app(settings, environment="local")) as client:
        pid = client.post("/predict", json={"text": "the crew were lovely"}).json()["id"]
        anonymous = client.post("/feedback", json={"id": pid, "label": "negative"})
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/feedback", json={"id": pid, "label": "negative"},
                            headers={"Authorization": "Bearer " + "x" * 24})
        assert wrong.status_code == 401
        first = client.post("/feedback", json={"id": pid, "label": "negative"},
                            headers={"Authorization": f"Bearer {feedback_token}"})
        assert first.status_code == 200, first.text
        relabel = client.post("/feedback", json={"id": pid, "label": "positive"}, headers=AUTH)
        assert relabel.status_code == 200
    with PredictionStore(settings.store_url) as store:
        assert [p["label"] for p in store.feedback_pairs()] == ["positive"]
        history = store.label_history(pid)
    assert [(h["label"], h["actor"]) for h in history] == [("negative", "feedback-token"),
                                                          ("positive", "admin-token")]


@pytest.mark.parametrize(("overrides", "status"), [({}, 403), ({"feedback_open": True}, 200)])
def test_feedback_without_any_token_configured(settings_factory: Any, local_models: Path,
                                               overrides: dict[str, Any], status: int) -> None:
    from fastapi.testclient import TestClient

    from sentiment_mlops.serving.app import create_app
    from sentiment_mlops.store import PredictionStore

    settings = settings_factory(models_dir=local_models, log_writer_process=True, **overrides)
    with TestClient(create_app(settings, environment="local")) as client:
        pid = client.post("/predict", json={"text": "on time"}).json()["id"]
        response = client.post("/feedback", json={"id": pid, "label": "neutral"})
    assert response.status_code == status, response.text
    if status == 403:
        assert "SENTIMENT_MLOPS_FEEDBACK_TOKEN" in response.json()["detail"]
    else:
        with PredictionStore(settings.store_url) as store:
            assert [h["actor"] for h in store.label_history(pid)] == ["anonymous"]

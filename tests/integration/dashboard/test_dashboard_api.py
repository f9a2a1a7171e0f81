"""Every /api route of the dashboard against a real MLflow store with two versions and a real prediction store."""

from __future__ import annotations

import pytest


def test_experiments_lists_both_training_runs_with_metrics_params_and_versions(client, trained):
    body = client.get("/api/experiments").json()
    assert body["experiment"] == "sentiment-analysis"
    by_id = {run["run_id"]: run for run in body["runs"]}
    assert set(trained.run_ids) <= set(by_id)
    for run_id, version in zip(trained.run_ids, trained.versions, strict=True):
        run = by_id[run_id]
        assert run["versions"] == [version]
        assert 0.3 < run["metrics"]["accuracy"] <= 1
        assert set(run["per_class"]) == {"negative", "neutral", "positive"}
        assert set(run["per_class"]["neutral"]) == {"precision", "recall", "f1"}
    assert by_id[trained.run_ids[0]]["params"]["model_type"] == "mnb"
    assert by_id[trained.run_ids[1]]["params"]["model_type"] == "complement_nb"
    starts = [run["start_time"] for run in body["runs"]]
    assert starts == sorted(starts, reverse=True)


def test_runs_compares_by_run_id_and_by_version_in_the_order_asked(client, trained):
    first, second = trained.run_ids
    by_ids = client.get(f"/api/runs?ids={second},{first}").json()["runs"]
    assert [run["run_id"] for run in by_ids] == [second, first]
    by_versions = client.get(f"/api/runs?versions={trained.versions[0]},{trained.versions[1]}").json()["runs"]
    assert [run["run_id"] for run in by_versions] == [first, second]
    assert by_versions[0]["metrics"]["macro_f1"] != by_versions[1]["metrics"]["macro_f1"]


def test_runs_without_a_selection_is_an_empty_comparison(client):
    response = client.get("/api/runs")
    assert response.status_code == 200, response.text
    assert response.json() == {"runs": []}


@pytest.mark.parametrize("query", ["ids=nothex", "ids=" + "a" * 31, "versions=x", "versions=1,,2",
                                   "ids=" + ",".join(["a" * 32] * 21)])
def test_runs_refuses_malformed_selections_with_422(client, query):
    response = client.get(f"/api/runs?{query}")
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


def test_runs_answers_404_for_unknown_runs_and_versions(client):
    assert client.get("/api/runs?versions=99").status_code == 404
    response = client.get("/api/runs?ids=" + "0" * 32)
    assert response.status_code == 404
    assert "0" * 32 in response.json()["detail"]


def test_versions_lists_versions_newest_first_with_aliases_and_the_canary_share(client, trained):
    body = client.get("/api/versions").json()
    assert [v["version"] for v in body["versions"]] == list(reversed(trained.versions))
    assert all(0 < v["metrics"]["macro_f1"] < 1 for v in body["versions"])
    assert body["model"] == "SentimentAnalysisModel"
    v1, v2 = trained.versions
    assert body["aliases"] == {"production": v1, "staging": v2, "canary": v2}
    assert body["canary_percent"] == 20.0


def test_deployments_returns_the_history_oldest_first_and_filters_by_environment(client):
    events = client.get("/api/deployments").json()["events"]
    assert [e["action"] for e in events] == ["promote", "promote", "promote", "rollback", "promote", "canary-start"]
    staging = client.get("/api/deployments?environment=staging").json()["events"]
    assert [e["to_version"] for e in staging] == ["1", "2", "1", "2"]
    assert [e["to_version"] for e in client.get("/api/deployments?limit=1").json()["events"]] == ["2"]
    assert client.get("/api/deployments?environment=moon").status_code == 422
    assert client.get("/api/deployments?limit=0").status_code == 422


def test_live_aggregates_volume_labels_confidence_latency_and_accuracy(client, seeded, trained):
    rows = seeded["rows"]
    total = len(rows)
    body = client.get("/api/live?hours=6").json()
    assert body["bucket"] == "minute"
    assert body["total_predictions"] == total
    assert sum(row["count"] for row in body["volume"]) == total
    assert sum(row["count"] for row in body["labels"]) == total
    assert sum(row["count"] for row in body["confidence_histogram"]) == total
    latencies = sorted(row["latency_ms"] for row in rows)
    assert body["latency"]["sample_size"] == total
    assert latencies[0] <= body["latency"]["p50_ms"] <= body["latency"]["p95_ms"] <= latencies[-1]
    assert body["total_feedback"] == seeded["feedback"]
    live = [v for v in body["versions"] if v["feedback"]]
    overall = sum(v["live_accuracy"] * v["feedback"] for v in live) / body["total_feedback"]
    assert overall == pytest.approx(seeded["correct"] / seeded["feedback"])
    assert 0.4 < overall < 0.9  # real models on unseen texts
    # The label-free estimate applies each version's calibration map from its reference profile.
    from sentiment_mlops.monitoring.performance import estimated_accuracy, profile_calibration

    for entry in body["versions"]:
        profile = trained.profiles[trained.versions.index(entry["model_version"])]
        confidences = [r["confidence"] for r in rows if (r["environment"], r["model_version"]) ==
                       (entry["environment"], entry["model_version"])]
        expected = estimated_accuracy(confidences, profile_calibration(profile))
        assert entry["estimated_accuracy"] == pytest.approx(expected, abs=0.01)
    assert {(s["environment"], s["model_version"]) for s in body["slices"]} == {
        ("staging", "2"), ("production", "1"), ("production", "2")}


def test_live_filters_by_environment_and_version(client, seeded):
    rows = seeded["rows"]
    body = client.get("/api/live?environment=production&version=2&hours=24&bucket=hour").json()
    expected = sum(r["environment"] == "production" and r["model_version"] == "2" for r in rows)
    assert body["total_predictions"] == expected > 0
    assert {v["model_version"] for v in body["versions"]} == {"2"}
    assert all(len(row["t"]) >= 19 for row in body["volume"])


def test_live_buckets_are_whole_hours_and_minutes(client):
    from datetime import datetime

    hourly = client.get("/api/live?hours=24&bucket=hour").json()
    starts = {datetime.fromisoformat(row["t"]) for row in hourly["volume"]}
    assert all(t.minute == 0 and t.second == 0 for t in starts)
    assert 3 <= len(starts) <= 4  # three hours of traffic
    assert sum(row["count"] for row in hourly["labels"]) == hourly["total_predictions"] > 0
    by_minute = client.get("/api/live?hours=6&bucket=minute").json()
    minutes = {datetime.fromisoformat(row["t"]) for row in by_minute["volume"]}
    assert all(t.second == 0 for t in minutes) and 170 <= len(minutes) <= 182


@pytest.mark.parametrize("query", ["environment=moon", "version=abc", "hours=0", "hours=-1", "hours=nan",
                                   "hours=100000", "bucket=week", "version=1;drop"])
def test_live_refuses_bad_parameters_with_422(client, query):
    response = client.get(f"/api/live?{query}")
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("query, bucket", [("hours=720&bucket=minute", "hour"), ("hours=2160&bucket=minute", "day"),
                                           ("hours=30&bucket=minute", "minute")])
def test_live_answers_a_bucket_too_fine_for_the_window_in_the_finest_that_fits(client, query, bucket):
    """Every hours/bucket pair the OpenAPI schema allows is answered (schemathesis' positive_data_acceptance)."""
    response = client.get(f"/api/live?{query}")
    assert response.status_code == 200, response.text
    assert response.json()["bucket"] == bucket


def test_alerts_lists_open_and_resolved(client, seeded):
    body = client.get("/api/alerts").json()
    assert (body["firing"], body["resolved"]) == (1, 1)
    assert [a["status"] for a in body["alerts"]] == ["firing", "resolved"]
    only_firing = client.get("/api/alerts?status=firing").json()["alerts"]
    assert [a["rule"] for a in only_firing] == ["drift"]
    assert client.get("/api/alerts?status=open").status_code == 422


def test_recent_predictions_hide_texts_without_the_admin_token(client, seeded):
    body = client.get("/api/predictions/recent?limit=5").json()
    assert body["texts"] == "hidden"
    assert len(body["predictions"]) == 5
    assert all("text" not in row for row in body["predictions"])
    # No unsalted sha256 a dictionary could reverse: a keyed digest, stable for equal texts.
    assert all("text_sha256" not in row and len(row["text_digest"]) == 32 for row in body["predictions"])
    again = client.get("/api/predictions/recent?limit=5").json()
    assert [r["text_digest"] for r in again["predictions"]] == [r["text_digest"] for r in body["predictions"]]
    import hashlib

    newest = [r for r in reversed(seeded["rows"])][:5]
    plain = {hashlib.sha256(r["text"].encode()).hexdigest()[:32] for r in newest}
    assert not plain & {r["text_digest"] for r in body["predictions"]}


def test_recent_predictions_show_texts_to_the_admin(client, seeded, admin_token):
    headers = {"Authorization": f"Bearer {admin_token}"}
    body = client.get("/api/predictions/recent?limit=3&environment=staging", headers=headers).json()
    assert body["texts"] == "shown"
    newest_staging = [r["text"] for r in reversed(seeded["rows"]) if r["environment"] == "staging"][:3]
    assert [row["text"] for row in body["predictions"]] == newest_staging


def test_recent_predictions_refuse_a_wrong_token(client):
    response = client.get("/api/predictions/recent", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert response.status_code == 401
    assert client.get("/api/predictions/recent?limit=0").status_code == 422
    assert client.get("/api/predictions/recent?limit=501").status_code == 422


def test_drift_reports_the_shifted_staging_topic_and_not_the_familiar_production_traffic(client, trained):
    body = client.get("/api/drift?window=200&history=4").json()
    by_slice = {(e["environment"], e["model_version"]): e for e in body["environments"]}
    v1, v2 = trained.versions
    assert set(by_slice) == {("production", v1), ("production", v2), ("staging", v2)}
    staging = by_slice[("staging", v2)]
    assert staging["status"] == "drift"
    assert staging["latest"]["current_size"] == 200
    assert len(staging["history"]) == 2  # 400 staging predictions
    assert any(check["drift"] for check in staging["latest"]["checks"])
    production = by_slice[("production", v1)]
    assert production["status"] == "ok"
    assert len(production["history"]) == 4
    assert [r["end"] for r in production["history"]] == sorted(r["end"] for r in production["history"])
    assert by_slice[("production", v2)]["latest"]["current_size"] == 200  # 240 canary predictions


def test_drift_worker_process_gives_the_same_report(seeded_env, client):
    """The server computes drift in a spawned worker process (off its interpreter lock): same report."""
    from fastapi.testclient import TestClient

    from support.dashboard import build_app

    settings, store, _ = seeded_env
    query = "/api/drift?environment=staging&window=200&history=2"
    in_thread = client.get(query).json()
    with TestClient(build_app(settings.model_copy(update={"dashboard_drift_process": True}), store)) as worker_client:
        response = worker_client.get(query)
        worker = worker_client.app.state.dashboard_drift_worker
        assert response.status_code == 200, response.text
        assert worker._pool is not None  # computed in the process, not on this thread
    assert response.json() == in_thread
    worker.close()


def test_the_words_of_the_new_terms_check_are_shown_only_to_the_admin(client, admin_token):
    def new_terms(headers):
        body = client.get("/api/drift?environment=staging&window=200&history=2", headers=headers)
        assert body.status_code == 200
        (entry,) = body.json()["environments"]
        return [next(c for c in r["checks"] if c["name"] == "new_terms")["details"]
                for r in [entry["latest"], *entry["history"]]]

    shown = new_terms({"Authorization": f"Bearer {admin_token}"})
    assert shown[0]["top_words"] and all(w["texts"] >= 2 for w in shown[0]["top_words"])
    hidden = new_terms({})
    assert all(d["top_words"] == [] for d in hidden) and hidden[0]["top_words_hidden"] is True
    assert hidden[0]["texts_with_most_common_word"] == shown[0]["texts_with_most_common_word"]
    assert client.get("/api/drift", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_the_texts_that_drove_drift_are_texts_for_the_admin_and_keyed_digests_for_others(client, admin_token):
    def drivers(headers):
        (entry,) = client.get("/api/drift?environment=staging&window=200&history=1", headers=headers).json()[
            "environments"]
        return entry["latest"]["drivers"]

    shown = drivers({"Authorization": f"Bearer {admin_token}"})
    assert len(shown) == 5 and all(d["text"] and d["drifting_words"] for d in shown)
    hidden = drivers({})
    assert [d["position"] for d in hidden] == [d["position"] for d in shown]
    assert all("text" not in d and len(d["text_digest"]) == 32 for d in hidden)
    # The same digests as the recent predictions give for the same texts (an operator can match them).
    recent = client.get("/api/predictions/recent?environment=staging&limit=500").json()["predictions"]
    assert {d["text_digest"] for d in hidden} <= {row["text_digest"] for row in recent}


def test_drift_of_one_environment_and_bad_windows(client):
    body = client.get("/api/drift?environment=staging&window=100&history=1").json()
    assert [e["environment"] for e in body["environments"]] == ["staging"]
    assert len(body["environments"][0]["history"]) == 1
    for query in ("window=10", "window=abc", "history=0", "history=25", "environment=mars"):
        assert client.get(f"/api/drift?{query}").status_code == 422, query


def test_drift_without_texts_runs_the_label_confidence_and_length_checks(tmp_path, monkeypatch, trained):
    from fastapi.testclient import TestClient

    from sentiment_mlops.store import PredictionStore
    from support.dashboard import build_app, make_settings

    monkeypatch.chdir(tmp_path)
    settings = make_settings(tmp_path, trained, log_text=False)
    with PredictionStore(settings.store_url) as store:
        store.insert_predictions([{"environment": "production", "model_version": trained.versions[0], "text": None,
                                   "text_sha256": "0" * 64, "text_length": 40 + i % 30, "sentiment": "negative",
                                   "confidence": 0.9, "probabilities": {"negative": 0.9, "neutral": 0.05,
                                                                        "positive": 0.05}} for i in range(120)])
        with TestClient(build_app(settings, store)) as test_client:
            entry = test_client.get("/api/drift?window=100").json()["environments"][0]
            recent = test_client.get("/api/predictions/recent",
                                     headers={"Authorization": f"Bearer {settings.admin_token}"}).json()
    assert entry["status"] == "drift"  # every prediction "negative" at 0.9
    assert {c["name"] for c in entry["latest"]["checks"]} == {"prediction_distribution", "confidence", "text_length"}
    assert recent["texts"] == "not_logged"
    assert all("text" not in row for row in recent["predictions"])

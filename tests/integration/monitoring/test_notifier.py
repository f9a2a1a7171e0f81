"""AlertNotifier on a real store (SQLite and PostgreSQL): stored alerts, dedupe, cooldown, resolved messages,
and delivery to a real webhook receiver on loopback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sentiment_mlops.monitoring.alerts import RuleOutcome
from sentiment_mlops.monitoring.channels import LogChannel, WebhookChannel
from sentiment_mlops.monitoring.notifier import AlertNotifier
from support.webhooks import webhook_receiver

COOLDOWN = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Collect:
    def __init__(self) -> None:
        self.sent = []

    def send(self, message) -> None:
        self.sent.append(message)

    def close(self, timeout: float = 5.0) -> None:
        return None


def firing(rule="error_rate", value=0.03) -> RuleOutcome:
    return RuleOutcome(rule=rule, status="firing", severity="critical", message=f"{rule} at {value}", value=value,
                       threshold=0.01, details={"requests": 100})


def ok(rule="error_rate") -> RuleOutcome:
    return RuleOutcome(rule=rule, status="ok", severity="critical", message=f"{rule} back to normal")


def unknown(rule="error_rate") -> RuleOutcome:
    return RuleOutcome(rule=rule, status="unknown", severity="critical", message="too few requests")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sink():
    return Collect()


@pytest.fixture
def notifier(store, sink, clock):
    return AlertNotifier(store, [sink], cooldown_seconds=COOLDOWN, clock=clock)


def kinds(transitions):
    return [(t.rule, t.kind) for t in transitions]


def test_fires_once_stores_it_and_resolves_with_a_message(store, notifier, sink, clock):
    assert kinds(notifier.process([firing()], environment="production", model_version="3")) == [
        ("error_rate", "fired")]
    [stored] = store.alerts()
    assert (stored["rule"], stored["status"], stored["severity"], stored["environment"], stored["model_version"]) == (
        "error_rate", "firing", "critical", "production", "3")
    assert stored["details"] == {"requests": 100, "value": 0.03, "threshold": 0.01}
    for _ in range(3):  # the same condition again: no new row, no new message
        clock.advance(30)
        assert notifier.process([firing()], environment="production", model_version="3") == []
    assert len(store.alerts()) == 1 and len(sink.sent) == 1
    assert notifier.process([unknown()], environment="production", model_version="3") == []  # not enough data
    clock.advance(30)
    assert kinds(notifier.process([ok()], environment="production", model_version="3")) == [("error_rate", "resolved")]
    [resolved] = store.alerts()
    assert resolved["status"] == "resolved" and resolved["resolved_at"] is not None
    assert [m.status for m in sink.sent] == ["firing", "resolved"]
    assert sink.sent[1].text == "[RESOLVED] error_rate (production): error_rate back to normal"
    assert sink.sent[1].alert_id == stored["id"]
    assert notifier.process([ok()], environment="production", model_version="3") == []


def test_still_firing_reminds_once_per_cooldown(notifier, sink, clock):
    notifier.process([firing()], environment="production", model_version="3")
    clock.advance(COOLDOWN - 1)
    assert notifier.process([firing()], environment="production", model_version="3") == []
    clock.advance(1)
    assert kinds(notifier.process([firing()], environment="production", model_version="3")) == [
        ("error_rate", "reminded")]
    assert sink.sent[-1].reminder and sink.sent[-1].text.startswith("[STILL FIRING:CRITICAL]")


def test_a_flapping_condition_is_held_back_by_the_cooldown(store, notifier, sink, clock):
    notifier.process([firing()], environment="production", model_version="3")
    notifier.process([ok()], environment="production", model_version="3")
    clock.advance(60)
    assert kinds(notifier.process([firing()], environment="production", model_version="3")) == [
        ("error_rate", "suppressed")]
    assert len(store.alerts()) == 1 and len(sink.sent) == 2
    clock.advance(COOLDOWN)
    assert kinds(notifier.process([firing()], environment="production", model_version="3")) == [
        ("error_rate", "fired")]
    assert len(store.alerts()) == 2 and len(sink.sent) == 3


def test_cooldown_survives_a_restart_through_the_store(store, sink):
    first = AlertNotifier(store, [sink], cooldown_seconds=COOLDOWN)
    first.process([firing()], environment="production", model_version="3")
    first.process([ok()], environment="production", model_version="3")
    restarted = AlertNotifier(store, [sink], cooldown_seconds=COOLDOWN)
    assert kinds(restarted.process([firing()], environment="production", model_version="3")) == [
        ("error_rate", "suppressed")]
    assert kinds(AlertNotifier(store, [sink], cooldown_seconds=0).process(
        [firing()], environment="production", model_version="3")) == [("error_rate", "fired")]


def test_environments_and_rules_are_independent(store, notifier):
    notifier.process([firing(), firing("p95_latency")], environment="production", model_version="3")
    notifier.process([firing()], environment="staging", model_version="4")
    assert sorted((a["rule"], a["environment"]) for a in store.alerts(status="firing")) == [
        ("error_rate", "production"), ("error_rate", "staging"), ("p95_latency", "production")]
    notifier.process([ok()], environment="staging", model_version="4")
    assert store.open_alert("error_rate", "production") is not None
    assert store.open_alert("error_rate", "staging") is None


def test_events_bypass_the_cooldown(store, notifier, clock):
    event = RuleOutcome(rule="auto_rollback", status="firing", severity="critical", message="rolled back", event=True)
    notifier.process([event], environment="production", model_version="2")
    notifier.process([ok("auto_rollback")], environment="production", model_version="1")
    clock.advance(5)
    assert kinds(notifier.process([event], environment="production", model_version="2")) == [
        ("auto_rollback", "fired")]
    assert len(store.alerts()) == 2


def test_an_alert_stored_by_the_serving_poller_is_announced_and_its_resolution_too(store, notifier, sink):
    alert_id = store.record_alert(rule="model_load_failed", severity="critical", environment="production",
                                  model_version="5", message="loading failed: sha256 mismatch",
                                  details={"source": "registry alias production"})
    load_failed = firing("model_load_failed")
    assert kinds(notifier.process([load_failed], environment="production", model_version="4")) == [
        ("model_load_failed", "fired")]
    assert len(store.alerts()) == 1 and sink.sent[0].alert_id == alert_id
    assert notifier.process([load_failed], environment="production", model_version="4") == []
    store.resolve_alert(alert_id)  # the poller loaded a good version
    assert kinds(notifier.process([ok("model_load_failed")], environment="production", model_version="5")) == [
        ("model_load_failed", "resolved")]
    assert sink.sent[-1].status == "resolved" and sink.sent[-1].alert_id == alert_id


def test_a_store_outage_is_logged_and_does_not_stop_the_loop(tmp_path, caplog):
    from sentiment_mlops.store import PredictionStore

    broken = PredictionStore(f"sqlite:///{tmp_path}/p.db")
    broken.close()
    (tmp_path / "p.db").unlink()
    (tmp_path / "p.db").mkdir()  # now the path is a directory: every statement fails
    notifier = AlertNotifier(broken, [LogChannel()], cooldown_seconds=0)
    assert notifier.process([firing()], environment="production", model_version="1") == []  # no StoreError
    assert "not processed" in caplog.text


def test_alerts_reach_a_real_webhook_and_the_log(store, caplog):
    with webhook_receiver() as receiver:
        notifier = AlertNotifier(store, [LogChannel(), WebhookChannel(receiver.url, backoff=0.01)],
                                 cooldown_seconds=COOLDOWN)
        notifier.process([firing("p95_latency", 80.0)], environment="production", model_version="3")
        notifier.process([ok("p95_latency")], environment="production", model_version="3")
        assert receiver.wait_for(2)
        notifier.close()
    fired, resolved = receiver.received
    assert fired["status"] == "firing" and fired["rule"] == "p95_latency" and fired["details"]["value"] == 80.0
    assert fired["alert_id"] == store.alerts()[0]["id"]
    assert resolved["status"] == "resolved" and resolved["text"].startswith("[RESOLVED] p95_latency")
    assert "[FIRING:CRITICAL] p95_latency (production)" in caplog.text

"""The webhook channel against a real HTTP server on loopback: delivery, retries, timeouts, never blocking."""

from __future__ import annotations

import pytest

from sentiment_mlops.errors import ConfigurationError
from sentiment_mlops.monitoring.channels import AlertMessage, LogChannel, WebhookChannel, default_channels
from support.webhooks import webhook_receiver


def message(**fields) -> AlertMessage:
    base = {"rule": "error_rate", "status": "firing", "severity": "critical", "environment": "production",
            "model_version": "4", "message": "error rate of production version 4 is 3.00%", "alert_id": 7,
            "details": {"value": 0.03, "threshold": 0.01}}
    return AlertMessage(**{**base, **fields})


def test_delivers_slack_text_and_structured_fields():
    with webhook_receiver() as receiver:
        channel = WebhookChannel(receiver.url, backoff=0.01)
        channel.send(message())
        channel.send(message(status="resolved"))
        assert receiver.wait_for(2)
        channel.close()
    first, second = receiver.received
    assert first["text"] == "[FIRING:CRITICAL] error_rate (production): error rate of production version 4 is 3.00%"
    assert first["rule"] == "error_rate" and first["alert_id"] == 7 and first["model_version"] == "4"
    assert first["details"] == {"value": 0.03, "threshold": 0.01}
    assert second["text"].startswith("[RESOLVED] error_rate (production)")
    assert channel.delivered == 2 and channel.failed == 0


def test_retries_after_a_server_error(caplog):
    with webhook_receiver() as receiver:
        receiver.plan = [500, 503]
        channel = WebhookChannel(receiver.url, backoff=0.01)
        channel.send(message())
        assert receiver.wait_for(1)
        assert channel.flush(5)
        channel.close()
    assert receiver.attempts == 3 and len(receiver.received) == 1
    assert channel.delivered == 1
    assert "attempt 1/4 failed (HTTP 500)" in caplog.text


def test_gives_up_after_the_last_attempt_and_does_not_retry_a_client_error(caplog):
    with webhook_receiver() as receiver:
        receiver.plan = [500] * 10
        channel = WebhookChannel(receiver.url, attempts=2, backoff=0.01)
        channel.send(message())
        assert channel.flush(5)
        assert receiver.attempts == 2 and channel.failed == 1
        receiver.plan = [404]
        channel.send(message())
        assert channel.flush(5)
        channel.close()
    assert receiver.attempts == 3 and channel.failed == 2 and channel.delivered == 0
    assert "gave up on error_rate after 2 attempts" in caplog.text and "not retrying" in caplog.text


def test_a_stalled_receiver_times_out_is_retried_and_never_blocks_the_sender():
    with webhook_receiver() as receiver:
        receiver.stall_first = 10.0  # the first request hangs far longer than the client's timeout
        channel = WebhookChannel(receiver.url, timeout=1.0, backoff=0.01)
        channel.send(message(rule="first"))
        channel.send(message(rule="second"))
        # send() only queues: both calls returned while the receiver still holds the first request
        assert receiver.received == [] and not receiver.release.is_set()
        assert receiver.wait_for(2)
        receiver.release.set()
        channel.close()
    assert [r["rule"] for r in receiver.received] == ["first", "second"]
    assert receiver.attempts == 3  # the stalled attempt, its retry, and the second message


def test_a_dead_receiver_costs_retries_only():
    channel = WebhookChannel("http://127.0.0.1:9/unreachable", attempts=2, backoff=0.01, timeout=0.5)
    channel.send(message())
    assert channel.flush(10)
    channel.close()
    assert channel.failed == 1


def test_full_queue_drops_with_an_error(caplog):
    with webhook_receiver() as receiver:
        receiver.stall_first = 10.0
        channel = WebhookChannel(receiver.url, queue_size=1, timeout=5, backoff=0.01)
        for i in range(3):
            channel.send(message(rule=f"r{i}"))
        receiver.release.set()
        channel.close()
    assert "queue is full" in caplog.text and channel.failed >= 1


def test_configuration():
    with pytest.raises(ConfigurationError, match="http"):
        WebhookChannel("ftp://example.invalid/hook")
    with pytest.raises(ValueError, match="attempts"):
        WebhookChannel("http://127.0.0.1:9/", attempts=0)
    assert [type(c) for c in default_channels(None)] == [LogChannel]
    channels = default_channels("http://127.0.0.1:9/")
    assert [type(c) for c in channels] == [LogChannel, WebhookChannel]
    for channel in channels:
        channel.close(0.1)


def test_the_webhook_url_is_logged_without_its_path_or_query(caplog):
    with webhook_receiver() as receiver:
        receiver.plan = [404]
        secret_url = receiver.url.rstrip("/") + "/services/T000/B000/XXXXSECRET?token=abc"
        channel = WebhookChannel(secret_url, attempts=1, backoff=0.01)
        channel.send(message())
        assert channel.flush(5)
        channel.close()
    assert "refused error_rate (HTTP 404)" in caplog.text
    assert "XXXXSECRET" not in caplog.text and "token=abc" not in caplog.text and "/services" not in caplog.text

"""Generic webhook: the JSON body and headers a local receiver gets, and signature verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.notify.base import DeliveryError
from shared.notify.webhook import WebhookSender, sign, verify_signature, webhook_payload
from tests.notify.notices import LOOPBACK, OCCURRED_AT, make_notice
from tests.receivers import HttpReceiver, Reply

NOW = datetime(2026, 1, 5, 10, 16, 30, tzinfo=UTC)
SECRET = "whsec-test"


def _sender(secret: str | None = SECRET) -> WebhookSender:
    return WebhookSender(secret=secret, timeout_s=5, clock=lambda: NOW, policy=LOOPBACK)


def test_the_webhook_body_carries_every_attribute_of_the_notice(http_receiver: HttpReceiver) -> None:
    _sender().send(make_notice(), http_receiver.url("/alerts?token=abc"))

    (request,) = http_receiver.requests
    assert (request.method, request.path) == ("POST", "/alerts?token=abc")
    assert request.json() == {
        "event_id": 42,
        "alert_id": 7,
        "event_type": "opened",
        "severity": "critical",
        "indicator": "Deposits",
        "metric_key": "total",
        "escalation_level": 0,
        "subject": "Deposits total is 40.2% below its baseline",
        "body": "Deposits total is 1,234.5 against a baseline of 2,065.0.\nOwner: Payments team",
        "occurred_at": "2026-01-05T10:15:00Z",
        "fields": {
            "Indicator": "Deposits",
            "CurrentValue": "1,234.5",
            "HistoricalValue": "2,065.0",
            "DeviationPercent": "-40.2%",
            "Owner": "Payments team",
        },
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-MonitoringGrid-Event"] == "42"
    assert request.headers["X-MonitoringGrid-Timestamp"] == str(int(NOW.timestamp()))


def test_the_signature_verifies_over_the_body_as_received(http_receiver: HttpReceiver) -> None:
    _sender().send(make_notice(), http_receiver.url("/alerts"))

    (request,) = http_receiver.requests
    timestamp = request.headers["X-MonitoringGrid-Timestamp"]
    signature = request.headers["X-MonitoringGrid-Signature"]
    assert signature.startswith("sha256=")
    assert len(signature) == len("sha256=") + 64
    assert verify_signature(SECRET, timestamp, request.body, signature, NOW + timedelta(seconds=5))
    assert not verify_signature("another secret", timestamp, request.body, signature, NOW)
    assert not verify_signature(SECRET, timestamp, request.body + b" ", signature, NOW)
    assert not verify_signature(SECRET, str(int(timestamp) + 1), request.body, signature, NOW)
    assert not verify_signature(SECRET, timestamp, request.body, signature, NOW + timedelta(seconds=301))


@pytest.mark.parametrize(
    ("offset_s", "valid"), [(0, True), (300, True), (-300, True), (301, False), (-301, False), (3600, False)]
)
def test_a_timestamp_more_than_five_minutes_away_is_rejected(offset_s: int, valid: bool) -> None:
    body = b'{"event_id":1}'
    timestamp = int(NOW.timestamp())
    signature = sign(SECRET, timestamp, body)

    assert (
        verify_signature(SECRET, str(timestamp), body, signature, NOW + timedelta(seconds=offset_s)) is valid
    )


@pytest.mark.parametrize("timestamp", ["", "soon", "1.5e9", "17e8"])
def test_a_timestamp_that_is_not_whole_seconds_is_rejected(timestamp: str) -> None:
    assert not verify_signature(SECRET, timestamp, b"{}", sign(SECRET, timestamp, b"{}"), NOW)


def test_a_signature_is_the_hex_hmac_of_timestamp_dot_body() -> None:
    # printf '1700000000.{}' | openssl dgst -sha256 -hmac key
    expected = "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"

    assert sign("key", 1700000000, b"{}") == expected
    assert sign("key", "1700000000", b"{}") == expected


def test_without_a_secret_no_signature_is_sent(http_receiver: HttpReceiver) -> None:
    _sender(secret=None).send(make_notice(), http_receiver.url("/alerts"))

    assert http_receiver.requests[0].headers["X-MonitoringGrid-Signature"] is None


def test_a_naive_occurred_at_is_taken_as_utc() -> None:
    payload = webhook_payload(make_notice(occurred_at=OCCURRED_AT.replace(tzinfo=None)))

    assert payload["occurred_at"] == "2026-01-05T10:15:00Z"


def test_a_webhook_error_shows_the_path_but_never_the_query(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=500, body=b"boom"))

    with pytest.raises(DeliveryError) as caught:
        _sender().send(make_notice(), http_receiver.url("/alerts?token=SECRET"))

    assert not caught.value.permanent
    assert caught.value.reason == f"{http_receiver.url('/alerts')} answered 500: boom"

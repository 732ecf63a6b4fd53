"""The generic webhook: the notice as JSON, signed with HMAC-SHA256 when `Notifications__WebhookSecret` is
set.

Request: `POST <url>` with `Content-Type: application/json`, `X-MonitoringGrid-Event: <event id>`,
`X-MonitoringGrid-Timestamp: <unix seconds>` and, with a secret,
`X-MonitoringGrid-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body bytes)>`. The body:

    {"event_id": 42, "alert_id": 7, "event_type": "opened", "severity": "critical", "indicator": "Deposits",
     "metric_key": "total", "escalation_level": 0, "subject": "...", "body": "...",
     "occurred_at": "2026-01-05T10:15:00Z", "fields": {"CurrentValue": "1,234.5", ...}}

A receiver verifies a request with `verify_signature` (or the same steps in its own language): compute the
HMAC over the timestamp header, a dot and the raw body bytes exactly as received (before any JSON parsing),
compare it in constant time with the signature header, and reject a timestamp more than 5 minutes away from
its own clock, so a captured request cannot be replayed later. The same event may arrive more than once
(deliveries are retried); `event_id` identifies it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared.domain.notification import Channel
from shared.notify.base import Notice
from shared.notify.http import encode_json, post_json
from shared.notify.targets import TargetPolicy

EVENT_HEADER = "X-MonitoringGrid-Event"
TIMESTAMP_HEADER = "X-MonitoringGrid-Timestamp"
SIGNATURE_HEADER = "X-MonitoringGrid-Signature"
SIGNATURE_PREFIX = "sha256="
#: How far a signed timestamp may be from the receiver's clock, in seconds.
TOLERANCE_S = 300


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WebhookSender:
    """Posts each notice as JSON to the contact's webhook URL, signed when a secret is configured."""

    channel: Channel = Channel.WEBHOOK

    def __init__(
        self,
        *,
        secret: str | None,
        timeout_s: float,
        clock: Callable[[], datetime] = _utc_now,
        policy: TargetPolicy | None = None,
    ) -> None:
        self._secret = secret
        self._policy = policy
        self._timeout_s = timeout_s
        self._clock = clock

    def send(self, notice: Notice, address: str) -> None:
        body = encode_json(webhook_payload(notice))
        timestamp = int(self._clock().timestamp())
        headers = {EVENT_HEADER: str(notice.event_id), TIMESTAMP_HEADER: str(timestamp)}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        post_json(
            address,
            body,
            channel=self.channel,
            timeout_s=self._timeout_s,
            headers=headers,
            policy=self._policy,
        )


def webhook_payload(notice: Notice) -> dict[str, Any]:
    """The JSON body: every attribute of the notice, `occurred_at` as ISO 8601 in UTC."""
    return {
        "event_id": notice.event_id,
        "alert_id": notice.alert_id,
        "event_type": notice.event_type,
        "severity": notice.severity,
        "indicator": notice.indicator,
        "metric_key": notice.metric_key,
        "escalation_level": notice.escalation_level,
        "subject": notice.subject,
        "body": notice.body,
        "occurred_at": iso_utc(notice.occurred_at),
        "fields": dict(notice.fields),
    }


def iso_utc(moment: datetime) -> str:
    """`2026-01-05T10:15:00Z`; a naive time is taken as UTC (the monitoring database stores UTC)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of `"<timestamp>." + body`."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | int,
    body: bytes,
    signature: str,
    now: datetime,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """Whether a received request is authentic and fresh: `signature` (the X-MonitoringGrid-Signature header)
    matches the HMAC of `timestamp` (the X-MonitoringGrid-Timestamp header) and the raw `body`, compared in
    constant time, and `timestamp` lies within `tolerance_s` seconds of `now` (an aware datetime)."""
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    if abs(now.timestamp() - sent_at) > tolerance_s:
        return False
    expected = sign(secret, sent_at, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace"))

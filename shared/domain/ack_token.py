"""One-click acknowledgement tokens: HMAC-SHA256 over (alert id, contact id, expiry), URL-safe.

A token reads `<alert>.<contact>.<expires unix s>.<signature>`; the signature (base64url, no padding) covers
the first three parts, so none of them can be changed without the secret. Verification is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

#: What a token looks like: alert, contact and expiry (digits), then 43 base64url characters of signature.
TOKEN_PATTERN = r"^[0-9]{1,19}\.[0-9]{1,10}\.[0-9]{1,12}\.[A-Za-z0-9_-]{43}$"  # noqa: S105 - a shape, not a secret


class TokenProblem(StrEnum):
    MALFORMED = "malformed"
    TAMPERED = "tampered"
    EXPIRED = "expired"
    WRONG_ALERT = "wrong_alert"


class InvalidAckToken(ValueError):
    def __init__(self, problem: TokenProblem) -> None:
        self.problem = problem
        super().__init__(f"the acknowledgement link is {problem.value.replace('_', ' ')}")


@dataclass(frozen=True, kw_only=True, slots=True)
class AckGrant:
    """What a valid token allows: acknowledging `alert_id` as `contact_id` until `expires_at`."""

    alert_id: int
    contact_id: int
    expires_at: datetime


def sign(secret: str, *, alert_id: int, contact_id: int, expires_at: datetime) -> str:
    payload = f"{alert_id}.{contact_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_signature(secret, payload)}"


def issue(secret: str, *, alert_id: int, contact_id: int, now: datetime, ttl: timedelta) -> str:
    return sign(secret, alert_id=alert_id, contact_id=contact_id, expires_at=now + ttl)


def verify(secret: str, token: str, *, alert_id: int, now: datetime) -> AckGrant:
    """The grant of a token for `alert_id`; `InvalidAckToken` when it is malformed, tampered, expired or made
    for another alert."""
    parts = token.split(".")
    if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]) or len(token) > 200:
        raise InvalidAckToken(TokenProblem.MALFORMED)
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), _signature(secret, payload).encode()):
        raise InvalidAckToken(TokenProblem.TAMPERED)
    token_alert, contact, expires = (int(part) for part in parts[:3])
    if token_alert != alert_id:
        raise InvalidAckToken(TokenProblem.WRONG_ALERT)
    expires_at = datetime.fromtimestamp(min(expires, 253402300799), UTC)
    if expires_at <= now:
        raise InvalidAckToken(TokenProblem.EXPIRED)
    return AckGrant(alert_id=token_alert, contact_id=contact, expires_at=expires_at)


def _signature(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

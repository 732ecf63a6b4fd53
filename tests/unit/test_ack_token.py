"""One-click acknowledgement tokens: valid, expired, tampered, made for another alert, malformed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.ack_token import InvalidAckToken, TokenProblem, issue, sign, verify
from tests.factories import NOW

SECRET = "s3cret"


def token(alert_id: int = 7, contact_id: int = 3, ttl: timedelta = timedelta(hours=72)) -> str:
    return issue(SECRET, alert_id=alert_id, contact_id=contact_id, now=NOW, ttl=ttl)


def test_a_valid_token_grants_its_alert_and_contact_until_it_expires() -> None:
    grant = verify(SECRET, token(), alert_id=7, now=NOW + timedelta(hours=71))
    assert (grant.alert_id, grant.contact_id, grant.expires_at) == (7, 3, NOW + timedelta(hours=72))


def _flip_last(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


@pytest.mark.parametrize(
    ("given", "alert_id", "at", "problem"),
    [
        (token(), 7, NOW + timedelta(hours=72), TokenProblem.EXPIRED),
        (token(ttl=timedelta(hours=1)), 7, NOW + timedelta(hours=2), TokenProblem.EXPIRED),
        (_flip_last(token()), 7, NOW, TokenProblem.TAMPERED),
        (token().replace("7.3.", "7.4.", 1), 7, NOW, TokenProblem.TAMPERED),  # another contact
        (token().replace("7.3.", "8.3.", 1), 8, NOW, TokenProblem.TAMPERED),  # another alert, same signature
        (
            issue("other", alert_id=7, contact_id=3, now=NOW, ttl=timedelta(hours=1)),
            7,
            NOW,
            TokenProblem.TAMPERED,
        ),
        (token(), 8, NOW, TokenProblem.WRONG_ALERT),
        ("", 7, NOW, TokenProblem.MALFORMED),
        ("7.3.x.sig", 7, NOW, TokenProblem.MALFORMED),
        ("7.3", 7, NOW, TokenProblem.MALFORMED),
        ("7" * 300, 7, NOW, TokenProblem.MALFORMED),
    ],
)
def test_a_token_that_does_not_hold_is_refused_with_its_reason(
    given: str, alert_id: int, at: object, problem: TokenProblem
) -> None:
    with pytest.raises(InvalidAckToken) as refused:
        verify(SECRET, given, alert_id=alert_id, now=at)  # type: ignore[arg-type]
    assert refused.value.problem is problem


def test_an_absurd_expiry_is_read_without_overflow() -> None:
    forged = sign(SECRET, alert_id=7, contact_id=3, expires_at=NOW).replace(
        str(int(NOW.timestamp())), "9" * 15
    )
    with pytest.raises(InvalidAckToken):
        verify(SECRET, forged, alert_id=7, now=NOW)

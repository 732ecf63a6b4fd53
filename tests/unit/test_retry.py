"""The wait before a delivery's next round of tries: the first round waits the base, each further round
twice as long, never more than a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.retry import MAX_BACKOFF, retry_backoff


@pytest.mark.parametrize(
    ("attempts", "send_attempts", "base_seconds", "expected"),
    [
        (1, 3, 60, timedelta(seconds=60)),  # a round cut short still counts as one
        (3, 3, 60, timedelta(seconds=60)),  # one full round
        (4, 3, 60, timedelta(seconds=120)),  # a second round started
        (6, 3, 60, timedelta(seconds=120)),
        (9, 3, 60, timedelta(seconds=240)),
        (1, 1, 60, timedelta(seconds=60)),
        (2, 1, 60, timedelta(seconds=120)),
        (5, 1, 1, timedelta(seconds=16)),
        (0, 3, 60, timedelta(seconds=60)),  # never less than one round
        (11, 1, 60, timedelta(seconds=61440)),  # 17 h
        (12, 1, 60, MAX_BACKOFF),  # 34 h: capped at a day
        (99, 1, 86400, MAX_BACKOFF),  # far past the cap, without overflowing
        (2, 1, 86400, MAX_BACKOFF),
    ],
)
def test_the_wait_doubles_per_round_up_to_a_day(
    attempts: int, send_attempts: int, base_seconds: int, expected: timedelta
) -> None:
    backoff = retry_backoff(attempts, send_attempts=send_attempts, base_seconds=base_seconds)
    assert backoff == expected


def test_the_cap_can_be_chosen() -> None:
    five_minutes = timedelta(minutes=5)
    assert retry_backoff(10, send_attempts=1, base_seconds=60, cap=five_minutes) == five_minutes

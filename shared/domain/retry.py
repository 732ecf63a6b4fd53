"""When a delivery that failed transiently is tried again.

A delivery is tried in rounds of `send_attempts` tries (one round per invocation); after each round that
fails it waits for the alert processor: `base_seconds` after the first round, twice as long after each
further one, never longer than a day.
"""

from __future__ import annotations

from datetime import timedelta

MAX_BACKOFF = timedelta(days=1)


def retry_backoff(
    attempts: int, *, send_attempts: int, base_seconds: int, cap: timedelta = MAX_BACKOFF
) -> timedelta:
    """The wait before the next round of a delivery tried `attempts` times in all (a started round counts)."""
    rounds = max(1, -(-attempts // send_attempts))
    return timedelta(seconds=min(base_seconds * 2 ** (rounds - 1), cap.total_seconds()))

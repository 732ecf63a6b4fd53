"""Time as the whole package handles it: a clock is a function that returns an aware datetime, and every
moment that crosses a boundary (a caller, a column, a definitions file) must be aware."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: What services take to tell the time; tests pass a fixed or stepping one.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The system clock, in UTC."""
    return datetime.now(UTC)


def is_aware(moment: datetime) -> bool:
    """Whether `moment` names an instant (it has a time zone that gives an offset)."""
    return moment.tzinfo is not None and moment.utcoffset() is not None


def require_aware(moment: datetime, what: str = "datetime") -> datetime:
    """`moment` itself when it is aware; a naive one is a programming error (`ValueError` naming `what`)."""
    if not is_aware(moment):
        raise ValueError(f"{what} must be timezone-aware, got naive {moment!r}")
    return moment

"""Alert events to hand to the `alert-events` queue output of the HTTP function serving this request.

The function sets a fresh list before running the app and sends what the routes added; where no function
collects (tests, a bare ASGI server) the outbox rows are delivered by `alert_processor` after the grace."""

from __future__ import annotations

from contextvars import ContextVar

from shared.domain.alert import EventRef

_pending: ContextVar[list[EventRef] | None] = ContextVar("mgrid_api_pending_events", default=None)


def collect() -> list[EventRef]:
    events: list[EventRef] = []
    _pending.set(events)
    return events


def add(event: EventRef | None) -> None:
    events = _pending.get()
    if event is not None and events is not None:
        events.append(event)

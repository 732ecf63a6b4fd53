"""What silences do to alerts (used by the dispatcher and the alert processor).

- A notice (opened, retriggered, escalated, resolved, unsilenced) of an alert that a silence covers when it
  is dispatched is not sent: no delivery rows are created, and a `silenced` event in the alert's timeline
  records which notice was held and by which silences. Delivery-failed notices (to the administrator) and
  system alerts are never silenced. A resolved notice goes only to those a notice reached, so an alert whose
  opening was held is resolved without a notice too.
- An alert that is due to escalate while covered does not escalate: its next escalation moves to the end
  of the covering silences plus the escalation timeout (a `silenced` event says so).
- When a silence's end passes, the processor takes that silence's open, unacknowledged alerts (opened
  before the end) that no other silence covers any more, and records for each one `unsilenced` event with
  an outbox entry, which notifies its current state once to the contacts of its level; their escalation
  clock restarts from then. Each end is handled once (`silences.next_end_at` moves on under a conditional
  UPDATE); weekly silences get one end per occurrence. Cost: O(ended silences x their alerts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from shared.db import alerts
from shared.db import silences as store
from shared.db.alerts import DueAlert
from shared.domain.alert import SYSTEM_ACTOR, AlertEventType, EventRef
from shared.domain.delivery import EventContext
from shared.domain.silence import Silence, covering

log = logging.getLogger("mgrid.silences")
#: Notices a silence holds back.
SILENCEABLE = frozenset(
    {
        AlertEventType.OPENED,
        AlertEventType.RETRIGGERED,
        AlertEventType.ESCALATED,
        AlertEventType.RESOLVED,
        AlertEventType.UNSILENCED,
    }
)


def covering_event(connection: Connection, context: EventContext, *, now: datetime) -> list[Silence]:
    """The silences that hold the event's notice now (none for events and alerts never silenced)."""
    facts = context.alert
    if context.event.event_type not in SILENCEABLE or context.kpi_id is None or facts.indicator is None:
        return []
    owners = {facts.owner} if facts.owner else set()
    live = store.live_for(connection, indicators={facts.indicator}, owners=owners, now=now)
    return covering(live, indicator=facts.indicator, owner=facts.owner, metric_key=facts.metric_key, now=now)


def hold_notice(connection: Connection, context: EventContext, *, now: datetime) -> list[Silence]:
    """If silences cover the event's alert now, audit the held notice (once, however often the event is
    dispatched) and return them (else [])."""
    held = covering_event(connection, context, now=now)
    if held and not store.held_before(connection, context.alert_id, context.event_id):
        log.info("event %s of alert %s held by silences %s", context.event_id, context.alert_id, _ids(held))
        alerts.record_event(
            connection,
            alert_id=context.alert_id,
            event_type=AlertEventType.SILENCED,
            actor=SYSTEM_ACTOR,
            now=now,
            details={
                "event_id": context.event_id,
                "held": context.event.event_type.value,
                "silences": _ids(held),
            },
        )
    return held


def hold_escalations(
    connection: Connection, due: list[DueAlert], *, now: datetime, timeout: timedelta
) -> set[int]:
    """Hold the escalation of the due alerts that silences cover; the ids of those held."""
    labels = store.kpi_labels(connection, (a.kpi_id for a in due if a.kpi_id is not None))
    if not labels:
        return set()
    indicators = {indicator for indicator, _ in labels.values()}
    owners = {owner for _, owner in labels.values()}
    live = store.live_for(connection, indicators=indicators, owners=owners, now=now)
    held: set[int] = set()
    for alert in due:
        if alert.kpi_id in labels:
            indicator, owner = labels[alert.kpi_id]
            found = covering(live, indicator=indicator, owner=owner, metric_key=alert.metric_key, now=now)
            if found and _hold(connection, alert.id, found, now=now, timeout=timeout):
                held.add(alert.id)
    return held


def _hold(
    connection: Connection, alert_id: int, found: list[Silence], *, now: datetime, timeout: timedelta
) -> bool:
    """Move the alert's escalation to the end of the silences plus the timeout, and say so in its timeline."""
    ends = [end for end in (silence.next_end(now) for silence in found) if end is not None]
    until = max(ends) + timeout if ends else None
    if until is None or not store.reschedule_escalation(connection, alert_id, at=until):
        return False
    alerts.record_event(
        connection,
        alert_id=alert_id,
        event_type=AlertEventType.SILENCED,
        actor=SYSTEM_ACTOR,
        now=now,
        details={"held": "escalation", "silences": _ids(found), "until": until},
    )
    return True


@dataclass(kw_only=True, slots=True)
class EndsHandled:
    """What one batch of ended silences did."""

    silences: int = 0
    events: list[EventRef] = field(default_factory=list)
    notified: set[int] = field(default_factory=set)


def handle_ends(
    connection: Connection, *, now: datetime, limit: int, timeout: timedelta | None, seen: set[int]
) -> EndsHandled:
    """Handle up to `limit` passed silence ends (see the module's contract). `seen`: alerts already
    notified in this pass (two silences ending together notify once); `timeout`: None without escalation."""
    done = EndsHandled()
    for silence, end in store.ended(connection, now=now, limit=limit):
        if not store.advance_end(connection, silence.id, handled=end, to=silence.next_end(now)):
            continue
        done.silences += 1
        for alert in _released(connection, silence, end=end, now=now, seen=seen):
            seen.add(alert.id)
            done.events.append(_notify(connection, alert, silence, now=now))
            done.notified.add(alert.id)
            if timeout is not None and alert.next_escalation_at is not None:
                store.reschedule_escalation(connection, alert.id, at=now + timeout)
    return done


def _released(
    connection: Connection, silence: Silence, *, end: datetime, now: datetime, seen: set[int]
) -> list[store.SilencedAlert]:
    """The silence's open alerts (opened before its end) that no other silence covers now."""
    candidates = [
        alert
        for alert in store.open_alerts_of(connection, silence, opened_before=end)
        if alert.id not in seen
        and silence.matches(indicator=alert.indicator, owner=alert.owner, metric_key=alert.metric_key)
    ]
    if not candidates:
        return []
    live = store.live_for(
        connection,
        indicators={alert.indicator for alert in candidates},
        owners={alert.owner for alert in candidates},
        now=now,
    )
    return [
        alert
        for alert in candidates
        if not covering(
            live, indicator=alert.indicator, owner=alert.owner, metric_key=alert.metric_key, now=now
        )
    ]


def _notify(
    connection: Connection, alert: store.SilencedAlert, silence: Silence, *, now: datetime
) -> EventRef:
    event = alerts.record_event(
        connection,
        alert_id=alert.id,
        event_type=AlertEventType.UNSILENCED,
        actor=SYSTEM_ACTOR,
        now=now,
        details={"metric_key": alert.metric_key, "silence_id": silence.id, "reason": "the silence ended"},
        dispatch=True,
    )
    if event is None:
        raise RuntimeError("an event recorded with dispatch=True has an outbox entry")
    store.mark_notified(connection, alert.id, now=now)
    return event


def _ids(found: list[Silence]) -> list[int]:
    return sorted(silence.id for silence in found)

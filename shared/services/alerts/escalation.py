"""Delivering alert events to people (the `alert_escalation` function, `mgrid alerts dispatch`, and the
processor's retries).

For an event: load it with its alert and KPI, choose the recipients (`shared.domain.recipients`), create one
`notifications` row per (contact, channel), then claim and send each row that is still pending. A row is sent
by whoever claims it, so a redelivered message or two invocations at once send nothing twice. A failed send
is retried with back-off inside the invocation (`Notifications__SendAttempts` tries); after that the row
waits for the alert processor with its error and a retry time, until `Notifications__MaxDeliveryAttempts`,
when it is marked failed and the administrator contact is told. A permanent error (a rejected address) fails
the row at once. A channel switched off (`Notifications__<Channel>__Enabled=false`) or not configured marks
its rows `skipped` with the reason: never failed, retried or announced to the administrator. A notice about
a live alert that was acknowledged or resolved before its turn is `dropped`. A crash between a send and its
bookkeeping can repeat that one send after the claim expires: at-least-once at that single point, and every
channel carries the event id so a receiver can drop the repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from shared import telemetry
from shared.db import alerts, deliveries, event_context, outbox, recipients
from shared.domain.alert import SYSTEM_ACTOR, AlertEventType, AlertStatus, EventRef
from shared.domain.alert_text import compose, placeholder_values
from shared.domain.clock import Clock, utc_now
from shared.domain.delivery import Delivery, EventContext
from shared.domain.notification import Channel, DeliveryStatus
from shared.domain.recipients import Member, address_of, select_recipients
from shared.domain.retry import retry_backoff
from shared.notify import unusable_reason
from shared.notify.base import DeliveryError, Notice, Sender
from shared.services.alerts import notice_links, silencing
from shared.settings import Settings

log = logging.getLogger("mgrid.escalation")
#: Events that tell about a live alert: pointless once the alert is acknowledged or resolved.
_LIVE_ONLY = frozenset(
    {AlertEventType.OPENED, AlertEventType.RETRIGGERED, AlertEventType.ESCALATED, AlertEventType.UNSILENCED}
)


class Outcome(StrEnum):
    SENT = "sent"
    RETRYING = "retrying"  #: left for the alert processor
    FAILED = "failed"  #: final
    SKIPPED = "skipped"  #: not sent: the channel is switched off or not configured
    DROPPED = "dropped"  #: not sent: the alert was acknowledged or resolved before its turn came
    HELD = "held"  #: held or already done by someone else


@dataclass(kw_only=True, slots=True)
class DispatchReport:
    """What one dispatch (or one retry pass) did. `events` are follow-up events to dispatch."""

    event_ids: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    events: list[EventRef] = field(default_factory=list)

    def add(self, other: DispatchReport) -> None:
        self.event_ids += other.event_ids
        self.missing += other.missing
        for outcome, count in other.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
        self.events += other.events

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.get(outcome, 0)

    def summary(self) -> dict[str, Any]:
        return {
            "events": len(self.event_ids),
            "missing": len(self.missing),
            **{outcome.value: self.count(outcome) for outcome in Outcome},
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class _Result:
    delivery: Delivery
    member: Member | None
    outcome: Outcome
    error: str | None = None


class EventDispatcher:
    """Sends alert events to their recipients; see the module's contract."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        senders: Callable[[], Mapping[Channel, Sender]],
        *,
        clock: Clock = utc_now,
        retry_wait_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._notifications = settings.notifications
        self._senders = senders
        self._clock = clock
        self._retry_wait_s = retry_wait_s
        timeout_s = max(self._notifications.smtp.timeout_seconds, self._notifications.http_timeout_seconds)
        # A claim outlives every try of one round, so nobody else sends while its holder still may.
        self._lease = timedelta(seconds=self._notifications.send_attempts * (timeout_s + 10) + 60)

    def dispatch(self, event_id: int) -> DispatchReport:
        """Deliver the event to every recipient not yet reached, and mark its outbox entry dispatched."""
        report = DispatchReport()
        now = self._clock()
        with self._engine.begin() as connection:
            context = event_context.load(connection, event_id)
            if context is None:
                report.missing.append(event_id)
                return report
            report.event_ids.append(event_id)
            wanted = self._plan(connection, context, now)
            pending = deliveries.claimable(connection, event_id, now=now) if wanted else []
            members = recipients.contacts_by_id(connection, {d.contact_id for d in pending})
        notice = _notice(context) if pending else None
        results = self._deliver_all(pending, notice, context, members)
        with self._engine.begin() as connection:
            self._record(connection, context, results, report, now=self._clock())
            outbox.mark_dispatched(connection, event_id, now=self._clock())
        return report

    def dispatch_now(self, event_ids: Sequence[int], *, follow: bool = True) -> DispatchReport:
        """Dispatch the events here and now (no queue), and with `follow` the events their deliveries
        created (a delivery-failed notice to the administrator), which then create none."""
        report = DispatchReport()
        for event_id in event_ids:
            report.add(self.dispatch(event_id))
        if follow and report.events:
            followed = self.dispatch_now([event.event_id for event in report.events], follow=False)
            report.add(followed)
            report.events = followed.events
        return report

    def dispatch_outbox(self, *, limit: int) -> DispatchReport:
        """Dispatch every outbox entry not dispatched yet, oldest first, at most `limit`."""
        with self._engine.begin() as connection:
            waiting = outbox.undispatched(connection, created_before=self._clock(), limit=limit)
        return self.dispatch_now([event.event_id for event, _ in waiting])

    def retry_due(self, *, limit: int) -> DispatchReport:
        """Send deliveries whose retry time has come (or whose sender died holding them), at most `limit`."""
        report = DispatchReport()
        now = self._clock()
        with self._engine.begin() as connection:
            due = deliveries.due(connection, now=now, limit=limit)
            contexts = {e: event_context.load(connection, e) for e in {d.event_id for d in due}}
            members = recipients.contacts_by_id(connection, {d.contact_id for d in due})
        by_event: dict[int, list[Delivery]] = {}
        for delivery in due:
            by_event.setdefault(delivery.event_id, []).append(delivery)
        for event_id, pending in by_event.items():
            context = contexts[event_id]
            if context is None:
                continue
            report.event_ids.append(event_id)
            notice = _notice(context) if _still_relevant(context) and not self._held(context) else None
            results = self._deliver_all(pending, notice, context, members)
            with self._engine.begin() as connection:
                self._record(connection, context, results, report, now=self._clock())
        return report

    def _held(self, context: EventContext) -> bool:
        """Whether a silence holds the event's notices now (its retries are dropped: when the silence ends,
        the alert's current state is notified once instead)."""
        with self._engine.connect() as connection:
            return bool(silencing.covering_event(connection, context, now=self._clock()))

    def _plan(self, connection: Connection, context: EventContext, now: datetime) -> bool:
        """Create the event's delivery rows; False when the event tells nobody (recorded why)."""
        event_type = context.event.event_type
        if not _still_relevant(context):
            log.info("event %s not sent: its alert is %s", context.event_id, context.alert_status.value)
            return False
        if silencing.hold_notice(connection, context, now=now):
            return False
        resolved = event_type is AlertEventType.RESOLVED
        reached = recipients.notified_channels(connection, context.alert_id) if resolved else {}
        known = recipients.contacts_by_id(connection, reached) if reached else {}
        chosen = select_recipients(
            event_type=event_type,
            level=context.event.escalation_level,
            priority=context.priority,
            linked=recipients.linked_members(connection, context.kpi_id)
            if context.kpi_id is not None
            else [],
            notified={cid: (known[cid], channels) for cid, channels in reached.items() if cid in known},
            admin=recipients.member_named(connection, self._notifications.admin_contact),
        )
        wanted = [(r.contact_id, channel) for r in chosen for channel in r.channels]
        deliveries.ensure_deliveries(connection, context.event_id, wanted, now=now)
        if not wanted and not resolved:
            log.warning("event %s of alert %s reaches nobody", context.event_id, context.alert_id)
            alerts.record_event(
                connection,
                alert_id=context.alert_id,
                event_type=AlertEventType.NOTIFIED,
                actor=SYSTEM_ACTOR,
                now=now,
                details={
                    "event_id": context.event_id,
                    "recipients": 0,
                    "reason": "no active contact with a usable channel, and no administrator contact "
                    "(Notifications__AdminContact)",
                },
            )
        return bool(wanted)

    def _deliver_all(
        self,
        pending: Sequence[Delivery],
        notice: Notice | None,
        context: EventContext,
        members: Mapping[int, Member],
    ) -> list[_Result]:
        """Each pending delivery sent with its contact's own copy of the notice (its links)."""
        results = []
        for delivery in pending:
            member = members.get(delivery.contact_id)
            own = notice_links.personal(notice, context, member, self._notifications, now=self._clock())
            results.append(self._deliver(delivery, own, member))
        return results

    def _deliver(self, delivery: Delivery, notice: Notice | None, member: Member | None) -> _Result:
        now = self._clock()
        with self._engine.begin() as connection:
            if not deliveries.claim(connection, delivery.id, now=now, until=now + self._lease):
                return _Result(delivery=delivery, member=member, outcome=Outcome.HELD)
            if notice is None:
                reason = "not sent: the alert is no longer open, or a silence holds it"
                deliveries.mark_unsent(connection, delivery.id, status=DeliveryStatus.DROPPED, reason=reason)
                return _Result(delivery=delivery, member=member, outcome=Outcome.DROPPED, error=reason)
            if delivery.channel not in self._senders():
                reason = unusable_reason(delivery.channel, self._settings) or "no sender for this channel"
                deliveries.mark_unsent(connection, delivery.id, status=DeliveryStatus.SKIPPED, reason=reason)
                return _Result(delivery=delivery, member=member, outcome=Outcome.SKIPPED, error=reason)
        tries, error = self._send(delivery, notice, member)
        with self._engine.begin() as connection:
            return self._settle(connection, delivery, member, tries, error)

    def _send(
        self, delivery: Delivery, notice: Notice, member: Member | None
    ) -> tuple[int, DeliveryError | None]:
        """Try the delivery up to this round's number of tries; the tries made and the last error."""
        channel = delivery.channel
        sender = self._senders().get(channel)
        address = address_of(member.contact, channel) if member is not None else None
        if member is None or address is None:
            return 0, DeliveryError(
                channel, "the contact has no address on this channel any more", permanent=True
            )
        if sender is None:
            return 0, DeliveryError(channel, unusable_reason(channel, self._settings), permanent=True)
        remaining = self._notifications.max_delivery_attempts - delivery.attempts
        tries = 0

        def attempt() -> None:
            nonlocal tries
            tries += 1
            try:
                sender.send(notice, address)
            except DeliveryError:
                raise
            except Exception as error:  # a channel's bug must not lose the other deliveries
                raise DeliveryError(channel, f"{type(error).__name__}: {error}") from error

        retrying = Retrying(
            stop=stop_after_attempt(max(1, min(self._notifications.send_attempts, remaining))),
            wait=wait_exponential(multiplier=self._retry_wait_s, max=8 * self._retry_wait_s),
            retry=retry_if_exception(lambda error: isinstance(error, DeliveryError) and not error.permanent),
            reraise=True,
        )
        try:
            retrying(attempt)
        except DeliveryError as error:
            log.warning(
                "delivery %s (%s) failed after %d tries: %s", delivery.id, channel, tries, error.reason
            )
            return tries, error
        return tries, None

    def _settle(
        self,
        connection: Connection,
        delivery: Delivery,
        member: Member | None,
        tries: int,
        error: DeliveryError | None,
    ) -> _Result:
        now = self._clock()
        if error is None:
            deliveries.mark_sent(connection, delivery.id, tries=tries, now=now)
            return _Result(delivery=delivery, member=member, outcome=Outcome.SENT)
        attempts = delivery.attempts + tries
        settings = self._notifications
        if error.permanent or attempts >= settings.max_delivery_attempts:
            deliveries.mark_failed(connection, delivery.id, tries=tries, error=error.reason)
            return _Result(delivery=delivery, member=member, outcome=Outcome.FAILED, error=error.reason)
        backoff = retry_backoff(
            attempts, send_attempts=settings.send_attempts, base_seconds=settings.retry_backoff_seconds
        )
        deliveries.mark_retry(
            connection, delivery.id, tries=tries, error=error.reason, retry_at=now + backoff
        )
        return _Result(delivery=delivery, member=member, outcome=Outcome.RETRYING, error=error.reason)

    def _record(
        self,
        connection: Connection,
        context: EventContext,
        results: Sequence[_Result],
        report: DispatchReport,
        *,
        now: datetime,
    ) -> None:
        """Audit what the deliveries did; a final failure tells the administrator (unless it is itself the
        notice of a failure, which would loop)."""
        for result in results:
            report.outcomes[result.outcome] = report.outcomes.get(result.outcome, 0) + 1
            if result.outcome is not Outcome.HELD:
                telemetry.record_notification(
                    channel=result.delivery.channel.value, outcome=result.outcome.value
                )
        done = [r for r in results if r.outcome is not Outcome.HELD]
        if not done:
            return
        alerts.record_event(
            connection,
            alert_id=context.alert_id,
            event_type=AlertEventType.NOTIFIED,
            actor=SYSTEM_ACTOR,
            now=now,
            details={
                "event_id": context.event_id,
                "deliveries": [_described(result) for result in done],
            },
        )
        tell_admin = bool(self._notifications.admin_contact) and (
            context.event.event_type is not AlertEventType.DELIVERY_FAILED
        )
        for result in done:
            if result.outcome is not Outcome.FAILED:
                continue
            event = alerts.record_event(
                connection,
                alert_id=context.alert_id,
                event_type=AlertEventType.DELIVERY_FAILED,
                actor=SYSTEM_ACTOR,
                now=now,
                details={**_described(result), "failed_event_id": context.event_id},
                dispatch=tell_admin,
            )
            if event is not None:
                report.events.append(event)


def _still_relevant(context: EventContext) -> bool:
    """A notice about a live alert is dropped once the alert was acknowledged or resolved."""
    return context.event.event_type not in _LIVE_ONLY or context.alert_status is AlertStatus.OPEN


def _described(result: _Result) -> dict[str, Any]:
    described: dict[str, Any] = {
        "contact": result.member.contact.name if result.member else result.delivery.contact_id,
        "channel": result.delivery.channel.value,
        "outcome": result.outcome.value,
    }
    if result.error:
        described["error"] = result.error
    return described


def _notice(context: EventContext) -> Notice:
    subject, body = compose(context.alert, context.event)
    return Notice(
        event_id=context.event_id,
        alert_id=context.alert_id,
        event_type=context.event.event_type.value,
        severity=context.alert.severity.value,
        indicator=context.alert.indicator,
        metric_key=context.alert.metric_key,
        escalation_level=context.event.escalation_level,
        subject=subject,
        body=body,
        occurred_at=context.event.occurred_at,
        fields=placeholder_values(context.alert, context.event),
    )

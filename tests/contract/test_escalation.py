"""Delivering alert events on SQLite and PostgreSQL: recipients, one delivery per recipient and channel under
redelivery and concurrency, retries, failures, the processor's escalation, auto-resolution and outbox sweep,
acknowledgement and resolution, and the alert-events queue handlers.

Channels here are scripted senders (the boundary where a notice leaves the service), so a test decides when a
channel fails; the real channels are tested against real SMTP and HTTP servers in tests/notify and, through
this same dispatcher, in tests/integration/test_alert_delivery.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.tables import alert_events, alerts, dead_letters, notifications, outbox, system_status
from shared.domain.alert import EventRef
from shared.domain.notification import Channel
from shared.notify.base import DeliveryError, Notice
from shared.services.alerts.actions import AlertActions, AlertConflict, AlertNotFound, InvalidAction
from shared.services.alerts.escalation import EventDispatcher, Outcome
from shared.services.alerts.events import AlertEventMessages
from shared.services.alerts.processor import AlertProcessor
from shared.settings import Settings
from tests import factories
from tests.conftest import Database
from tests.factories import NOW, Clock, insert_contact, insert_kpi, make_kpi


@dataclass
class ScriptedSender:
    """A channel that records what it sends, fails as told and may take its time."""

    channel: Channel
    failures: int = 0  #: fail this many sends first (transient)
    permanent: bool = False  #: fail permanently instead
    delay_s: float = 0.0
    sent: list[tuple[str, Notice]] = field(default_factory=list)
    tries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, notice: Notice, address: str) -> None:
        with self.lock:
            self.tries += 1
            failing = self.failures > 0 or self.permanent
            if self.failures > 0:
                self.failures -= 1
        time.sleep(self.delay_s)
        if failing:
            raise DeliveryError(self.channel, f"scripted failure of {address}", permanent=self.permanent)
        with self.lock:
            self.sent.append((address, notice))

    def addresses(self) -> list[str]:
        return [address for address, _ in self.sent]


@dataclass
class Service:
    database: Database
    clock: Clock
    senders: dict[Channel, ScriptedSender]
    settings: Settings
    dispatcher: EventDispatcher
    processor: AlertProcessor

    def rows(self, query: Any) -> list[Any]:
        with self.database.engine.connect() as connection:
            return list(connection.execute(query))

    def deliveries(self) -> list[tuple[str, str, str, int]]:
        """(contact name, channel, status, attempts) of every delivery, ordered."""
        from shared.db.tables import contacts

        query = (
            select(contacts.c.name, notifications.c.channel, notifications.c.status, notifications.c.attempts)
            .select_from(notifications.join(contacts))
            .order_by(notifications.c.event_id, contacts.c.name, notifications.c.channel)
        )
        return [tuple(row) for row in self.rows(query)]

    def events(self, alert_id: int) -> list[tuple[str, int]]:
        query = (
            select(alert_events.c.event_type, alert_events.c.escalation_level)
            .where(alert_events.c.alert_id == alert_id)
            .order_by(alert_events.c.id)
        )
        return [tuple(row) for row in self.rows(query)]


def build(database: Database, **env: str) -> Service:
    clock = Clock(NOW)
    senders = {channel: ScriptedSender(channel) for channel in Channel}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("Notifications__AdminContact", "Admin")
        patch.setenv("Notifications__SendAttempts", "3")
        patch.setenv("Notifications__MaxDeliveryAttempts", "6")
        patch.setenv("Notifications__RetryBackoffSeconds", "60")
        # Long enough that only the auto-resolution test sees alerts resolve by timeout.
        patch.setenv("Worker__AlertProcessing__AutoResolutionTimeoutMinutes", "43200")
        for name, value in env.items():
            patch.setenv(name, value)
        settings = Settings.load()
    dispatcher = EventDispatcher(database.engine, settings, lambda: senders, clock=clock, retry_wait_s=0)
    processor = AlertProcessor(database.engine, settings, dispatcher, clock=clock)
    return Service(database, clock, senders, settings, dispatcher, processor)  # type: ignore[arg-type]


@pytest.fixture
def service(database: Database) -> Service:
    return build(database)


@dataclass(frozen=True)
class Setup:
    kpi_id: int
    contacts: dict[str, int]


def seed(service: Service, *, priority: int = 1) -> Setup:
    """A KPI with contacts at levels 0 (two), 1 and 2, and an administrator contact."""
    with service.database.engine.begin() as connection:
        kpi_id = insert_kpi(
            connection,
            make_kpi(
                priority=priority,
                subject_template="{Indicator}/{MetricKey}: {CurrentValue} vs {HistoricalValue}",
                description_template="Deviation {DeviationPercent}% at {Timestamp}",
            ),
        )
        ids = {
            "Ops": insert_contact(
                connection, "Ops", kpi_id=kpi_id, level=0, email="ops@example.com", phone="+441234567890"
            ),
            "Dev": insert_contact(
                connection, "Dev", kpi_id=kpi_id, level=0, email="dev@example.com", webhook_url="https://h/x"
            ),
            "Lead": insert_contact(connection, "Lead", kpi_id=kpi_id, level=1, email="lead@example.com"),
            "Head": insert_contact(connection, "Head", kpi_id=kpi_id, level=2, slack_webhook="https://s/y"),
            "Admin": insert_contact(connection, "Admin", email="admin@example.com"),
        }
    return Setup(kpi_id=kpi_id, contacts=ids)


#: The seeded KPI runs every 5 minutes: its key counts as no longer evaluated three periods after a run.
STALE_IN = timedelta(minutes=15)


def open_alert(
    service: Service, kpi_id: int, *, escalate_in: timedelta | None = timedelta(minutes=60)
) -> EventRef:
    """Open an alert with its event and outbox entry, as the executor does."""
    now = service.clock()
    with service.database.engine.begin() as connection:
        return factories.open_alert(
            connection,
            kpi_id,
            key="PayFlow",
            values=AlertValues(current=52, baseline=104.5, deviation_percent=-50.24),
            now=now,
            next_escalation_at=now + escalate_in if escalate_in else None,
            stale_at=now + STALE_IN,
            details={"current": 52, "baseline": 104.5, "deviation_percent": -50.24, "window_end": str(now)},
        )


def test_an_opened_alert_reaches_level_zero_on_each_of_their_channels_once(service: Service) -> None:
    setup = seed(service)
    event = open_alert(service, setup.kpi_id)

    report = service.dispatcher.dispatch(event.event_id)

    assert report.count(Outcome.SENT) == 4
    assert service.senders[Channel.EMAIL].addresses() == ["dev@example.com", "ops@example.com"]
    assert service.senders[Channel.SMS].addresses() == ["+441234567890"]
    assert service.senders[Channel.WEBHOOK].addresses() == ["https://h/x"]
    assert service.senders[Channel.SLACK].addresses() == []
    notice = service.senders[Channel.EMAIL].sent[0][1]
    assert notice.subject == "Deposits/PayFlow: 52 vs 104.5"
    assert notice.body == "Deviation -50.2% at 2026-11-28 12:00 UTC"
    assert notice.event_id == event.event_id
    assert service.deliveries() == [
        ("Dev", "email", "sent", 1),
        ("Dev", "webhook", "sent", 1),
        ("Ops", "email", "sent", 1),
        ("Ops", "sms", "sent", 1),
    ]
    assert service.rows(select(outbox.c.dispatched_at)) == [(NOW,)]
    assert service.events(event.alert_id) == [("opened", 0), ("notified", 0)]


def test_a_warning_alert_sends_email_but_no_sms(service: Service) -> None:
    setup = seed(service, priority=2)
    service.dispatcher.dispatch(open_alert(service, setup.kpi_id).event_id)
    assert service.senders[Channel.SMS].sent == []
    assert len(service.senders[Channel.EMAIL].sent) == 2


def test_a_redelivered_event_sends_nothing_twice(service: Service) -> None:
    event = open_alert(service, seed(service).kpi_id)
    service.dispatcher.dispatch(event.event_id)
    again = service.dispatcher.dispatch(event.event_id)
    assert again.count(Outcome.SENT) == 0
    assert len(service.senders[Channel.EMAIL].sent) == 2
    assert len(service.senders[Channel.SMS].sent) == 1


def test_two_invocations_at_once_send_once_per_recipient(service: Service) -> None:
    event = open_alert(service, seed(service).kpi_id)
    for sender in service.senders.values():
        sender.delay_s = 0.2  # both invocations are inside their sends at the same time
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def dispatch() -> None:
        try:
            barrier.wait()
            service.dispatcher.dispatch(event.event_id)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=dispatch) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(service.senders[Channel.EMAIL].addresses()) == ["dev@example.com", "ops@example.com"]
    assert service.senders[Channel.SMS].addresses() == ["+441234567890"]
    assert service.senders[Channel.WEBHOOK].addresses() == ["https://h/x"]
    assert [status for *_, status, _ in service.deliveries()] == ["sent"] * 4


def test_a_transient_failure_is_retried_within_the_invocation(service: Service) -> None:
    service.senders[Channel.SMS].failures = 2
    service.dispatcher.dispatch(open_alert(service, seed(service).kpi_id).event_id)
    assert ("Ops", "sms", "sent", 3) in service.deliveries()


def test_a_failing_channel_is_retried_by_the_processor_then_failed_and_the_admin_told(
    service: Service,
) -> None:
    setup = seed(service)
    event = open_alert(service, setup.kpi_id)
    service.senders[Channel.SMS].failures = 100

    service.dispatcher.dispatch(event.event_id)
    assert ("Ops", "sms", "pending", 3) in service.deliveries()
    assert ("Ops", "email", "sent", 1) in service.deliveries()  # the other channels are unaffected
    [(error, retry_at)] = service.rows(
        select(notifications.c.last_error, notifications.c.next_attempt_at).where(
            notifications.c.channel == "sms"
        )
    )
    assert error == "scripted failure of +441234567890"
    assert retry_at == NOW + timedelta(seconds=60)

    service.clock.now = NOW + timedelta(seconds=30)
    assert service.processor.run().retried["events"] == 0  # not yet due

    service.clock.now = NOW + timedelta(seconds=61)
    report = service.processor.run()
    assert report.retried["failed"] == 1
    assert ("Ops", "sms", "failed", 6) in service.deliveries()
    assert service.senders[Channel.SMS].tries == 6
    [(last_error,)] = service.rows(
        select(notifications.c.last_error).where(notifications.c.status == "failed")
    )
    assert last_error == "scripted failure of +441234567890"
    assert [kind for kind, _ in service.events(event.alert_id)] == [
        "opened",
        "notified",
        "notified",
        "delivery_failed",
    ]
    [follow_up] = report.events
    service.dispatcher.dispatch(follow_up.event_id)
    admin_notice = service.senders[Channel.EMAIL].sent[-1]
    assert admin_notice[0] == "admin@example.com"
    assert admin_notice[1].subject.startswith("[Delivery failed] Deposits/PayFlow")
    assert "scripted failure of +441234567890" in admin_notice[1].body


def test_a_permanent_failure_is_not_retried(service: Service) -> None:
    service.senders[Channel.WEBHOOK].permanent = True
    service.dispatcher.dispatch(open_alert(service, seed(service).kpi_id).event_id)
    assert ("Dev", "webhook", "failed", 1) in service.deliveries()
    assert service.senders[Channel.WEBHOOK].tries == 1


def test_a_channel_that_is_not_configured_is_skipped_naming_the_setting(service: Service) -> None:
    del service.senders[Channel.SMS]
    event = open_alert(service, seed(service).kpi_id)
    report = service.dispatcher.dispatch(event.event_id)
    [(status, error)] = service.rows(
        select(notifications.c.status, notifications.c.last_error).where(notifications.c.channel == "sms")
    )
    assert status == "skipped"
    assert "Notifications__Acs__ConnectionString" in error
    counts = [report.count(outcome) for outcome in (Outcome.SKIPPED, Outcome.FAILED, Outcome.SENT)]
    assert counts == [1, 0, 3]
    assert "delivery_failed" not in [kind for kind, _ in service.events(event.alert_id)]
    service.clock.now = NOW + timedelta(days=1)
    assert service.dispatcher.retry_due(limit=100).event_ids == []  # a skipped delivery is never retried


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_a_retry_whose_alert_was_acknowledged_or_resolved_meanwhile_is_dropped_not_failed(
    service: Service, action: str
) -> None:
    service.senders[Channel.SMS].failures = 3
    opened = open_alert(service, seed(service).kpi_id)
    service.dispatcher.dispatch(opened.event_id)
    getattr(AlertActions(service.database.engine, clock=service.clock), action)(opened.alert_id, by="alice")
    service.clock.now = NOW + timedelta(hours=1)

    report = service.dispatcher.retry_due(limit=100)

    assert (report.count(Outcome.DROPPED), report.count(Outcome.FAILED)) == (1, 0)
    assert ("Ops", "sms", "dropped", 3) in service.deliveries()
    assert "delivery_failed" not in [kind for kind, _ in service.events(opened.alert_id)]


def test_escalation_walks_the_levels_on_schedule_then_stops(service: Service) -> None:
    setup = seed(service)
    opened = open_alert(service, setup.kpi_id)
    service.dispatcher.dispatch(opened.event_id)

    def step(minutes: int) -> list[EventRef]:
        service.clock.now = NOW + timedelta(minutes=minutes)
        report = service.processor.run()
        for event in report.events:
            service.dispatcher.dispatch(event.event_id)
        return report.events

    assert step(59) == []
    assert len(step(60)) == 1
    assert service.senders[Channel.EMAIL].addresses()[-1] == "lead@example.com"
    assert service.senders[Channel.EMAIL].sent[-1][1].subject.startswith("[Escalated to level 1] Deposits")
    assert step(100) == []
    assert len(step(120)) == 1
    assert service.senders[Channel.SLACK].addresses() == ["https://s/y"]
    assert step(180) == []  # no level above 2: escalation ends
    assert step(600) == []
    levels = [level for kind, level in service.events(opened.alert_id) if kind == "escalated"]
    assert levels == [1, 2]
    [(level, next_at)] = service.rows(select(alerts.c.escalation_level, alerts.c.next_escalation_at))
    assert (level, next_at) == (2, None)


def test_acknowledging_stops_escalation(service: Service) -> None:
    opened = open_alert(service, seed(service).kpi_id)
    result = AlertActions(service.database.engine, clock=service.clock).acknowledge(
        opened.alert_id, by="alice", note="looking"
    )
    assert result.changed
    assert result.alert["status"] == "acknowledged"
    service.clock.now = NOW + timedelta(hours=5)
    assert service.processor.run().escalated == 0
    assert service.events(opened.alert_id) == [("opened", 0), ("acknowledged", 0)]
    # The opened notice still queued when the alert was acknowledged is not sent any more.
    service.dispatcher.dispatch(opened.event_id)
    assert service.senders[Channel.EMAIL].sent == []


def test_acknowledge_and_resolve_are_idempotent_audited_transitions(service: Service) -> None:
    opened = open_alert(service, seed(service).kpi_id)
    actions = AlertActions(service.database.engine, clock=service.clock)
    assert actions.acknowledge(opened.alert_id, by="alice").changed
    assert not actions.acknowledge(opened.alert_id, by="bob").changed
    resolved = actions.resolve(opened.alert_id, by="bob", reason="fixed the feed")
    assert resolved.changed
    assert resolved.event is not None
    assert resolved.alert["resolved_by"] == "bob"
    assert resolved.alert["resolution_reason"] == "fixed the feed"
    assert not actions.resolve(opened.alert_id, by="carol").changed
    with pytest.raises(AlertConflict, match="is resolved"):
        actions.acknowledge(opened.alert_id, by="dave")
    with pytest.raises(AlertNotFound):
        actions.resolve(999_999, by="dave")
    with pytest.raises(InvalidAction, match="who is acting"):
        actions.acknowledge(opened.alert_id, by="   ")
    actors = service.rows(
        select(alert_events.c.event_type, alert_events.c.actor).where(
            alert_events.c.alert_id == opened.alert_id
        )
    )
    assert actors == [("opened", "system"), ("acknowledged", "alice"), ("resolved", "bob")]


def test_resolving_by_hand_tells_everyone_who_was_notified_on_their_channels(service: Service) -> None:
    setup = seed(service)
    opened = open_alert(service, setup.kpi_id)
    service.dispatcher.dispatch(opened.event_id)
    service.clock.now = NOW + timedelta(minutes=60)
    for event in service.processor.run().events:
        service.dispatcher.dispatch(event.event_id)  # the lead is told at level 1
    for sender in service.senders.values():
        sender.sent.clear()

    result = AlertActions(service.database.engine, clock=service.clock).resolve(
        opened.alert_id, by="alice", reason="false alarm"
    )
    assert result.event is not None
    service.dispatcher.dispatch(result.event.event_id)

    assert sorted(service.senders[Channel.EMAIL].addresses()) == [
        "dev@example.com",
        "lead@example.com",
        "ops@example.com",
    ]
    assert service.senders[Channel.SMS].addresses() == ["+441234567890"]
    assert service.senders[Channel.WEBHOOK].addresses() == ["https://h/x"]
    assert service.senders[Channel.SLACK].addresses() == []  # level 2 was never reached
    notice = service.senders[Channel.EMAIL].sent[0][1]
    assert notice.subject == "[Resolved] Deposits/PayFlow: 52 vs 104.5"
    assert notice.body.startswith("Resolved by alice: false alarm.")


def test_auto_resolution_by_timeout_sends_a_resolved_notice(database: Database) -> None:
    service = build(database, Worker__AlertProcessing__AutoResolutionTimeoutMinutes="120")
    opened = open_alert(service, seed(service).kpi_id, escalate_in=None)
    service.dispatcher.dispatch(opened.event_id)
    service.clock.now = NOW + STALE_IN + timedelta(minutes=119)
    assert service.processor.run().auto_resolved == 0
    service.clock.now = NOW + STALE_IN + timedelta(minutes=120)
    report = service.processor.run()
    assert report.auto_resolved == 1
    [event] = report.events
    service.dispatcher.dispatch(event.event_id)
    resolved = [n for _, n in service.senders[Channel.EMAIL].sent if n.event_type == "resolved"]
    assert len(resolved) == 2
    assert "Resolved: not evaluated for three periods and 120 min." in resolved[0].body
    [(status, by)] = service.rows(select(alerts.c.status, alerts.c.resolved_by))
    assert (status, by) == ("resolved", "system")


def test_the_processor_delivers_outbox_entries_whose_message_was_lost(service: Service) -> None:
    event = open_alert(service, seed(service).kpi_id)
    service.clock.now = NOW + timedelta(seconds=59)
    assert service.processor.run().redispatched == 0  # still within the grace period
    service.clock.now = NOW + timedelta(seconds=60)
    assert service.processor.run().redispatched == 1
    assert len(service.senders[Channel.EMAIL].sent) == 2
    assert service.processor.run().redispatched == 0
    [(dispatched_at,)] = service.rows(
        select(outbox.c.dispatched_at).where(outbox.c.event_id == event.event_id)
    )
    assert dispatched_at == NOW + timedelta(seconds=60)


def test_the_processor_writes_its_heartbeat(service: Service) -> None:
    service.processor.run()
    [(component, status, at, details)] = service.rows(select(system_status))
    assert (component, status, at) == ("alert_processor", "ok", NOW)
    assert json.loads(details)["errors"] == []


def test_two_processors_at_once_escalate_once(service: Service) -> None:
    seed_ids = seed(service)
    for _ in range(5):
        with service.database.engine.begin() as connection:
            connection.execute(update(alerts).values(status="resolved"))
        open_alert(service, seed_ids.kpi_id)
    service.clock.now = NOW + timedelta(minutes=61)
    other = build(service.database)
    other.clock.now = service.clock.now
    results: list[int] = []
    barrier = threading.Barrier(2)

    def run(processor: AlertProcessor) -> None:
        barrier.wait()
        results.append(processor.run().escalated)

    threads = [threading.Thread(target=run, args=(p,)) for p in (service.processor, other.processor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 1
    escalated = service.rows(select(func.count()).where(alert_events.c.event_type == "escalated"))
    assert escalated == [(1,)]


def test_a_notice_that_reaches_nobody_is_recorded(database: Database) -> None:
    service = build(database, Notifications__AdminContact="")
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi())
    event = open_alert(service, kpi_id)
    service.dispatcher.dispatch(event.event_id)
    [(details,)] = service.rows(select(alert_events.c.details).where(alert_events.c.event_type == "notified"))
    assert json.loads(details)["recipients"] == 0
    assert "Notifications__AdminContact" in json.loads(details)["reason"]
    assert service.rows(select(outbox.c.dispatched_at)) == [(NOW,)]


def test_without_contacts_the_administrator_is_told(service: Service) -> None:
    with service.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(priority=2))
        insert_contact(connection, "Admin", email="admin@example.com")
    service.dispatcher.dispatch(open_alert(service, kpi_id).event_id)
    assert service.senders[Channel.EMAIL].addresses() == ["admin@example.com"]


@pytest.fixture
def handlers(service: Service) -> AlertEventMessages:
    return AlertEventMessages(
        service.database.engine, service.dispatcher, service.settings, clock=service.clock
    )


@pytest.mark.parametrize("body", [b"not json", b'{"event_id": "x", "alert_id": 1}', b"{}", b"\xff\xfe"])
def test_a_malformed_message_is_recorded_and_dropped(
    handlers: AlertEventMessages, service: Service, body: bytes
) -> None:
    assert handlers.handle(body, message_id="m-1", dequeue_count=1) is None
    [(queue, message_id, reason)] = service.rows(
        select(dead_letters.c.queue, dead_letters.c.message_id, dead_letters.c.reason)
    )
    assert (queue, message_id) == ("alert-events", "m-1")
    assert reason.startswith("invalid message on alert-events")


def test_a_message_for_a_missing_event_is_recorded(handlers: AlertEventMessages, service: Service) -> None:
    report = handlers.handle(b'{"event_id": 424242, "alert_id": 1}', message_id="m-2")
    assert report is not None
    assert report.missing == [424242]
    [(reason,)] = service.rows(select(dead_letters.c.reason))
    assert reason.startswith("alert event 424242 does not exist")


def test_a_poisoned_message_is_recorded_and_the_administrator_told(
    handlers: AlertEventMessages, service: Service
) -> None:
    event = open_alert(service, seed(service).kpi_id)
    body = json.dumps({"event_id": event.event_id, "alert_id": event.alert_id}).encode()
    [follow_up] = handlers.poisoned(body, message_id="m-3", dequeue_count=5)
    [(queue, count)] = service.rows(select(dead_letters.c.queue, dead_letters.c.dequeue_count))
    assert (queue, count) == ("alert-events-poison", 5)
    service.dispatcher.dispatch(follow_up.event_id)
    assert service.senders[Channel.EMAIL].addresses() == ["admin@example.com"]
    assert "moved to the poison queue" in service.senders[Channel.EMAIL].sent[0][1].body
    # The lost event itself is still owed to its recipients: the processor delivers it after the grace period.
    service.clock.now = NOW + timedelta(minutes=2)
    service.processor.run()
    assert sorted(service.senders[Channel.EMAIL].addresses()[1:]) == ["dev@example.com", "ops@example.com"]


def test_a_poisoned_failure_notice_is_not_announced_again(
    handlers: AlertEventMessages, service: Service
) -> None:
    event = open_alert(service, seed(service).kpi_id)
    body = json.dumps({"event_id": event.event_id, "alert_id": event.alert_id}).encode()
    [notice] = handlers.poisoned(body)
    again = json.dumps({"event_id": notice.event_id, "alert_id": notice.alert_id}).encode()
    assert handlers.poisoned(again) == []
    assert service.rows(select(func.count()).select_from(dead_letters)) == [(2,)]


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() == before


READINGS = "SELECT 'PayFlow' AS key, v AS current_value, 100 AS historical_value FROM readings"


def test_resolution_by_clean_evaluations_sends_a_resolved_notice(service: Service, tmp_path: Any) -> None:
    """The executor's own resolution (the value is back within its rule) reaches whoever was told."""
    from sqlalchemy import create_engine, text

    from shared.db import executions
    from shared.services.execution import Executor
    from shared.sources import SourceRunner

    source_url = f"sqlite:///{tmp_path}/source.db"
    source = create_engine(source_url)
    with source.begin() as connection:
        connection.execute(text("CREATE TABLE readings (v INTEGER)"))
        connection.execute(text("INSERT INTO readings VALUES (50)"))
    runner = SourceRunner({"main": source_url}, pool_size=1, retry_wait_s=0)
    executor = Executor(service.database.engine, runner, service.settings, clock=service.clock)
    setup = seed(service, priority=2)
    with service.database.engine.begin() as connection:
        connection.execute(
            update(alert_store.kpis).where(alert_store.kpis.c.id == setup.kpi_id).values(sql_text=READINGS)
        )

    def run() -> list[EventRef]:
        with service.database.engine.begin() as connection:
            execution_id = executions.create_manual(connection, setup.kpi_id, now=service.clock())
        report = executor.execute(execution_id, owner="test")
        for event in report.events:
            service.dispatcher.dispatch(event.event_id)
        return report.events

    try:
        assert len(run()) == 1  # -50 %: opened, and told
        with source.begin() as connection:
            connection.execute(text("UPDATE readings SET v = 101"))
        service.clock.now = NOW + timedelta(minutes=5)
        assert len(run()) == 1  # +1 %: resolved, and told
    finally:
        runner.dispose()
        source.dispose()
    notices = [notice for _, notice in service.senders[Channel.EMAIL].sent]
    assert [(n.event_type, n.subject) for n in notices if n.event_type == "resolved"] == [
        ("resolved", "[Resolved] Deposits/PayFlow: 101 vs 100"),
        ("resolved", "[Resolved] Deposits/PayFlow: 101 vs 100"),
    ]
    assert "Resolved: 1 clean evaluation (resolve_after 1)." in notices[-1].body

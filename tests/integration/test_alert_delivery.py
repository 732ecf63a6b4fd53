"""Alert events delivered through the real channels to real servers: an SMTP server (aiosmtpd, also the SMS
gateway's mail server) and an HTTP receiver posing as Teams, Slack and a webhook endpoint, on SQLite and
PostgreSQL. Exact recipients, one message each, rendered content, a verifiable signature; duplicates and
concurrent invocations send once per recipient; a failing channel is retried and then failed on its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.tables import contacts, notifications
from shared.domain.alert import AlertEventType, AlertKind, EventRef, Severity
from shared.notify import build_senders
from shared.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.processor import AlertProcessor
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import Clock, insert_contact, insert_kpi, make_kpi
from tests.receivers import HttpReceiver, Reply, SmtpCapture, http_capture, smtp_capture

SECRET = "webhook-signing-secret"
SUBJECT_TEMPLATE = "{Indicator}/{MetricKey}: {CurrentValue} vs {HistoricalValue} ({DeviationPercent}%)"
GATEWAY = "sms.example.test"


@dataclass
class World:
    database: Database
    smtp: SmtpCapture
    http: HttpReceiver
    clock: Clock
    dispatcher: EventDispatcher
    processor: AlertProcessor

    def mails_to(self) -> list[tuple[str, ...]]:
        return sorted(mail.rcpt_tos for mail in self.smtp.mails)

    def paths(self) -> list[str]:
        return sorted(request.path for request in self.http.requests)


@pytest.fixture
def world(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with smtp_capture() as smtp, http_capture() as http:
        for name, value in smtp.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("Notifications__AllowHttpLoopback", "true")  # the local http receiver
        monkeypatch.setenv("Notifications__Sms__Mode", "gateway")
        monkeypatch.setenv("Notifications__Sms__Gateway", GATEWAY)
        monkeypatch.setenv("Notifications__WebhookSecret", SECRET)
        monkeypatch.setenv("Notifications__HttpTimeoutSeconds", "5")
        monkeypatch.setenv("Notifications__SendAttempts", "3")
        monkeypatch.setenv("Notifications__MaxDeliveryAttempts", "6")
        settings = Settings.load()
        senders = build_senders(settings)
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        dispatcher = EventDispatcher(database.engine, settings, lambda: senders, clock=clock, retry_wait_s=0)
        processor = AlertProcessor(database.engine, settings, dispatcher, clock=clock)
        yield World(database, smtp, http, clock, dispatcher, processor)


def open_alert(world: World) -> EventRef:
    """A priority-1 KPI with two level-0 contacts on every kind of channel, and its newly opened alert."""
    now = world.clock()
    with world.database.engine.begin() as connection:
        kpi_id = insert_kpi(
            connection,
            make_kpi(
                indicator="Settlement Companies",
                subject_template=SUBJECT_TEMPLATE,
                description_template="{MetricKey} fell to {CurrentValue} (baseline {HistoricalValue})",
            ),
        )
        insert_contact(
            connection,
            "Ops",
            kpi_id=kpi_id,
            email="ops@example.test",
            phone="+44 7700 900001",
            webhook_url=world.http.url("/hooks/ops?token=secret"),
        )
        insert_contact(
            connection, "Dev", kpi_id=kpi_id, email="dev@example.test", teams_webhook=world.http.url("/teams")
        )
        insert_contact(connection, "Lead", kpi_id=kpi_id, level=1, slack_webhook=world.http.url("/slack"))
        alert_id = alert_store.open_alert(
            connection,
            kpi_id=kpi_id,
            metric_key="Pay{Flow}",
            kind=AlertKind.BREACH,
            severity=Severity.CRITICAL,
            values=AlertValues(current=52, baseline=104.5, deviation_percent=-50.24),
            now=now,
            next_escalation_at=now + timedelta(hours=1),
        )
        event = alert_store.record_event(
            connection,
            alert_id=alert_id,
            event_type=AlertEventType.OPENED,
            actor="system",
            now=now,
            details={"current": 52, "baseline": 104.5, "deviation_percent": -50.24},
            dispatch=True,
        )
    assert event is not None
    return event


SUBJECT = "Settlement Companies/Pay{Flow}: 52 vs 104.5 (-50.2%)"


def test_each_recipient_gets_one_message_per_channel_with_the_rendered_notice(world: World) -> None:
    event = open_alert(world)
    world.dispatcher.dispatch(event.event_id)

    assert world.mails_to() == [
        ("447700900001@sms.example.test",),
        ("dev@example.test",),
        ("ops@example.test",),
    ]
    by_recipient = {mail.rcpt_tos[0]: mail.message for mail in world.smtp.mails}
    email = by_recipient["ops@example.test"]
    assert email["To"] == "ops@example.test"
    assert email["Subject"] == SUBJECT
    plain = email.get_body(preferencelist=("plain",))
    html = email.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    assert "Pay{Flow} fell to 52 (baseline 104.5)" in plain.get_content()
    assert "Pay{Flow} fell to 52" in html.get_content()
    sms = by_recipient["447700900001@sms.example.test"].get_body(preferencelist=("plain",))
    assert sms is not None
    assert sms.get_content().strip() == SUBJECT

    assert world.paths() == ["/hooks/ops?token=secret", "/teams"]
    (hook,) = [r for r in world.http.requests if r.path.startswith("/hooks/ops")]
    assert hook.json()["subject"] == SUBJECT
    assert hook.json()["event_id"] == event.event_id
    assert verify_signature(
        SECRET,
        hook.headers[TIMESTAMP_HEADER],
        hook.body,
        hook.headers[SIGNATURE_HEADER],
        now=datetime.now(UTC),
    )
    assert not verify_signature(
        "another secret",
        hook.headers[TIMESTAMP_HEADER],
        hook.body,
        hook.headers[SIGNATURE_HEADER],
        now=datetime.now(UTC),
    )
    (teams,) = [r for r in world.http.requests if r.path == "/teams"]
    (attachment,) = teams.json()["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert SUBJECT in str(attachment["content"])


def test_redelivered_and_concurrent_dispatches_send_once_per_recipient(world: World) -> None:
    event = open_alert(world)
    barrier = threading.Barrier(3)

    def dispatch() -> None:
        barrier.wait()
        world.dispatcher.dispatch(event.event_id)

    threads = [threading.Thread(target=dispatch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    world.dispatcher.dispatch(event.event_id)  # and the message delivered once more, later

    assert world.mails_to() == [
        ("447700900001@sms.example.test",),
        ("dev@example.test",),
        ("ops@example.test",),
    ]
    assert world.paths() == ["/hooks/ops?token=secret", "/teams"]


def test_a_failing_channel_is_retried_then_failed_and_the_others_are_delivered(world: World) -> None:
    event = open_alert(world)
    world.http.reply_with(Reply(status=500, body=b"upstream down"), times=None)

    world.dispatcher.dispatch(event.event_id)
    world.clock.now += timedelta(seconds=61)
    world.processor.run()

    with world.database.engine.connect() as connection:
        rows = connection.execute(
            select(contacts.c.name, notifications.c.channel, notifications.c.status, notifications.c.attempts)
            .select_from(notifications.join(contacts))
            .order_by(contacts.c.name, notifications.c.channel)
        ).all()
        errors = set(
            connection.scalars(select(notifications.c.last_error).where(notifications.c.status == "failed"))
        )
    assert [tuple(row) for row in rows] == [
        ("Dev", "email", "sent", 1),
        ("Dev", "teams", "failed", 6),
        ("Ops", "email", "sent", 1),
        ("Ops", "sms", "sent", 1),
        ("Ops", "webhook", "failed", 6),
    ]
    assert len(errors) == 2
    assert all("500" in error and "upstream down" in error for error in errors)
    assert not any("token=secret" in error for error in errors)
    assert len(world.http.requests) == 12  # two endpoints, six tries each
    assert len(world.smtp.mails) == 3

"""Channel switches with the real channels, on SQLite and PostgreSQL: with SMS switched off a priority-1
alert is emailed through a real SMTP server, its SMS delivery is recorded `skipped` with the reason (not
failed, not retried, no administrator notice), and the alert-processing health check stays Healthy and says
which channels are usable. Each of the five switches does the same to its own channel (SMTP server and local
HTTP receivers posing as Teams, Slack and a webhook endpoint), leaving the other four sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.tables import alert_events, notifications
from shared.domain.alert import AlertEventType, AlertKind, Severity
from shared.domain.health import HealthStatus
from shared.domain.notification import Channel
from shared.notify import build_senders
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.processor import AlertProcessor
from shared.services.health import alert_processing_check
from shared.settings import Settings
from tests import factories
from tests.conftest import Database
from tests.factories import Clock, insert_contact, insert_kpi, make_kpi
from tests.receivers import http_capture, smtp_capture


def test_with_sms_switched_off_a_critical_alert_is_emailed_and_its_sms_skipped_while_health_stays_healthy(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_capture() as smtp:
        for name, value in smtp.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("Notifications__AllowHttpLoopback", "true")  # the local http receiver
        monkeypatch.setenv("Notifications__Sms__Mode", "gateway")
        monkeypatch.setenv("Notifications__Sms__Gateway", "sms.example.test")
        monkeypatch.setenv("Notifications__Sms__Enabled", "false")
        monkeypatch.setenv("Notifications__AdminContact", "Admin")
        settings = Settings.load()
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        senders = build_senders(settings)
        dispatcher = EventDispatcher(database.engine, settings, lambda: senders, clock=clock, retry_wait_s=0)
        with database.engine.begin() as connection:
            kpi_id = insert_kpi(connection, make_kpi(priority=1))
            insert_contact(connection, "Ops", kpi_id=kpi_id, email="ops@example.test", phone="+447700900001")
            insert_contact(connection, "Admin", email="admin@example.test")
            alert_id = alert_store.open_alert(
                connection,
                kpi_id=kpi_id,
                metric_key="total",
                kind=AlertKind.BREACH,
                severity=Severity.CRITICAL,
                values=AlertValues(current=5, baseline=100, deviation_percent=-95),
                now=clock(),
                next_escalation_at=None,
            )
            event = alert_store.record_event(
                connection,
                alert_id=alert_id,
                event_type=AlertEventType.OPENED,
                actor="system",
                now=clock(),
                details={"current": 5, "baseline": 100, "deviation_percent": -95},
                dispatch=True,
            )
        assert event is not None

        dispatcher.dispatch(event.event_id)
        clock.now += timedelta(days=1)
        AlertProcessor(database.engine, settings, dispatcher, clock=clock).run()

        assert [mail.rcpt_tos for mail in smtp.mails] == [("ops@example.test",)]
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(notifications.c.channel, notifications.c.status, notifications.c.last_error).order_by(
                notifications.c.channel
            )
        ).all()
        kinds = connection.scalars(select(alert_events.c.event_type)).all()
    assert [tuple(row) for row in rows] == [
        ("email", "sent", None),
        ("sms", "skipped", "Notifications__Sms__Enabled is false"),
    ]
    assert "delivery_failed" not in kinds
    status, detail = alert_processing_check(database.engine, settings, now=clock())
    assert status is HealthStatus.HEALTHY
    assert detail["channels"]["sms"] == "Notifications__Sms__Enabled is false"
    assert detail["channels"]["email"] == "usable"
    assert (detail["failed_deliveries_24h"], detail["skipped_deliveries_24h"]) == (0, 1)


HTTP_PATHS = {Channel.TEAMS: "/teams", Channel.SLACK: "/slack", Channel.WEBHOOK: "/hooks"}
SWITCHES = {
    Channel.EMAIL: "Notifications__Email__Enabled",
    Channel.SMS: "Notifications__Sms__Enabled",
    Channel.TEAMS: "Notifications__Teams__Enabled",
    Channel.SLACK: "Notifications__Slack__Enabled",
    Channel.WEBHOOK: "Notifications__Webhook__Enabled",
}


@pytest.mark.parametrize("off", list(SWITCHES), ids=[channel.value for channel in SWITCHES])
def test_each_switched_off_channel_is_skipped_with_its_setting_named_and_pages_nobody(
    off: Channel, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_capture() as smtp, http_capture() as http:
        for name, value in {**smtp.environment(), **http.environment()}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("Notifications__Sms__Mode", "gateway")
        monkeypatch.setenv("Notifications__Sms__Gateway", "sms.example.test")
        monkeypatch.setenv("Notifications__WebhookSecret", "secret")
        monkeypatch.setenv("Notifications__AdminContact", "Admin")
        monkeypatch.setenv(SWITCHES[off], "false")
        settings = Settings.load()
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        senders = build_senders(settings)
        dispatcher = EventDispatcher(database.engine, settings, lambda: senders, clock=clock, retry_wait_s=0)
        with database.engine.begin() as connection:
            kpi_id = insert_kpi(connection, make_kpi(priority=1))
            insert_contact(
                connection,
                "Ops",
                kpi_id=kpi_id,
                email="ops@example.test",
                phone="+447700900001",
                teams_webhook=http.url("/teams"),
                slack_webhook=http.url("/slack"),
                webhook_url=http.url("/hooks"),
            )
            insert_contact(connection, "Admin", email="admin@example.test")
            event = factories.open_alert(connection, kpi_id, now=clock())

        dispatcher.dispatch(event.event_id)
        clock.now += timedelta(days=1)
        AlertProcessor(database.engine, settings, dispatcher, clock=clock).run()  # no retry of a skip

        addresses = sorted(mail.rcpt_tos[0] for mail in smtp.mails)
        paths = sorted(request.path for request in http.requests)
    with database.engine.connect() as connection:
        query = select(notifications.c.channel, notifications.c.status, notifications.c.last_error)
        deliveries = {channel: (status, error) for channel, status, error in connection.execute(query)}
        kinds = connection.scalars(select(alert_events.c.event_type)).all()
    assert deliveries == {
        channel.value: ("skipped", f"{SWITCHES[off]} is false") if channel is off else ("sent", None)
        for channel in Channel
    }
    assert "delivery_failed" not in kinds
    assert "admin@example.test" not in addresses
    assert ("ops@example.test" in addresses) is (off is not Channel.EMAIL)
    assert ("447700900001@sms.example.test" in addresses) is (off is not Channel.SMS)
    assert paths == sorted(path for channel, path in HTTP_PATHS.items() if channel is not off)
    status, detail = alert_processing_check(database.engine, settings, now=clock())
    assert status is HealthStatus.HEALTHY
    assert detail["channels"][off.value] == f"{SWITCHES[off]} is false"

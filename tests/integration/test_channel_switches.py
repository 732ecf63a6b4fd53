"""Channel switches with the real channels, on SQLite and PostgreSQL: with SMS switched off a priority-1
alert is emailed through a real SMTP server, its SMS delivery is recorded `skipped` with the reason (not
failed, not retried, no administrator notice), and the alert-processing health check stays Healthy and says
which channels are usable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.tables import alert_events, notifications
from shared.domain.alert import AlertEventType, AlertKind, Severity
from shared.domain.health import HealthStatus
from shared.notify import build_senders
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.processor import AlertProcessor
from shared.services.health import alert_processing_check
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import Clock, insert_contact, insert_kpi, make_kpi
from tests.receivers import smtp_capture


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

"""The health_check timer's work on SQLite and PostgreSQL: the real checks over a real monitoring database,
one system alert opened while the service is Unhealthy (however many runs and monitors), resolved when it
recovers, the report recorded in `system_status`, and the notices delivered to the administrator by the real
dispatcher through a real SMTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.engine import create_monitoring_engine
from shared.db.status import heartbeat
from shared.db.tables import alert_events, alerts, outbox, system_status
from shared.domain.alert import AlertKind, EventRef, Severity
from shared.domain.health import HealthReport
from shared.notify import build_senders
from shared.services.alerts.escalation import EventDispatcher
from shared.services.health import check_health
from shared.services.health_monitor import HealthMonitor, MonitorReport
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import NOW, Clock, insert_contact, insert_kpi, make_kpi
from tests.receivers import SmtpCapture, smtp_capture
from tests.waiting import wait_until

UNHEALTHY_BODY = "alert-processing: Unhealthy: the alert processor last ran 1000 s ago"


@dataclass
class World:
    database: Database
    clock: Clock
    settings: Settings

    def monitor(self, check: Callable[..., HealthReport] = check_health) -> HealthMonitor:
        return HealthMonitor(self.database.engine, lambda: self.settings, clock=self.clock, check=check)

    def processor_ran(self, seconds_ago: float) -> None:
        with self.database.engine.begin() as connection:
            at = self.clock() - timedelta(seconds=seconds_ago)
            heartbeat(connection, "alert_processor", status="ok", now=at, details={})

    def system_alerts(self) -> list[tuple[object, ...]]:
        query = (
            select(
                alerts.c.metric_key, alerts.c.status, alerts.c.severity, alerts.c.resolved_by, alerts.c.kind
            )
            .where(alerts.c.kpi_id.is_(None))
            .order_by(alerts.c.id)
        )
        with self.database.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(query)]

    def events(self) -> list[tuple[str, dict[str, object], bool]]:
        """(type, details, has an outbox entry) of every event of the system alerts, in order."""
        query = (
            select(alert_events.c.event_type, alert_events.c.details, outbox.c.id.is_not(None))
            .select_from(alert_events.outerjoin(outbox, outbox.c.event_id == alert_events.c.id))
            .order_by(alert_events.c.id)
        )
        with self.database.engine.connect() as connection:
            return [
                (kind, json.loads(details), bool(queued))
                for kind, details, queued in connection.execute(query)
            ]


@pytest.fixture
def world(database: Database, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("Notifications__AdminContact", "Admin")
    with database.engine.begin() as connection:  # one fresh active KPI: zero active KPIs is Degraded
        insert_kpi(connection, make_kpi(indicator="Monitored"))
    return World(database, Clock(NOW), Settings.load())


def test_an_unhealthy_service_opens_one_system_alert_however_many_runs(world: World) -> None:
    world.processor_ran(seconds_ago=1000)
    first = world.monitor().run()
    assert first.report.status.value == "Unhealthy"
    assert first.transition == "opened"
    assert first.events == [EventRef(event_id=first.events[0].event_id, alert_id=first.alert_id or 0)]
    assert world.system_alerts() == [("service-health", "open", "critical", None, "system")]
    assert world.events() == [
        (
            "opened",
            {
                "subject": "MonitoringGrid is Unhealthy: alert-processing",
                "body": UNHEALTHY_BODY,
                "reason": "health checks Unhealthy: alert-processing",
                "status": "Unhealthy",
            },
            True,
        )
    ]
    world.clock.now += timedelta(minutes=5)
    second = world.monitor().run()
    assert (second.report.status.value, second.transition, second.events) == ("Unhealthy", None, [])
    assert second.alert_id == first.alert_id
    assert len(world.system_alerts()) == 1
    assert len(world.events()) == 1
    assert second.summary() == {
        "status": "Unhealthy",
        "checks": {
            "configuration": "Healthy",
            "database": "Healthy",
            "kpi-execution": "Healthy",
            "alert-processing": "Unhealthy",
        },
        "alert_id": first.alert_id,
        "transition": None,
        "events": 0,
    }


def test_each_run_records_its_report_as_the_health_heartbeat(world: World) -> None:
    world.processor_ran(seconds_ago=5)
    result = world.monitor().run()
    with world.database.engine.connect() as connection:
        row = connection.execute(select(system_status).where(system_status.c.component == "health")).one()
    assert (row.status, row.heartbeat_at) == ("Healthy", NOW)
    assert json.loads(row.details) == result.report.to_dict(names=True)
    assert (result.transition, result.events, world.system_alerts()) == (None, [], [])


@pytest.mark.parametrize(("seconds_ago", "status"), [(5, "Healthy"), (100, "Degraded")])
def test_the_system_alert_resolves_once_the_service_is_no_longer_unhealthy(
    world: World, seconds_ago: float, status: str
) -> None:
    world.processor_ran(seconds_ago=1000)
    opened = world.monitor().run()
    world.processor_ran(seconds_ago=seconds_ago)
    resolved = world.monitor().run()
    assert (resolved.report.status.value, resolved.transition, resolved.alert_id) == (
        status,
        "resolved",
        opened.alert_id,
    )
    assert [event.alert_id for event in resolved.events] == [opened.alert_id]
    assert world.system_alerts() == [("service-health", "resolved", "critical", "system", "system")]
    kind, details, queued = world.events()[-1]
    assert (kind, queued, details["reason"], details["subject"]) == (
        "resolved",
        True,
        f"health recovered: {status}",
        f"MonitoringGrid is no longer Unhealthy: {status}",
    )
    assert details["body"] == (
        "Every check is Healthy."
        if status == "Healthy"
        else "alert-processing: Degraded: the alert processor last ran 100 s ago"
    )
    again = world.monitor().run()
    assert (again.transition, again.events, again.alert_id) == (None, [], None)
    world.processor_ran(seconds_ago=1000)
    reopened = world.monitor().run()
    assert reopened.transition == "opened"
    assert reopened.alert_id != opened.alert_id


def test_a_degraded_service_opens_no_alert(world: World) -> None:
    result = world.monitor().run()  # the processor never ran: Degraded
    assert (result.report.status.value, result.transition, result.events) == ("Degraded", None, [])
    assert world.system_alerts() == []


def test_an_acknowledged_system_alert_is_resolved_on_recovery_too(world: World) -> None:
    world.processor_ran(seconds_ago=1000)
    opened = world.monitor().run()
    with world.database.engine.begin() as connection:
        assert alert_store.acknowledge(connection, opened.alert_id or 0, by="alice", now=NOW)
    assert world.monitor().run().events == []  # still Unhealthy, already known
    world.processor_ran(seconds_ago=5)
    assert world.monitor().run().transition == "resolved"


def test_two_monitors_at_once_open_one_alert(world: World) -> None:
    world.processor_ran(seconds_ago=1000)
    barrier = threading.Barrier(2, timeout=10)

    def together(*args: object, **kwargs: object) -> HealthReport:
        report = check_health(*args, **kwargs)
        barrier.wait()  # both transactions start once both checks are done
        return report

    results: list[MonitorReport] = []
    threads = [
        threading.Thread(target=lambda: results.append(world.monitor(together).run())) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert sorted(str(result.transition) for result in results) == ["None", "opened"]
    assert sum(len(result.events) for result in results) == 1
    assert {result.alert_id for result in results} == {results[0].alert_id}
    assert len(world.system_alerts()) == 1
    assert len(world.events()) == 1


def waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(connection.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))


@pytest.mark.parametrize("database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_monitor_that_loses_the_race_to_open_the_alert_records_nothing_more(world: World) -> None:
    world.processor_ran(seconds_ago=1000)
    engine = world.database.engine
    results: list[MonitorReport] = []
    with engine.connect() as rival:
        transaction = rival.begin()
        rival_id = alert_store.open_alert(
            rival,
            kpi_id=None,
            metric_key="service-health",
            kind=AlertKind.SYSTEM,
            severity=Severity.CRITICAL,
            values=AlertValues(),
            now=NOW,
            next_escalation_at=None,
        )
        thread = threading.Thread(target=lambda: results.append(world.monitor().run()))
        thread.start()
        # The monitor's insert waits for the rival's unique key.
        assert wait_until(lambda: waiting_on_a_lock(engine), timeout_s=20, interval_s=0.02), (
            "the monitor never reached the rival's key"
        )
        transaction.commit()
        thread.join(timeout=30)
    (result,) = results
    assert (result.transition, result.events, result.alert_id) == (None, [], rival_id)
    assert len(world.system_alerts()) == 1
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(system_status)) == 2  # processor, health


def test_a_monitor_without_its_database_fails_loudly(world: World) -> None:
    engine = create_monitoring_engine("postgresql://monitor@127.0.0.1:9/monitoring")
    with pytest.raises(OperationalError):
        HealthMonitor(engine, lambda: world.settings, clock=world.clock).run()
    engine.dispose()


@dataclass
class Mailed:
    world: World
    dispatcher: EventDispatcher
    smtp: SmtpCapture


@pytest.fixture
def mailed(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailed]:
    """An administrator and a KPI contact with mailboxes on a real SMTP server, and the real dispatcher."""
    with smtp_capture() as smtp:
        for name, value in smtp.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("Notifications__AllowHttpLoopback", "true")  # the local http receiver
        world.settings = Settings.load()
        senders = build_senders(world.settings)
        dispatcher = EventDispatcher(
            world.database.engine, world.settings, lambda: senders, clock=world.clock, retry_wait_s=0
        )
        with world.database.engine.begin() as connection:
            insert_contact(connection, "Admin", email="admin@example.test")
            kpi_id = insert_kpi(connection, make_kpi())  # created now: not stale
            insert_contact(connection, "Ops", kpi_id=kpi_id, email="ops@example.test")
        yield Mailed(world, dispatcher, smtp)


def test_the_administrator_is_told_when_the_service_fails_and_when_it_recovers(mailed: Mailed) -> None:
    world, dispatcher = mailed.world, mailed.dispatcher
    world.processor_ran(seconds_ago=1000)
    opened = world.monitor().run()
    dispatcher.dispatch_now([event.event_id for event in opened.events])
    world.processor_ran(seconds_ago=5)
    resolved = world.monitor().run()
    dispatcher.dispatch_now([event.event_id for event in resolved.events])
    mails = mailed.smtp.mails
    assert [(mail.rcpt_tos, mail.message["Subject"]) for mail in mails] == [
        (("admin@example.test",), "MonitoringGrid is Unhealthy: alert-processing"),
        (("admin@example.test",), "[Resolved] MonitoringGrid is no longer Unhealthy: Healthy"),
    ]
    first, second = (mail.message.get_body(preferencelist=("plain",)) for mail in mails)
    assert first is not None
    assert second is not None
    assert UNHEALTHY_BODY in first.get_content()
    assert "Resolved by system: health recovered: Healthy." in second.get_content()

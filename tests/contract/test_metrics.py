"""`GET /api/metrics`'s text on SQLite and PostgreSQL: valid Prometheus exposition format (read back with
`prometheus_client`'s parser) whose values are those of the database: KPIs and staleness, unresolved alerts,
recent executions, the outbox, failed, retrying, skipped and dropped deliveries, heartbeats."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Connection, insert, update

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.outbox import mark_dispatched
from shared.db.status import heartbeat
from shared.db.tables import alerts, kpi_executions, kpis, notifications
from shared.domain.alert import AlertEventType, AlertKind, Severity
from shared.domain.health import HealthStatus
from shared.domain.kpi import Schedule
from shared.domain.notification import Channel
from shared.services.alerts.actions import AlertActions
from shared.services.health import alert_processing_check
from shared.services.metrics import render_metrics
from shared.settings import Settings
from tests.conftest import Database
from tests.contract import test_escalation as escalation
from tests.factories import NOW, insert_contact, insert_kpi, make_kpi
from tests.telemetry_readers import Metrics

ODD_NAME = 'Pay "EU" \\ all\nday'
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def by_channel(samples: Samples, metric: str) -> dict[str, float]:
    return {dict(labels)["channel"]: v for (name, labels), v in samples.items() if name == metric}


def add_kpi(
    connection: Connection,
    indicator: str,
    *,
    last_success: datetime | None,
    frequency_minutes: int | None = 5,
    cron: str | None = None,
    active: bool = True,
) -> int:
    kpi = make_kpi(
        indicator=indicator,
        schedule=Schedule(frequency_minutes=frequency_minutes, cron=cron),
        is_active=active,
    )
    kpi_id = insert_kpi(connection, kpi, next_run_at=NOW if active else None, now=NOW - timedelta(days=7))
    connection.execute(update(kpis).where(kpis.c.id == kpi_id).values(last_success_at=last_success))
    return kpi_id


def add_alert(connection: Connection, kpi_id: int | None, severity: Severity, *, level: int = 0) -> int:
    alert_id = alert_store.open_alert(
        connection,
        kpi_id=kpi_id,
        metric_key="card" if kpi_id is not None else "queues",
        kind=AlertKind.BREACH if kpi_id is not None else AlertKind.SYSTEM,
        severity=severity,
        values=AlertValues(current=1.0),
        now=NOW - timedelta(hours=1),
        next_escalation_at=None,
    )
    connection.execute(update(alerts).where(alerts.c.id == alert_id).values(escalation_level=level))
    return alert_id


def add_event(connection: Connection, alert_id: int, *, at: datetime) -> int:
    event = alert_store.record_event(
        connection,
        alert_id=alert_id,
        event_type=AlertEventType.OPENED,
        actor="system",
        now=at,
        details={},
        dispatch=True,
    )
    assert event is not None
    return event.event_id


def add_execution(connection: Connection, kpi_id: int, status: str, *, finished: datetime | None) -> None:
    connection.execute(
        insert(kpi_executions).values(
            id=uuid.uuid4(),
            kpi_id=kpi_id,
            slot=(finished or NOW) - timedelta(minutes=5),
            triggered_by="scheduled",
            status=status,
            created_at=NOW - timedelta(minutes=20),
            finished_at=finished,
        )
    )


def add_delivery(
    connection: Connection, event_id: int, contact_id: int, channel: str, status: str, **values: Any
) -> None:
    connection.execute(
        insert(notifications).values(
            event_id=event_id,
            contact_id=contact_id,
            channel=channel,
            status=status,
            **{"created_at": NOW - timedelta(hours=1), **values},
        )
    )


def seed(database: Database) -> dict[str, int]:
    with database.engine.begin() as connection:
        ids = {
            "fresh": add_kpi(connection, ODD_NAME, last_success=NOW - timedelta(minutes=2)),
            "late": add_kpi(connection, "Late", last_success=NOW - timedelta(minutes=30)),
            "never": add_kpi(connection, "Never", last_success=None, frequency_minutes=60),
            "nightly": add_kpi(
                connection,
                "Nightly",
                last_success=datetime.fromisoformat("2026-11-27T02:00:30+00:00"),
                frequency_minutes=None,
                cron="0 0 2 * * *",
            ),
            "missed": add_kpi(
                connection,
                "Missed nights",
                last_success=datetime.fromisoformat("2026-11-26T02:00:30+00:00"),
                frequency_minutes=None,
                cron="0 0 2 * * *",
            ),
            "paused": add_kpi(connection, "Paused", last_success=NOW - timedelta(days=30), active=False),
        }
        opened = add_alert(connection, ids["fresh"], Severity.CRITICAL)
        escalated = add_alert(connection, ids["late"], Severity.CRITICAL, level=1)
        acknowledged = add_alert(connection, ids["nightly"], Severity.WARNING)
        alert_store.acknowledge(connection, acknowledged, by="alice", now=NOW - timedelta(minutes=5))
        resolved = add_alert(connection, ids["missed"], Severity.WARNING)
        alert_store.resolve(connection, resolved, now=NOW - timedelta(minutes=5), by="alice", reason="done")
        add_alert(connection, None, Severity.WARNING)

        waiting = add_event(connection, opened, at=NOW - timedelta(seconds=90))
        add_event(connection, acknowledged, at=NOW - timedelta(seconds=30))
        mark_dispatched(connection, add_event(connection, escalated, at=NOW - timedelta(hours=2)), now=NOW)

        for status, minutes_ago in [("succeeded", 1), ("succeeded", 2), ("failed", 4), ("timed_out", 10)]:
            add_execution(connection, ids["fresh"], status, finished=NOW - timedelta(minutes=minutes_ago))
        add_execution(connection, ids["late"], "running", finished=None)

        ops = insert_contact(connection, "Ops", email="ops@example.com")
        add_delivery(connection, waiting, ops, "email", "failed", attempts=9)
        add_delivery(connection, waiting, ops, "sms", "failed", created_at=NOW - timedelta(days=2))
        add_delivery(connection, waiting, ops, "webhook", "pending", attempts=2, next_attempt_at=NOW)
        add_delivery(connection, waiting, ops, "slack", "pending", attempts=0, next_attempt_at=NOW)
        add_delivery(connection, waiting, ops, "teams", "sent", attempts=1, sent_at=NOW)

        heartbeat(connection, "alert_processor", status="ok", now=NOW - timedelta(seconds=45), details={})
    return ids


def test_the_metrics_are_valid_exposition_text_with_the_database_values(database: Database) -> None:
    seed(database)

    exposition = render_metrics(database.engine, now=NOW, settings=Settings.load())
    samples = parse(exposition)

    def value(name: str, **labels: str) -> float:
        return samples[name, frozenset(labels.items())]

    assert value("mgrid_kpis", state="active") == 5
    assert value("mgrid_kpis", state="inactive") == 1
    # Late: 30 min > 2 x 5 + 10; Never: created 7 days ago; Missed nights: two 02:00 firings passed.
    assert value("mgrid_kpis_stale") == 3
    ages = {
        dict(labels)["kpi"]: v
        for (name, labels), v in samples.items()
        if name == "mgrid_kpi_last_success_age_seconds"
    }
    assert ages == {
        ODD_NAME: 120,
        "Late": 1800,
        "Nightly": 34 * 3600 - 30,
        "Missed nights": 58 * 3600 - 30,
    }
    assert {k: v for k, v in samples.items() if k[0] == "mgrid_alerts_open"} == {
        ("mgrid_alerts_open", frozenset({("severity", s), ("status", st), ("level", lv)})): n
        for s, st, lv, n in [
            ("critical", "open", "0", 1),
            ("critical", "open", "1", 1),
            ("critical", "acknowledged", "0", 0),
            ("warning", "open", "0", 1),
            ("warning", "acknowledged", "0", 1),
        ]
    }
    assert value("mgrid_executions_last_5m", outcome="succeeded") == 2
    assert value("mgrid_executions_last_5m", outcome="failed") == 1
    assert value("mgrid_executions_last_5m", outcome="timed_out") == 0
    assert value("mgrid_outbox_backlog") == 2
    assert value("mgrid_outbox_oldest_age_seconds") == 90
    assert by_channel(samples, "mgrid_notifications_failed_24h") == {
        "email": 1,
        "sms": 0,
        "teams": 0,
        "slack": 0,
        "webhook": 0,
    }
    assert by_channel(samples, "mgrid_notifications_retrying") == {
        "email": 0,
        "sms": 0,
        "teams": 0,
        "slack": 0,
        "webhook": 1,
    }
    assert value("mgrid_heartbeat_age_seconds", component="alert_processor") == 45


def test_every_family_has_help_and_type_and_label_values_are_escaped(database: Database) -> None:
    seed(database)

    exposition = render_metrics(database.engine, now=NOW, settings=Settings.load())

    assert exposition.endswith("\n")
    lines = exposition.splitlines()
    names = {line.split()[2] for line in lines if line.startswith("# TYPE ")}
    assert {line.split()[2] for line in lines if line.startswith("# HELP ")} == names
    assert all(line.split()[3] == "gauge" for line in lines if line.startswith("# TYPE "))
    sampled = {line.split("{")[0].split(" ")[0] for line in lines if not line.startswith("#")}
    assert sampled == names
    assert 'mgrid_kpi_last_success_age_seconds{kpi="Pay \\"EU\\" \\\\ all\\nday"} 120.0' in lines


def test_an_empty_database_still_answers_every_closed_series(database: Database) -> None:
    samples = parse(render_metrics(database.engine, now=NOW, settings=Settings.load()))

    assert samples[("mgrid_kpis", frozenset({("state", "active")}))] == 0
    assert samples[("mgrid_kpis_stale", frozenset())] == 0
    assert samples[("mgrid_outbox_backlog", frozenset())] == 0
    assert samples[("mgrid_outbox_oldest_age_seconds", frozenset())] == 0
    assert sum(v for (name, _), v in samples.items() if name == "mgrid_executions_last_5m") == 0
    assert len([name for name, _ in samples if name == "mgrid_alerts_open"]) == 4
    assert not [name for name, _ in samples if name.endswith("_age_seconds") and "oldest" not in name]


def test_skipped_and_dropped_deliveries_are_counted_apart_from_failures(database: Database) -> None:
    with database.engine.begin() as connection:
        alert_id = add_alert(connection, add_kpi(connection, "Deposits", last_success=NOW), Severity.CRITICAL)
        event_id = add_event(connection, alert_id, at=NOW - timedelta(hours=1))
        ops = insert_contact(connection, "Ops", email="ops@example.com")
        dev = insert_contact(connection, "Dev", email="dev@example.com")
        add_delivery(
            connection, event_id, ops, "sms", "skipped", last_error="Notifications__Sms__Enabled is false"
        )
        add_delivery(connection, event_id, dev, "sms", "skipped", created_at=NOW - timedelta(days=2))
        add_delivery(connection, event_id, ops, "email", "dropped")

    samples = parse(render_metrics(database.engine, now=NOW, settings=Settings.load()))

    assert by_channel(samples, "mgrid_notifications_skipped_24h")["sms"] == 1
    assert by_channel(samples, "mgrid_notifications_dropped_24h")["email"] == 1
    assert set(by_channel(samples, "mgrid_notifications_failed_24h").values()) == {0}


def test_a_delivery_dropped_because_its_alert_was_acknowledged_counts_as_dropped_not_failed(
    database: Database, metrics: Metrics
) -> None:
    service = escalation.build(database)
    service.senders[Channel.SMS].failures = 3  # the first round fails: a retry is left for the processor
    opened = escalation.open_alert(service, escalation.seed(service).kpi_id)
    service.dispatcher.dispatch(opened.event_id)
    AlertActions(database.engine, clock=service.clock).acknowledge(opened.alert_id, by="alice")
    service.clock.now = NOW + timedelta(hours=1)

    service.processor.run()  # the retry finds the alert acknowledged

    assert ("Ops", "sms", "dropped", 3) in service.deliveries()
    assert metrics.value("mgrid.notifications", channel="sms", outcome="dropped") == 1
    samples = parse(render_metrics(database.engine, now=service.clock(), settings=service.settings))
    assert by_channel(samples, "mgrid_notifications_dropped_24h")["sms"] == 1
    assert set(by_channel(samples, "mgrid_notifications_failed_24h").values()) == {0}
    status, detail = alert_processing_check(database.engine, service.settings, now=service.clock())
    assert (detail["dropped_deliveries_24h"], detail["failed_deliveries_24h"]) == (1, 0)
    assert status is HealthStatus.HEALTHY

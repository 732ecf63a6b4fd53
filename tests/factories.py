"""Building KPIs, contacts, queued executions and open alerts for tests, through the same row mapping and
stores the application uses."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.kpis import kpi_values
from shared.db.tables import contacts, kpi_contacts, kpi_executions, kpis
from shared.domain.alert import AlertEventType, AlertKind, EventRef, Severity
from shared.domain.kpi import AlertPolicy, Baseline, BaselineMode, Kpi, KpiKind, Priority, Rule, Schedule

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

SIMPLE_QUERY = "SELECT 'k' AS key, 10 AS current_value, 10 AS historical_value"


def make_kpi(**changes: Any) -> Kpi:
    """A valid KPI (source `main`, every 5 minutes, source baseline), with `changes` applied."""
    kpi = Kpi(
        id=0,
        indicator="Deposits",
        owner="Payments",
        priority=Priority.CRITICAL,
        source="main",
        kind=KpiKind.QUERY,
        sql_text=SIMPLE_QUERY,
        schedule=Schedule(frequency_minutes=5),
        last_minutes=60,
        rule=Rule(deviation_percent=20, baseline=Baseline(mode=BaselineMode.SOURCE)),
        policy=AlertPolicy(),
        subject_template="{Indicator} {MetricKey}",
        description_template="{CurrentValue} vs {HistoricalValue}",
    )
    return replace(kpi, **changes)


def insert_kpi(
    connection: Connection, kpi: Kpi, *, next_run_at: datetime | None = NOW, now: datetime = NOW
) -> int:
    row = {**kpi_values(kpi), "next_run_at": next_run_at, "created_at": now, "updated_at": now}
    return int(connection.execute(insert(kpis).values(row)).inserted_primary_key[0])


def insert_contact(
    connection: Connection,
    name: str,
    *,
    kpi_id: int | None = None,
    level: int = 0,
    now: datetime = NOW,
    **channels: Any,
) -> int:
    contact_id = int(
        connection.execute(
            insert(contacts).values(name=name, created_at=now, updated_at=now, **channels)
        ).inserted_primary_key[0]
    )
    if kpi_id is not None:
        connection.execute(
            insert(kpi_contacts).values(kpi_id=kpi_id, contact_id=contact_id, escalation_level=level)
        )
    return contact_id


def queue_execution(connection: Connection, kpi_id: int, slot: datetime) -> uuid.UUID:
    """A queued execution of the KPI for `slot`, as the scheduler leaves it: created and sent at the slot."""
    execution_id = uuid.uuid4()
    connection.execute(
        insert(kpi_executions).values(
            id=execution_id,
            kpi_id=kpi_id,
            slot=slot,
            triggered_by="scheduled",
            status="queued",
            created_at=slot,
            enqueued_at=slot,
        )
    )
    return execution_id


def open_alert(
    connection: Connection,
    kpi_id: int,
    *,
    key: str = "k",
    values: AlertValues | None = None,
    now: datetime = NOW,
    next_escalation_at: datetime | None = None,
    stale_at: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> EventRef:
    """A critical breach alert, open, with its `opened` event and outbox entry, as the executor leaves it."""
    alert_id = alert_store.open_alert(
        connection,
        kpi_id=kpi_id,
        metric_key=key,
        kind=AlertKind.BREACH,
        severity=Severity.CRITICAL,
        values=values or AlertValues(current=1),
        now=now,
        next_escalation_at=next_escalation_at,
        stale_at=stale_at,
    )
    event = alert_store.record_event(
        connection,
        alert_id=alert_id,
        event_type=AlertEventType.OPENED,
        actor="system",
        now=now,
        details=details or {},
        dispatch=True,
    )
    assert event is not None
    return event


class Clock:
    """A settable clock: the code under test reads the time only through it."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeTime:
    """A monotonic clock (seconds) that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

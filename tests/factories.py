"""Building KPIs and contacts for tests, through the same row mapping the application uses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from shared.db.kpis import kpi_values
from shared.db.tables import contacts, kpi_contacts, kpis
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

"""The schema's guarantees hold on SQLite and PostgreSQL: keys, the unresolved-alert rule, cascades, UTC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError, StatementError

from shared.db.tables import alert_events, alerts, historical_data, kpi_executions, kpis, outbox
from tests.conftest import Database

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def add_kpi(connection: Connection, indicator: str = "Deposits", **values: Any) -> int:
    row = {
        "indicator": indicator,
        "owner": "Payments",
        "priority": 1,
        "source": "main",
        "kind": "query",
        "sql_text": "SELECT 'k' AS key, 1 AS current_value",
        "frequency_minutes": 5,
        "last_minutes": 60,
        "deviation_percent": 20.0,
        "subject_template": "{Indicator}",
        "description_template": "{Indicator}",
        "next_run_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        **values,
    }
    return int(connection.execute(insert(kpis).values(row)).inserted_primary_key[0])


def add_alert(connection: Connection, kpi_id: int | None, metric_key: str, **values: Any) -> int:
    row = {
        "kpi_id": kpi_id,
        "metric_key": metric_key,
        "kind": "breach",
        "status": "open",
        "severity": "critical",
        "opened_at": NOW,
        "last_triggered_at": NOW,
        **values,
    }
    return int(connection.execute(insert(alerts).values(row)).inserted_primary_key[0])


def add_execution(connection: Connection, kpi_id: int, slot: datetime) -> uuid.UUID:
    execution_id = uuid.uuid4()
    connection.execute(
        insert(kpi_executions).values(
            id=execution_id,
            kpi_id=kpi_id,
            slot=slot,
            triggered_by="scheduled",
            status="queued",
            created_at=NOW,
        )
    )
    return execution_id


def test_a_second_execution_for_the_same_kpi_and_slot_is_refused(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = add_kpi(connection)
        add_execution(connection, kpi_id, NOW)
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        add_execution(connection, kpi_id, NOW)
    with database.engine.begin() as connection:
        add_execution(connection, kpi_id, NOW + timedelta(minutes=5))
        assert connection.scalar(select(func.count()).select_from(kpi_executions)) == 2


def test_only_one_unresolved_alert_per_kpi_and_metric_key(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = add_kpi(connection)
        first = add_alert(connection, kpi_id, "TotalDeposits")
        add_alert(connection, kpi_id, "OtherMetric")
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        add_alert(connection, kpi_id, "TotalDeposits", status="acknowledged")
    with database.engine.begin() as connection:
        connection.execute(
            update(alerts).where(alerts.c.id == first).values(status="resolved", resolved_at=NOW)
        )
        add_alert(connection, kpi_id, "TotalDeposits")  # a new episode once the old one is resolved
        add_alert(connection, kpi_id, "TotalDeposits", status="resolved", resolved_at=NOW)
        assert connection.scalar(select(func.count()).select_from(alerts)) == 4


def test_only_one_unresolved_system_alert_per_metric_key(database: Database) -> None:
    with database.engine.begin() as connection:
        add_alert(connection, None, "health", kind="system")
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        add_alert(connection, None, "health", kind="system")


def test_a_kpi_alert_needs_a_kpi_unless_it_is_a_system_alert(database: Database) -> None:
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        add_alert(connection, None, "TotalDeposits", kind="breach")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("priority", 3),
        ("kind", "script"),
        ("direction", "sideways"),
        ("baseline_weeks_back", 0),
        ("threshold_operator", "gt"),
    ],
)
def test_invalid_kpi_values_are_refused_by_the_database(
    database: Database, column: str, value: object
) -> None:
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        add_kpi(connection, **{column: value})


def test_one_history_row_per_execution_and_metric(database: Database) -> None:
    row = {
        "metric_key": "TotalDeposits",
        "window_start": NOW - timedelta(hours=1),
        "window_end": NOW,
        "value": 1e300,
        "recorded_at": NOW,
    }
    with database.engine.begin() as connection:
        kpi_id = add_kpi(connection)
        execution_id = add_execution(connection, kpi_id, NOW)
        connection.execute(insert(historical_data).values(kpi_id=kpi_id, execution_id=execution_id, **row))
    with pytest.raises(IntegrityError), database.engine.begin() as connection:
        connection.execute(insert(historical_data).values(kpi_id=kpi_id, execution_id=execution_id, **row))
    with database.engine.connect() as connection:
        assert connection.scalar(select(historical_data.c.value)) == 1e300  # wide enough: never an overflow


def test_deleting_a_kpi_removes_its_executions_history_alerts_and_outbox(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = add_kpi(connection)
        keep_id = add_kpi(connection, "Kept")
        execution_id = add_execution(connection, kpi_id, NOW)
        connection.execute(
            insert(historical_data).values(
                kpi_id=kpi_id,
                execution_id=execution_id,
                metric_key="k",
                window_start=NOW,
                window_end=NOW,
                value=1.0,
                recorded_at=NOW,
            )
        )
        alert_id = add_alert(connection, kpi_id, "k")
        add_alert(connection, keep_id, "k")
        event_id = connection.execute(
            insert(alert_events).values(
                alert_id=alert_id, event_type="opened", actor="system", created_at=NOW
            )
        ).inserted_primary_key[0]
        connection.execute(insert(outbox).values(event_id=event_id, created_at=NOW))
    with database.engine.begin() as connection:
        connection.execute(kpis.delete().where(kpis.c.id == kpi_id))
    with database.engine.connect() as connection:
        for table in (kpi_executions, historical_data, alert_events, outbox):
            assert connection.scalar(select(func.count()).select_from(table)) == 0, table.name
        assert connection.scalar(select(func.count()).select_from(alerts)) == 1


def test_timestamps_come_back_aware_in_utc(database: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    with database.engine.begin() as connection:
        kpi_id = add_kpi(connection, next_run_at=datetime(2026, 11, 28, 14, 30, 15, 123456, tzinfo=plus_two))
    with database.engine.connect() as connection:
        stored = connection.scalar(select(kpis.c.next_run_at).where(kpis.c.id == kpi_id))
    assert stored == datetime(2026, 11, 28, 12, 30, 15, 123456, tzinfo=UTC)
    assert stored is not None
    assert stored.utcoffset() == timedelta(0)


def test_timestamps_compare_correctly_in_queries(database: Database) -> None:
    with database.engine.begin() as connection:
        for minutes in (-10, -1, 1, 10):
            add_kpi(connection, f"kpi{minutes}", next_run_at=NOW + timedelta(minutes=minutes))
    with database.engine.connect() as connection:
        due = connection.scalars(
            select(kpis.c.indicator).where(kpis.c.next_run_at <= NOW).order_by(kpis.c.id)
        )
        assert list(due) == ["kpi-10", "kpi-1"]


def test_naive_timestamps_are_refused(database: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), database.engine.begin() as connection:
        add_kpi(connection, next_run_at=datetime(2026, 11, 28, 12, 0))  # noqa: DTZ001 - the point of the test

"""Migrations: empty to head, back to base and up again, on SQLite and PostgreSQL; they match the model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Table, insert, inspect, select

from shared.db import alerts as alert_store
from shared.db import migrate
from shared.db.alerts import AlertValues
from shared.db.kpis import kpi_values
from shared.db.tables import alerts, kpis, metadata
from shared.domain.alert import AlertKind, Severity
from shared.domain.kpi import Schedule
from shared.domain.schedule import latest_slot_at_or_before
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi


def _tables(database: Database) -> set[str]:
    return set(inspect(database.engine).get_table_names())


def test_migrations_go_up_down_and_up_again(empty_database: Database) -> None:
    engine = empty_database.engine
    assert migrate.current(engine) is None

    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert _tables(empty_database) == set(metadata.tables) | {"alembic_version"}

    migrate.downgrade(engine, "base")
    assert migrate.current(engine) is None
    assert _tables(empty_database) == {"alembic_version"}

    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    assert _tables(empty_database) == set(metadata.tables) | {"alembic_version"}


def test_upgrading_an_up_to_date_database_changes_nothing(database: Database) -> None:
    before = migrate.current(database.engine)
    migrate.upgrade(database.engine)
    assert migrate.current(database.engine) == before == migrate.head()


def test_migrated_schema_matches_the_table_definitions(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_migrated_schema_has_the_hot_path_indexes(database: Database) -> None:
    inspector = inspect(database.engine)
    indexes = {
        table: {index["name"]: index["column_names"] for index in inspector.get_indexes(table)}
        for table in ("kpis", "alerts", "kpi_executions", "historical_data", "notifications", "outbox")
    }
    assert indexes["kpis"]["ix_kpis_next_run_at"] == ["next_run_at"]
    assert indexes["alerts"]["ux_alerts_unresolved_kpi_metric"] == ["kpi_id", "metric_key"]
    assert indexes["alerts"]["ix_alerts_next_escalation_at"] == ["next_escalation_at"]
    assert indexes["alerts"]["ix_alerts_status_last_triggered_at"] == ["status", "last_triggered_at"]
    assert indexes["kpi_executions"]["ix_kpi_executions_queued_enqueued_at"] == ["enqueued_at"]
    assert indexes["kpi_executions"]["ix_kpi_executions_running_lease_until"] == ["lease_until"]
    assert indexes["kpi_executions"]["ix_kpi_executions_finished_finished_at"] == ["finished_at"]
    assert not {"ix_kpi_executions_status_enqueued_at", "ix_kpi_executions_status_lease_until"} & set(
        indexes["kpi_executions"]
    )
    assert indexes["historical_data"]["ix_historical_data_kpi_id_window_end_metric_key"] == [
        "kpi_id",
        "window_end",
        "metric_key",
    ]
    assert indexes["historical_data"]["ix_historical_data_window_end"] == ["window_end"]
    assert indexes["notifications"]["ix_notifications_status_next_attempt_at"] == [
        "status",
        "next_attempt_at",
    ]
    assert indexes["outbox"]["ix_outbox_dispatched_at_created_at"] == ["dispatched_at", "created_at"]


def test_0004_aligns_next_runs_and_gives_unresolved_alerts_their_stale_at(empty_database: Database) -> None:
    engine = empty_database.engine
    migrate.upgrade(engine, "0003")
    thursday = datetime(2026, 11, 26, tzinfo=UTC)  # where a weekly KPI ran when slots counted from 1970-01-01
    triggered = datetime(2026, 11, 28, 12, 3, tzinfo=UTC)
    with engine.begin() as connection:
        ids = {
            name: _kpi_at_0003(connection, name, schedule, next_run_at=at, active=active)
            for name, schedule, at, active in [
                ("five", Schedule(frequency_minutes=5), datetime(2026, 11, 28, 12, 7, tzinfo=UTC), True),
                ("aligned", Schedule(frequency_minutes=5), datetime(2026, 11, 28, 12, 5, tzinfo=UTC), True),
                ("weekly", Schedule(frequency_minutes=10080), thursday, True),
                ("legacy", Schedule(frequency_minutes=7), datetime(2026, 11, 28, 12, 0, tzinfo=UTC), True),
                ("paused", Schedule(frequency_minutes=10080), None, False),
                ("cron", Schedule(cron="0 0 9 * * *"), datetime(2026, 11, 29, 9, tzinfo=UTC), True),
            ]
        }
        alerts_by_key = {
            key: _alert_at_0003(connection, kpi_id, key, kind=kind, status=status, triggered=triggered)
            for key, kpi_id, kind, status in [
                ("open-five", ids["five"], "breach", "open"),
                ("acked-weekly", ids["weekly"], "breach", "acknowledged"),
                ("failing-cron", ids["cron"], "execution_failure", "open"),
                ("resolved", ids["five"], "breach", "resolved"),
                ("service-health", None, "system", "open"),
            ]
        }
    migrate.upgrade(engine)
    with engine.connect() as connection:
        next_runs = dict(connection.execute(select(kpis.c.indicator, kpis.c.next_run_at)).all())
        stale = dict(connection.execute(select(alerts.c.id, alerts.c.stale_at)).all())
    assert next_runs == {
        "five": datetime(2026, 11, 28, 12, 10, tzinfo=UTC),
        "aligned": datetime(2026, 11, 28, 12, 5, tzinfo=UTC),
        "weekly": datetime(2026, 11, 30, tzinfo=UTC),  # the Monday after
        "legacy": latest_slot_at_or_before(
            Schedule(frequency_minutes=7), datetime(2026, 11, 28, 12, 6, tzinfo=UTC)
        ),
        "paused": None,
        "cron": datetime(2026, 11, 29, 9, tzinfo=UTC),
    }
    assert {key: stale[alert_id] for key, alert_id in alerts_by_key.items()} == {
        "open-five": triggered + timedelta(minutes=15),
        "acked-weekly": triggered + timedelta(weeks=3),
        "failing-cron": triggered + timedelta(days=1),
        "resolved": None,
        "service-health": None,
    }


def _existing(connection: Connection, table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """`row` without the columns a later migration adds: the insert must fit the schema at 0003."""
    columns = {column["name"] for column in inspect(connection).get_columns(table.name)}
    return {name: value for name, value in row.items() if name in columns}


def _kpi_at_0003(
    connection: Connection, name: str, schedule: Schedule, *, next_run_at: datetime | None, active: bool
) -> int:
    kpi = make_kpi(indicator=name, schedule=schedule, is_active=active)
    row = {**kpi_values(kpi), "next_run_at": next_run_at, "created_at": NOW, "updated_at": NOW}
    return int(
        connection.execute(insert(kpis).values(_existing(connection, kpis, row))).inserted_primary_key[0]
    )


def _alert_at_0003(
    connection: Connection, kpi_id: int | None, key: str, *, kind: str, status: str, triggered: datetime
) -> int:
    row = {
        "kpi_id": kpi_id,
        "metric_key": key,
        "kind": kind,
        "status": status,
        "severity": "critical",
        "opened_at": triggered,
        "last_triggered_at": triggered,
    }
    result = connection.execute(insert(alerts).values(_existing(connection, alerts, row)))
    return int(result.inserted_primary_key[0])


def test_a_downgrade_that_rebuilds_the_kpis_table_keeps_the_rows_that_reference_it(
    empty_database: Database,
) -> None:
    # SQLite rebuilds a table to drop a column (copy, drop, rename): with foreign keys on, the drop would
    # cascade to every alert of every KPI.
    engine = empty_database.engine
    migrate.upgrade(engine)
    with engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi())
        alert_store.open_alert(
            connection,
            kpi_id=kpi_id,
            metric_key="k",
            kind=AlertKind.BREACH,
            severity=Severity.CRITICAL,
            values=AlertValues(current=1.0),
            now=NOW,
            next_escalation_at=None,
        )
    migrate.downgrade(engine, "0006")
    with engine.connect() as connection:
        assert connection.scalar(select(alerts.c.kpi_id)) == kpi_id
    migrate.upgrade(engine)

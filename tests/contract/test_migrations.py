"""Migrations: empty to head, back to base and up again, on SQLite and PostgreSQL; they match the model."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from shared.db import migrate
from shared.db.tables import metadata
from tests.conftest import Database


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
    assert indexes["kpi_executions"]["ix_kpi_executions_status_lease_until"] == ["status", "lease_until"]
    assert indexes["kpi_executions"]["ix_kpi_executions_finished_at"] == ["finished_at"]
    assert indexes["historical_data"]["ix_historical_data_kpi_id_metric_key_window_end"] == [
        "kpi_id",
        "metric_key",
        "window_end",
    ]
    assert indexes["historical_data"]["ix_historical_data_window_end"] == ["window_end"]
    assert indexes["notifications"]["ix_notifications_status_next_attempt_at"] == [
        "status",
        "next_attempt_at",
    ]
    assert indexes["outbox"]["ix_outbox_dispatched_at_created_at"] == ["dispatched_at", "created_at"]

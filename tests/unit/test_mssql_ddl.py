"""SQL Server: every table, index and migration compiles with the mssql dialect (no server here)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateIndex, CreateTable

from shared.db import migrate
from shared.db.tables import metadata

MSSQL_URL = "mssql+pyodbc://@example.database.windows.net/monitoring?driver=ODBC+Driver+18+for+SQL+Server"


@pytest.mark.parametrize("table", metadata.sorted_tables, ids=lambda table: table.name)
def test_every_table_and_index_compiles_for_sql_server(table: object) -> None:
    ddl = str(CreateTable(table).compile(dialect=mssql.dialect()))  # type: ignore[arg-type]
    assert ddl.startswith(f"\nCREATE TABLE {table.name}")  # type: ignore[attr-defined]
    for index in table.indexes:  # type: ignore[attr-defined]
        assert str(CreateIndex(index).compile(dialect=mssql.dialect())).startswith("CREATE ")


def test_the_migration_renders_sql_server_ddl() -> None:
    sql = migrate.offline_sql(MSSQL_URL)
    for table in metadata.tables:
        assert f"CREATE TABLE {table} (" in sql
    assert "DATETIMEOFFSET" in sql  # aware timestamps
    assert "UNIQUEIDENTIFIER" in sql  # execution ids
    assert "NVARCHAR(255)" in sql  # Unicode text for names and keys
    assert re.search(r"id BIGINT NOT NULL IDENTITY", sql)


def test_sql_server_enforces_one_unresolved_alert_per_kpi_metric_with_a_filtered_index() -> None:
    sql = migrate.offline_sql(MSSQL_URL)
    assert (
        "CREATE UNIQUE INDEX ux_alerts_unresolved_kpi_metric ON alerts (kpi_id, metric_key) "
        "WHERE status IN ('open', 'acknowledged') AND kpi_id IS NOT NULL" in sql
    )


def test_sql_server_gives_the_execution_sweepers_filtered_indexes() -> None:
    sql = migrate.offline_sql(MSSQL_URL)
    for ddl in (
        "CREATE INDEX ix_kpi_executions_queued_enqueued_at ON kpi_executions (enqueued_at) "
        "WHERE status = 'queued'",
        "CREATE INDEX ix_kpi_executions_running_lease_until ON kpi_executions (lease_until) "
        "WHERE status = 'running'",
        "CREATE INDEX ix_kpi_executions_finished_finished_at ON kpi_executions (finished_at) "
        "WHERE finished_at IS NOT NULL",
    ):
        assert ddl in sql


def test_sql_server_cascades_reach_each_table_by_one_path_only() -> None:
    # SQL Server refuses a foreign key that opens a second cascade path to a table (error 1785).
    paths: dict[str, set[tuple[str, ...]]] = {}

    def walk(table: str, path: tuple[str, ...]) -> None:
        for child in metadata.sorted_tables:
            for key in child.foreign_keys:
                if key.column.table.name == table and key.ondelete in {"CASCADE", "SET NULL"}:
                    route = (*path, child.name)
                    paths.setdefault(f"{route[0]}->{child.name}", set()).add(route)
                    walk(child.name, route)

    for root in metadata.tables:
        walk(root, (root,))
    assert {name: routes for name, routes in paths.items() if len(routes) > 1} == {}

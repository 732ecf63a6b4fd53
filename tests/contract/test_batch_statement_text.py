"""The batch statements stay short enough for psycopg to cache their parsing (it parses a statement's text
again on every execution above 4096 characters or 50 parameters), and compile for SQL Server."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import mssql, postgresql

from shared.db.kpis import _record_many

PSYCOPG_CACHED_LENGTH, PSYCOPG_CACHED_PARAMETERS = 4096, 50


@pytest.mark.parametrize("count", [1, 2, 8, 16])
def test_recording_outcomes_of_a_group_is_short_on_postgresql(count: int) -> None:
    compiled = _record_many(count, "postgresql").compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    assert len(str(compiled)) <= PSYCOPG_CACHED_LENGTH
    assert len(compiled.params) <= PSYCOPG_CACHED_PARAMETERS
    assert "FROM (VALUES" in str(compiled)


def test_recording_outcomes_compiles_for_sql_server_as_a_join_on_values() -> None:
    sql = str(_record_many(8, "mssql").compile(dialect=mssql.dialect()))
    assert "OUTPUT inserted.id" in sql
    assert "FROM kpis, (VALUES (:p_id0, :p_slot0, :p_ok0)" in sql
    assert sql.count("WHEN (kpis.id =") == 0  # no CASE per KPI


def test_recording_outcomes_on_sqlite_keeps_a_case_per_kpi() -> None:
    assert "VALUES" not in str(_record_many(2, "sqlite"))

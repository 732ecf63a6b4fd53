"""The batch statements stay cacheable: SQLAlchemy compiles each once (it has a cache key), and psycopg
parses its text once (it parses it again on every execution above 4096 characters or 50 parameters); and
they compile for SQL Server."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import mssql, postgresql
from sqlalchemy.sql import ClauseElement

from shared.db import slots
from shared.db.execution_outcomes import FINISH_CHUNK, _finish_many
from shared.db.executions import _claim_many
from shared.db.history import _insert_arrays
from shared.db.kpis import _load_many, _record_many
from shared.settings.kpi_monitoring import KpiMonitoringSettings

PSYCOPG_CACHED_LENGTH, PSYCOPG_CACHED_PARAMETERS = 4096, 50
DEFAULT_GROUP = 8  #: ExecutionBatchParallelism's earlier default
WAVE = 16  #: ExecutionBatchParallelism's default: at most this many claimed and recorded together


@pytest.mark.parametrize("count", [1, 2, 8, 16])
def test_recording_outcomes_of_a_group_is_short_on_postgresql(count: int) -> None:
    compiled = _record_many(count, "postgresql").compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    assert len(str(compiled)) <= PSYCOPG_CACHED_LENGTH
    assert len(compiled.params) <= PSYCOPG_CACHED_PARAMETERS
    assert str(compiled).count("UNION ALL SELECT") == count - 1
    assert "WHEN (kpis.id =" not in str(compiled)  # no CASE per KPI


@pytest.mark.parametrize(
    "statement",
    [
        _record_many(DEFAULT_GROUP, "postgresql"),
        _record_many(DEFAULT_GROUP, "mssql"),
        _finish_many(DEFAULT_GROUP),
        _claim_many(DEFAULT_GROUP),
        _load_many(DEFAULT_GROUP),
    ],
)
def test_batch_statements_are_compiled_once(statement: ClauseElement) -> None:
    assert statement._generate_cache_key() is not None
    compiled = statement.compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
    assert len(str(compiled)) <= PSYCOPG_CACHED_LENGTH
    assert len(compiled.params) <= PSYCOPG_CACHED_PARAMETERS


def test_the_default_wave_is_the_one_checked_here() -> None:
    assert KpiMonitoringSettings().execution_batch_parallelism == WAVE


@pytest.mark.parametrize(
    "statement",
    [
        _record_many(WAVE, "postgresql"),
        _record_many(WAVE, "mssql"),
        _finish_many(FINISH_CHUNK),
        _claim_many(WAVE),
        _load_many(WAVE),
        slots._take_many(WAVE),
        slots._release_many(WAVE),
        _insert_arrays(),
    ],
)
def test_the_statements_of_a_default_wave_are_compiled_once(statement: ClauseElement) -> None:
    test_batch_statements_are_compiled_once(statement)


def test_a_wave_is_finished_in_statements_of_at_most_finish_chunk_executions() -> None:
    assert len(_finish_many(FINISH_CHUNK).compile(dialect=postgresql.psycopg.dialect()).params) <= (  # type: ignore[no-untyped-call]
        PSYCOPG_CACHED_PARAMETERS
    )
    assert len(_finish_many(2 * FINISH_CHUNK).compile(dialect=postgresql.psycopg.dialect()).params) > (  # type: ignore[no-untyped-call]
        PSYCOPG_CACHED_PARAMETERS
    )


def test_history_is_inserted_with_one_array_per_column_on_postgresql() -> None:
    sql = str(_insert_arrays().compile(dialect=postgresql.psycopg.dialect()))  # type: ignore[no-untyped-call]
    assert sql.count("unnest(") == 13
    assert "FLOAT(53)[]" in sql
    assert "TIMESTAMP WITH TIME ZONE[]" in sql


def test_recording_outcomes_compiles_for_sql_server_as_a_join() -> None:
    sql = str(_record_many(DEFAULT_GROUP, "mssql").compile(dialect=mssql.dialect()))
    assert "OUTPUT inserted.id" in sql
    assert "FROM kpis, (SELECT :p_id0 AS id, :p_slot0 AS slot, :p_ok0 AS ok UNION ALL" in sql
    assert "WHEN (kpis.id =" not in sql


def test_recording_outcomes_on_sqlite_keeps_a_case_per_kpi() -> None:
    assert "UNION" not in str(_record_many(2, "sqlite"))
    assert _record_many(DEFAULT_GROUP, "sqlite")._generate_cache_key() is not None

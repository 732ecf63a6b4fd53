"""KPI queries run read-only where the database allows it: a query that tries to write fails with a clear
error and writes nothing (real SQLite and PostgreSQL), the source sessions themselves are read-only, and SQL
Server connection strings ask for `ApplicationIntent=ReadOnly` (checked on the compiled connection string)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from shared.sources import SourceQueryError
from shared.sources.engines import create_source_engine, read_only_intent
from tests.contract.test_sources import EVENTS, Source, event_count, kpi, run, source

__all__ = ["source"]

AS_METRIC = "RETURNING 'k' AS key, amount AS current_value"
WRITING_QUERIES = [
    f"INSERT INTO events (at, amount) VALUES ('2024-05-01 10:15:00', 5) {AS_METRIC}",
    "WITH gone AS (DELETE FROM events RETURNING amount) SELECT 'k' AS key, COUNT(*) AS current_value "
    "FROM gone",
    f"UPDATE events SET amount = 0 {AS_METRIC}",
]
CLEAR_ERRORS = {
    "sqlite": ("not authorized: sources are read-only", "syntax error"),
    "postgresql": ("read-only transaction",),
}


@pytest.mark.parametrize("sql", WRITING_QUERIES)
def test_a_kpi_query_that_writes_fails_clearly_and_writes_nothing(source: Source, sql: str) -> None:
    with pytest.raises(SourceQueryError) as caught:
        run(source.runner, kpi(sql))

    assert any(words in str(caught.value) for words in CLEAR_ERRORS[source.backend]), str(caught.value)
    assert event_count(source) == len(EVENTS)
    with source.setup.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM events WHERE amount = 0")).scalar_one() == 0


def test_a_source_session_is_read_only_outside_the_runners_transaction_too(source: Source) -> None:
    with source.runner.engine("main").connect() as connection:
        if source.backend == "postgresql":
            setting = connection.execute(text("SHOW default_transaction_read_only")).scalar_one()
            assert setting == "on"
        else:
            assert connection.execute(text("PRAGMA query_only")).scalar_one() == 1


def _connection_string(url: str) -> str:
    engine = create_source_engine(url, source="sales", pool_size=1)
    seen: list[Any] = []

    @event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, cargs: list[Any], _cparams: dict[str, Any]) -> None:
        seen.append(cargs[0])
        raise LookupError("captured before the driver is called")

    with pytest.raises(LookupError):
        engine.connect()
    return str(seen[0])


def test_a_sql_server_source_asks_for_read_only_intent() -> None:
    connection_string = _connection_string(
        "mssql+pyodbc://reader:pw@sales.example.test/sales?driver=ODBC+Driver+18+for+SQL+Server"
    )
    assert connection_string.endswith(";ApplicationIntent=ReadOnly")


def test_a_raw_odbc_connection_string_gets_read_only_intent_too() -> None:
    url = make_url(
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3BSERVER%3Dh%3BUID%3Du%3B"
    )
    assert read_only_intent(url).query["odbc_connect"] == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=h;UID=u;ApplicationIntent=ReadOnly"
    )


@pytest.mark.parametrize(
    "url",
    [
        "mssql+pyodbc://u:p@h/db?driver=ODBC+Driver+18+for+SQL+Server&ApplicationIntent=ReadWrite",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7Bx%7D%3Bapplicationintent%3DReadWrite",
    ],
)
def test_an_intent_the_url_names_is_kept(url: str) -> None:
    assert read_only_intent(make_url(url)) == make_url(url)

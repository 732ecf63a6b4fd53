"""Every statement the API's reads and actions send compiles for SQL Server (captured on SQLite)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement

from tests.api.seed import Demo
from tests.conftest import Database


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_api_statement_compiles_for_sql_server(
    client: TestClient, demo: Demo, database: Database
) -> None:
    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement) and not isinstance(clause, type(text(""))):
            captured.append(clause)

    for path in [
        "/api/kpis",
        f"/api/kpis/{demo.deposits}",
        f"/api/kpis/{demo.deposits}/history?key=k",
        "/api/alerts?status=open&kpi=Deposits&limit=1",
        f"/api/alerts/{demo.alert}",
    ]:
        assert client.get(path).status_code == 200
    assert client.post(f"/api/alerts/{demo.alert}/acknowledge", json={"by": "a"}).status_code == 200
    assert client.post(f"/api/alerts/{demo.alert}/resolve", json={"by": "a"}).status_code == 200
    compiled = {str(clause.compile(dialect=mssql.dialect())) for clause in captured}
    assert len(compiled) > 10
    assert any("TOP" in sql and "alerts" in sql for sql in compiled)

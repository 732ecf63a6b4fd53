"""kpi_executions' readers find their rows through its partial indexes, in the plans PostgreSQL prepares for
any parameters too: the indexes hold only the queued, the running or the finished rows, so a claim or a
finish adds entries to fewer indexes, and a reader must state the status as a literal to use them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import Connection, insert
from sqlalchemy import event as sql_event

from shared.db import health, metrics, retention, scheduling
from shared.db.tables import kpi_executions
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi

KPIS = 20
SLOTS = 250  # 5,000 executions, 1 % queued and 1 % running

READS: list[tuple[str, str, Callable[[Connection, str], Any]]] = [
    (
        "resend_stale",
        "ix_kpi_executions_queued_enqueued_at",
        lambda c, _: scheduling.resend_stale(c, now=NOW, sent_before=NOW - timedelta(minutes=10), limit=100),
    ),
    (
        "release_expired",
        "ix_kpi_executions_running_lease_until",
        lambda c, _: scheduling.release_expired(c, now=NOW, max_attempts=3, limit=100),
    ),
    (
        "stuck_executions",
        "ix_kpi_executions_running_lease_until",
        lambda c, _: health.stuck_executions(c, now=NOW),
    ),
    (
        "kpis_with_unfinished_executions",
        "ix_kpi_executions_unfinished_kpi_id",
        lambda c, _: scheduling.kpis_with_unfinished_executions(c, [1, 2, 3]),
    ),
    (
        "finished_since",
        "ix_kpi_executions_finished_finished_at",
        lambda c, _: health.finished_since(c, since=NOW - timedelta(hours=1)),
    ),
    (
        "metrics.finished_executions",
        "ix_kpi_executions_finished_finished_at",
        lambda c, _: metrics.finished_executions(c, since=NOW - timedelta(hours=1)),
    ),
    (
        "retention.finished_executions",
        "ix_kpi_executions_finished_finished_at",
        lambda c, dialect: c.execute(
            retention.finished_executions(NOW - timedelta(minutes=5 * (SLOTS - 10)), 100, dialect=dialect)
        ),
    ),
]


def seed(connection: Connection) -> None:
    rows = []
    for k in range(KPIS):
        kpi_id = insert_kpi(connection, make_kpi(indicator=f"Kpi{k}"))
        for n in range(SLOTS):
            slot = NOW - timedelta(minutes=5 * n)
            status = "queued" if n == 0 and k < 10 else "running" if n == 0 else "succeeded"
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "kpi_id": kpi_id,
                    "slot": slot,
                    "triggered_by": "scheduled",
                    "status": status,
                    "created_at": slot,
                    "enqueued_at": slot,
                    "started_at": None if status == "queued" else slot,
                    "lease_until": slot - timedelta(minutes=1) if status == "running" else None,
                    "finished_at": slot + timedelta(seconds=1) if status == "succeeded" else None,
                }
            )
    connection.execute(insert(kpi_executions), rows)
    connection.exec_driver_sql("ANALYZE")


def first_read(connection: Connection, call: Callable[[Connection, str], Any]) -> tuple[str, Any]:
    """The first statement `call` sends (its read of kpi_executions), run in a transaction rolled back."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        statements.append((statement, parameters))

    with connection.begin() as transaction:
        sql_event.listen(connection, "before_cursor_execute", capture)
        try:
            call(connection, connection.dialect.name)
        finally:
            sql_event.remove(connection, "before_cursor_execute", capture)
        transaction.rollback()
    return statements[0]


def generic_plan(connection: Connection, statement: str, parameters: dict[str, Any]) -> str:
    """PostgreSQL's generic plan of the statement, the one a prepared statement settles on after its first
    executions, whatever the parameters: the statement is prepared with `$n` placeholders."""
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    prepared = re.sub(r"%\((\w+)\)s", placeholder, statement)
    with connection.begin() as transaction:
        connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(f"PREPARE execution_read AS {prepared}")
        driver = connection.connection.driver_connection
        arguments = ", ".join(sql.Literal(parameters[name]).as_string(driver) for name in names)
        rows = connection.exec_driver_sql(f"EXPLAIN EXECUTE execution_read({arguments})")
        plan = "\n".join(str(row[0]) for row in rows)
        connection.exec_driver_sql("DEALLOCATE execution_read")
        transaction.rollback()
    return plan


def plan_of(connection: Connection, backend: str, statement: str, parameters: Any) -> str:
    if backend == "postgresql":
        return generic_plan(connection, statement, parameters)
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
    return "\n".join(str(row[-1]) for row in rows)


@pytest.fixture
def seeded(database: Database) -> Database:
    with database.engine.begin() as connection:
        seed(connection)
    return database


@pytest.mark.parametrize(("read", "index", "call"), READS, ids=[read for read, _, _ in READS])
def test_each_reader_of_executions_uses_its_partial_index_in_every_plan(
    seeded: Database, read: str, index: str, call: Callable[[Connection, str], Any]
) -> None:
    with seeded.engine.connect() as connection:
        statement, parameters = first_read(connection, call)
        plan = plan_of(connection, seeded.backend, statement, parameters)
    assert "kpi_executions" in statement, statement
    assert index in plan, f"{read}: {statement}\n{plan}"


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_status_bound_as_a_parameter_could_not_use_them(seeded: Database) -> None:
    """Why `status_is`: with the status as a parameter, the generic plan has no partial index to use."""
    with seeded.engine.connect() as connection:
        statement, parameters = first_read(connection, READS[0][2])
        bound = statement.replace("kpi_executions.status = 'queued'", "kpi_executions.status = %(p_status)s")
        assert bound != statement
        plan = generic_plan(connection, bound, {**parameters, "p_status": "queued"})
    assert "ix_kpi_executions_queued_enqueued_at" not in plan, plan

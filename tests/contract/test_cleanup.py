"""Cleanup on SQLite and PostgreSQL: what is past retention goes, what is still needed stays, in batches of
short transactions, within the time budget; and every statement compiles for SQL Server."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, insert, select, text
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement

from shared.db import retention
from shared.db.alerts import AlertValues, open_alert, resolve
from shared.db.tables import (
    alert_events,
    alerts,
    dead_letters,
    historical_data,
    kpi_executions,
    notifications,
    outbox,
    system_status,
)
from shared.domain.alert import AlertKind, Severity
from shared.services.cleanup import Cleanup
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import NOW, FakeTime, insert_contact, insert_kpi, make_kpi

OLD_HISTORY = NOW - timedelta(days=91)  # the default history retention is 90 days
FRESH_HISTORY = NOW - timedelta(days=89)
OLD = NOW - timedelta(days=31)  # the default log retention is 30 days
FRESH = NOW - timedelta(days=29)
SLOTS = itertools.count()


def settings(monkeypatch: pytest.MonkeyPatch, **values: object) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(f"Worker__ScheduledTasks__{name}", str(value))
    return Settings.load()


def cleanup(database: Database, config: Settings, **kwargs: Any) -> Cleanup:
    return Cleanup(database.engine, config, clock=lambda: NOW, **kwargs)


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Settings:
    return settings(monkeypatch)


@pytest.fixture
def kpi(database: Database) -> int:
    with database.engine.begin() as connection:
        return insert_kpi(connection, make_kpi())


def count(database: Database, table: Any, *where: Any) -> int:
    with database.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def rows(database: Database, query: Any) -> list[Any]:
    with database.engine.connect() as connection:
        return list(connection.execute(query))


def add_history(connection: Connection, kpi_id: int, window_ends: list[datetime]) -> None:
    rows = [
        {
            "kpi_id": kpi_id,
            "execution_id": uuid.uuid4(),
            "metric_key": "k",
            "window_start": end - timedelta(hours=1),
            "window_end": end,
            "value": 1.0,
            "recorded_at": end,
        }
        for end in window_ends
    ]
    connection.execute(insert(historical_data), rows)


def add_execution(connection: Connection, kpi_id: int, status: str, finished: datetime | None) -> None:
    slot = NOW - timedelta(days=60) + timedelta(minutes=5 * next(SLOTS))  # (kpi, slot) is unique
    connection.execute(
        insert(kpi_executions).values(
            id=uuid.uuid4(),
            kpi_id=kpi_id,
            slot=slot,
            triggered_by="scheduled",
            status=status,
            created_at=slot,
            finished_at=finished,
        )
    )


def add_alert(
    connection: Connection, kpi_id: int, key: str, *, opened: datetime, resolved: datetime | None = None
) -> int:
    alert_id = open_alert(
        connection,
        kpi_id=kpi_id,
        metric_key=key,
        kind=AlertKind.BREACH,
        severity=Severity.CRITICAL,
        values=AlertValues(current=1.0),
        now=opened,
        next_escalation_at=None,
    )
    if resolved is not None:
        resolve(connection, alert_id, now=resolved, by="alice", reason="fixed")
    return alert_id


def add_event(connection: Connection, alert_id: int, at: datetime, *, dispatched: bool | None = True) -> int:
    """An audit event with an outbox entry (dispatched or not; None: no entry)."""
    event_id = int(
        connection.execute(
            insert(alert_events).values(alert_id=alert_id, event_type="opened", actor="system", created_at=at)
        ).inserted_primary_key[0]
    )
    if dispatched is not None:
        connection.execute(
            insert(outbox).values(event_id=event_id, created_at=at, dispatched_at=at if dispatched else None)
        )
    return event_id


def add_delivery(connection: Connection, event_id: int, contact_id: int, at: datetime, status: str) -> None:
    connection.execute(
        insert(notifications).values(
            event_id=event_id, contact_id=contact_id, channel="email", status=status, created_at=at
        )
    )


def add_dead_letters(connection: Connection, received: list[datetime]) -> None:
    rows = [{"queue": "kpi-executions", "reason": "malformed", "received_at": at} for at in received]
    connection.execute(insert(dead_letters), rows)


@pytest.fixture
def contact(database: Database) -> int:
    with database.engine.begin() as connection:
        return insert_contact(connection, "Ops", email="ops@example.com")


def test_history_executions_and_dead_letters_past_retention_go_and_fresher_rows_stay(
    database: Database, config: Settings, kpi: int
) -> None:
    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY, OLD_HISTORY - timedelta(days=1), FRESH_HISTORY])
        for status in ("succeeded", "failed", "timed_out"):
            add_execution(connection, kpi, status, OLD)
        add_execution(connection, kpi, "succeeded", FRESH)
        add_execution(connection, kpi, "queued", None)
        add_execution(connection, kpi, "running", None)
        add_dead_letters(connection, [OLD, OLD, FRESH])

    report = cleanup(database, config).run()

    assert report.complete
    assert report.deleted == {
        "historical_data": 2,
        "kpi_executions": 3,
        "notifications": 0,
        "alert_events": 0,
        "alerts": 0,
        "dead_letters": 2,
    }
    assert count(database, historical_data, historical_data.c.window_end == FRESH_HISTORY) == 1
    assert count(database, historical_data) == 1
    assert sorted(row.status for row in rows(database, select(kpi_executions.c.status))) == [
        "queued",
        "running",
        "succeeded",
    ]
    assert count(database, dead_letters) == 1


def test_a_resolved_alert_past_retention_goes_with_its_events_outbox_and_deliveries(
    database: Database, config: Settings, kpi: int, contact: int
) -> None:
    with database.engine.begin() as connection:
        alert_id = add_alert(connection, kpi, "gone", opened=OLD - timedelta(days=5), resolved=OLD)
        for at in (OLD - timedelta(days=5), OLD):
            add_delivery(connection, add_event(connection, alert_id, at), contact, at, "sent")
        add_delivery(connection, add_event(connection, alert_id, OLD), contact, OLD, "failed")

    report = cleanup(database, config).run()

    assert (report.deleted["notifications"], report.deleted["alert_events"], report.deleted["alerts"]) == (
        3,
        3,
        1,
    )
    assert [count(database, table) for table in (alerts, alert_events, outbox, notifications)] == [0, 0, 0, 0]


def test_an_unresolved_alert_older_than_retention_keeps_its_whole_audit_trail_and_deliveries(
    database: Database, config: Settings, kpi: int, contact: int
) -> None:
    with database.engine.begin() as connection:
        opened = add_alert(connection, kpi, "open", opened=NOW - timedelta(days=120))
        acknowledged = add_alert(connection, kpi, "acked", opened=NOW - timedelta(days=120))
        connection.execute(alerts.update().where(alerts.c.id == acknowledged).values(status="acknowledged"))
        for alert_id in (opened, acknowledged):
            event_id = add_event(connection, alert_id, NOW - timedelta(days=120))
            add_delivery(connection, event_id, contact, NOW - timedelta(days=120), "sent")

    report = cleanup(database, config).run()

    assert report.complete
    assert sum(report.deleted.values()) == 0
    assert [count(database, table) for table in (alerts, alert_events, outbox, notifications)] == [2, 2, 2, 2]


def test_a_pending_delivery_keeps_itself_its_event_and_its_alert(
    database: Database, config: Settings, kpi: int, contact: int
) -> None:
    with database.engine.begin() as connection:
        alert_id = add_alert(connection, kpi, "retrying", opened=OLD - timedelta(days=1), resolved=OLD)
        event_id = add_event(connection, alert_id, OLD)
        add_delivery(connection, event_id, contact, OLD, "pending")
        add_event(connection, alert_id, OLD - timedelta(days=1))  # its other event goes

    cleanup(database, config).run()

    assert count(database, notifications) == 1
    assert [row.id for row in rows(database, select(alert_events.c.id))] == [event_id]
    assert count(database, alerts) == 1


def test_a_delivery_made_inside_retention_keeps_its_older_event_and_its_alert(
    database: Database, config: Settings, kpi: int, contact: int
) -> None:
    with database.engine.begin() as connection:
        alert_id = add_alert(connection, kpi, "late", opened=OLD - timedelta(days=1), resolved=OLD)
        event_id = add_event(connection, alert_id, OLD)
        add_delivery(connection, event_id, contact, FRESH, "sent")  # dispatched late, after an outage

    report = cleanup(database, config).run()

    assert sum(report.deleted.values()) == 0
    assert [count(database, table) for table in (alerts, alert_events, notifications)] == [1, 1, 1]


def test_an_undispatched_outbox_entry_keeps_its_event_and_its_alert(
    database: Database, config: Settings, kpi: int
) -> None:
    with database.engine.begin() as connection:
        alert_id = add_alert(connection, kpi, "waiting", opened=OLD - timedelta(days=1), resolved=OLD)
        waiting = add_event(connection, alert_id, OLD, dispatched=False)
        add_event(connection, alert_id, OLD - timedelta(days=1), dispatched=True)

    report = cleanup(database, config).run()

    assert report.deleted["alert_events"] == 1
    assert [row.id for row in rows(database, select(alert_events.c.id))] == [waiting]
    assert count(database, outbox, outbox.c.dispatched_at.is_(None)) == 1
    assert count(database, alerts) == 1


def test_a_resolved_alert_with_an_event_inside_retention_stays(
    database: Database, config: Settings, kpi: int
) -> None:
    with database.engine.begin() as connection:
        alert_id = add_alert(connection, kpi, "late", opened=OLD - timedelta(days=3), resolved=OLD)
        add_event(connection, alert_id, OLD - timedelta(days=3))
        recent = add_event(connection, alert_id, FRESH)
        add_alert(connection, kpi, "recent", opened=FRESH, resolved=FRESH)

    report = cleanup(database, config).run()

    assert (report.deleted["alert_events"], report.deleted["alerts"]) == (1, 0)
    assert [row.id for row in rows(database, select(alert_events.c.id))] == [recent]
    assert count(database, alerts) == 2


@pytest.fixture
def deletes(database: Database) -> Iterator[list[str]]:
    """The DELETE statements sent to the database, in order."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            sent.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    yield sent
    event.remove(database.engine, "before_cursor_execute", record)


def test_350_rows_with_a_batch_size_of_100_take_four_statements_each_its_own_transaction(
    database: Database, monkeypatch: pytest.MonkeyPatch, kpi: int, deletes: list[str]
) -> None:
    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY - timedelta(minutes=i) for i in range(350)])
    commits: list[int] = []
    event.listen(database.engine, "commit", lambda _conn: commits.append(len(deletes)))

    report = cleanup(database, settings(monkeypatch, CleanupBatchSize=100)).run()

    history = [sql for sql in deletes if sql.startswith("DELETE FROM historical_data")]
    assert len(history) == 4
    assert report.deleted["historical_data"] == 350
    assert commits[:4] == [1, 2, 3, 4], "each batch commits before the next starts"
    assert len(report.batch_seconds) == 4 + 5  # one (short) batch for each other table
    assert count(database, historical_data) == 0


def test_the_time_budget_stops_the_run_and_the_next_run_finishes_the_rest(
    database: Database, monkeypatch: pytest.MonkeyPatch, kpi: int
) -> None:
    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY - timedelta(minutes=i) for i in range(350)])
        add_dead_letters(connection, [OLD])
    config = settings(monkeypatch, CleanupBatchSize=100, CleanupTimeBudgetSeconds=10)
    clock = FakeTime()

    def four_seconds_per_delete(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("DELETE FROM historical_data"):
            clock.now += 4

    event.listen(database.engine, "after_cursor_execute", four_seconds_per_delete)

    first = cleanup(database, config, monotonic=clock).run()

    assert not first.complete
    assert first.deleted["historical_data"] == 300  # batches start at 0, 4 and 8 s; none at 12 s
    assert first.deleted["dead_letters"] == 0
    assert status_of(database) == ("incomplete", False)

    clock.now = 0.0
    second = cleanup(database, config, monotonic=clock).run()

    assert second.complete
    assert (second.deleted["historical_data"], second.deleted["dead_letters"]) == (50, 1)
    assert status_of(database) == ("ok", True)


def status_of(database: Database) -> tuple[str, bool]:
    with database.engine.connect() as connection:
        row = connection.execute(
            select(system_status.c.status, system_status.c.details).where(
                system_status.c.component == "cleanup"
            )
        ).one()
    return row.status, json.loads(row.details)["complete"]


def test_a_failing_table_is_reported_and_the_other_tables_are_still_cleaned(
    database: Database, config: Settings, kpi: int
) -> None:
    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY])
        connection.execute(text("DROP TABLE dead_letters"))

    report = cleanup(database, config).run()

    assert not report.complete
    assert list(report.errors) == ["dead_letters"]
    assert report.deleted["historical_data"] == 1
    assert report.summary()["errors"]["dead_letters"].startswith(("OperationalError", "ProgrammingError"))


def test_a_disabled_cleanup_deletes_nothing_and_writes_no_heartbeat(
    database: Database, monkeypatch: pytest.MonkeyPatch, kpi: int
) -> None:
    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY])

    report = cleanup(database, settings(monkeypatch, Enabled="false")).run()

    assert report.disabled
    assert report.summary()["disabled"] is True
    assert count(database, historical_data) == 1
    assert count(database, system_status) == 0


def test_the_heartbeat_carries_the_summary(database: Database, config: Settings, kpi: int) -> None:
    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY])

    report = cleanup(database, config).run()

    with database.engine.connect() as connection:
        row = connection.execute(select(system_status).where(system_status.c.component == "cleanup")).one()
    assert (row.status, row.heartbeat_at) == ("ok", NOW)
    assert json.loads(row.details) == json.loads(json.dumps(report.summary()))
    assert json.loads(row.details)["deleted"]["historical_data"] == 1


EXPECTED_INDEX = {
    "historical_data": "ix_historical_data_window_end",
    "kpi_executions": "ix_kpi_executions_finished_finished_at",
    "notifications": "ix_notifications_created_at",
    "alert_events": "ix_alert_events_created_at",
    "alerts": "ix_alerts_resolved_at",
    "dead_letters": "ix_dead_letters_received_at",
}


def test_each_delete_selects_its_batch_through_the_time_index(database: Database) -> None:
    plans: dict[str, str] = {}
    explain = "EXPLAIN QUERY PLAN " if database.backend == "sqlite" else "EXPLAIN "

    def prefixed(_conn: Any, _cursor: Any, statement: str, params: Any, *_rest: Any) -> tuple[str, Any]:
        return explain + statement, params

    purges = retention.plan(
        history_before=OLD_HISTORY, logs_before=OLD, limit=100, dialect=database.engine.dialect.name
    )
    with database.engine.connect() as connection:
        if database.backend == "postgresql":
            connection.execute(text("SET LOCAL enable_seqscan = off"))  # empty tables: show the usable path
        event.listen(connection, "before_cursor_execute", prefixed, retval=True)
        for purge in purges:
            cursor = connection.execute(purge.statement).cursor
            assert cursor is not None
            plans[purge.table] = "\n".join(" ".join(str(cell) for cell in row) for row in cursor.fetchall())
        event.remove(connection, "before_cursor_execute", prefixed)
        connection.rollback()

    for table, index in EXPECTED_INDEX.items():
        assert index in plans[table], f"{table}: {plans[table]}"
        if database.backend == "postgresql":  # the ids once, then primary-key probes: never a semi-join
            assert f"on pk_{table}" in plans[table] or f"using pk_{table}" in plans[table], plans[table]
            assert re.search(r"Index Cond: \(id = ANY \(\$\d+\)\)", plans[table])
            assert "Semi Join" not in plans[table]


def test_every_cleanup_statement_compiles_for_sql_server_with_top_instead_of_limit() -> None:
    purges = retention.plan(history_before=OLD_HISTORY, logs_before=OLD, limit=5000, dialect="mssql")

    compiled = {purge.table: str(purge.statement.compile(dialect=mssql.dialect())) for purge in purges}

    assert list(compiled) == list(EXPECTED_INDEX)
    for table, sql in compiled.items():
        assert sql.startswith(f"DELETE FROM {table} WHERE {table}.id IN (SELECT TOP "), sql
        assert "LIMIT" not in sql
        assert "ORDER BY chosen." in sql


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_statement_of_a_cleanup_run_compiles_for_sql_server(
    database: Database, config: Settings, kpi: int, contact: int
) -> None:
    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement):
            captured.append(clause)

    with database.engine.begin() as connection:
        add_history(connection, kpi, [OLD_HISTORY])
        alert_id = add_alert(connection, kpi, "gone", opened=OLD, resolved=OLD)
        add_delivery(connection, add_event(connection, alert_id, OLD), contact, OLD, "sent")
    captured.clear()

    cleanup(database, config).run()

    compiled = [str(clause.compile(dialect=mssql.dialect())) for clause in captured]
    assert sum(sql.startswith("DELETE FROM") for sql in compiled) == 6
    assert any("system_status" in sql for sql in compiled)

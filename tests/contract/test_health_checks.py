"""The health checks on SQLite and PostgreSQL: each driven to Healthy, Degraded and Unhealthy by the state of
a real monitoring database (stale KPIs, stuck executions, failures, the processor's heartbeat, the outbox,
failed deliveries), an unreachable database and one that never answers; and every statement they send
compiles for SQL Server."""

from __future__ import annotations

import itertools
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, insert, update
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement

from shared.db import alerts as alert_store
from shared.db.alerts import AlertValues
from shared.db.engine import create_monitoring_engine
from shared.db.outbox import mark_dispatched
from shared.db.status import heartbeat
from shared.db.tables import kpi_executions, kpis
from shared.domain.alert import AlertEventType, AlertKind, Severity
from shared.domain.execution import ExecutionStatus
from shared.domain.health import HealthStatus
from shared.domain.kpi import Schedule
from shared.services.health import check_health
from shared.services.health_monitor import HealthMonitor
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi

LONG_AGO = NOW - timedelta(days=30)
_SLOTS = itertools.count()


def checks(database: Database, *, now: datetime = NOW, **env: str) -> dict[str, Any]:
    """The report's checks as `GET /api/health/details` shows them (with names), for the database's state
    at `now`."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = Settings.load()
    report = check_health(lambda: settings, lambda: database.engine, now=lambda: now)
    result: dict[str, Any] = report.to_dict(names=True)["checks"]
    return result


def add_kpi(
    connection: Connection,
    indicator: str,
    *,
    succeeded_at: datetime | None,
    changed_at: datetime = LONG_AGO,
    schedule: Schedule | None = None,
    active: bool = True,
) -> int:
    kpi = make_kpi(indicator=indicator, schedule=schedule or Schedule(frequency_minutes=5), is_active=active)
    kpi_id = insert_kpi(connection, kpi, next_run_at=NOW if active else None, now=changed_at)
    connection.execute(update(kpis).where(kpis.c.id == kpi_id).values(last_success_at=succeeded_at))
    return kpi_id


def add_execution(
    connection: Connection,
    kpi_id: int,
    status: ExecutionStatus,
    *,
    at: datetime = NOW - timedelta(minutes=10),
    lease_until: datetime | None = None,
) -> None:
    finished = status.finished
    connection.execute(
        insert(kpi_executions).values(
            id=uuid.uuid4(),
            kpi_id=kpi_id,
            slot=at - timedelta(seconds=next(_SLOTS)),
            triggered_by="scheduled",
            status=status.value,
            attempt=1,
            lease_owner=None if finished else "host-1",
            lease_until=lease_until,
            created_at=at,
            started_at=at,
            finished_at=at if finished else None,
        )
    )


def beat(connection: Connection, *, age_s: float, status: str = "ok", now: datetime = NOW) -> None:
    heartbeat(connection, "alert_processor", status=status, now=now - timedelta(seconds=age_s), details={})


def an_alert(connection: Connection, *, at: datetime) -> int:
    return alert_store.open_alert(
        connection,
        kpi_id=None,
        metric_key=f"test-{uuid.uuid4().hex[:8]}",
        kind=AlertKind.SYSTEM,
        severity=Severity.WARNING,
        values=AlertValues(),
        now=at,
        next_escalation_at=None,
    )


@pytest.fixture
def running(database: Database) -> Database:
    """A database where the alert processor ran 10 s ago."""
    with database.engine.begin() as connection:
        beat(connection, age_s=10)
    return database


# kpi-execution


def test_kpis_that_succeed_on_time_are_healthy(running: Database) -> None:
    with running.engine.begin() as connection:
        for name in ("Deposits", "Withdrawals"):
            kpi_id = add_kpi(connection, name, succeeded_at=NOW - timedelta(minutes=4))
            add_execution(connection, kpi_id, ExecutionStatus.SUCCEEDED)
        add_kpi(connection, "Retired", succeeded_at=LONG_AGO, active=False)
    result = checks(running)
    assert {name: check["status"] for name, check in result.items()} == {
        "configuration": "Healthy",
        "database": "Healthy",
        "kpi-execution": "Healthy",
        "alert-processing": "Healthy",
    }
    assert result["kpi-execution"]["detail"] == {
        "active_kpis": 2,
        "stale_kpis": 0,
        "stale": [],
        "stuck_executions": 0,
        "finished_last_hour": 2,
        "failed_last_hour": 0,
        "failure_ratio_percent": 0.0,
    }


def test_a_kpi_without_a_success_for_two_periods_and_the_grace_is_stale(running: Database) -> None:
    with running.engine.begin() as connection:
        add_kpi(connection, "Deposits", succeeded_at=NOW - timedelta(minutes=4))
        add_kpi(connection, "Withdrawals", succeeded_at=NOW - timedelta(minutes=19))
        add_kpi(connection, "Refunds", succeeded_at=NOW - timedelta(minutes=21))
    check = checks(running)["kpi-execution"]
    assert check["status"] == "Degraded"
    assert (check["detail"]["stale"], check["detail"]["stale_kpis"]) == (["Refunds"], 1)
    assert check["detail"]["problems"] == ["1 of 3 active KPIs have not succeeded in time"]
    assert (
        checks(running, Worker__HealthChecks__StaleGraceMinutes="12")["kpi-execution"]["status"] == "Healthy"
    )


def test_more_than_half_of_the_kpis_stale_is_unhealthy(running: Database) -> None:
    with running.engine.begin() as connection:
        add_kpi(connection, "Deposits", succeeded_at=NOW - timedelta(minutes=4))
        add_kpi(connection, "Withdrawals", succeeded_at=NOW - timedelta(hours=2))
        add_kpi(connection, "Refunds", succeeded_at=None)
    check = checks(running)["kpi-execution"]
    assert check["status"] == "Unhealthy"
    assert check["detail"]["stale"] == ["Refunds", "Withdrawals"]  # the longest overdue first


def test_a_kpi_that_never_succeeded_counts_from_its_creation_or_last_change(running: Database) -> None:
    with running.engine.begin() as connection:
        add_kpi(connection, "New", succeeded_at=None, changed_at=NOW - timedelta(minutes=15))
        add_kpi(connection, "Reactivated", succeeded_at=LONG_AGO, changed_at=NOW - timedelta(minutes=5))
        add_kpi(connection, "Broken", succeeded_at=None, changed_at=NOW - timedelta(minutes=25))
    assert checks(running)["kpi-execution"]["detail"]["stale"] == ["Broken"]


def test_a_cron_kpi_is_not_stale_during_the_quiet_hours_of_its_schedule(running: Database) -> None:
    weekdays = Schedule(cron="0 0 8-18 * * 1-5", timezone="Europe/London")
    friday_evening = datetime(2026, 11, 27, 18, 0, 20, tzinfo=NOW.tzinfo)
    with running.engine.begin() as connection:
        add_kpi(connection, "Business hours", succeeded_at=friday_evening, schedule=weekdays)
    assert checks(running)["kpi-execution"]["status"] == "Healthy"  # Saturday noon
    monday = datetime(2026, 11, 30, 9, 10, 1, tzinfo=NOW.tzinfo)  # 08:00 and 09:00 missed, grace over
    with running.engine.begin() as connection:
        beat(connection, age_s=10, now=monday)
    check = checks(running, now=monday)["kpi-execution"]
    assert (check["status"], check["detail"]["stale"]) == ("Unhealthy", ["Business hours"])


def test_an_execution_running_past_its_lease_is_stuck(running: Database) -> None:
    with running.engine.begin() as connection:
        kpi_id = add_kpi(connection, "Deposits", succeeded_at=NOW - timedelta(minutes=1))
        add_execution(connection, kpi_id, ExecutionStatus.RUNNING, lease_until=NOW + timedelta(minutes=1))
    assert checks(running)["kpi-execution"]["status"] == "Healthy"
    with running.engine.begin() as connection:
        add_execution(connection, kpi_id, ExecutionStatus.RUNNING, lease_until=NOW - timedelta(seconds=1))
    check = checks(running)["kpi-execution"]
    assert check["status"] == "Degraded"
    assert check["detail"]["stuck_executions"] == 1
    assert check["detail"]["problems"] == ["1 execution running past the lease"]


@pytest.mark.parametrize(
    ("failed", "timed_out", "status", "ratio"),
    [(0, 0, "Healthy", 0.0), (1, 0, "Healthy", 10.0), (1, 1, "Degraded", 20.0), (3, 2, "Unhealthy", 50.0)],
)
def test_the_failure_ratio_of_the_last_hour_degrades_then_fails_kpi_execution(
    running: Database, failed: int, timed_out: int, status: str, ratio: float
) -> None:
    with running.engine.begin() as connection:
        kpi_id = add_kpi(connection, "Deposits", succeeded_at=NOW - timedelta(minutes=1))
        outcomes = [ExecutionStatus.FAILED] * failed + [ExecutionStatus.TIMED_OUT] * timed_out
        outcomes += [ExecutionStatus.SUCCEEDED] * (10 - len(outcomes))
        for outcome in outcomes:
            add_execution(connection, kpi_id, outcome, at=NOW - timedelta(minutes=59))
        for _ in range(20):  # failures before the last hour do not count
            add_execution(connection, kpi_id, ExecutionStatus.FAILED, at=NOW - timedelta(minutes=61))
    check = checks(running)["kpi-execution"]
    assert (check["status"], check["detail"]["failure_ratio_percent"]) == (status, ratio)
    assert (check["detail"]["finished_last_hour"], check["detail"]["failed_last_hour"]) == (
        10,
        failed + timed_out,
    )


# alert-processing


@pytest.mark.parametrize(
    ("age_s", "status", "problem"),
    [
        (10, "Healthy", None),
        (100, "Degraded", "the alert processor last ran 100 s ago"),  # three 30 s runs missed
        (300, "Unhealthy", "the alert processor last ran 300 s ago"),
        (None, "Degraded", "the alert processor has not run yet"),
    ],
)
def test_the_alert_processor_heartbeat_ages_from_healthy_to_unhealthy(
    database: Database, age_s: int | None, status: str, problem: str | None
) -> None:
    if age_s is not None:
        with database.engine.begin() as connection:
            beat(connection, age_s=age_s)
    check = checks(database)["alert-processing"]
    assert check["status"] == status
    assert check["detail"]["heartbeat_age_s"] == age_s
    assert check["detail"].get("problems") == ([problem] if problem else None)


def test_a_slow_processor_schedule_waits_three_of_its_runs(database: Database) -> None:
    with database.engine.begin() as connection:
        beat(connection, age_s=1700)
    slow = {
        "Worker__AlertProcessing__IntervalSeconds": "600",
        "AlertProcessorSchedule": "0 */10 * * * *",
    }
    assert checks(database, **slow)["alert-processing"]["status"] == "Healthy"  # Degraded at 1800 s
    lenient = checks(database, Worker__HealthChecks__HeartbeatUnhealthySeconds="1800")["alert-processing"]
    assert lenient["status"] == "Degraded"  # three 30 s runs missed, not yet Unhealthy


def test_a_processor_pass_with_errors_degrades(database: Database) -> None:
    with database.engine.begin() as connection:
        beat(connection, age_s=10, status="error")
    check = checks(database)["alert-processing"]
    assert (check["status"], check["detail"]["problems"]) == (
        "Degraded",
        ["the alert processor's last pass had errors"],
    )


def test_an_alert_event_waiting_too_long_for_dispatch_degrades(running: Database) -> None:
    with running.engine.begin() as connection:
        alert_id = an_alert(connection, at=NOW - timedelta(hours=2))
        for minutes in (120, 60):  # dispatched long ago: they do not count
            event = alert_store.record_event(
                connection,
                alert_id=alert_id,
                event_type=AlertEventType.OPENED,
                actor="test",
                now=NOW - timedelta(minutes=minutes),
                details={},
                dispatch=True,
            )
            assert event is not None
            mark_dispatched(connection, event.event_id, now=NOW - timedelta(minutes=minutes - 1))
        for seconds in (299, 30):
            alert_store.record_event(
                connection,
                alert_id=alert_id,
                event_type=AlertEventType.RETRIGGERED,
                actor="test",
                now=NOW - timedelta(seconds=seconds),
                details={},
                dispatch=True,
            )
    check = checks(running)["alert-processing"]
    assert check["status"] == "Healthy"
    assert (check["detail"]["undispatched_events"], check["detail"]["oldest_undispatched_age_s"]) == (2, 299)
    check = checks(running, now=NOW + timedelta(seconds=1))["alert-processing"]
    assert (check["status"], check["detail"]["problems"]) == (
        "Degraded",
        ["an alert event has waited 300 s to be dispatched"],
    )


def test_a_delivery_that_failed_in_the_last_day_degrades(running: Database) -> None:
    with running.engine.begin() as connection:
        alert_id = an_alert(connection, at=NOW - timedelta(days=2))
        alert_store.record_event(
            connection,
            alert_id=alert_id,
            event_type=AlertEventType.DELIVERY_FAILED,
            actor="system",
            now=NOW - timedelta(hours=25),
            details={"error": "refused"},
        )
    assert checks(running)["alert-processing"]["status"] == "Healthy"
    with running.engine.begin() as connection:
        alert_store.record_event(
            connection,
            alert_id=alert_id,
            event_type=AlertEventType.DELIVERY_FAILED,
            actor="system",
            now=NOW - timedelta(hours=23),
            details={"error": "refused"},
        )
    check = checks(running)["alert-processing"]
    assert (check["status"], check["detail"]["failed_deliveries_24h"]) == ("Degraded", 1)
    assert check["detail"]["problems"] == ["1 delivery failed in the last 24 h"]


def test_checks_can_be_switched_off(database: Database) -> None:
    switched_off = {
        f"Worker__HealthChecks__Check{name}": "false"
        for name in ("Database", "KpiExecution", "AlertProcessing")
    }
    assert list(checks(database, **switched_off)) == ["configuration"]


# unreachable and silent databases


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_database_makes_every_database_check_unhealthy_at_once() -> None:
    engine = create_monitoring_engine(f"postgresql://monitor:pa55@127.0.0.1:{closed_port()}/monitoring")
    started = time.monotonic()
    report = check_health(Settings.load, lambda: engine, now=lambda: NOW)
    elapsed = time.monotonic() - started
    engine.dispose()
    assert report.to_dict()["status"] == "Unhealthy"
    assert {check.name: dict(check.detail) for check in report.checks} == {
        "configuration": {},
        "database": {"error": "OperationalError"},
        "kpi-execution": {"error": "OperationalError"},
        "alert-processing": {"error": "OperationalError"},
    }
    assert elapsed < 5


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


def test_a_database_that_never_answers_is_unhealthy_after_the_timeout(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Worker__HealthChecks__TimeoutSeconds", "1")
    engine = create_monitoring_engine(f"postgresql://monitor@127.0.0.1:{silent_server}/monitoring")
    started = time.monotonic()
    report = check_health(Settings.load, lambda: engine, now=lambda: NOW)
    elapsed = time.monotonic() - started
    engine.dispose()
    assert {check.name: dict(check.detail) for check in report.checks} == {
        "configuration": {},
        "database": {"error": "timed out after 1 s"},
        "kpi-execution": {"error": "timed out after 1 s"},
        "alert-processing": {"error": "timed out after 1 s"},
    }
    assert elapsed < 10  # bounded by the 1 s timeout: the server never answers at all


# SQL Server


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_health_statement_compiles_for_sql_server(database: Database) -> None:
    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement):
            captured.append(clause)

    with database.engine.begin() as connection:
        add_kpi(connection, "Deposits", succeeded_at=None)
        beat(connection, age_s=1000)
    settings = Settings.load()
    monitor = HealthMonitor(database.engine, lambda: settings, clock=lambda: NOW)
    assert monitor.run().transition == "opened"
    with database.engine.begin() as connection:
        beat(connection, age_s=10)
        connection.execute(update(kpis).values(last_success_at=NOW))
    assert monitor.run().transition == "resolved"
    assert len(captured) > 10
    for clause in captured:
        clause.compile(dialect=mssql.dialect())


def test_the_database_checks_share_one_engine_per_run(tmp_path: Path) -> None:
    engines: list[Engine] = []

    def engine_for() -> Engine:
        engines.append(create_monitoring_engine(f"sqlite:///{tmp_path}/unmigrated.db"))
        return engines[-1]

    report = check_health(Settings.load, engine_for)
    for engine in engines:
        engine.dispose()
    statuses = {check.name: check.status for check in report.checks}
    assert statuses == {
        "configuration": HealthStatus.HEALTHY,
        "database": HealthStatus.UNHEALTHY,  # not migrated
        "kpi-execution": HealthStatus.UNHEALTHY,  # no tables to read
        "alert-processing": HealthStatus.UNHEALTHY,
    }
    assert len(engines) == 1

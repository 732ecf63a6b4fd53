"""Health: the overall verdict is the worst check; checks run concurrently, each bounded by the timeout."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from shared.domain.health import (
    CheckResult,
    ExecutionFacts,
    HealthReport,
    HealthStatus,
    KpiClock,
    ProcessingFacts,
    alert_processing_verdict,
    kpi_execution_verdict,
    queues_verdict,
    stale_after,
    worst,
)
from shared.domain.kpi import Schedule
from shared.services.health import (
    Outcome,
    check_health,
    configuration_check,
    run_checks,
)
from shared.services.health_monitor import describe
from shared.services.health_probes import installed_odbc_drivers
from shared.settings import Settings

HEALTHY, DEGRADED, UNHEALTHY = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], HEALTHY),
        ([HEALTHY, HEALTHY], HEALTHY),
        ([HEALTHY, DEGRADED], DEGRADED),
        ([DEGRADED, UNHEALTHY, HEALTHY], UNHEALTHY),
    ],
)
def test_the_overall_status_is_the_worst_check(statuses: list[HealthStatus], expected: HealthStatus) -> None:
    assert worst(statuses) is expected


def test_the_report_serialises_to_the_health_endpoint_shape() -> None:
    report = HealthReport(
        checks=(
            CheckResult(name="database", status=DEGRADED, duration_ms=12.345, detail={"revision": "0000"}),
        )
    )
    assert report.to_dict() == {
        "status": "Degraded",
        "checks": {"database": {"status": "Degraded", "duration_ms": 12.3, "detail": {"revision": "0000"}}},
    }


def test_a_check_that_hangs_is_unhealthy_after_the_timeout_and_blocks_nothing() -> None:
    release = threading.Event()

    def hangs() -> Outcome:
        release.wait(30)
        return HEALTHY, {}

    started = time.monotonic()
    report = run_checks({"hangs": hangs, "quick": lambda: (HEALTHY, {"ok": True})}, timeout_s=0.3)
    elapsed = time.monotonic() - started
    release.set()
    checks = {check.name: check for check in report.checks}
    assert checks["hangs"].status is UNHEALTHY
    assert checks["hangs"].detail == {"error": "timed out after 0.3 s"}
    assert checks["quick"].status is HEALTHY
    assert report.status is UNHEALTHY
    assert elapsed < 5  # bounded by the timeout, not by the hanging check's 30 s


def test_checks_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meets_the_others() -> Outcome:
        barrier.wait()  # only passes if all three checks run at the same time
        return HEALTHY, {}

    report = run_checks({f"check{i}": meets_the_others for i in range(3)}, timeout_s=10)
    assert [check.status for check in report.checks] == [HEALTHY] * 3


def test_a_check_that_raises_is_unhealthy_with_only_the_error_type() -> None:
    def fails() -> Outcome:
        raise ConnectionError("password=hunter2 host=db.internal")

    (check,) = run_checks({"fails": fails}, timeout_s=1).checks
    assert check.status is UNHEALTHY
    assert check.detail == {"error": "ConnectionError"}


# The rules of each check (shared.domain.health), as tables.

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
GRACE = timedelta(minutes=10)


@pytest.mark.parametrize(
    ("schedule", "since", "stale_at"),
    [
        # every 5 minutes: two periods and the grace after the last success
        (Schedule(frequency_minutes=5), NOW, NOW + timedelta(minutes=20)),
        (Schedule(frequency_minutes=60), NOW, NOW + timedelta(minutes=130)),
        # cron: the second firing after the last success, plus the grace
        (Schedule(cron="0 */15 * * * *"), NOW + timedelta(minutes=1), NOW + timedelta(minutes=40)),
        # business hours in London (UTC+0 in November): Friday evening's success lasts the weekend
        (
            Schedule(cron="0 0 8-18 * * 1-5", timezone="Europe/London"),
            datetime(2026, 11, 27, 18, 0, 30, tzinfo=UTC),
            datetime(2026, 11, 30, 9, 10, tzinfo=UTC),
        ),
        # the same in New York (UTC-5): firings are on that wall clock
        (
            Schedule(cron="0 0 8-18 * * 1-5", timezone="America/New_York"),
            datetime(2026, 11, 27, 23, 0, 30, tzinfo=UTC),
            datetime(2026, 11, 30, 14, 10, tzinfo=UTC),
        ),
        # a schedule this host cannot evaluate never runs, so it is stale at once
        (Schedule(cron="0 0 8 * * *", timezone="Mars/Olympus_Mons"), NOW, NOW),
    ],
)
def test_a_kpi_is_stale_once_two_slots_and_the_grace_passed_without_a_success(
    schedule: Schedule, since: datetime, stale_at: datetime
) -> None:
    assert stale_after(KpiClock(indicator="k", schedule=schedule, since=since), grace=GRACE) == stale_at


def executions(
    *, active: int = 4, stale: int = 0, stuck: int = 0, finished: int = 10, failed: int = 0
) -> ExecutionFacts:
    names = tuple(f"kpi{i}" for i in range(stale))
    return ExecutionFacts(active=active, stale=names, stuck=stuck, finished=finished, failed=failed)


@pytest.mark.parametrize(
    ("facts", "status", "problems"),
    [
        (executions(), HEALTHY, None),
        (executions(finished=0), HEALTHY, None),
        (executions(active=0, finished=0), DEGRADED, ["no active KPI: nothing is being monitored"]),
        (executions(stale=1), DEGRADED, ["1 of 4 active KPIs have not succeeded in time"]),
        (executions(stale=2), DEGRADED, ["2 of 4 active KPIs have not succeeded in time"]),
        (executions(stale=3), UNHEALTHY, ["3 of 4 active KPIs have not succeeded in time"]),
        (executions(active=1, stale=1), UNHEALTHY, ["1 of 1 active KPIs have not succeeded in time"]),
        (executions(stuck=2), DEGRADED, ["2 executions running past the lease"]),
        (executions(failed=1), HEALTHY, None),
        (
            executions(failed=2),
            DEGRADED,
            ["20% of the executions of the last hour failed (2 of 10)"],
        ),
        (
            executions(finished=5, failed=2),
            DEGRADED,
            ["40% of the executions of the last hour failed (2 of 5)"],
        ),
        # below the minimum sample of 5 the ratio is reported but decides nothing
        (executions(finished=2, failed=1), HEALTHY, None),
        (executions(finished=4, failed=4), HEALTHY, None),
        (
            executions(finished=5, failed=5),
            UNHEALTHY,
            ["100% of the executions of the last hour failed (5 of 5)"],
        ),
        (
            executions(failed=5),
            UNHEALTHY,
            ["50% of the executions of the last hour failed (5 of 10)"],
        ),
        (
            executions(stale=1, stuck=1, failed=6),
            UNHEALTHY,
            [
                "60% of the executions of the last hour failed (6 of 10)",
                "1 of 4 active KPIs have not succeeded in time",
                "1 execution running past the lease",
            ],
        ),
    ],
)
def test_kpi_execution_is_judged_by_stale_kpis_stuck_executions_and_the_failure_ratio(
    facts: ExecutionFacts, status: HealthStatus, problems: list[str] | None
) -> None:
    verdict, detail = kpi_execution_verdict(
        facts, degraded_percent=20, unhealthy_percent=50, minimum_executions=5
    )
    assert (verdict, detail.get("problems")) == (status, problems)
    assert detail["stale_kpis"] == len(facts.stale)
    assert detail["stale"] == list(facts.stale)
    assert detail["failure_ratio_percent"] == (
        round(100 * facts.failed / facts.finished, 1) if facts.finished else None
    )


def test_only_the_first_stale_kpis_are_named_but_all_are_counted() -> None:
    _, detail = kpi_execution_verdict(
        executions(active=100, stale=30), degraded_percent=20, unhealthy_percent=50, minimum_executions=5
    )
    assert detail["stale_kpis"] == 30
    assert len(detail["stale"]) == 20


def processing(
    *,
    heartbeat_s: int | None = 10,
    ok: bool = True,
    waiting: int = 0,
    oldest_s: int | None = None,
    failed: int = 0,
) -> ProcessingFacts:
    return ProcessingFacts(
        heartbeat_age=None if heartbeat_s is None else timedelta(seconds=heartbeat_s),
        last_pass_ok=ok,
        undispatched=waiting,
        oldest_undispatched_age=None if oldest_s is None else timedelta(seconds=oldest_s),
        failed_deliveries=failed,
    )


@pytest.mark.parametrize(
    ("facts", "status", "problems"),
    [
        (processing(), HEALTHY, None),
        (processing(heartbeat_s=89), HEALTHY, None),
        (processing(heartbeat_s=90), DEGRADED, ["the alert processor last ran 90 s ago"]),
        (processing(heartbeat_s=299), DEGRADED, ["the alert processor last ran 299 s ago"]),
        (processing(heartbeat_s=300), UNHEALTHY, ["the alert processor last ran 300 s ago"]),
        (processing(heartbeat_s=None), DEGRADED, ["the alert processor has not run yet"]),
        (processing(ok=False), DEGRADED, ["the alert processor's last pass had errors"]),
        (processing(waiting=3, oldest_s=299), HEALTHY, None),
        (
            processing(waiting=3, oldest_s=300),
            DEGRADED,
            ["an alert event has waited 300 s to be dispatched"],
        ),
        (processing(failed=2), DEGRADED, ["2 deliveries failed in the last 24 h"]),
        (
            processing(heartbeat_s=900, waiting=1, oldest_s=600, failed=1),
            UNHEALTHY,
            [
                "the alert processor last ran 900 s ago",
                "an alert event has waited 600 s to be dispatched",
                "1 delivery failed in the last 24 h",
            ],
        ),
    ],
)
def test_alert_processing_is_judged_by_the_heartbeat_the_outbox_and_failed_deliveries(
    facts: ProcessingFacts, status: HealthStatus, problems: list[str] | None
) -> None:
    verdict, detail = alert_processing_verdict(
        facts,
        heartbeat_degraded=timedelta(seconds=90),
        heartbeat_unhealthy=timedelta(seconds=300),
        outbox_degraded=timedelta(seconds=300),
    )
    assert (verdict, detail.get("problems")) == (status, problems)
    assert detail["undispatched_events"] == facts.undispatched
    assert detail["failed_deliveries_24h"] == facts.failed_deliveries


@pytest.mark.parametrize(
    ("depth", "poison", "status", "problems"),
    [
        ({"kpi-executions": 0, "alert-events": 999}, {"kpi-executions-poison": 0}, HEALTHY, None),
        (
            {"kpi-executions": 1000, "alert-events": 0},
            {"kpi-executions-poison": 0},
            DEGRADED,
            ["kpi-executions holds 1000 messages"],
        ),
        (
            {"kpi-executions": 0, "alert-events": 0},
            {"kpi-executions-poison": 0, "alert-events-poison": 1},
            DEGRADED,
            ["alert-events-poison holds 1 message"],
        ),
    ],
)
def test_queues_are_degraded_by_depth_or_by_any_poison_message(
    depth: dict[str, int], poison: dict[str, int], status: HealthStatus, problems: list[str] | None
) -> None:
    verdict, detail = queues_verdict(depth, poison, depth_degraded=1000)
    assert (verdict, detail.get("problems")) == (status, problems)
    assert (detail["depth"], detail["poison"]) == (depth, poison)


# The configuration check and the choice of checks (shared.services.health).

DRIVER_18 = "ODBC Driver 18 for SQL Server"
DRIVER_17 = "ODBC Driver 17 for SQL Server"
AZURE_SQL = "mssql+pyodbc://@server.database.windows.net/monitoring"


@pytest.mark.parametrize(
    ("monitoring", "sources", "installed", "status", "missing"),
    [
        ("sqlite:///m.db", {"main": "postgresql://db/main"}, [], HEALTHY, None),
        (AZURE_SQL, {}, [DRIVER_18], HEALTHY, None),
        (AZURE_SQL, {}, ["SQLite3", DRIVER_17], HEALTHY, None),
        (
            AZURE_SQL,
            {},
            [],
            UNHEALTHY,
            {"ConnectionStrings__Monitoring": f"{DRIVER_18} or {DRIVER_17}"},
        ),
        (
            f"{AZURE_SQL}?driver=ODBC+Driver+18+for+SQL+Server",
            {},
            [DRIVER_17],
            UNHEALTHY,
            {"ConnectionStrings__Monitoring": DRIVER_18},
        ),
        (
            "sqlite:///m.db",
            {"erp": "mssql+pyodbc://user:secret@erp/sales?driver=FreeTDS", "main": "sqlite:///s.db"},
            [DRIVER_18],
            DEGRADED,
            {"ConnectionStrings__Sources__erp": "FreeTDS"},
        ),
        (
            "sqlite:///m.db",
            {"erp": "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BFreeTDS%7D%3BSERVER%3Derp"},
            ["FreeTDS"],
            HEALTHY,
            None,
        ),
    ],
)
def test_sql_server_databases_need_their_odbc_driver(
    monkeypatch: pytest.MonkeyPatch,
    monitoring: str,
    sources: dict[str, str],
    installed: list[str],
    status: HealthStatus,
    missing: dict[str, str] | None,
) -> None:
    # No SQL Server ODBC driver can be installed here: the installed list is given to the check.
    monkeypatch.setenv("ConnectionStrings__Monitoring", monitoring)
    for name, url in sources.items():
        monkeypatch.setenv(f"ConnectionStrings__Sources__{name}", url)
    verdict, detail = configuration_check(Settings.load(), odbc_drivers=lambda: installed)
    assert (verdict, detail.get("missing_odbc_drivers")) == (status, missing)
    assert "secret" not in json.dumps(detail)


def test_without_pyodbc_drivers_a_sql_server_database_is_reported_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", AZURE_SQL)
    assert DRIVER_18 not in installed_odbc_drivers()  # no SQL Server driver on this host
    verdict, detail = configuration_check(Settings.load())
    assert verdict is UNHEALTHY
    assert detail["problems"] == [
        f"ConnectionStrings__Monitoring needs the ODBC driver {DRIVER_18} or {DRIVER_17}"
    ]


def test_queues_are_checked_only_with_a_source_of_queue_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    for check in ("Database", "KpiExecution", "AlertProcessing"):
        monkeypatch.setenv(f"Worker__HealthChecks__Check{check}", "false")

    def no_engine() -> Engine:
        raise AssertionError("no check may need the database")

    without = check_health(Settings.load, no_engine)
    assert [check.name for check in without.checks] == ["configuration"]
    counts = {"kpi-executions": 1, "alert-events-poison": 2}
    report = check_health(Settings.load, no_engine, queue_counts=lambda: counts)
    assert report.to_dict()["checks"]["queues"]["detail"] == {
        "depth": {"kpi-executions": 1, "alert-events": 0},
        "poison": {"kpi-executions-poison": 0, "alert-events-poison": 2},
        "problems": ["alert-events-poison holds 2 messages"],
    }
    monkeypatch.setenv("Worker__HealthChecks__CheckQueues", "false")
    switched_off = check_health(Settings.load, no_engine, queue_counts=lambda: counts)
    assert [check.name for check in switched_off.checks] == ["configuration"]


def test_a_failing_engine_factory_fails_each_database_check_with_its_error_type() -> None:
    def engine_for() -> Engine:
        raise ConnectionError("password=hunter2")

    report = check_health(Settings.load, engine_for).to_dict()
    assert {name: check["detail"] for name, check in report["checks"].items()} == {
        "configuration": {},
        "database": {"error": "ConnectionError"},
        "kpi-execution": {"error": "ConnectionError"},
        "alert-processing": {"error": "ConnectionError"},
    }


def test_the_system_alert_body_has_one_line_per_check_that_is_not_healthy() -> None:
    checks = (
        CheckResult(name="configuration", status=HEALTHY, duration_ms=1, detail={}),
        CheckResult(name="database", status=UNHEALTHY, duration_ms=1, detail={"error": "OperationalError"}),
        CheckResult(
            name="queues",
            status=DEGRADED,
            duration_ms=1,
            detail={"depth": {}, "problems": ["a holds 2 messages", "b holds 1 message"]},
        ),
    )
    assert describe(checks).splitlines() == [
        "database: Unhealthy: error OperationalError",
        "queues: Degraded: a holds 2 messages; b holds 1 message",
    ]


def test_the_configuration_detail_lists_the_usable_drivers_it_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", AZURE_SQL)
    monkeypatch.setenv("ConnectionStrings__Sources__erp", "mssql+pyodbc://erp/sales?driver=FreeTDS")
    installed = ["SQLite3", "FreeTDS", DRIVER_17]
    assert configuration_check(Settings.load(), odbc_drivers=lambda: installed) == (
        HEALTHY,
        {"odbc_drivers": ["FreeTDS", DRIVER_17]},
    )

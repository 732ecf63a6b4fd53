"""Health checks of the service, run concurrently, each bounded by the health-check timeout.

A check returns its status and a detail safe to publish: never secrets, connection strings or SQL (errors
are reported by type; their full text goes to the log). A check that raises or outlives
`Worker__HealthChecks__TimeoutSeconds` is Unhealthy. The checks, in report order:
- `configuration` (always): the settings are valid, and each SQL Server database has its ODBC driver (the
  URL's `driver` query parameter, or `DRIVER=` in `odbc_connect`, else "ODBC Driver 18 for SQL Server" or
  17): missing for the monitoring database is Unhealthy, for a source Degraded (only its KPIs fail).
- `database`: connect, `SELECT 1`, schema revision: not migrated is Unhealthy, behind the code Degraded.
- `kpi-execution`, `alert-processing`, `queues`: the rules of `shared.domain.health` on facts read through
  `shared.db.health` and the host storage. The processor's heartbeat may be `3 x` its interval old before
  it is Degraded; Unhealthy takes `HeartbeatUnhealthySeconds`, or those three runs when they are longer.
- `queues` only with host storage configured (`AzureWebJobsStorage`, or its `__queueServiceUri` with the
  managed identity): approximate counts of `kpi-executions`, `alert-events` and their `-poison` queues.
"""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.db import health as store
from shared.db import migrate
from shared.db.metrics import deliveries_by_channel
from shared.domain.clock import Clock, utc_now
from shared.domain.health import (
    CheckResult,
    ExecutionFacts,
    HealthReport,
    HealthStatus,
    ProcessingFacts,
    alert_processing_verdict,
    kpi_execution_verdict,
    queues_verdict,
    stale_after,
)
from shared.domain.notification import DeliveryStatus
from shared.errors import SettingsError
from shared.notify import channel_usability
from shared.services.alerts.processor import COMPONENT as PROCESSOR
from shared.services.health_probes import (
    POISON_QUEUES,
    WORK_QUEUES,
    QueueCounts,
    installed_odbc_drivers,
    storage_queue_counter,
)
from shared.settings import Settings

log = logging.getLogger("mgrid.health")

Outcome = tuple[HealthStatus, dict[str, Any]]
Check = Callable[[], Outcome]

FAILURE_WINDOW = timedelta(hours=1)
DELIVERY_WINDOW = timedelta(hours=24)
MISSED_PROCESSOR_RUNS = 3
SQL_SERVER_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server")
MONITORING_SETTING = "ConnectionStrings__Monitoring"
_ODBC_CONNECT_DRIVER = re.compile(r"(?i)(?:^|;)\s*driver\s*=\s*\{?([^};]+)\}?")

# Shared by all health runs of the process: a check that hangs past its timeout keeps its thread, it does
# not block the response.
_EXECUTOR = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health")


def check_health(
    load_settings: Callable[[], Settings],
    engine_for: Callable[[], Engine],
    *,
    default_timeout_s: float = 30,
    now: Clock = utc_now,
    queue_counts: QueueCounts | None = None,
) -> HealthReport:
    """Run every enabled check; a configuration error is itself reported, never raised. `queue_counts`
    replaces the host storage as the source of queue depths (and lists `queues` even without storage)."""
    try:
        settings = load_settings()
    except SettingsError as error:
        outcome = (HealthStatus.UNHEALTHY, {"problems": list(error.problems)})
        return run_checks({"configuration": lambda: outcome}, timeout_s=default_timeout_s)
    checks = enabled_checks(settings, _once(engine_for), now=now, queue_counts=queue_counts)
    return run_checks(checks, timeout_s=settings.worker.health_checks.timeout_seconds)


def enabled_checks(
    settings: Settings, engine_for: Callable[[], Engine], *, now: Clock, queue_counts: QueueCounts | None
) -> dict[str, Check]:
    """The checks the settings switch on, by name, in report order."""
    options = settings.worker.health_checks
    checks: dict[str, Check] = {"configuration": lambda: configuration_check(settings)}
    if options.check_database:
        checks["database"] = lambda: database_check(engine_for())
    if options.check_kpi_execution:
        checks["kpi-execution"] = lambda: kpi_execution_check(engine_for(), settings, now=now())
    if options.check_alert_processing:
        checks["alert-processing"] = lambda: alert_processing_check(engine_for(), settings, now=now())
    counts = queue_counts or storage_queue_counter(settings)
    if options.check_queues and counts is not None:
        checks["queues"] = _queues(counts, settings)
    return checks


def run_checks(checks: Mapping[str, Check], *, timeout_s: float) -> HealthReport:
    """Run `checks` concurrently; one that raises or outlives `timeout_s` is Unhealthy."""
    started = time.monotonic()
    # Each check runs in the caller's context, so its log records keep the invocation's ids.
    futures = {
        name: _EXECUTOR.submit(contextvars.copy_context().run, _timed, check)
        for name, check in checks.items()
    }
    results = []
    for name, future in futures.items():
        remaining_s = max(0.0, timeout_s - (time.monotonic() - started))
        results.append(_result(name, future, remaining_s, timeout_s))
    return HealthReport(checks=tuple(results))


def _timed(check: Check) -> tuple[Outcome, float]:
    started = time.perf_counter()
    outcome = check()
    return outcome, (time.perf_counter() - started) * 1000


def _result(name: str, future: Future[tuple[Outcome, float]], wait_s: float, timeout_s: float) -> CheckResult:
    try:
        (status, detail), duration_ms = future.result(timeout=wait_s)
    except FutureTimeout:
        log.warning("health check %s timed out after %s s", name, timeout_s)
        return CheckResult(
            name=name,
            status=HealthStatus.UNHEALTHY,
            duration_ms=timeout_s * 1000,
            detail={"error": f"timed out after {timeout_s:g} s"},
        )
    except Exception as error:
        log.warning("health check %s failed", name, exc_info=True)
        return CheckResult(
            name=name, status=HealthStatus.UNHEALTHY, duration_ms=0.0, detail={"error": type(error).__name__}
        )
    return CheckResult(name=name, status=status, duration_ms=duration_ms, detail=detail)


def _once(factory: Callable[[], Engine]) -> Callable[[], Engine]:
    """`factory`, called at most once successfully however many checks ask for its engine at once."""
    lock = threading.Lock()
    built: list[Engine] = []

    def get() -> Engine:
        with lock:
            if not built:
                built.append(factory())
            return built[0]

    return get


def configuration_check(
    settings: Settings, *, odbc_drivers: Callable[[], list[str]] | None = None
) -> Outcome:
    """The settings loaded (else `check_health` reports their problems); SQL Server databases have their ODBC
    driver. `odbc_drivers` lists the installed drivers (default: pyodbc's list). An optional secret whose Key
    Vault reference did not resolve (treated as unset, its channel not configured) makes it Degraded."""
    status, detail = _odbc_check(settings, odbc_drivers)
    if not settings.unresolved_references:
        return status, detail
    problems = [
        f"{name} is an unresolved Key Vault reference (treated as unset)"
        for name in settings.unresolved_references
    ]
    worst = HealthStatus.UNHEALTHY if status is HealthStatus.UNHEALTHY else HealthStatus.DEGRADED
    return worst, {**detail, "problems": [*detail.get("problems", []), *problems]}


def _odbc_check(settings: Settings, odbc_drivers: Callable[[], list[str]] | None) -> Outcome:
    wanted = odbc_needs(settings)
    if not wanted:
        return HealthStatus.HEALTHY, {}
    installed = (odbc_drivers or installed_odbc_drivers)()
    missing = {
        name: " or ".join(drivers) for name, drivers in wanted.items() if not set(drivers) & set(installed)
    }
    usable = set(installed) & {driver for drivers in wanted.values() for driver in drivers}
    detail: dict[str, Any] = {"odbc_drivers": sorted(usable)}
    if not missing:
        return HealthStatus.HEALTHY, detail
    status = HealthStatus.UNHEALTHY if MONITORING_SETTING in missing else HealthStatus.DEGRADED
    problems = [f"{name} needs the ODBC driver {driver}" for name, driver in missing.items()]
    return status, {**detail, "missing_odbc_drivers": missing, "problems": problems}


def odbc_needs(settings: Settings) -> dict[str, tuple[str, ...]]:
    """For each setting naming a SQL Server database, the ODBC drivers of which one must be installed."""
    urls = {MONITORING_SETTING: settings.connection_strings.monitoring}
    urls |= {f"ConnectionStrings__Sources__{n}": u for n, u in settings.connection_strings.sources.items()}
    needs = {name: _odbc_drivers_for(url) for name, url in urls.items()}
    return {name: drivers for name, drivers in needs.items() if drivers}


def _odbc_drivers_for(url: str) -> tuple[str, ...]:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return ()  # not a URL at all: the check that uses it reports that
    if parsed.get_backend_name() != "mssql":
        return ()
    driver = parsed.query.get("driver")
    if not driver:
        found = _ODBC_CONNECT_DRIVER.search(str(parsed.query.get("odbc_connect", "")))
        driver = found.group(1) if found else None
    if isinstance(driver, tuple):
        driver = driver[-1]
    return (driver.strip(),) if driver else SQL_SERVER_DRIVERS


def database_check(engine: Engine) -> Outcome:
    """Connect, run `SELECT 1` and compare the schema revision with the code's."""
    with engine.connect() as connection:
        store.ping(connection)
        revision = migrate.current_revision(connection)
    expected = migrate.head()
    detail: dict[str, Any] = {
        "backend": engine.dialect.name,
        "revision": revision,
        "expected_revision": expected,
    }
    if revision is None:
        return HealthStatus.UNHEALTHY, {**detail, "error": "schema not migrated: run `mgrid db upgrade`"}
    if revision != expected:
        return HealthStatus.DEGRADED, {**detail, "error": "schema revision differs: run `mgrid db upgrade`"}
    return HealthStatus.HEALTHY, detail


def kpi_execution_check(engine: Engine, settings: Settings, *, now: datetime) -> Outcome:
    """Stale active KPIs, executions past their lease, and the failure ratio of the last hour."""
    options = settings.worker.health_checks
    with engine.connect() as connection:
        clocks = store.active_kpi_clocks(connection)
        stuck = store.stuck_executions(connection, now=now)
        finished, failed = store.finished_since(connection, since=now - FAILURE_WINDOW)
    grace = timedelta(minutes=options.stale_grace_minutes)
    deadlines = sorted((stale_after(kpi, grace=grace), kpi.indicator) for kpi in clocks)
    stale = tuple(indicator for deadline, indicator in deadlines if now > deadline)
    facts = ExecutionFacts(active=len(clocks), stale=stale, stuck=stuck, finished=finished, failed=failed)
    return kpi_execution_verdict(
        facts,
        degraded_percent=options.failure_ratio_degraded_percent,
        unhealthy_percent=options.failure_ratio_unhealthy_percent,
        minimum_executions=options.minimum_executions,
    )


def alert_processing_check(engine: Engine, settings: Settings, *, now: datetime) -> Outcome:
    """The alert processor's heartbeat, the oldest undispatched alert event, and failed deliveries; the
    detail also names each channel's usability and counts skipped and dropped deliveries, which are not
    failures and never degrade the check."""
    options = settings.worker.health_checks
    with engine.connect() as connection:
        beat = store.heartbeat_of(connection, PROCESSOR)
        waiting, oldest = store.outbox_backlog(connection)
        failed = store.failed_deliveries_since(connection, since=now - DELIVERY_WINDOW)
        unsent = {
            f"{status.value}_deliveries_24h": sum(
                deliveries_by_channel(connection, status=status, created_since=now - DELIVERY_WINDOW).values()
            )
            for status in (DeliveryStatus.SKIPPED, DeliveryStatus.DROPPED)
        }
    missed_runs = MISSED_PROCESSOR_RUNS * timedelta(seconds=settings.worker.alert_processing.interval_seconds)
    facts = ProcessingFacts(
        heartbeat_age=None if beat is None else now - beat.at,
        last_pass_ok=beat is None or beat.status == "ok",
        undispatched=waiting,
        oldest_undispatched_age=None if oldest is None else now - oldest,
        failed_deliveries=failed,
    )
    status, detail = alert_processing_verdict(
        facts,
        heartbeat_degraded=missed_runs,
        heartbeat_unhealthy=max(timedelta(seconds=options.heartbeat_unhealthy_seconds), missed_runs),
        outbox_degraded=timedelta(seconds=options.outbox_degraded_seconds),
    )
    return status, {**detail, **unsent, "channels": channel_usability(settings)}


def _queues(counts: QueueCounts, settings: Settings) -> Check:
    return lambda: queues_check(counts(), settings)


def queues_check(counts: Mapping[str, int], settings: Settings) -> Outcome:
    """Depth of the work queues and messages in their poison queues (a queue not in `counts` holds none)."""
    return queues_verdict(
        {queue: counts.get(queue, 0) for queue in WORK_QUEUES},
        {queue: counts.get(queue, 0) for queue in POISON_QUEUES},
        depth_degraded=settings.worker.health_checks.queue_depth_degraded,
    )

"""Health checks of the service, run concurrently, each bounded by the health-check timeout.

A check returns its status and a detail safe to publish: it never includes secrets, connection strings or
SQL (errors are reported by type; their full text goes to the log).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy import Engine, text

from shared.db import migrate
from shared.domain.health import CheckResult, HealthReport, HealthStatus
from shared.errors import SettingsError
from shared.settings import Settings

log = logging.getLogger("mgrid.health")

Outcome = tuple[HealthStatus, dict[str, Any]]
Check = Callable[[], Outcome]

# Shared by all health runs of the process: a check that hangs past its timeout keeps its thread, it does
# not block the response.
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


def check_health(
    load_settings: Callable[[], Settings], engine_for: Callable[[], Engine], *, default_timeout_s: float = 30
) -> HealthReport:
    """Run every enabled check; a configuration error is itself reported, never raised."""
    try:
        settings = load_settings()
    except SettingsError as error:
        outcome = (HealthStatus.UNHEALTHY, {"problems": list(error.problems)})
        return run_checks({"configuration": lambda: outcome}, timeout_s=default_timeout_s)
    checks: dict[str, Check] = {"configuration": lambda: (HealthStatus.HEALTHY, {})}
    if settings.worker.health_checks.check_database:
        checks["database"] = lambda: database_check(engine_for())
    return run_checks(checks, timeout_s=settings.worker.health_checks.timeout_seconds)


def run_checks(checks: Mapping[str, Check], *, timeout_s: float) -> HealthReport:
    """Run `checks` concurrently; one that raises or outlives `timeout_s` is Unhealthy."""
    started = time.monotonic()
    futures = {name: _EXECUTOR.submit(_timed, check) for name, check in checks.items()}
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


def database_check(engine: Engine) -> Outcome:
    """Connect, run `SELECT 1` and compare the schema revision with the code's."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
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

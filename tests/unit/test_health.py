"""Health: the overall verdict is the worst check; checks run concurrently, each bounded by the timeout."""

from __future__ import annotations

import threading
import time

import pytest

from shared.domain.health import CheckResult, HealthReport, HealthStatus, worst
from shared.services.health import Outcome, run_checks

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

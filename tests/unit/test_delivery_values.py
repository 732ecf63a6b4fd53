"""The notice's priority, and where a KPI's staleness counts from: domain rules with their tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.alert import Severity
from shared.domain.delivery import notice_priority
from shared.domain.health import staleness_since
from shared.domain.kpi import Priority

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("priority", "severity", "expected"),
    [
        (Priority.CRITICAL, Severity.WARNING, Priority.CRITICAL),  # the KPI's priority wins
        (Priority.WARNING, Severity.CRITICAL, Priority.WARNING),
        (None, Severity.CRITICAL, Priority.CRITICAL),  # a system alert: its severity decides
        (None, Severity.WARNING, Priority.WARNING),
    ],
)
def test_a_notice_has_its_kpis_priority_or_the_one_its_severity_implies(
    priority: Priority | None, severity: Severity, expected: Priority
) -> None:
    assert notice_priority(priority, severity) is expected


@pytest.mark.parametrize(
    ("last_success_at", "updated_at", "expected"),
    [
        (None, T0, T0),  # never succeeded: from its creation or last change
        (T1, T0, T1),  # succeeded since it changed: from the success
        (T0, T1, T1),  # changed (or re-activated) after its last success: afresh
        (T0, T0, T0),
    ],
)
def test_staleness_counts_from_the_later_of_the_last_success_and_the_last_change(
    last_success_at: datetime | None, updated_at: datetime, expected: datetime
) -> None:
    assert staleness_since(last_success_at, updated_at) == expected

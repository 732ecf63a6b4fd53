"""Fault-suite fixtures: the figures each scenario reports (printed at the end of the session and written to
`$MGRID_FAULT_FIGURES` as JSON lines when that is set), and small KPI sets that alert on every slot."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection

from shared.domain.kpi import Priority, Schedule
from tests.conftest import Database
from tests.factories import insert_contact, insert_kpi, make_kpi
from tests.faults.figures import Figures

_REPORTED: list[Figures] = []
#: Read at import: every test's environment is cleared (tests/conftest.py) before its fixtures run.
_FIGURES_FILE = os.environ.get("MGRID_FAULT_FIGURES")

#: Breaches on the slots whose minute has the first slot's parity, clean on the others (the slot is the
#: window's end): every slot of a KPI, the first included, opens or resolves its alert, so every slot sends
#: one notice per channel of its contact.
ALTERNATING = (
    "SELECT 'k' AS key,"
    " CASE WHEN CAST(EXTRACT(MINUTE FROM CAST(:window_end AS timestamptz)) AS integer) % 2 = {parity}"
    " THEN 20 ELSE 10 END AS current_value, 10 AS historical_value FROM pg_sleep({sleep})"
)


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[Figures]:
    """The scenario's figures; reported whether or not the test passes."""
    found = Figures(scenario=request.node.name)
    yield found
    _REPORTED.append(found)
    if _FIGURES_FILE:
        with Path(_FIGURES_FILE).open("a", encoding="utf-8") as out:
            out.write(found.line() + "\n")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REPORTED:
        return
    terminalreporter.section("fault suite figures")
    header = "scenario | slots exp/done/dup | notices exp/sent/dup (crash-window repeats) | recovery s"
    terminalreporter.write_line(header)
    for found in _REPORTED:
        terminalreporter.write_line(
            f"{found.scenario} | {found.slots_expected}/{found.slots_executed}/{found.slots_duplicated}"
            f" | {found.notices_expected}/{found.notices_sent}/{found.notices_duplicated}"
            f" ({found.notices_repeated_in_crash_window}) | {found.recovery_s}"
            + (f" | {'; '.join(found.notes)}" if found.notes else "")
        )


def first_slot_soon(margin_s: int = 15) -> datetime:
    """A first slot a second from now, moved past the next minute when that comes within `margin_s`: the
    tick that takes the first slot (every 10 s; add any clock skew) must come before the next whole minute,
    which would otherwise coalesce into it, by design, and the figures count every minute."""
    first = datetime.now(UTC) + timedelta(seconds=1)
    if first.second >= 60 - margin_s:
        first = first.replace(second=2, microsecond=0) + timedelta(minutes=1)
    return first


def add_alerting_kpis(
    connection: Connection,
    count: int,
    *,
    first_slot: datetime,
    sleep_s: float = 0.5,
    webhook: str | None = None,
    sql: str = ALTERNATING,
) -> list[int]:
    """`count` KPIs every minute (first run at `first_slot`), each with its own email contact (and a webhook
    at `<webhook>/owner<i>`, if given), alternating between breach and clean on every slot."""
    ids = []
    for i in range(count):
        kpi_id = insert_kpi(
            connection,
            make_kpi(
                indicator=f"fault{i}",
                sql_text=sql.format(sleep=sleep_s, parity=first_slot.minute % 2),
                schedule=Schedule(frequency_minutes=1),
                priority=Priority.WARNING,
            ),
            next_run_at=first_slot,
        )
        insert_contact(
            connection,
            f"owner{i}",
            kpi_id=kpi_id,
            email=f"owner{i}@example.test",
            webhook_url=f"{webhook}/owner{i}" if webhook else None,
        )
        ids.append(kpi_id)
    return ids


def fault_env(database: Database, storage: str, **overrides: str) -> dict[str, str]:
    """Devhost settings for fault scenarios: every timer fast, sweeps and retries as short as allowed."""
    return {
        "ConnectionStrings__Monitoring": database.url,
        "ConnectionStrings__Sources__main": database.url,
        "AzureWebJobsStorage": storage,
        "Worker__KpiMonitoring__IntervalSeconds": "10",
        "Worker__KpiMonitoring__Schedule": "*/10 * * * * *",
        "Worker__KpiMonitoring__ExecutionTimeoutSeconds": "30",
        "Worker__KpiMonitoring__SkipRunningKpis": "false",
        "Worker__KpiMonitoring__ResendAfterSeconds": "60",  # the least allowed
        "Worker__AlertProcessing__IntervalSeconds": "10",
        "Worker__AlertProcessing__Schedule": "*/10 * * * * *",
        "Worker__AlertProcessing__OutboxGraceSeconds": "10",
        "Worker__HealthChecks__IntervalSeconds": "3600",
        "Worker__HealthChecks__Schedule": "0 0 * * * *",
        "Notifications__SendAttempts": "1",
        "Notifications__RetryBackoffSeconds": "1",
        "Notifications__MaxDeliveryAttempts": "30",
        "Notifications__HttpTimeoutSeconds": "2",
        "Notifications__AllowHttpLoopback": "true",  # the webhook receivers listen on loopback, over http
        **overrides,
    }

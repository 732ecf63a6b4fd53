"""Cleanup of the monitoring database (the `cleanup` timer, `mgrid cleanup`).

Deletes what is past retention (`shared.db.retention` says what and what never): history older than
`HistoricalDataRetentionDays`; finished executions, delivered notifications, audit events, resolved alerts
and dead letters older than `LogRetentionDays`. Tables are cleaned one after another in batches of
`CleanupBatchSize` rows, each batch its own short transaction, until a batch comes back short. Once
`CleanupTimeBudgetSeconds` are spent no new batch starts and the report says the run is incomplete; the next
run carries on where this one stopped. A table whose delete fails is reported and the other tables are still
cleaned. The run ends with the `cleanup` heartbeat; with `Worker__ScheduledTasks__Enabled` false it does
nothing at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from shared.db import retention
from shared.db.status import heartbeat
from shared.settings import Settings

log = logging.getLogger("mgrid.cleanup")
COMPONENT = "cleanup"


@dataclass(kw_only=True, slots=True)
class CleanupReport:
    """What one run deleted: rows per table (cascades not counted), and whether everything due is gone.

    `batch_seconds` holds each batch's transaction time, from BEGIN to the end of COMMIT."""

    deleted: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    duration_s: float = 0.0
    disabled: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    batch_seconds: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        longest = max(self.batch_seconds, default=0.0)
        return {
            "disabled": self.disabled,
            "complete": self.complete,
            "deleted": dict(self.deleted),
            "total": sum(self.deleted.values()),
            "batches": len(self.batch_seconds),
            "longest_batch_ms": round(longest * 1000, 1),
            "duration_s": round(self.duration_s, 3),
            "errors": dict(self.errors),
        }


class Cleanup:
    """See the module's contract."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._settings = settings.worker.scheduled_tasks
        self._clock = clock
        self._monotonic = monotonic

    def run(self) -> CleanupReport:
        if not self._settings.enabled:
            return CleanupReport(disabled=True)
        started = self._monotonic()
        now = self._clock()
        purges = retention.plan(
            history_before=now - timedelta(days=self._settings.historical_data_retention_days),
            logs_before=now - timedelta(days=self._settings.log_retention_days),
            limit=self._settings.cleanup_batch_size,
            dialect=self._engine.dialect.name,
        )
        report = CleanupReport(deleted={purge.table: 0 for purge in purges})
        deadline = started + self._settings.cleanup_time_budget_seconds
        finished = True
        for purge in purges:
            if not self._purge(purge, report, deadline):
                finished = False
                break
        report.complete = finished and not report.errors
        report.duration_s = self._monotonic() - started
        with self._engine.begin() as connection:
            status = "ok" if report.complete else "incomplete"
            heartbeat(connection, COMPONENT, status=status, now=self._clock(), details=report.summary())
        return report

    def _purge(self, purge: retention.Purge, report: CleanupReport, deadline: float) -> bool:
        """Batches of one table until it is done (True) or the time budget is spent (False). A failing
        batch ends this table's work, reported, and lets the next table start."""
        while self._monotonic() < deadline:
            began = self._monotonic()
            try:
                with self._engine.begin() as connection:
                    deleted = retention.delete_batch(connection, purge.statement)
            except Exception as error:  # one failing table must not stop the others
                log.exception("cleanup of %s failed", purge.table)
                report.errors[purge.table] = f"{type(error).__name__}: {_first_line(error)}"
                return True
            report.batch_seconds.append(self._monotonic() - began)
            report.deleted[purge.table] += deleted
            if deleted < purge.limit:
                return True
        return False


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""

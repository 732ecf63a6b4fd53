"""The scheduler tick: turn due KPIs into queued executions, and recover executions whose message or executor
was lost. Run by the `kpi_scheduler` timer; the caller sends the ids returned in `kpi-executions` messages of
up to `ExecutionBatchSize` ids each (`TickReport.batches`: created executions packed per source).

Idempotent on (KPI, slot): a second tick for the same moment, a late (`past_due`) tick or two schedulers at
once create no duplicates, because due KPIs are locked while they are advanced and the slot is a unique key.
Missed slots coalesce: after downtime a KPI runs once, for its oldest missed slot, then moves to its first
slot after now.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from shared.db import scheduling
from shared.db.scheduling import Advance, DueKpi
from shared.db.status import heartbeat
from shared.domain.alert import EventRef
from shared.domain.schedule import next_slot_after
from shared.services.alerts.transitions import AlertRecorder
from shared.settings import Settings

log = logging.getLogger("mgrid.scheduler")
BATCH_SIZE = 500
SWEEP_LIMIT = 1000


@dataclass(kw_only=True, slots=True)
class TickReport:
    """What one tick did; `to_send` are the executions whose messages the caller must send."""

    created: list[uuid.UUID] = field(default_factory=list)
    resent: list[uuid.UUID] = field(default_factory=list)
    requeued: list[uuid.UUID] = field(default_factory=list)
    abandoned: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    events: list[EventRef] = field(default_factory=list)
    skipped_running: int = 0
    unscheduled: int = 0
    complete: bool = True

    sources: dict[uuid.UUID, str] = field(default_factory=dict)  #: source of each created execution
    batch_size: int = 1  #: ExecutionBatchSize: most ids per message

    @property
    def to_send(self) -> list[uuid.UUID]:
        return [*self.created, *self.resent, *self.requeued]

    def batches(self) -> list[list[uuid.UUID]]:
        """`to_send` packed into messages of at most `batch_size` ids: created executions per source (a
        batch competes for one source's concurrency slots), then re-sent and re-queued ones in any mix."""
        size = max(1, self.batch_size)
        per_source: dict[str, list[uuid.UUID]] = {}
        for execution_id in self.created:
            per_source.setdefault(self.sources.get(execution_id, ""), []).append(execution_id)
        rest = [*self.resent, *self.requeued]
        return [ids[i : i + size] for ids in (*per_source.values(), rest) for i in range(0, len(ids), size)]

    def summary(self) -> dict[str, int | bool]:
        return {
            "created": len(self.created),
            "resent": len(self.resent),
            "requeued": len(self.requeued),
            "abandoned": len(self.abandoned),
            "skipped_running": self.skipped_running,
            "unscheduled": self.unscheduled,
            "complete": self.complete,
        }


class Scheduler:
    """Creates executions for due slots; `tick` is safe to run concurrently and repeatedly."""

    def __init__(self, engine: Engine, settings: Settings, *, budget_s: float = 45.0) -> None:
        self._engine = engine
        self._settings = settings.worker.kpi_monitoring
        self._alerts = AlertRecorder(settings)
        self._budget_s = budget_s

    def tick(self, *, now: datetime) -> TickReport:
        """Schedule every due KPI (in batches, within the time budget), then sweep lost work."""
        report = TickReport(batch_size=self._settings.batch_size)
        started = time.monotonic()
        while self._schedule_batch(now, report) == BATCH_SIZE:
            if time.monotonic() - started > self._budget_s:
                report.complete = False  # the rest stays due and is taken by the next tick
                break
        self._sweep(now, report)
        with self._engine.begin() as connection:
            heartbeat(connection, "scheduler", status="ok", now=now, details=report.summary())
        log.info("scheduler tick %s", report.summary())
        return report

    def _schedule_batch(self, now: datetime, report: TickReport) -> int:
        with self._engine.begin() as connection:
            due = scheduling.claim_due(connection, now=now, limit=BATCH_SIZE)
            running = (
                scheduling.kpis_with_unfinished_executions(connection, [kpi.id for kpi in due])
                if self._settings.skip_running_kpis
                else set()
            )
            moves = [self._move(kpi, now, running) for kpi in due]
            created = scheduling.advance(connection, moves, now=now)
        sources = [kpi.source for kpi, move in zip(due, moves, strict=True) if not move.skip]
        report.created.extend(created)
        report.sources.update(zip(created, sources, strict=True))
        report.skipped_running += sum(1 for move in moves if move.skip and move.next_run_at is not None)
        report.unscheduled += sum(1 for move in moves if move.next_run_at is None)
        return len(due)

    def _move(self, kpi: DueKpi, now: datetime, running: set[int]) -> Advance:
        if not kpi.is_active and self._settings.process_only_active_kpis:
            return Advance(kpi_id=kpi.id, slot=kpi.slot, next_run_at=None, skip=True)
        try:
            next_run_at = next_slot_after(kpi.schedule, now)
        except (ValueError, KeyError):  # a bad cron, or an unknown time zone (ZoneInfoNotFoundError)
            log.exception("kpi %s has an invalid schedule; it is unscheduled until re-imported", kpi.id)
            return Advance(kpi_id=kpi.id, slot=kpi.slot, next_run_at=None, skip=True)
        return Advance(kpi_id=kpi.id, slot=kpi.slot, next_run_at=next_run_at, skip=kpi.id in running)

    def _sweep(self, now: datetime, report: TickReport) -> None:
        sent_before = now - timedelta(seconds=self._settings.resend_after_seconds)
        with self._engine.begin() as connection:
            report.resent = scheduling.resend_stale(
                connection, now=now, sent_before=sent_before, limit=SWEEP_LIMIT
            )
            report.requeued, report.abandoned = scheduling.release_expired(
                connection, now=now, max_attempts=self._settings.max_attempts, limit=SWEEP_LIMIT
            )
            for execution_id, kpi_id in report.abandoned:
                error = f"abandoned after {self._settings.max_attempts} attempts whose executors died"
                transitions = self._alerts.record_failure(
                    connection, kpi_id, execution_id, error=error, now=now
                )
                report.events += [t.event for t in transitions if t.event is not None]

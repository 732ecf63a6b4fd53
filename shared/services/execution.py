"""Running one KPI execution: claim, concurrency slot, source query, history, evaluation, alert transitions.

Used by the `kpi_executor` queue function and by `mgrid kpi run`, so both take exactly the same path.
At-least-once safe: a claim is a conditional UPDATE with a lease; everything the run produces (history rows,
streaks, alerts, their events and outbox entries, the execution's end state) is written in one transaction
that first re-checks the lease, so a redelivered message, a second executor or a crash mid-run never records
twice. The source is queried outside any monitoring-database transaction.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from shared.db import executions, history, slots
from shared.db.alerts import EventRef
from shared.db.executions import Claim
from shared.db.kpis import count_outcome, load_kpi
from shared.db.types import finite_or_none
from shared.domain.evaluation import Evaluation, aggregate, baseline_slots, evaluate
from shared.domain.execution import ExecutionStatus
from shared.domain.kpi import BaselineMode, Kpi
from shared.domain.observation import Observation
from shared.domain.schedule import window
from shared.errors import MonitoringGridError
from shared.services.alerting import AlertRecorder, Transitioned
from shared.settings import Settings
from shared.sources import SourceQueryError, SourceRunner, SourceTimeout, SourceUnavailable

log = logging.getLogger("mgrid.executor")
LEASE_MARGIN_S = 60
Clock = Callable[[], datetime]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    status: ExecutionStatus
    observations: tuple[Observation, ...] = ()
    error: str | None = None


@dataclass(kw_only=True, slots=True)
class ExecutionReport:
    """What happened to one execution (the JSON of `mgrid kpi run`)."""

    execution_id: uuid.UUID
    kpi: str | None = None
    status: str = "skipped"
    duration_ms: int | None = None
    error: str | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    transitions: list[Transitioned] = field(default_factory=list)
    events: list[EventRef] = field(default_factory=list)
    deferred: bool = False  #: no concurrency slot was free: send the message again, later

    def to_dict(self) -> dict[str, object]:
        return {
            "execution_id": str(self.execution_id),
            "kpi": self.kpi,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "metrics": [
                {
                    "key": e.key,
                    "current": e.current,
                    "baseline": e.baseline,
                    "deviation_percent": e.deviation_percent,
                    "breach": e.breach,
                }
                for e in self.evaluations
            ],
            "alerts": [{"id": t.alert_id, "transition": t.transition.value} for t in self.transitions],
        }


class Executor:
    """Runs executions; one instance per process, shared by concurrent invocations."""

    def __init__(
        self,
        engine: Engine,
        runner: SourceRunner,
        settings: Settings,
        *,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._settings = settings
        self._monitoring = settings.worker.kpi_monitoring
        self._alerts = AlertRecorder(settings)
        self._clock = clock

    @property
    def lease_s(self) -> float:
        return self._monitoring.execution_timeout_seconds + LEASE_MARGIN_S

    def execute(self, execution_id: uuid.UUID, *, owner: str) -> ExecutionReport:
        """Run the execution if this caller can claim it; report what happened either way."""
        report = ExecutionReport(execution_id=execution_id)
        now = self._clock()
        with self._engine.begin() as connection:
            claimed = executions.claim(connection, execution_id, owner=owner, now=now, lease_s=self.lease_s)
            kpi = load_kpi(connection, claimed.kpi_id) if claimed else None
            if claimed is None:
                report.status = self._why_not_claimed(connection, execution_id)
        if claimed is None or kpi is None:
            return report
        report.kpi = kpi.indicator
        if not kpi.is_active and self._monitoring.process_only_active_kpis:
            return self._skip_inactive(kpi, claimed, report)
        slot_no = self._acquire_slot(kpi, claimed)
        if slot_no is None:
            return self._defer(claimed, report)
        return self._run_and_record(kpi, claimed, slot_no, report)

    def _why_not_claimed(self, connection: Connection, execution_id: uuid.UUID) -> str:
        current = executions.state(connection, execution_id)
        if current is None:
            log.warning(
                "execution %s does not exist (its KPI may have been deleted); message dropped", execution_id
            )
            return "missing"
        log.info("execution %s not claimed: it is %s", execution_id, current.status.value)
        return "already " + current.status.value if current.status.finished else "held by another executor"

    def _acquire_slot(self, kpi: Kpi, claimed: Claim) -> int | None:
        limit = self._monitoring.max_parallel_kpis
        with self._engine.begin() as connection:
            slots.ensure(connection, kpi.source, limit)
        with self._engine.begin() as connection:
            return slots.acquire(
                connection,
                kpi.source,
                limit=limit,
                execution_id=claimed.execution_id,
                owner=claimed.owner,
                now=self._clock(),
                lease_until=claimed.lease_until,
            )

    def _defer(self, claimed: Claim, report: ExecutionReport) -> ExecutionReport:
        with self._engine.begin() as connection:
            executions.give_back(connection, claimed, now=self._clock())
        report.status, report.deferred = "deferred", True
        log.info("execution %s deferred: every concurrency slot of its source is busy", claimed.execution_id)
        return report

    def _skip_inactive(self, kpi: Kpi, claimed: Claim, report: ExecutionReport) -> ExecutionReport:
        with self._engine.begin() as connection:
            executions.finish(
                connection,
                claimed,
                status=ExecutionStatus.FAILED,
                now=self._clock(),
                duration_ms=0,
                error="skipped: the KPI was deactivated after this execution was queued",
            )
        report.status, report.error = ExecutionStatus.FAILED.value, "skipped: KPI inactive"
        return report

    def _run_and_record(
        self, kpi: Kpi, claimed: Claim, slot_no: int, report: ExecutionReport
    ) -> ExecutionReport:
        started = time.monotonic()
        try:
            result = self._run(kpi, claimed)
            evaluations = self._evaluate(kpi, claimed, result)
            duration_ms = int((time.monotonic() - started) * 1000)
            self._record(kpi, claimed, result, evaluations, duration_ms, report)
        finally:
            with self._engine.begin() as connection:
                slots.release(connection, kpi.source, slot_no, claimed.execution_id)
        return report

    def _run(self, kpi: Kpi, claimed: Claim) -> RunResult:
        start, end = window(claimed.slot, kpi.last_minutes)
        timeout_s = max(1.0, (claimed.lease_until - self._clock()).total_seconds() - LEASE_MARGIN_S)
        try:
            observations = self._runner.run(kpi, window_start=start, window_end=end, timeout_s=timeout_s)
        except SourceTimeout as error:
            return RunResult(status=ExecutionStatus.TIMED_OUT, error=str(error))
        except (SourceQueryError, SourceUnavailable, MonitoringGridError) as error:
            return RunResult(status=ExecutionStatus.FAILED, error=f"{type(error).__name__}: {error}")
        return RunResult(status=ExecutionStatus.SUCCEEDED, observations=tuple(observations))

    def _evaluate(self, kpi: Kpi, claimed: Claim, result: RunResult) -> list[Evaluation]:
        if not result.observations:
            return []
        baselines = self._baselines(kpi, claimed.slot, [o.key for o in result.observations])
        return [
            evaluate(
                o,
                kpi.rule,
                baseline=o.source_baseline
                if kpi.rule.baseline.mode is BaselineMode.SOURCE
                else baselines.get(o.key),
            )
            for o in result.observations
        ]

    def _baselines(self, kpi: Kpi, slot: datetime, keys: Sequence[str]) -> dict[str, float | None]:
        if kpi.rule.baseline.mode is not BaselineMode.HISTORY:
            return {}
        local_slot = slot.astimezone(ZoneInfo(kpi.schedule.timezone)) if kpi.schedule.cron else slot
        targets = [
            target.astimezone(UTC) for target in baseline_slots(local_slot, kpi.rule.baseline.weeks_back)
        ]
        with self._engine.connect() as connection:
            samples = history.values_near(
                connection, kpi_id=kpi.id, keys=keys, targets=targets, tolerance=_tolerance(kpi)
            )
        return {key: aggregate(values, kpi.rule.baseline.aggregate) for key, values in samples.items()}

    def _record(
        self,
        kpi: Kpi,
        claimed: Claim,
        result: RunResult,
        evaluations: list[Evaluation],
        duration_ms: int,
        report: ExecutionReport,
    ) -> None:
        now = self._clock()
        succeeded = result.status is ExecutionStatus.SUCCEEDED
        with self._engine.begin() as connection:
            failures = count_outcome(connection, kpi.id, succeeded=succeeded, now=now)
            if not executions.finish(
                connection,
                claimed,
                status=result.status,
                now=now,
                duration_ms=duration_ms,
                error=result.error,
                metric_count=len(evaluations) if succeeded else None,
            ):
                connection.rollback()
                report.status = "lease lost"
                log.warning(
                    "execution %s took longer than its lease; another attempt owns it", claimed.execution_id
                )
                return
            if succeeded:
                _store_history(connection, kpi, claimed, evaluations, now)
            report.transitions = self._alerts.after_execution(
                connection, kpi, claimed, evaluations, failures=failures, succeeded=succeeded, now=now
            )
        report.status, report.duration_ms, report.error = result.status.value, duration_ms, result.error
        report.evaluations = evaluations
        report.events = [t.event for t in report.transitions if t.event is not None]


def _tolerance(kpi: Kpi) -> timedelta:
    """How far from the exact instant N weeks back a history sample may lie: half a period."""
    if kpi.schedule.frequency_minutes:
        return timedelta(minutes=min(kpi.schedule.frequency_minutes / 2, 720))
    return timedelta(minutes=5)


def _store_history(
    connection: Connection, kpi: Kpi, claimed: Claim, evaluations: Sequence[Evaluation], now: datetime
) -> None:
    rows = [
        history.HistoryRow(
            metric_key=e.key,
            value=e.current,
            baseline_value=e.baseline,
            deviation_percent=finite_or_none(e.deviation_percent),
            breach=e.breach,
        )
        for e in evaluations
        if math.isfinite(e.current)
    ]
    history.replace(
        connection,
        kpi_id=kpi.id,
        execution_id=claimed.execution_id,
        window=window(claimed.slot, kpi.last_minutes),
        rows=rows,
        now=now,
    )

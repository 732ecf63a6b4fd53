"""Running one KPI execution: claim, concurrency slot, source query, history, evaluation, alert transitions.

Used by the `kpi_executor` queue function and by `mgrid kpi run`, so both take exactly the same path.
At-least-once safe: a claim is a conditional UPDATE with a lease; everything the run produces (history rows,
streaks, alerts, their events and outbox entries, the execution's end state) is written in one transaction
that first re-checks the lease, so a redelivered message, a second executor or a crash mid-run never records
twice. The source is queried outside any monitoring-database transaction. A slot that finishes after a newer
slot of its KPI (its message was lost and re-sent) writes its history but not its alert transitions
(`AlertRecorder.after_execution`). A connection the database dropped (a restart) is replaced and the claim,
or the recording, retried once.

One execution costs one monitoring connection checkout and two short transactions: (1) claim, load the KPI,
take a concurrency slot and read the history baseline; (2) record the outcome and free the slot. The hot-path
statements are built once (see the stores), since building SQLAlchemy expressions cost more than running them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from shared import telemetry
from shared.db import executions, history, slots
from shared.db.executions import Claim
from shared.db.kpis import load_kpi, record_outcome
from shared.domain.alert import EventRef
from shared.domain.baseline import BaselineData, baseline_data, judge
from shared.domain.evaluation import Evaluation
from shared.domain.execution import ExecutionStatus
from shared.domain.kpi import Kpi
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


@dataclass(frozen=True, kw_only=True, slots=True)
class _Started:
    """A claimed execution holding a concurrency slot, with the earlier values of its baseline."""

    kpi: Kpi
    claimed: Claim
    slot_no: int
    baseline: BaselineData


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
    #: why alert transitions were skipped (a newer slot of the KPI was recorded first), or None
    alerts_skipped: str | None = None

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
                    "current": None if e.no_data else e.current,
                    "baseline": e.baseline,
                    "deviation_percent": e.deviation_percent,
                    "expected": e.expected,
                    "lower": e.lower,
                    "upper": e.upper,
                    "breach": e.breach,
                    "no_data": e.no_data,
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
        self._monitoring = settings.worker.kpi_monitoring
        self._alerts = AlertRecorder(settings)
        self._clock = clock
        self._slots_ensured: set[tuple[str, int]] = set()

    @property
    def lease_s(self) -> float:
        return self._monitoring.execution_timeout_seconds + LEASE_MARGIN_S

    def execute(self, execution_id: uuid.UUID, *, owner: str) -> ExecutionReport:
        """Run the execution if this caller can claim it; report what happened either way."""
        report = ExecutionReport(execution_id=execution_id)
        for attempt in range(2):
            with self._engine.connect() as connection:
                try:
                    started = self._start(connection, execution_id, owner, report)
                except DBAPIError as error:
                    if attempt or not error.connection_invalidated:
                        raise
                    log.warning("a pooled monitoring connection was dead; claiming again on a fresh one")
                    continue
                if started is not None:
                    self._run_and_record(connection, started, report)
                return report
        return report

    def _start(
        self, connection: Connection, execution_id: uuid.UUID, owner: str, report: ExecutionReport
    ) -> _Started | None:
        now = self._clock()
        with connection.begin():
            claimed = executions.claim(connection, execution_id, owner=owner, now=now, lease_s=self.lease_s)
            if claimed is None:
                report.status = self._why_not_claimed(connection, execution_id)
                return None
            kpi = load_kpi(connection, claimed.kpi_id)
            if kpi is None:
                return None
            report.kpi = kpi.indicator
            telemetry.bind_log_context(kpi_id=kpi.id)
            if not kpi.is_active and self._monitoring.process_only_active_kpis:
                self._skip_inactive(connection, claimed, report)
                return None
            slot_no = self._acquire_slot(connection, kpi, claimed, now)
            if slot_no is None:
                executions.give_back(connection, claimed, now=now)
                report.status, report.deferred = "deferred", True
                log.info("execution %s deferred: every slot of source %s is busy", execution_id, kpi.source)
                return None
            baseline = read_baseline(connection, kpi, claimed.slot)
        return _Started(kpi=kpi, claimed=claimed, slot_no=slot_no, baseline=baseline)

    def _why_not_claimed(self, connection: Connection, execution_id: uuid.UUID) -> str:
        current = executions.state(connection, execution_id)
        if current is None:
            log.warning("execution %s does not exist (its KPI may have been deleted); dropped", execution_id)
            return "missing"
        log.info("execution %s not claimed: it is %s", execution_id, current.status.value)
        return "already " + current.status.value if current.status.finished else "held by another executor"

    def _acquire_slot(self, connection: Connection, kpi: Kpi, claimed: Claim, now: datetime) -> int | None:
        limit = self._monitoring.max_parallel_kpis
        if (kpi.source, limit) not in self._slots_ensured:
            slots.ensure(connection, kpi.source, limit)
            self._slots_ensured.add((kpi.source, limit))
        return slots.acquire(
            connection,
            kpi.source,
            limit=limit,
            execution_id=claimed.execution_id,
            owner=claimed.owner,
            now=now,
            lease_until=claimed.lease_until,
        )

    def _skip_inactive(self, connection: Connection, claimed: Claim, report: ExecutionReport) -> None:
        executions.finish(
            connection,
            claimed,
            status=ExecutionStatus.FAILED,
            now=self._clock(),
            duration_ms=0,
            error="skipped: the KPI was deactivated after this execution was queued",
        )
        report.status, report.error = ExecutionStatus.FAILED.value, "skipped: KPI inactive"

    def _run_and_record(self, connection: Connection, started: _Started, report: ExecutionReport) -> None:
        began = time.monotonic()
        recorded = False
        try:
            result = self._run(started.kpi, started.claimed)
            evaluations = judge(started.kpi, result.observations, started.baseline)
            duration_ms = int((time.monotonic() - began) * 1000)
            try:
                recorded = self._record(connection, started, result, evaluations, duration_ms, report)
            except DBAPIError as error:
                # The monitoring database dropped the connection while the source ran (a restart, a
                # failover): SQLAlchemy has invalidated it, and the next use reconnects. The lease is still
                # ours, so record once more now rather than leave the execution to its lease's expiry.
                if not error.connection_invalidated:
                    raise
                log.warning("the monitoring connection died during the run; recording on a fresh one")
                recorded = self._record(connection, started, result, evaluations, duration_ms, report)
        finally:
            if not recorded:  # the slot is freed with the outcome; otherwise free it on its own
                with connection.begin():
                    slots.release(
                        connection, started.kpi.source, started.slot_no, started.claimed.execution_id
                    )

    def _run(self, kpi: Kpi, claimed: Claim) -> RunResult:
        timeout_s = max(1.0, (claimed.lease_until - self._clock()).total_seconds() - LEASE_MARGIN_S)
        return query_source(self._runner, kpi, claimed.slot, timeout_s=timeout_s)

    def _record(
        self,
        connection: Connection,
        started: _Started,
        result: RunResult,
        evaluations: list[Evaluation],
        duration_ms: int,
        report: ExecutionReport,
    ) -> bool:
        """Write the outcome and free the slot in one transaction; False when the lease was lost."""
        kpi, claimed, now = started.kpi, started.claimed, self._clock()
        succeeded = result.status is ExecutionStatus.SUCCEEDED
        with connection.begin() as transaction:
            outcome = record_outcome(connection, kpi.id, slot=claimed.slot, succeeded=succeeded, now=now)
            if not executions.finish(
                connection,
                claimed,
                status=result.status,
                now=now,
                duration_ms=duration_ms,
                error=result.error,
                metric_count=len(evaluations) if succeeded else None,
            ):
                transaction.rollback()
                report.status = "lease lost"
                telemetry.record_execution(kpi=kpi.indicator, outcome="lease_lost", duration_ms=duration_ms)
                log.warning("execution %s outlived its lease; another attempt owns it", claimed.execution_id)
                return False
            if succeeded:
                _store_history(connection, kpi, claimed, evaluations, now)
            recorded = self._alerts.after_execution(
                connection, kpi, claimed, evaluations, outcome=outcome, succeeded=succeeded, now=now
            )
            if recorded.skipped is not None:
                log.warning(
                    "execution %s (slot %s) finished after a newer slot of KPI %s: %s",
                    claimed.execution_id,
                    f"{claimed.slot:%Y-%m-%d %H:%M:%S}",
                    kpi.indicator,
                    recorded.skipped,
                )
            slots.release(connection, kpi.source, started.slot_no, claimed.execution_id)
        report.status, report.duration_ms, report.error = result.status.value, duration_ms, result.error
        report.evaluations, report.transitions = recorded.evaluations, recorded.transitions
        report.alerts_skipped = recorded.skipped
        report.events = [t.event for t in report.transitions if t.event is not None]
        telemetry.record_execution(kpi=kpi.indicator, outcome=result.status.value, duration_ms=duration_ms)
        for e in evaluations:
            telemetry.record_deviation(
                kpi=kpi.indicator, metric_key=e.key, deviation_percent=e.deviation_percent
            )
        return True


def query_source(runner: SourceRunner, kpi: Kpi, slot: datetime, *, timeout_s: float) -> RunResult:
    """Run the KPI's query for the window of `slot`; a timeout or a failure is an outcome, not an error."""
    start, end = window(slot, kpi.last_minutes)
    try:
        observations = runner.run(kpi, window_start=start, window_end=end, timeout_s=timeout_s)
    except SourceTimeout as error:
        return RunResult(status=ExecutionStatus.TIMED_OUT, error=str(error))
    except (SourceQueryError, SourceUnavailable, MonitoringGridError) as error:
        return RunResult(status=ExecutionStatus.FAILED, error=f"{type(error).__name__}: {error}")
    return RunResult(status=ExecutionStatus.SUCCEEDED, observations=tuple(observations))


def read_baseline(connection: Connection, kpi: Kpi, slot: datetime) -> BaselineData:
    """The earlier values the KPI's baseline needs for `slot`, from our own history (none for `source`)."""
    return baseline_data(
        kpi,
        slot,
        near=lambda targets, tolerance: history.values_near(
            connection, kpi_id=kpi.id, targets=targets, tolerance=tolerance
        ),
        within=lambda ranges: history.samples_within(connection, kpi_id=kpi.id, ranges=ranges),
        recent=lambda start, end: history.verdicts_between(connection, kpi_id=kpi.id, start=start, end=end),
    )


def _store_history(
    connection: Connection, kpi: Kpi, claimed: Claim, evaluations: Sequence[Evaluation], now: datetime
) -> None:
    rows = history.rows_of(evaluations)
    history.record(
        connection,
        kpi_id=kpi.id,
        execution_id=claimed.execution_id,
        window=window(claimed.slot, kpi.last_minutes),
        rows=rows,
        now=now,
    )

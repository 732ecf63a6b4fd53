"""Running KPI executions: claim, concurrency slot, source query, history, evaluation, alert transitions.

Used by the `kpi_executor` queue function (a message names one execution or a batch of them) and by `mgrid kpi
run`, so both take exactly the same path. At-least-once safe: a claim is a conditional UPDATE with a lease;
everything a run produces (history rows, streaks, alerts, their events and outbox entries, the execution's end
state) is written in one transaction conditional on the lease, so a redelivered message, a second executor or
a crash mid-run never records twice. Sources are queried outside any monitoring-database transaction.

A batch (docs/architecture.md) runs with bounded parallelism (`ExecutionBatchParallelism`): its executions are
claimed, given concurrency slots and their baselines read in one transaction per wave (one statement each for
all of them), queried on worker threads, and recorded as they finish: whatever finished together is written in
one transaction of multi-row statements ("group commit"), so a slow or hanging query delays nobody else's
record. Each execution keeps its own row, lease, timeout and outcome. A single execution is a batch of one,
run on the calling thread. The hot-path statements are built once where their shape is fixed (see the stores),
since building SQLAlchemy expressions can cost more than running them.
"""

from __future__ import annotations

import functools
import logging
import time
import typing
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from shared import telemetry
from shared.db import alerts, executions, history, slots
from shared.db.executions import Claim
from shared.db.kpis import Finished, Outcome, load_kpis, record_outcomes
from shared.domain.alert import EventRef
from shared.domain.baseline import (
    BaselineData,
    Verdict,
    baseline_data,
    history_targets,
    history_tolerance,
    judge,
    nearest_values,
    samples_of,
    seasonal_plan,
    verdicts_of,
)
from shared.domain.clock import Clock, utc_now
from shared.domain.evaluation import Evaluation
from shared.domain.execution import ExecutionStatus
from shared.domain.kpi import BaselineMode, Kpi
from shared.domain.observation import Observation
from shared.domain.schedule import window
from shared.domain.seasonal import Sample
from shared.errors import MonitoringGridError
from shared.services.alerting import AlertRecorder, Transitioned
from shared.settings import MAX_BATCH_SECONDS, Settings
from shared.sources import SourceQueryError, SourceRunner, SourceTimeout, SourceUnavailable

log = logging.getLogger("mgrid.executor")
LEASE_MARGIN_S = 60
#: The outcome of a KPI whose row went away while its execution ran: nothing newer, no failures.
_FIRST = Outcome(failures=0, newer_run=False, newer_evaluation=False)


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
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._runner = runner
        self._monitoring = settings.worker.kpi_monitoring
        self._alerts = AlertRecorder(settings)
        self._clock = clock
        self._slots_ensured: set[tuple[str, int]] = set()
        # Worker threads for the queries of batches, shared by the concurrent invocations of this process and
        # reused (starting threads per batch costs more CPU than a trivial query). Each batch keeps at most
        # `ExecutionBatchParallelism` of them busy; INVOCATIONS batches at once never wait for a thread.
        self._pool = ThreadPoolExecutor(
            self._monitoring.execution_batch_parallelism * INVOCATIONS, thread_name_prefix="kpi-batch"
        )

    @property
    def lease_s(self) -> float:
        return self._monitoring.execution_timeout_seconds + LEASE_MARGIN_S

    def execute(self, execution_id: uuid.UUID, *, owner: str) -> ExecutionReport:
        """Run the execution if this caller can claim it; report what happened either way."""
        return self.execute_batch([execution_id], owner=owner)[0]

    def execute_batch(self, execution_ids: Sequence[uuid.UUID], *, owner: str) -> list[ExecutionReport]:
        """Run the executions of one message, at most `ExecutionBatchParallelism` at once; a report for each
        id (in order, each once). Executions are claimed only when a worker is free for them, so a claimed
        execution's lease and timeout start when its query can start."""
        ids = list(dict.fromkeys(execution_ids))
        reports = {execution_id: ExecutionReport(execution_id=execution_id) for execution_id in ids}
        parallelism = max(1, min(self._monitoring.execution_batch_parallelism, len(ids)))
        budget = MAX_BATCH_SECONDS - self._monitoring.execution_timeout_seconds - LEASE_MARGIN_S
        batch = _Batch(pending=deque(ids), owner=owner, reports=reports, deadline=time.monotonic() + budget)
        self._drive(batch, self._pool if len(ids) > 1 else None, parallelism)
        return [reports[execution_id] for execution_id in ids]

    def _drive(self, batch: _Batch, pool: ThreadPoolExecutor | None, parallelism: int) -> None:
        connection = self._engine.connect()
        try:
            running: dict[Future[_Done], _Started] = {}
            first, waiting = True, False
            while batch.pending or running:
                room = parallelism - len(running)
                if batch.pending and room > 0 and not waiting:
                    if time.monotonic() > batch.deadline:
                        _defer_pending(batch, "the batch ran out of time")
                        continue
                    chunk = [batch.pending.popleft() for _ in range(min(room, len(batch.pending)))]
                    try:
                        started = self._start(connection, chunk, batch)
                    except DBAPIError as error:
                        if not first or not error.connection_invalidated:
                            self._finish_running(connection, running, batch)
                            raise
                        log.warning("a pooled monitoring connection was dead; claiming again on a fresh one")
                        connection.close()
                        connection = self._engine.connect()
                        started = self._start(connection, chunk, batch)
                    except Exception:
                        self._finish_running(connection, running, batch)
                        raise
                    first = False
                    if pool is None:
                        self._record(connection, [self._run_one(each) for each in started], batch)
                        continue
                    for each in started:
                        running[pool.submit(self._run_one, each)] = each
                    waiting = _wait_for_siblings(batch, chunk, running)
                if running:
                    done = _finished(running)
                    for future in done:
                        del running[future]
                    self._record(connection, [future.result() for future in done], batch)
                    waiting = False  # a slot of ours was freed: try those waiting for one again
                elif waiting:
                    waiting = False
        finally:
            connection.close()

    def _finish_running(
        self, connection: Connection, running: dict[Future[_Done], _Started], batch: _Batch
    ) -> None:
        """Claiming the next wave failed: record the executions already running before giving up (best
        effort: what cannot be recorded is retried when its lease expires)."""
        if not running:
            return
        done = [future.result() for future in wait(running).done]
        try:
            if connection.invalidated:
                connection.rollback()
            self._record(connection, done, batch)
        except Exception:
            log.exception("recording %d running execution(s) failed; their leases will expire", len(done))

    def _start(self, connection: Connection, chunk: list[uuid.UUID], batch: _Batch) -> list[_Started]:
        """Claim `chunk`, load its KPIs, take concurrency slots and read the baselines: one transaction,
        one statement per step for the whole chunk."""
        now = self._clock()
        with connection.begin():
            claims = executions.claim_many(
                connection, chunk, owner=batch.owner, now=now, lease_s=self.lease_s
            )
            if len(claims) < len(chunk):
                self._why_not_claimed(connection, chunk, claims, batch.reports)
            if not claims:
                return []
            kpis = load_kpis(connection, {claimed.kpi_id for claimed in claims})
            by_source: dict[str, list[tuple[Claim, Kpi]]] = {}
            for claimed in claims:
                kpi = kpis.get(claimed.kpi_id)
                if kpi is None:
                    continue
                batch.reports[claimed.execution_id].kpi = kpi.indicator
                if len(chunk) == 1:
                    telemetry.bind_log_context(kpi_id=kpi.id)
                if not kpi.is_active and self._monitoring.process_only_active_kpis:
                    self._skip_inactive(connection, claimed, batch.reports[claimed.execution_id])
                    continue
                by_source.setdefault(kpi.source, []).append((claimed, kpi))
                batch.sources[claimed.execution_id] = kpi.source
            ready: list[tuple[Claim, Kpi, int]] = []
            deferred: list[Claim] = []
            for source, items in by_source.items():
                held = self._acquire_slots(connection, source, [claimed for claimed, _ in items], now)
                for claimed, kpi in items:
                    if claimed.execution_id in held:
                        ready.append((claimed, kpi, held[claimed.execution_id]))
                    else:
                        deferred.append(claimed)
            if deferred:
                executions.give_back_many(connection, deferred, owner=batch.owner, now=now)
                for claimed in deferred:
                    report = batch.reports[claimed.execution_id]
                    report.status, report.deferred = "deferred", True
                log.info("%d execution(s) found every slot of their source busy", len(deferred))
            baselines = read_baselines(connection, [(kpi, claimed.slot) for claimed, kpi, _ in ready])
        return [
            _Started(kpi=kpi, claimed=claimed, slot_no=slot_no, baseline=baseline)
            for (claimed, kpi, slot_no), baseline in zip(ready, baselines, strict=True)
        ]

    def _why_not_claimed(
        self,
        connection: Connection,
        chunk: list[uuid.UUID],
        claims: list[Claim],
        reports: dict[uuid.UUID, ExecutionReport],
    ) -> None:
        claimed = {c.execution_id for c in claims}
        unclaimed = [execution_id for execution_id in chunk if execution_id not in claimed]
        current = executions.states(connection, unclaimed)
        for execution_id in unclaimed:
            state = current.get(execution_id)
            report = reports[execution_id]
            if state is None:
                log.warning(
                    "execution %s does not exist (its KPI may have been deleted); dropped", execution_id
                )
                report.status = "missing"
                continue
            log.info("execution %s not claimed: it is %s", execution_id, state.status.value)
            finished = state.status.finished
            report.status = "already " + state.status.value if finished else "held by another executor"

    def _acquire_slots(
        self, connection: Connection, source: str, claims: list[Claim], now: datetime
    ) -> dict[uuid.UUID, int]:
        limit = self._monitoring.max_parallel_kpis
        if (source, limit) not in self._slots_ensured:
            slots.ensure(connection, source, limit)
            self._slots_ensured.add((source, limit))
        return slots.acquire_many(
            connection,
            source,
            limit=limit,
            execution_ids=[claimed.execution_id for claimed in claims],
            owner=claims[0].owner,
            now=now,
            lease_until=claims[0].lease_until,
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

    def _run_one(self, started: _Started) -> _Done:
        """Query the source and judge the result (on a worker thread): never raises, so one execution's
        surprise cannot disturb the others of its batch."""
        began = time.monotonic()
        with telemetry.log_context(execution_id=started.claimed.execution_id, kpi_id=started.kpi.id):
            try:
                result = self._run(started.kpi, started.claimed)
                evaluations = judge(started.kpi, result.observations, started.baseline)
            except Exception as error:  # recorded as this execution's crash; its lease expiry retries it
                log.exception("execution %s crashed", started.claimed.execution_id)
                return _Done(started=started, crash=error)
        duration_ms = int((time.monotonic() - began) * 1000)
        return _Done(started=started, result=result, evaluations=evaluations, duration_ms=duration_ms)

    def _run(self, kpi: Kpi, claimed: Claim) -> RunResult:
        timeout_s = max(1.0, (claimed.lease_until - self._clock()).total_seconds() - LEASE_MARGIN_S)
        return query_source(self._runner, kpi, claimed.slot, timeout_s=timeout_s)

    def _record(self, connection: Connection, done: list[_Done], batch: _Batch) -> None:
        """Record what finished together: one transaction per group of distinct KPIs (normally one). A
        crashed run only frees its slot: the execution stays claimed until its lease expires and the
        scheduler's sweep queues it again, as when a whole executor dies."""
        crashed = [each for each in done if each.crash is not None]
        for each in crashed:
            report = batch.reports[each.started.claimed.execution_id]
            report.status, report.error = "crashed", f"{type(each.crash).__name__}: {each.crash}"
        free = [each.started.claimed.execution_id for each in crashed]
        for group in _distinct_kpis([each for each in done if each.crash is None]):
            try:
                self._record_group_retrying(connection, group, batch)
            except Exception:
                if len(done) == 1:
                    with connection.begin():
                        slots.release_many(connection, free + _ids(group), owner=batch.owner)
                    raise
                log.exception("recording %d execution(s) failed; their leases will expire", len(group))
                free += _ids(group)
                if connection.invalidated:
                    connection.rollback()
        if free:
            with connection.begin():
                slots.release_many(connection, free, owner=batch.owner)

    def _record_group_retrying(self, connection: Connection, group: list[_Done], batch: _Batch) -> None:
        """`_record_group`, once more on a fresh connection when the monitoring database dropped this one
        while the sources ran (a restart, a failover): the leases are still ours, so the outcomes are
        recorded now rather than left to the leases' expiry."""
        try:
            self._record_group(connection, group, batch)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            log.warning("the monitoring connection died during the run; recording on a fresh one")
            if connection.invalidated:
                connection.rollback()
            self._record_group(connection, group, batch)

    def _record_group(self, connection: Connection, group: list[_Done], batch: _Batch) -> None:
        """Write the outcomes and free the slots of executions of distinct KPIs in one transaction. An
        execution whose lease was lost records nothing (another attempt owns it)."""
        now = self._clock()
        with connection.begin():
            recorded = executions.finish_many(
                connection, [_outcome(each) for each in group], owner=batch.owner, now=now
            )
            kept = [each for each in group if each.started.claimed.execution_id in recorded]
            succeeded = [each for each in kept if each.succeeded]
            outcomes = record_outcomes(
                connection,
                [
                    Finished(
                        kpi_id=each.started.kpi.id, slot=each.started.claimed.slot, succeeded=each.succeeded
                    )
                    for each in kept
                ],
                now=now,
            )
            history.record_many(
                connection,
                [
                    history.Recording(
                        kpi_id=each.started.kpi.id,
                        execution_id=each.started.claimed.execution_id,
                        window=window(each.started.claimed.slot, each.started.kpi.last_minutes),
                        rows=history.rows_of(each.evaluations),
                    )
                    for each in succeeded
                ],
                now=now,
            )
            open_alerts = alerts.unresolved_many(connection, {each.started.kpi.id for each in kept})
            consequences = [
                self._alerts.after_execution(
                    connection,
                    each.started.kpi,
                    each.started.claimed,
                    each.evaluations,
                    outcome=outcomes.get(each.started.kpi.id, _FIRST),
                    succeeded=each.succeeded,
                    now=now,
                    open_alerts=open_alerts.get(each.started.kpi.id, {}),
                )
                for each in kept
            ]
            slots.release_many(connection, _ids(group), owner=batch.owner)
        for each in group:
            if each.started.claimed.execution_id not in recorded:
                batch.reports[each.started.claimed.execution_id].status = "lease lost"
                telemetry.record_execution(
                    kpi=each.started.kpi.indicator, outcome="lease_lost", duration_ms=each.duration_ms
                )
                log.warning(
                    "execution %s outlived its lease; another attempt owns it",
                    each.started.claimed.execution_id,
                )
        for each, consequence in zip(kept, consequences, strict=True):
            result = each.outcome
            report = batch.reports[each.started.claimed.execution_id]
            report.status, report.duration_ms = result.status.value, each.duration_ms
            report.error = result.error
            report.evaluations, report.transitions = consequence.evaluations, consequence.transitions
            report.alerts_skipped = consequence.skipped
            report.events = [t.event for t in report.transitions if t.event is not None]
            kpi = each.started.kpi
            if consequence.skipped is not None:
                log.warning(
                    "execution %s (slot %s) finished after a newer slot of KPI %s: %s",
                    each.started.claimed.execution_id,
                    f"{each.started.claimed.slot:%Y-%m-%d %H:%M:%S}",
                    kpi.indicator,
                    consequence.skipped,
                )
            telemetry.record_execution(
                kpi=kpi.indicator, outcome=result.status.value, duration_ms=each.duration_ms
            )
            for e in each.evaluations:
                telemetry.record_deviation(
                    kpi=kpi.indicator, metric_key=e.key, deviation_percent=e.deviation_percent
                )


#: Batches one process runs at once without waiting for a worker thread: above host.json's queue batchSize +
#: newBatchThreshold (12 invocations in flight), with room for `mgrid kpi run` and the API.
INVOCATIONS = 16
#: After the first query of a wave finishes, how long the batch waits for others to finish with it, so
#: that they are recorded in one transaction (bounded: a slow sibling is recorded later, on its own).
GROUP_LINGER_S = 0.05


@dataclass(kw_only=True, slots=True)
class _Batch:
    """The executions of one message still to start, their owner (lease) and their reports."""

    pending: deque[uuid.UUID]
    owner: str
    reports: dict[uuid.UUID, ExecutionReport]
    deadline: float  #: time.monotonic() after which no further wave starts (the rest is sent again)
    sources: dict[uuid.UUID, str] = field(default_factory=dict)  #: of the executions claimed so far


@dataclass(frozen=True, kw_only=True, slots=True)
class _Done:
    """A started execution whose query returned (or whose run crashed), not recorded yet."""

    started: _Started
    result: RunResult | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    duration_ms: int = 0
    crash: BaseException | None = None

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.result.status is ExecutionStatus.SUCCEEDED

    @property
    def outcome(self) -> RunResult:
        """The result of a run that did not crash (only those are recorded)."""
        if self.result is None:
            raise RuntimeError(f"execution {self.started.claimed.execution_id} crashed: it has no result")
        return self.result


def _wait_for_siblings(batch: _Batch, chunk: list[uuid.UUID], running: dict[Future[_Done], _Started]) -> bool:
    """Executions of `chunk` that found their source full wait in the batch, not in the queue, when an
    execution of the batch holds a slot of that source: it frees it when it finishes. They are back in
    `pending` (queued in the database, their attempt not counted) and True is returned: start nothing until
    then. The others stay deferred: the message handler sends them again."""
    busy = {started.kpi.source for started in running.values()}
    retry = [
        execution_id
        for execution_id in chunk
        if batch.reports[execution_id].deferred and batch.sources.get(execution_id) in busy
    ]
    for execution_id in reversed(retry):
        report = batch.reports[execution_id]
        report.status, report.deferred = "skipped", False
        batch.pending.appendleft(execution_id)
    return bool(retry)


def _defer_pending(batch: _Batch, why: str) -> None:
    """Give up on the executions not started yet: the message handler sends them again."""
    log.warning("%d execution(s) of a batch sent again: %s", len(batch.pending), why)
    while batch.pending:
        report = batch.reports[batch.pending.popleft()]
        report.status, report.deferred = "deferred", True


def _finished(running: dict[Future[_Done], _Started]) -> set[Future[_Done]]:
    """Wait for the first query to finish, then briefly for others to finish with it."""
    done, rest = wait(running, return_when=FIRST_COMPLETED)
    if rest:
        more, _ = wait(rest, timeout=GROUP_LINGER_S)
        done |= more
    return done


def _distinct_kpis(done: list[_Done]) -> list[list[_Done]]:
    """Split into groups where each KPI appears once (its counters and alerts are read then written)."""
    groups: list[list[_Done]] = []
    for each in done:
        for group in groups:
            if all(other.started.kpi.id != each.started.kpi.id for other in group):
                group.append(each)
                break
        else:
            groups.append([each])
    return groups


def _ids(group: list[_Done]) -> list[uuid.UUID]:
    return [each.started.claimed.execution_id for each in group]


def _outcome(each: _Done) -> executions.Outcome:
    result = each.outcome
    return executions.Outcome(
        execution_id=each.started.claimed.execution_id,
        status=result.status,
        duration_ms=each.duration_ms,
        error=result.error,
        metric_count=len(each.evaluations) if each.succeeded else None,
    )


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


def read_baselines(connection: Connection, items: Sequence[tuple[Kpi, datetime]]) -> list[BaselineData]:
    """`read_baseline` for the executions of a batch: KPIs that read the same instants (the same slot and
    rule, as a scheduled batch's usually do) share one bounded query."""
    if len(items) <= 1:
        return [read_baseline(connection, kpi, slot) for kpi, slot in items]
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, (kpi, slot) in enumerate(items):
        mode = kpi.rule.baseline.mode
        if mode is BaselineMode.HISTORY:
            key: tuple[object, ...] = ("near", tuple(history_targets(kpi, slot)), history_tolerance(kpi))
        elif mode is BaselineMode.SEASONAL:
            plan = seasonal_plan(kpi, slot)
            key = ("within", plan.ranges, plan.recent)
        else:
            continue
        groups.setdefault(key, []).append(index)
    rows: dict[int, list[history.Stored]] = {}
    judged: dict[int, list[history.Judged]] = {}
    for key, indexes in groups.items():
        kpi_ids = [items[index][0].id for index in indexes]
        if key[0] == "near":
            targets, tolerance = typing.cast(tuple[tuple[datetime, ...], timedelta], key[1:])
            found = history.rows_near_many(connection, kpi_ids=kpi_ids, targets=targets, tolerance=tolerance)
        else:
            ranges = typing.cast(tuple[tuple[datetime, datetime], ...], key[1])
            found = history.rows_within_many(connection, kpi_ids=kpi_ids, ranges=ranges)
            recent = typing.cast(tuple[datetime, ...], key[2])
            if recent:  # the slots a run of slots ends with: one more bounded query for the group
                verdicts = history.verdict_rows_many(
                    connection, kpi_ids=kpi_ids, start=recent[-1], end=recent[0]
                )
                for index in indexes:
                    judged[index] = verdicts.get(items[index][0].id, [])
        for index in indexes:
            rows[index] = found.get(items[index][0].id, [])
    return [
        baseline_data(
            kpi,
            slot,
            near=functools.partial(_nearest, rows.get(index, [])),
            within=functools.partial(_samples, rows.get(index, [])),
            recent=functools.partial(_verdicts, judged.get(index, [])),
        )
        for index, (kpi, slot) in enumerate(items)
    ]


def _verdicts(rows: list[history.Judged], start: datetime, end: datetime) -> dict[str, list[Verdict]]:
    return verdicts_of(row for row in rows if start <= row[1] <= end)


def _nearest(
    rows: list[history.Stored], targets: Sequence[datetime], tolerance: timedelta
) -> dict[str, list[float]]:
    return nearest_values(rows, targets, tolerance)


def _samples(
    rows: list[history.Stored], _ranges: Sequence[tuple[datetime, datetime]]
) -> dict[str, list[Sample]]:
    return samples_of(rows)

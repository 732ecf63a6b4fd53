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
record. Each execution keeps its own row, lease, timeout and outcome; a single one is a batch of one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from shared import telemetry
from shared.db import alerts, executions, history, slots
from shared.db.kpis import Finished, load_kpis, record_outcomes
from shared.domain.baseline import judge
from shared.domain.clock import Clock, utc_now
from shared.domain.execution import Claim, ExecutionOutcome, ExecutionStatus
from shared.domain.kpi import Kpi
from shared.domain.schedule import window
from shared.services.alerts.transitions import AlertRecorder
from shared.services.baselines import read_baselines
from shared.services.execution_batch import (
    INVOCATIONS,
    Batch,
    Done,
    Started,
    crash_text,
    defer_pending,
    distinct_kpis,
    first_finished,
    ids_of,
    outcome_of,
    wait_for_siblings,
)
from shared.services.execution_report import ExecutionReport
from shared.services.source_query import RunResult, query_source
from shared.settings import MAX_BATCH_SECONDS, Settings
from shared.sources import SourceRunner

log = logging.getLogger("mgrid.executor")
LEASE_MARGIN_S = 60


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
        m = self._monitoring  # one source per batch: no wave above its slots (they would go back)
        parallelism = max(1, min(m.execution_batch_parallelism, m.max_parallel_kpis, len(ids)))
        budget = MAX_BATCH_SECONDS - m.execution_timeout_seconds - LEASE_MARGIN_S
        batch = Batch(pending=deque(ids), owner=owner, reports=reports, deadline=time.monotonic() + budget)
        self._drive(batch, self._pool if len(ids) > 1 else None, parallelism)
        return [reports[execution_id] for execution_id in ids]

    def _drive(self, batch: Batch, pool: ThreadPoolExecutor | None, parallelism: int) -> None:
        connection = self._engine.connect()
        try:
            running: dict[Future[Done], Started] = {}
            first, waiting = True, False
            while batch.pending or running:
                room = parallelism - len(running)
                if batch.pending and room > 0 and not waiting:
                    if time.monotonic() > batch.deadline:
                        defer_pending(batch, "the batch ran out of time")
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
                    waiting = wait_for_siblings(batch, chunk, running)
                if running:
                    done = first_finished(running)
                    for future in done:
                        del running[future]
                    self._record(connection, [future.result() for future in done], batch)
                    waiting = False  # a slot of ours was freed: try those waiting for one again
                elif waiting:
                    waiting = False
        finally:
            connection.close()

    def _finish_running(
        self, connection: Connection, running: dict[Future[Done], Started], batch: Batch
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

    def _start(self, connection: Connection, chunk: list[uuid.UUID], batch: Batch) -> list[Started]:
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
                    report.status, report.deferred = ExecutionOutcome.DEFERRED, True
                log.info("%d execution(s) found every slot of their source busy", len(deferred))
            baselines = read_baselines(connection, [(kpi, claimed.slot) for claimed, kpi, _ in ready])
        return [
            Started(kpi=kpi, claimed=claimed, slot_no=slot_no, baseline=baseline)
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
                report.status = ExecutionOutcome.MISSING
                continue
            log.info("execution %s not claimed: it is %s", execution_id, state.status.value)
            finished = state.status.finished
            report.status = ExecutionOutcome.already(state.status) if finished else ExecutionOutcome.HELD

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
        report.status, report.error = ExecutionOutcome.FAILED, "skipped: KPI inactive"

    def _run_one(self, started: Started) -> Done:
        """Query the source and judge the result (on a worker thread): never raises, so one execution's
        surprise cannot disturb the others of its batch."""
        began = time.monotonic()
        with telemetry.log_context(execution_id=started.claimed.execution_id, kpi_id=started.kpi.id):
            try:
                result = self._run(started.kpi, started.claimed)
                evaluations = judge(started.kpi, result.observations, started.baseline)
            except Exception as error:  # recorded as this execution's crash; its lease expiry retries it
                log.exception("execution %s crashed", started.claimed.execution_id)
                return Done(started=started, crash=error)
        duration_ms = int((time.monotonic() - began) * 1000)
        return Done(started=started, result=result, evaluations=evaluations, duration_ms=duration_ms)

    def _run(self, kpi: Kpi, claimed: Claim) -> RunResult:
        timeout_s = max(1.0, (claimed.lease_until - self._clock()).total_seconds() - LEASE_MARGIN_S)
        return query_source(self._runner, kpi, claimed.slot, timeout_s=timeout_s)

    def _record(self, connection: Connection, done: list[Done], batch: Batch) -> None:
        """Record what finished together, one transaction per group of distinct KPIs (normally one). A crashed
        run only frees its slot: its lease's expiry queues it again, as when a whole executor dies."""
        crashed = [each for each in done if each.crash is not None]
        for each in crashed:
            report = batch.reports[each.started.claimed.execution_id]
            report.status, report.error = ExecutionOutcome.CRASHED, crash_text(each.crash)
        free = [each.started.claimed.execution_id for each in crashed]
        for group in distinct_kpis([each for each in done if each.crash is None]):
            try:
                self._record_group_retrying(connection, group, batch)
            except Exception:
                if len(done) == 1:
                    with connection.begin():
                        slots.release_many(connection, free + ids_of(group), owner=batch.owner)
                    raise
                log.exception("recording %d execution(s) failed; their leases will expire", len(group))
                free += ids_of(group)
                if connection.invalidated:
                    connection.rollback()
        if free:
            with connection.begin():
                slots.release_many(connection, free, owner=batch.owner)

    def _record_group_retrying(self, connection: Connection, group: list[Done], batch: Batch) -> None:
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

    def _record_group(self, connection: Connection, group: list[Done], batch: Batch) -> None:
        """Write the outcomes and free the slots of executions of distinct KPIs in one transaction. An
        execution whose lease was lost records nothing (another attempt owns it)."""
        now = self._clock()
        with connection.begin():
            recorded = executions.finish_many(
                connection, [outcome_of(each) for each in group], owner=batch.owner, now=now
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
                    outcome=outcomes[each.started.kpi.id],
                    succeeded=each.succeeded,
                    now=now,
                    open_alerts=open_alerts.get(each.started.kpi.id, {}),
                )
                for each in kept
            ]
            slots.release_many(connection, ids_of(group), owner=batch.owner)
        for each in group:
            if each.started.claimed.execution_id not in recorded:
                batch.reports[each.started.claimed.execution_id].status = ExecutionOutcome.LEASE_LOST
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
            report.status, report.duration_ms = ExecutionOutcome.finished_as(result.status), each.duration_ms
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

"""The pieces of a batch the executor runs: the executions of one message still to start, those started and
those done, and the small rules for waiting, deferring and grouping them."""

from __future__ import annotations

import logging
import uuid
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from shared.db import executions
from shared.domain.baseline import (
    BaselineData,
)
from shared.domain.evaluation import Evaluation
from shared.domain.execution import Claim, ExecutionOutcome, ExecutionStatus
from shared.domain.kpi import Kpi
from shared.services.execution_report import ExecutionReport
from shared.services.source_query import RunResult

log = logging.getLogger("mgrid.executor")


@dataclass(frozen=True, kw_only=True, slots=True)
class Started:
    """A claimed execution holding a concurrency slot, with the earlier values of its baseline."""

    kpi: Kpi
    claimed: Claim
    slot_no: int
    baseline: BaselineData


#: Batches one process runs at once without waiting for a worker thread: above host.json's queue batchSize +
#: newBatchThreshold (12 invocations in flight), with room for `mgrid kpi run` and the API.
INVOCATIONS = 16


#: After the first query of a wave finishes, how long the batch waits for others to finish with it, so
#: that they are recorded in one transaction (bounded: a slow sibling is recorded later, on its own).
GROUP_LINGER_S = 0.05


@dataclass(kw_only=True, slots=True)
class Batch:
    """The executions of one message still to start, their owner (lease) and their reports."""

    pending: deque[uuid.UUID]
    owner: str
    reports: dict[uuid.UUID, ExecutionReport]
    deadline: float  #: time.monotonic() after which no further wave starts (the rest is sent again)
    sources: dict[uuid.UUID, str] = field(default_factory=dict)  #: of the executions claimed so far


@dataclass(frozen=True, kw_only=True, slots=True)
class Done:
    """A started execution whose query returned (or whose run crashed), not recorded yet."""

    started: Started
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


def wait_for_siblings(batch: Batch, chunk: list[uuid.UUID], running: dict[Future[Done], Started]) -> bool:
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
        report.status, report.deferred = ExecutionOutcome.NOT_STARTED, False
        batch.pending.appendleft(execution_id)
    return bool(retry)


def defer_pending(batch: Batch, why: str) -> None:
    """Give up on the executions not started yet: the message handler sends them again."""
    log.warning("%d execution(s) of a batch sent again: %s", len(batch.pending), why)
    while batch.pending:
        report = batch.reports[batch.pending.popleft()]
        report.status, report.deferred = ExecutionOutcome.DEFERRED, True


def first_finished(running: dict[Future[Done], Started]) -> set[Future[Done]]:
    """Wait for the first query to finish, then briefly for others to finish with it."""
    done, rest = wait(running, return_when=FIRST_COMPLETED)
    if rest:
        more, _ = wait(rest, timeout=GROUP_LINGER_S)
        done |= more
    return done


def distinct_kpis(done: list[Done]) -> list[list[Done]]:
    """Split into groups where each KPI appears once (its counters and alerts are read then written)."""
    groups: list[list[Done]] = []
    for each in done:
        for group in groups:
            if all(other.started.kpi.id != each.started.kpi.id for other in group):
                group.append(each)
                break
        else:
            groups.append([each])
    return groups


def ids_of(group: list[Done]) -> list[uuid.UUID]:
    return [each.started.claimed.execution_id for each in group]


def outcome_of(each: Done) -> executions.Outcome:
    result = each.outcome
    return executions.Outcome(
        execution_id=each.started.claimed.execution_id,
        status=result.status,
        duration_ms=each.duration_ms,
        error=result.error,
        metric_count=len(each.evaluations) if each.succeeded else None,
    )


def crash_text(error: BaseException | None) -> str:
    """What a crashed run's report says: the exception's type and message."""
    return f"{type(error).__name__}: {error}"

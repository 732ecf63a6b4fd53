"""Handling the messages of the KPI queues: validate, run or record, and never retry what cannot succeed.

A malformed message is recorded in `dead_letters` and dropped: retrying it would fail the same way five times
and then land in the poison queue for nothing. A message whose execution found every concurrency slot of its
source busy is sent again with a delay: waiting for capacity is not a failure and must not count toward the
poison threshold.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable

from sqlalchemy import Engine

from shared import telemetry
from shared.db import executions
from shared.domain.alert import EventRef
from shared.domain.clock import Clock, utc_now
from shared.domain.execution import ExecutionOutcome
from shared.errors import InvalidMessage
from shared.messages import KPI_EXECUTIONS, execution_message, parse_execution_message
from shared.queues import QueueSender
from shared.services.alerts.transitions import AlertRecorder
from shared.services.dead_letters import DeadLetters
from shared.services.execution import Executor
from shared.services.execution_report import ExecutionReport
from shared.settings import Settings

log = logging.getLogger("mgrid.dispatch")
POISON_QUEUE = f"{KPI_EXECUTIONS}-poison"
#: Delay before a deferred execution is offered again: a base plus jitter, so waiting messages spread out.
DEFER_BASE_S, DEFER_JITTER_S = 10, 10


class ExecutionMessages:
    """The `kpi-executions` and `kpi-executions-poison` handlers' logic."""

    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        settings: Settings,
        sender: Callable[[], QueueSender],
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._executor = executor
        self._sender = sender
        self._alerts = AlertRecorder(settings)
        self._clock = clock
        self._dead_letters = DeadLetters(engine, clock)

    def handle(
        self, body: bytes, *, owner: str, message_id: str | None = None, dequeue_count: int | None = None
    ) -> list[ExecutionReport] | None:
        """Run the executions the message names (one, or a batch); None when the message was invalid (and
        recorded). The executions that found their source full are sent again, in one message."""
        try:
            message = parse_execution_message(body)
        except InvalidMessage as error:
            self._dead_letters.record(KPI_EXECUTIONS, str(error), body, message_id, dequeue_count)
            return None
        ids = message.ids
        with telemetry.log_context(execution_id=ids[0] if len(ids) == 1 else None):
            reports = self._executor.execute_batch(ids, owner=owner)
        for report in reports:
            if report.status is ExecutionOutcome.MISSING:
                reason = (
                    f"execution {report.execution_id} does not exist (its KPI was deleted, or it never did)"
                )
                self._dead_letters.record(KPI_EXECUTIONS, reason, body, message_id, dequeue_count)
        deferred = [report.execution_id for report in reports if report.deferred]
        if deferred:
            delay_s = DEFER_BASE_S + random.randint(0, DEFER_JITTER_S)  # noqa: S311 - jitter, not security
            self._sender().send(KPI_EXECUTIONS, [execution_message(deferred)], delay_s=delay_s)
        return reports

    def poisoned(
        self, body: bytes, *, message_id: str | None = None, dequeue_count: int | None = None
    ) -> list[EventRef]:
        """A message that failed every attempt: fail its executions that are still unfinished (they count
        toward the failure alert); those of a batch that finished keep their outcome."""
        reason = "the message failed on every attempt and was moved to the poison queue"
        self._dead_letters.record(POISON_QUEUE, reason, body, message_id, dequeue_count)
        try:
            ids = parse_execution_message(body, queue=POISON_QUEUE).ids
        except InvalidMessage:
            return []
        return [event for execution_id in ids for event in self._fail(execution_id, reason)]

    def _fail(self, execution_id: uuid.UUID, reason: str) -> list[EventRef]:
        now = self._clock()
        with self._engine.begin() as connection:
            kpi_id = executions.fail_unfinished(connection, execution_id, now=now, error=reason)
            if kpi_id is None:
                return []
            transitions = self._alerts.record_failure(connection, kpi_id, execution_id, error=reason, now=now)
        log.error("execution %s failed: %s", execution_id, reason)
        return [t.event for t in transitions if t.event is not None]

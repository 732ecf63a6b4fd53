"""KPI executions: one run of one KPI for one slot."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ExecutionTrigger(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"

    @property
    def finished(self) -> bool:
        return self in {ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT}


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    """An execution this caller now runs, until `lease_until`."""

    execution_id: uuid.UUID
    kpi_id: int
    slot: datetime
    attempt: int
    owner: str
    lease_until: datetime
    triggered_by: ExecutionTrigger


class ExecutionOutcome(StrEnum):
    """What one attempt at an execution came to: a finished status, or why it did not run here (the `status`
    of `mgrid kpi run --json`)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    NOT_STARTED = "skipped"  #: not started (yet): waiting in its batch, or an inactive KPI's
    DEFERRED = "deferred"  #: no concurrency slot of its source was free: the message is sent again
    MISSING = "missing"  #: the execution does not exist (its KPI was deleted)
    ALREADY_SUCCEEDED = "already succeeded"
    ALREADY_FAILED = "already failed"
    ALREADY_TIMED_OUT = "already timed_out"
    HELD = "held by another executor"  #: another executor's lease is live
    CRASHED = "crashed"  #: the run raised; the lease's expiry retries it
    LEASE_LOST = "lease lost"  #: the run outlived its lease: another attempt owns it

    @classmethod
    def finished_as(cls, status: ExecutionStatus) -> ExecutionOutcome:
        """The outcome of a run that finished with `status`."""
        return cls(status.value)

    @classmethod
    def already(cls, status: ExecutionStatus) -> ExecutionOutcome:
        """The outcome of an attempt at an execution another attempt finished with `status`."""
        return cls(f"already {status.value}")

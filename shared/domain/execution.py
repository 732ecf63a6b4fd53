"""KPI executions: one run of one KPI for one slot."""

from __future__ import annotations

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

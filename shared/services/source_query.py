"""Querying a KPI's source for the window of a slot: a timeout or a failure is an outcome, not an error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.execution import ExecutionStatus
from shared.domain.kpi import Kpi
from shared.domain.observation import Observation
from shared.domain.schedule import window
from shared.errors import MonitoringGridError
from shared.sources import SourceQueryError, SourceRunner, SourceTimeout, SourceUnavailable


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    status: ExecutionStatus
    observations: tuple[Observation, ...] = ()
    error: str | None = None


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

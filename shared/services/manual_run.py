"""Running a KPI now, outside its schedule (`mgrid kpi run`), through the executor's own path; or dry, writing
nothing (`mgrid kpi run --dry-run`)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from shared import telemetry
from shared.db import alerts, executions, kpi_lookup
from shared.db.kpi_lookup import find_kpi
from shared.db.kpis import load_kpi
from shared.domain.alerting import OpenAlert, Streak
from shared.domain.baseline import BaselineData, judge
from shared.domain.episodes import WouldTransition, would_transition, would_transition_failure
from shared.domain.evaluation import Evaluation
from shared.domain.execution import ExecutionOutcome, ExecutionStatus
from shared.domain.kpi import Kpi
from shared.errors import KpiInactive, KpiNotFound
from shared.services.alerts.transitions import FAILURE_KEY
from shared.services.baselines import read_baseline
from shared.services.execution import Executor
from shared.services.execution_report import ExecutionReport
from shared.services.source_query import query_source
from shared.settings import Settings
from shared.sources import SourceRunner

#: How long a manual run waits for a free concurrency slot of its source before giving up.
WAIT_FOR_SLOT_S = 60.0


def run_now(
    engine: Engine,
    executor: Executor,
    reference: str,
    *,
    now: datetime,
    owner: str,
    only_active: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> ExecutionReport:
    """Queue a manual execution of the KPI named by id or indicator and run it here, waiting for a free slot
    of its source when every slot is busy. An inactive KPI is refused (`KpiInactive`) when the executor
    would skip it (`only_active`: the `ProcessOnlyActiveKpis` setting)."""
    with engine.begin() as connection:
        kpi_id = find_kpi(connection, reference)
        if only_active:
            _refuse_inactive(connection, kpi_id)
        execution_id = executions.create_manual(connection, kpi_id, now=now)
    deadline = time.monotonic() + WAIT_FOR_SLOT_S
    with telemetry.log_context(execution_id=execution_id, kpi_id=kpi_id):
        report = executor.execute(execution_id, owner=owner)
        while report.deferred and time.monotonic() < deadline:
            sleep(1.0)
            report = executor.execute(execution_id, owner=owner)
    return report


@dataclass(frozen=True, kw_only=True, slots=True)
class DryRun:
    """What a run of the KPI now would find and do, with nothing written."""

    kpi: str
    status: ExecutionStatus
    duration_ms: int
    error: str | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    transitions: list[WouldTransition] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `mgrid kpi run`, with no execution id and `"dry_run": true`."""
        report = ExecutionReport(
            execution_id=uuid.UUID(int=0),
            kpi=self.kpi,
            status=ExecutionOutcome.finished_as(self.status),
            duration_ms=self.duration_ms,
            error=self.error,
            evaluations=self.evaluations,
        )
        alerts_ = [{"id": t.alert_id, "transition": t.transition.value} for t in self.transitions]
        return {**report.to_dict(), "execution_id": None, "alerts": alerts_, "dry_run": True}


@dataclass(frozen=True, kw_only=True, slots=True)
class _State:
    """What a dry run reads from the monitoring database before querying the source."""

    kpi: Kpi
    baseline: BaselineData
    streaks: dict[str, Streak]
    open_alerts: dict[str, OpenAlert]
    failures: int


def dry_run(
    engine: Engine, runner: SourceRunner, settings: Settings, reference: str, *, now: datetime
) -> DryRun:
    """Run the KPI named by id or indicator as a manual run would at `now`, active or not, writing nothing:
    the baseline, streaks and alerts are read in a transaction that is rolled back (read-only on
    PostgreSQL), the source is queried through the executor's path (no concurrency slot is taken, since
    taking one writes), and the alert transitions are only decided."""
    state = _read_state(engine, reference, now)
    kpi = state.kpi
    began = time.monotonic()
    timeout_s = float(settings.worker.kpi_monitoring.execution_timeout_seconds)
    result = query_source(runner, kpi, now, timeout_s=timeout_s)
    succeeded = result.status is ExecutionStatus.SUCCEEDED
    evaluations = judge(kpi, result.observations, state.baseline) if succeeded else []
    duration_ms = int((time.monotonic() - began) * 1000)
    return DryRun(
        kpi=kpi.indicator,
        status=result.status,
        duration_ms=duration_ms,
        error=result.error,
        evaluations=evaluations,
        transitions=_would(state, evaluations, succeeded=succeeded, now=now),
    )


def _would(
    state: _State, evaluations: list[Evaluation], *, succeeded: bool, now: datetime
) -> list[WouldTransition]:
    """The breach and failure alert transitions the run would make."""
    policy = state.kpi.policy
    breaches = would_transition(
        evaluations, streaks=state.streaks, open_alerts=state.open_alerts, policy=policy, now=now
    )
    failure = state.open_alerts.get(FAILURE_KEY)
    return breaches + would_transition_failure(
        FAILURE_KEY, failed=not succeeded, failures=state.failures, alert=failure, policy=policy, now=now
    )


def _refuse_inactive(connection: Connection, kpi_id: int) -> None:
    indicator, active = kpi_lookup.indicator_and_activity(connection, kpi_id)
    if not active:
        raise KpiInactive(indicator)


def _read_state(engine: Engine, reference: str, now: datetime) -> _State:
    with engine.connect().execution_options(postgresql_readonly=True) as connection:
        kpi = load_kpi(connection, find_kpi(connection, reference))
        if kpi is None:
            raise KpiNotFound(reference)
        failures = kpi_lookup.consecutive_failures(connection, kpi.id)
        state = _State(
            kpi=kpi,
            baseline=read_baseline(connection, kpi, now),
            streaks=alerts.streaks(connection, kpi.id),
            open_alerts=alerts.unresolved(connection, kpi.id),
            failures=failures,
        )
        connection.rollback()
    return state

"""Weekly maintenance of the monitoring database (the `maintenance` timer, `mgrid maintenance`).

Runs the steps `shared.db.maintenance_plans` plans for the engine it is given, the monitoring database's:
never on a source. Each step runs on its own connection, bounded by the time left: on PostgreSQL an
AUTOCOMMIT connection (VACUUM and concurrent REINDEX cannot run in a transaction) with `statement_timeout`
(the time left) and `lock_timeout` (`LOCK_TIMEOUT_S`), reset before it is pooled; on SQLite a progress
handler at the deadline; on SQL Server each statement in autocommit under the ODBC query timeout.
Every step is reported (name, ok/failed/skipped, duration, detail); a failing step does not stop the others,
and once `MaintenanceTimeBudgetSeconds` are spent the remaining steps are reported as skipped, not started.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from shared.db.maintenance_plans import Step, StepSkipped, default_plan, sqlite_connection
from shared.db.session_timeouts import postgres_timeouts
from shared.db.status import heartbeat
from shared.settings import Settings
from shared.sources.sql_server import apply_query_timeout, clear_query_timeout

log = logging.getLogger("mgrid.maintenance")
COMPONENT = "maintenance"
LOCK_TIMEOUT_S = 10


Plan = Callable[[Engine], list[Step]]


@dataclass(frozen=True, kw_only=True, slots=True)
class StepReport:
    name: str
    status: str  #: ok | failed | skipped
    duration_ms: float
    detail: str


@dataclass(kw_only=True, slots=True)
class MaintenanceReport:
    steps: list[StepReport] = field(default_factory=list)
    duration_s: float = 0.0
    disabled: bool = False

    @property
    def failed(self) -> bool:
        return any(step.status == "failed" for step in self.steps)

    def summary(self) -> dict[str, Any]:
        return {
            "disabled": self.disabled,
            "failed": self.failed,
            "duration_s": round(self.duration_s, 3),
            "steps": [
                {"name": s.name, "status": s.status, "duration_ms": s.duration_ms, "detail": s.detail}
                for s in self.steps
            ],
        }


class Maintenance:
    """See the module's contract. `plan` replaces the dialect's steps (tests)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        plan: Plan | None = None,
    ) -> None:
        self._engine = engine
        self._settings = settings.worker.scheduled_tasks
        self._clock = clock
        self._monotonic = monotonic
        self._plan = plan or default_plan

    def run(self) -> MaintenanceReport:
        if not self._settings.enabled:
            return MaintenanceReport(disabled=True)
        started = self._monotonic()
        budget = self._settings.maintenance_time_budget_seconds
        report = MaintenanceReport()
        pending = deque(self._plan(self._engine))
        while pending:
            step = pending.popleft()
            left = budget - (self._monotonic() - started)
            if left <= 0:
                detail = f"not started: the time budget of {budget} s was spent"
                report.steps.append(_skipped(step, detail))
                continue
            outcome, follow_up = self._run_step(step, left)
            report.steps.append(outcome)
            pending.extendleft(reversed(follow_up))
        report.duration_s = self._monotonic() - started
        with self._engine.begin() as connection:
            status = "failed" if report.failed else "ok"
            heartbeat(connection, COMPONENT, status=status, now=self._clock(), details=report.summary())
        return report

    def _run_step(self, step: Step, timeout_s: float) -> tuple[StepReport, tuple[Step, ...]]:
        began = self._monotonic()
        status, then = "ok", tuple[Step, ...]()
        try:
            with _session(self._engine, timeout_s) as connection:
                done = step.action(connection)
            detail, then = done.detail, done.then
        except StepSkipped as skipped:
            status, detail = "skipped", str(skipped)
        except Exception as error:  # one failing step must not stop the others
            log.exception("maintenance step %s failed", step.name)
            status, detail = "failed", f"{type(error).__name__}: {_first_line(error)}"
        duration_ms = round((self._monotonic() - began) * 1000, 1)
        return StepReport(name=step.name, status=status, duration_ms=duration_ms, detail=detail), then


def _skipped(step: Step, detail: str) -> StepReport:
    return StepReport(name=step.name, status="skipped", duration_ms=0.0, detail=detail)


@contextmanager
def _session(engine: Engine, timeout_s: float) -> Iterator[Connection]:
    """A connection for one step, bounded by `timeout_s` on the server, clean again when it is pooled."""
    name = engine.dialect.name
    if name == "sqlite":
        with engine.connect() as connection:
            raw = sqlite_connection(connection)
            deadline = time.monotonic() + timeout_s
            raw.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
            try:
                yield connection
                connection.commit()
            finally:
                raw.set_progress_handler(None, 1000)
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if name == "postgresql":
            with postgres_timeouts(connection, timeout_s=timeout_s, lock_timeout_s=LOCK_TIMEOUT_S):
                yield connection
        else:
            apply_query_timeout(connection.connection.dbapi_connection, timeout_s)
            try:
                yield connection
            finally:
                clear_query_timeout(connection.connection.dbapi_connection)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""

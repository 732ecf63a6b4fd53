"""`python -m demo replay [--hours N]`: run every active KPI once for each of the last N hours and now,
through the executor as if each slot were the present, so a fresh demo has history and past alert episodes
to show (the status page's charts, `GET /api/kpis/{id}/history`). Alerts open and resolve on the
way as they would have; their notices wait in the outbox for the devhost (or `mgrid alerts dispatch`).
A slot a KPI already has (an execution, as `mgrid kpi backfill` stores for the seasonal KPI) is left as it
is, so a replay after a backfill adds only what is missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from shared.db import backfill, executions
from shared.db.tables import kpis
from shared.services.execution import Executor
from shared.settings import Settings
from shared.sources import SourceRunner

OWNER = "demo-replay"


@dataclass(frozen=True, kw_only=True)
class ReplayReport:
    slots: int
    executions: int
    failed: int
    skipped: int = 0


def slots(now: datetime, hours: int) -> list[datetime]:
    """Whole hours from `hours` before `now` up to `now` itself, oldest first."""
    top = now.replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=back) for back in range(hours, 0, -1)] + [now]


def replay(
    engine: Engine, runner: SourceRunner, settings: Settings, *, now: datetime, hours: int
) -> ReplayReport:
    """Run each active KPI at every slot of `slots(now, hours)` it does not have yet, each under a clock set
    to that slot."""
    with engine.connect() as connection:
        kpi_ids = list(connection.scalars(select(kpis.c.id).where(kpis.c.is_active).order_by(kpis.c.id)))
    done = failed = skipped = 0
    for slot in slots(now, hours):
        executor = Executor(engine, runner, settings, clock=_fixed(slot))
        for kpi_id in kpi_ids:
            with engine.begin() as connection:
                if backfill.filled_slots(connection, kpi_id=kpi_id, start=slot, end=slot):
                    skipped += 1
                    continue
                execution_id = executions.create_manual(connection, kpi_id, now=slot)
            report = executor.execute(execution_id, owner=OWNER)
            done += 1
            failed += report.status != "succeeded"
    return ReplayReport(slots=hours + 1, executions=done, failed=failed, skipped=skipped)


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at

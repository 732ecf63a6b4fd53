"""The scheduler tick benchmark: `Scheduler.tick` with many KPIs due, and with few due among many.

Three monitoring databases per backend, seeded in bulk: 10,000 KPIs all due; 100,000 KPIs of which 1,000
are due; and 10,000 of which 1,000 are due, the control that shows whether the tick grows with the total.
Every KPI runs every 5 minutes. Round r ticks at `NOW + 5 min * r`, when the same KPIs are due again (the
tick moved them there); before each round, outside the timing, the executions the previous tick created
are marked finished, as executors would have done, and the tables are vacuumed and analysed, as autovacuum
would. The databases are ticked alternately within each round, so drift on the shared machine hits them
all alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, update

from benchmarks import _seed
from benchmarks._databases import Scratch, vacuum_analyze
from benchmarks._executor import settings
from shared.db.tables import kpi_executions
from shared.services.scheduling import Scheduler

CASES = {
    "10k all due": (10_000, 10_000),
    "1k due of 100k": (100_000, 1_000),
    "1k due of 10k": (10_000, 1_000),
}


@dataclass
class TickCase:
    name: str
    total: int
    due: int
    engine: Engine
    scheduler: Scheduler
    seconds: list[float] = field(default_factory=list)


def open_cases(scratch: Scratch, cases: dict[str, tuple[int, int]] | None = None) -> list[TickCase]:
    """One seeded monitoring database per case."""
    opened = []
    for index, (name, (total, due)) in enumerate((cases or CASES).items()):
        _url, engine = scratch.monitoring(f"tick{index}")
        later = _seed.NOW + timedelta(days=1)
        next_run_at: list[datetime | None] = [
            _seed.NOW if i < due else later + timedelta(seconds=i) for i in range(total)
        ]
        _seed.seed_kpis(engine, total, sql=_seed.TRIVIAL_SQL, prefix="tick", next_run_at=next_run_at)
        vacuum_analyze(engine, "kpis", "kpi_executions")
        scheduler = Scheduler(engine, settings(max_parallel_kpis=5), budget_s=600)
        opened.append(TickCase(name=name, total=total, due=due, engine=engine, scheduler=scheduler))
    return opened


def measure_ticks(cases: list[TickCase], *, rounds: int) -> None:
    """Tick every case once per round (order reversed every other round); append each tick's seconds."""
    for round_no in range(rounds):
        now = _seed.NOW + round_no * timedelta(minutes=_seed.FREQUENCY_MINUTES)
        ordered = cases if round_no % 2 == 0 else list(reversed(cases))
        for case in ordered:
            _finish_created(case.engine, now)
        for case in ordered:
            started = time.perf_counter()
            report = case.scheduler.tick(now=now)
            case.seconds.append(time.perf_counter() - started)
            if len(report.created) != case.due or not report.complete:
                raise RuntimeError(f"{case.name}: tick created {len(report.created)}, expected {case.due}")


def _finish_created(engine: Engine, now: datetime) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(kpi_executions)
            .where(kpi_executions.c.status == "queued")
            .values(status="succeeded", finished_at=now)
        )
    vacuum_analyze(engine, "kpis", "kpi_executions")


def close(cases: list[TickCase]) -> None:
    for case in cases:
        case.engine.dispose()

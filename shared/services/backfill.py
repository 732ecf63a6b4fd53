"""`mgrid kpi backfill`: store a KPI's values for its slots of the last N weeks from the source, so history
and seasonal baselines work at once.

Slots are filled oldest first, each exactly as the executor would have run it then: the query re-run for
its window through the real source path, judged by `judge` against the baseline read from the monitoring
database (which by then holds the slots filled before it, so stored `breach` flags leave earlier breaches
out of later seasonal baselines), then recorded in its own transaction as a succeeded manual execution with
its history rows (`expected`, `lower`, `upper`, `breach`). Nothing else moves: no streak, alert, event,
notification, failure count or `next_run_at`. Slots that already have an execution or values are skipped,
so a second run stores nothing; slots from the KPI's `next_run_at` on are the scheduler's. A failing query
stops the backfill at its slot (what was stored stays; run it again to continue).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from shared.db import backfill, kpi_lookup
from shared.domain.baseline import judge
from shared.domain.kpi import Kpi
from shared.domain.replay import slots_in
from shared.errors import InvalidRange
from shared.services.backtest import BATCH_SLOTS, Progress, batches
from shared.services.baselines import read_baseline
from shared.services.replay import load_replayable, observe_slot
from shared.settings import Settings
from shared.sources import SourceRunner

#: The most weeks a backfill reaches back (the longest `weeks_back` a baseline reads).
MAX_WEEKS = 52
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class Backfill:
    """How many of the KPI's slots the range holds, and how many of them this run stored."""

    kpi: str
    slots: int
    stored: int

    def to_dict(self) -> dict[str, object]:
        return {"kpi": self.kpi, "slots": self.slots, "stored": self.stored}


class Backfiller:
    """Fills KPIs' history from their sources."""

    def __init__(self, engine: Engine, runner: SourceRunner, settings: Settings) -> None:
        self._engine = engine
        self._runner = runner
        self._timeout_s = float(settings.worker.kpi_monitoring.execution_timeout_seconds)

    def run(self, reference: str, *, weeks: int, now: datetime, progress: Progress | None = None) -> Backfill:
        """Backfill the KPI named by id or indicator for the slots of the `weeks` weeks before `now`."""
        if not 1 <= weeks <= MAX_WEEKS:
            raise InvalidRange(f"--weeks must be between 1 and {MAX_WEEKS}, got {weeks}")
        with self._engine.connect() as connection:
            kpi = load_replayable(connection, reference)
            next_run_at = kpi_lookup.next_run_at(connection, kpi.id)
        start, end = now - timedelta(weeks=weeks), now + _TICK
        if next_run_at is not None:
            end = min(end, next_run_at)
        total = sum(1 for _ in slots_in(kpi.schedule, start, end))
        stored = done = 0
        with self._engine.connect() as connection:
            for batch in batches(slots_in(kpi.schedule, start, end), BATCH_SLOTS):
                with connection.begin():
                    filled = backfill.filled_slots(connection, kpi_id=kpi.id, start=batch[0], end=batch[-1])
                for slot in batch:
                    if slot not in filled:
                        self._store(connection, kpi, slot, now=now, stored=stored)
                        stored += 1
                    done += 1
                if progress is not None:
                    progress(kpi.indicator, done, total)
        return Backfill(kpi=kpi.indicator, slots=total, stored=stored)

    def _store(self, connection: Connection, kpi: Kpi, slot: datetime, *, now: datetime, stored: int) -> None:
        with connection.begin():
            baseline = read_baseline(connection, kpi, slot)
        began = time.monotonic()
        progress = f"{stored} slots stored before it; run the backfill again to continue"
        observations = observe_slot(self._runner, kpi, slot, timeout_s=self._timeout_s, progress=progress)
        evaluations = judge(kpi, observations, baseline)
        duration_ms = int((time.monotonic() - began) * 1000)
        with connection.begin():
            backfill.record_slot(
                connection, kpi=kpi, slot=slot, now=now, duration_ms=duration_ms, evaluations=evaluations
            )

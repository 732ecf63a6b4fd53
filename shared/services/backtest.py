"""`mgrid kpi backtest`: how a KPI would have judged and alerted over a past range, writing nothing.

Every slot of the KPI's schedule in `[from, to)` is evaluated as the executor would have: its query re-run
for the slot's window through the real source path, judged by `judge` against a baseline built from the
values of earlier slots. Those earlier values are replayed too, as if the KPI had run then: the warm-up
slots before `from` that the baseline reaches (history: `weeks_back` weeks, within half a period; seasonal:
`weeks_back` weeks plus the neighbouring slots) are evaluated oldest first with their own baselines, so
their breach flags leave earlier breaches out of later seasonal baselines exactly as stored history would.
The replayed values live in memory (`ReplayedHistory`), trimmed to the baseline's reach after each batch.

Alert episodes come from the pure `fire_after` / `resolve_after` state machine per key, starting with no
streak and no alert at `from` (warm-up slots only feed baselines); no cooldown, no resolution by timeout.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from shared.db.types import finite_or_none
from shared.domain.clock import is_aware
from shared.domain.episodes import Episode
from shared.domain.evaluation import Evaluation
from shared.domain.kpi import Kpi
from shared.domain.observation import Observation
from shared.domain.replay import Replay, SlotEvaluation, slots_in
from shared.errors import InvalidRange
from shared.services.replay import iso, load_replayable, observe_slot
from shared.settings import Settings
from shared.sources import SourceRunner

#: The longest range a backtest accepts.
MAX_RANGE = timedelta(days=366)
#: Slots replayed between two progress reports and two trims of the in-memory history.
BATCH_SLOTS = 500
#: Told the KPI's indicator, the slots replayed so far and the slots to replay, after each batch.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class Backtest:
    """What a backtest found: every evaluation in the range, and the alert episodes they make."""

    kpi: str
    start: datetime
    end: datetime
    slots: int
    evaluations: Sequence[SlotEvaluation]
    episodes: Sequence[Episode]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi,
            "from": iso(self.start),
            "to": iso(self.end),
            "slots": self.slots,
            "evaluations": [_evaluation(s.slot, s.evaluation) for s in self.evaluations],
            "episodes": [
                {
                    "key": e.key,
                    "opened_at": iso(e.opened_at),
                    "resolved_at": None if e.resolved_at is None else iso(e.resolved_at),
                }
                for e in self.episodes
            ],
        }


def check_range(start: datetime, end: datetime) -> None:
    """A backtest range is aware, non-empty and at most `MAX_RANGE` long."""
    for name, moment in (("--from", start), ("--to", end)):
        if not is_aware(moment):
            raise InvalidRange(f"{name} {moment.isoformat()} has no time zone")
    if start >= end:
        raise InvalidRange(f"--from {iso(start)} must be before --to {iso(end)}")
    if end - start > MAX_RANGE:
        raise InvalidRange(
            f"the range is {(end - start).days} days long; at most {MAX_RANGE.days} are allowed"
        )


class Backtester:
    """Replays KPIs over past ranges; reads the monitoring database only to load the KPI."""

    def __init__(self, engine: Engine, runner: SourceRunner, settings: Settings) -> None:
        self._engine = engine
        self._runner = runner
        self._timeout_s = float(settings.worker.kpi_monitoring.execution_timeout_seconds)

    def run(
        self, reference: str, *, start: datetime, end: datetime, progress: Progress | None = None
    ) -> Backtest:
        """Backtest the KPI named by id or indicator over `[start, end)`."""
        check_range(start, end)
        with self._engine.connect().execution_options(postgresql_readonly=True) as connection:
            kpi = load_replayable(connection, reference)
        replay = Replay(kpi, start)
        warm_start = replay.warm_start(next(slots_in(kpi.schedule, start, end), None))
        total, done = sum(1 for _ in slots_in(kpi.schedule, warm_start, end)), 0
        for batch in batches(slots_in(kpi.schedule, warm_start, end), BATCH_SLOTS):
            for slot in batch:
                replay.add(slot, self._observe(kpi, slot, done))
                done += 1
            replay.trim(batch[-1])
            if progress is not None:
                progress(kpi.indicator, done, total)
        return Backtest(
            kpi=kpi.indicator,
            start=start,
            end=end,
            slots=replay.slots,
            evaluations=replay.evaluations,
            episodes=replay.episodes(),
        )

    def _observe(self, kpi: Kpi, slot: datetime, done: int) -> list[Observation]:
        progress = f"{done} slots replayed before it"
        return observe_slot(self._runner, kpi, slot, timeout_s=self._timeout_s, progress=progress)


def batches(items: Iterable[datetime], size: int) -> Iterator[tuple[datetime, ...]]:
    """`items` in tuples of `size` (the last may be shorter)."""
    iterator = iter(items)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch


def _evaluation(slot: datetime, e: Evaluation) -> dict[str, Any]:
    return {
        "slot": iso(slot),
        "key": e.key,
        "current": finite_or_none(e.current),
        "expected": e.expected,
        "lower": e.lower,
        "upper": e.upper,
        "breach": e.breach,
    }

"""Replaying a KPI slot by slot (`mgrid kpi backtest`): each slot's observations judged against a baseline
built from the slots replayed before it, held in memory. `ReplayedHistory` answers the questions a baseline
asks the monitoring database (`shared.db.history.values_near` / `samples_within`) with the same selection
rules (`shared.domain.baseline.nearest_values` / `samples_of`). Pure.

Values are recorded oldest slot first (a replay runs forward in time), so each key's list stays sorted by
the end of its window and a range is found by bisection. `forget_before` drops what no later baseline
reads, so memory stays bounded by the baseline's reach, not by the length of the replay.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.baseline import (
    BaselineData,
    Recorded,
    Verdict,
    baseline_data,
    earliest_needed,
    judge,
    nearest_values,
    samples_of,
    verdicts_of,
)
from shared.domain.episodes import Episode, EpisodeTracker
from shared.domain.evaluation import Evaluation
from shared.domain.kpi import Kpi, Schedule
from shared.domain.observation import Observation
from shared.domain.schedule import next_slot_after
from shared.domain.seasonal import Sample

_TICK = timedelta(microseconds=1)
#: Slack before the earliest value a baseline reads (a daylight-saving hour).
MARGIN = timedelta(hours=1)


def slots_in(schedule: Schedule, start: datetime, end: datetime) -> Iterator[datetime]:
    """The schedule's slots in `[start, end)`, oldest first."""
    slot = next_slot_after(schedule, start - _TICK)
    while slot < end:
        yield slot
        slot = next_slot_after(schedule, slot)


@dataclass(kw_only=True, slots=True)
class _Series:
    """One key's recorded values, in the order of their window ends."""

    ends: list[datetime] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    breaches: list[bool] = field(default_factory=list)

    def between(self, start: datetime, end: datetime) -> range:
        """The indexes of the values whose window ended in `[start, end]` (inclusive, like SQL BETWEEN)."""
        return range(bisect_left(self.ends, start), bisect_right(self.ends, end))


class ReplayedHistory:
    """The history a replay has written so far, in memory."""

    def __init__(self) -> None:
        self._series: dict[str, _Series] = {}

    def record(self, slot: datetime, evaluations: Sequence[Evaluation]) -> None:
        """Keep the finite values of one slot's evaluations, as the executor stores them (window end = slot).
        Slots must come oldest first."""
        for e in evaluations:
            if not math.isfinite(e.current):
                continue
            series = self._series.setdefault(e.key, _Series())
            if series.ends and slot < series.ends[-1]:
                raise ValueError(f"slot {slot.isoformat()} recorded after {series.ends[-1].isoformat()}")
            series.ends.append(slot)
            series.values.append(e.current)
            series.breaches.append(e.breach)

    def forget_before(self, moment: datetime) -> None:
        """Drop the values whose window ended before `moment`."""
        for series in self._series.values():
            cut = bisect_left(series.ends, moment)
            del series.ends[:cut], series.values[:cut], series.breaches[:cut]

    def values_near(self, targets: Sequence[datetime], tolerance: timedelta) -> dict[str, list[float]]:
        """What `history.values_near` answers from the database (breaches included)."""
        if not targets:
            return {}
        ranges = [(t - tolerance, t + tolerance) for t in targets]
        return nearest_values(self._rows(ranges, breaches=True), targets, tolerance)

    def samples_within(self, ranges: Sequence[tuple[datetime, datetime]]) -> dict[str, list[Sample]]:
        """What `history.samples_within` answers from the database (breaches left out)."""
        return samples_of(self._rows(ranges, breaches=False))

    def verdicts_between(self, start: datetime, end: datetime) -> dict[str, list[Verdict]]:
        """What `history.verdicts_between` answers from the database."""
        return verdicts_of(
            (key, series.ends[i], series.values[i], series.breaches[i])
            for key, series in self._series.items()
            for i in series.between(start, end)
        )

    def baseline(self, kpi: Kpi, slot: datetime) -> BaselineData:
        """What `read_baseline` would read for `slot` had this history been stored."""
        return baseline_data(
            kpi, slot, near=self.values_near, within=self.samples_within, recent=self.verdicts_between
        )

    def __len__(self) -> int:
        return sum(len(series.ends) for series in self._series.values())

    def _rows(self, ranges: Sequence[tuple[datetime, datetime]], *, breaches: bool) -> Iterator[Recorded]:
        for key, series in self._series.items():
            for start, end in ranges:
                for i in series.between(start, end):
                    if breaches or not series.breaches[i]:
                        yield key, series.ends[i], series.values[i]


@dataclass(frozen=True, kw_only=True, slots=True)
class SlotEvaluation:
    slot: datetime
    evaluation: Evaluation


class Replay:
    """One KPI replayed from its warm-up on, slots given oldest first: the slots from `start` on are the
    ones reported (evaluations and alert episodes); the earlier ones only feed baselines."""

    def __init__(self, kpi: Kpi, start: datetime) -> None:
        self._kpi = kpi
        self._start = start
        self._history = ReplayedHistory()
        self._tracker = EpisodeTracker(kpi.policy)
        self.evaluations: list[SlotEvaluation] = []
        self.slots = 0  #: slots replayed from `start` on

    def warm_start(self, first: datetime | None) -> datetime:
        """Where the replay must begin for the baseline of the first reported slot `first`."""
        reach = None if first is None else earliest_needed(self._kpi, first)
        return self._start if reach is None else min(self._start, reach - MARGIN)

    def add(self, slot: datetime, observations: Sequence[Observation]) -> None:
        """Judge one slot's observations as the executor would have, and remember them."""
        evaluations = judge(self._kpi, observations, self._history.baseline(self._kpi, slot))
        self._history.record(slot, evaluations)
        if slot >= self._start:
            self.slots += 1
            self._tracker.observe(slot, evaluations)
            self.evaluations += [SlotEvaluation(slot=slot, evaluation=e) for e in evaluations]

    def trim(self, last: datetime) -> None:
        """Forget what no baseline after slot `last` reads."""
        reach = earliest_needed(self._kpi, last)
        if reach is not None:
            self._history.forget_before(reach - MARGIN)

    def episodes(self) -> list[Episode]:
        return self._tracker.episodes()

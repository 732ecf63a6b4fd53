"""Baselines of one execution: which earlier values a KPI's rule needs, and judging observations with them.

The executor, `mgrid kpi run --dry-run` and `mgrid kpi backtest` all judge through `judge`; they differ only
in where the earlier values come from (the monitoring database, or a replay held in memory). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from shared.domain.evaluation import Evaluation, aggregate, baseline_slots, evaluate
from shared.domain.kpi import BaselineMode, Direction, Kpi, Schedule
from shared.domain.observation import Observation
from shared.domain.schedule import latest_slot_at_or_before, next_slot_after
from shared.domain.seasonal import (
    NEIGHBOURS,
    POOLED_NEIGHBOURS,
    RUN_SLOTS,
    Band,
    Residual,
    Run,
    RunRule,
    Sample,
    SeasonalHistory,
    SeasonalRule,
    earlier_slots,
    run_on,
)

#: The neighbouring slots read for the noise estimate reach at most this far either side.
_MAX_SPAN = timedelta(days=3)
_TICK = timedelta(microseconds=1)

#: One stored value as a baseline reads it: metric key, the end of its window (its slot), value.
Recorded = tuple[str, datetime, float]
#: Reads the history-mode samples: (targets, tolerance) -> values per key, newest target first.
NearReader = Callable[[Sequence[datetime], timedelta], dict[str, list[float]]]
#: Reads the seasonal-mode samples: time ranges -> non-breaching samples per key.
WithinReader = Callable[[Sequence[tuple[datetime, datetime]]], dict[str, list[Sample]]]


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict:
    """A stored value with its verdict: what a run of slots reads of the slots just before the judged one."""

    at: datetime
    value: float
    breach: bool


#: Reads the latest values of every key with their verdicts: (from, to) inclusive -> values per key.
RecentReader = Callable[[datetime, datetime], dict[str, list[Verdict]]]


@dataclass(frozen=True, kw_only=True, slots=True)
class SeasonalPlan:
    """Where a seasonal baseline reads: the scheduled slot it stands for, its clock, and the time ranges
    (one per earlier week) holding that slot and its neighbours."""

    anchor: datetime
    zone: tzinfo
    ranges: tuple[tuple[datetime, datetime], ...]
    #: the scheduled slots just before the anchor whose values a run of slots ends with, newest first
    recent: tuple[datetime, ...] = ()
    #: how far either side of the anchor the one noise figure of values other than counts is pooled from
    pooled_span: timedelta | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BaselineData:
    """The earlier values one execution's baselines are built from, per metric key."""

    history: Mapping[str, Sequence[float]] = field(default_factory=dict)
    seasonal: Mapping[str, Sequence[Sample]] = field(default_factory=dict)
    plan: SeasonalPlan | None = None
    #: the values stored for the plan's recent slots, with their verdicts
    recent: Mapping[str, Sequence[Verdict]] = field(default_factory=dict)


def zone_of(schedule: Schedule) -> tzinfo:
    """The clock a KPI's weeks are counted on: its cron time zone, UTC for frequency schedules."""
    return ZoneInfo(schedule.timezone) if schedule.cron else UTC


def seasonal_plan(kpi: Kpi, slot: datetime) -> SeasonalPlan:
    """The ranges a seasonal baseline of `slot` reads. A slot between scheduled slots (a manual run) stands
    for the nearest scheduled slot."""
    anchor = nearest_slot(kpi.schedule, slot)
    zone = zone_of(kpi.schedule)
    period = next_slot_after(kpi.schedule, anchor) - anchor
    span = min(NEIGHBOURS * period, _MAX_SPAN)
    recent = _slots_before(kpi.schedule, anchor, RUN_SLOTS - 1, reach=_MAX_SPAN)
    back = max(span, anchor - recent[-1]) if recent else span
    weeks = earlier_slots(anchor, zone, kpi.rule.baseline.weeks_back)
    return SeasonalPlan(
        anchor=anchor,
        zone=zone,
        ranges=tuple((at - back, at + span) for at in weeks),
        recent=recent,
        pooled_span=min(POOLED_NEIGHBOURS * period, _MAX_SPAN),
    )


def history_targets(kpi: Kpi, slot: datetime) -> list[datetime]:
    """The instants a history baseline of `slot` reads: the same slot 1..weeks_back weeks earlier (on the
    KPI's wall clock for cron schedules), in UTC."""
    local = slot.astimezone(zone_of(kpi.schedule))
    return [at.astimezone(UTC) for at in baseline_slots(local, kpi.rule.baseline.weeks_back)]


def history_tolerance(kpi: Kpi) -> timedelta:
    """How far from the exact instant N weeks back a history sample may lie: half a period (at most 12 h),
    five minutes for cron schedules."""
    if kpi.schedule.frequency_minutes:
        return timedelta(minutes=min(kpi.schedule.frequency_minutes / 2, 720))
    return timedelta(minutes=5)


def baseline_data(
    kpi: Kpi, slot: datetime, *, near: NearReader, within: WithinReader, recent: RecentReader
) -> BaselineData:
    """The earlier values the KPI's baseline needs for `slot`, read through `near` / `within` / `recent`
    (the monitoring database, or a replay held in memory); none for `source`."""
    mode = kpi.rule.baseline.mode
    if mode is BaselineMode.HISTORY:
        return BaselineData(history=near(history_targets(kpi, slot), history_tolerance(kpi)))
    if mode is BaselineMode.SEASONAL:
        plan = seasonal_plan(kpi, slot)
        latest = recent(plan.recent[-1], plan.recent[0]) if plan.recent else {}
        return BaselineData(seasonal=within(plan.ranges), plan=plan, recent=latest)
    return BaselineData()


def earliest_needed(kpi: Kpi, slot: datetime) -> datetime | None:
    """The earliest window end the baseline of `slot` reads (None for `source`): where a replay starts."""
    mode = kpi.rule.baseline.mode
    if mode is BaselineMode.HISTORY:
        return min(history_targets(kpi, slot)) - history_tolerance(kpi)
    if mode is BaselineMode.SEASONAL:
        return min(start for start, _end in seasonal_plan(kpi, slot).ranges)
    return None


def nearest_values(
    rows: Iterable[Recorded], targets: Sequence[datetime], tolerance: timedelta
) -> dict[str, list[float]]:
    """For each key, the value whose window ended closest to each target (within `tolerance`), one per
    target at most, newest target first: the samples of a history baseline."""
    best: dict[tuple[str, datetime], tuple[timedelta, float]] = {}
    for key, at, value in rows:
        target = min(targets, key=lambda t: abs(at - t))
        distance = abs(at - target)
        current = best.get((key, target))
        if distance <= tolerance and (current is None or distance < current[0]):
            best[(key, target)] = (distance, value)
    samples: dict[str, list[float]] = {}
    for (key, _target), (_distance, value) in sorted(best.items(), key=lambda item: item[0][1], reverse=True):
        samples.setdefault(key, []).append(value)
    return samples


def samples_of(rows: Iterable[Recorded]) -> dict[str, list[Sample]]:
    """Non-breaching values as seasonal samples per key, oldest first (whatever order the rows came in, so a
    batch's read and a single one's agree), each (key, instant) once (the first wins)."""
    seen: dict[tuple[str, datetime], float] = {}
    for key, at, value in rows:
        seen.setdefault((key, at), value)
    samples: dict[str, list[Sample]] = {}
    for (key, at), value in sorted(seen.items(), key=lambda item: item[0][1]):
        samples.setdefault(key, []).append(Sample(at=at, value=value))
    return samples


def verdicts_of(rows: Iterable[tuple[str, datetime, float, bool]]) -> dict[str, list[Verdict]]:
    """Stored values with their verdicts per key, oldest first, each (key, instant) once (the first wins)."""
    seen: dict[tuple[str, datetime], Verdict] = {}
    for key, at, value, breach in rows:
        seen.setdefault((key, at), Verdict(at=at, value=value, breach=breach))
    found: dict[str, list[Verdict]] = {}
    for (key, _at), verdict in sorted(seen.items(), key=lambda item: item[0][1]):
        found.setdefault(key, []).append(verdict)
    return found


def nearest_slot(schedule: Schedule, moment: datetime) -> datetime:
    """The scheduled slot nearest `moment` (`moment` itself when it is one; the earlier on a tie)."""
    following = next_slot_after(schedule, moment - _TICK)
    if following == moment:
        return moment
    preceding = _preceding_slot(schedule, moment)
    if preceding is None or following - moment < moment - preceding:
        return following
    return preceding


def judge(kpi: Kpi, observations: Sequence[Observation], data: BaselineData) -> list[Evaluation]:
    """Evaluate each observation by the KPI's rule against the baseline its mode calls for."""
    rule = kpi.rule
    mode = rule.baseline.mode
    if mode is BaselineMode.SOURCE:
        return [evaluate(o, rule, baseline=o.source_baseline) for o in observations]
    if mode is BaselineMode.HISTORY:
        return [
            evaluate(o, rule, baseline=aggregate(list(data.history.get(o.key, ())), rule.baseline.aggregate))
            for o in observations
        ]
    seasonal = SeasonalRule(
        weeks_back=rule.baseline.weeks_back,
        tolerance=rule.baseline.tolerance,
        deviation_percent=rule.deviation_percent,
        noise_floor=rule.noise_floor,
    )
    plan = data.plan
    if plan is None:
        return [evaluate(o, rule, baseline=None, band=None) for o in observations]
    judged = []
    for o in observations:
        band, run = _seasonal_verdict(o, plan, data, seasonal, rule.direction)
        judged.append(evaluate(o, rule, baseline=None, band=band, run=run))
    return judged


def _seasonal_verdict(
    observation: Observation, plan: SeasonalPlan, data: BaselineData, rule: SeasonalRule, direction: Direction
) -> tuple[Band | None, Run | None]:
    """The band of the observation's slot and the strongest run of slots ending with it (on a side
    `direction` allows, with enough evidence to breach), from the same earlier values."""
    history = SeasonalHistory(
        [s for s in data.seasonal.get(observation.key, ()) if s.at < plan.anchor],
        zone=plan.zone,
        rule=rule,
        now=plan.anchor,
        pooled_within=plan.pooled_span,
    )
    band = history.band(plan.anchor)
    if band is None or observation.current is None:
        return band, None
    stored = {v.at: v for v in data.recent.get(observation.key, ())}
    residuals = [Residual(z=band.z(observation.current))]
    for at in plan.recent:
        verdict, earlier = stored.get(at), history.band(at)
        if verdict is None or earlier is None:
            break
        residuals.append(Residual(z=earlier.z(verdict.value), breach=verdict.breach))
    residuals.reverse()
    run_rule = RunRule.for_tolerance(rule.tolerance)
    runs = [run_on(residuals, side=side, rule=run_rule) for side in _sides(direction)]
    found = [r for r in runs if r is not None and r.evidence > run_rule.decision]
    return band, max(found, key=lambda r: r.evidence, default=None)


def _sides(direction: Direction) -> tuple[int, ...]:
    if direction is Direction.UP:
        return (1,)
    if direction is Direction.DOWN:
        return (-1,)
    return (1, -1)


def _slots_before(
    schedule: Schedule, anchor: datetime, count: int, *, reach: timedelta
) -> tuple[datetime, ...]:
    """Up to `count` scheduled slots before `anchor`, newest first, none further back than `reach`."""
    found: list[datetime] = []
    current = anchor
    while len(found) < count:
        preceding = _preceding_slot(schedule, current - _TICK)
        if preceding is None or anchor - preceding > reach:
            break
        found.append(preceding)
        current = preceding
    return tuple(found)


def _preceding_slot(schedule: Schedule, moment: datetime) -> datetime | None:
    """The last slot before `moment`; for cron schedules found within the day before (manual runs only)."""
    if schedule.cron is None:
        return latest_slot_at_or_before(schedule, moment)
    preceding, candidate = None, next_slot_after(schedule, moment - timedelta(days=1))
    while candidate < moment:
        preceding, candidate = candidate, next_slot_after(schedule, candidate)
    return preceding

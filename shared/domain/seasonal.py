"""The seasonal baseline: what a slot's value should be, judged from the same slot in earlier weeks.

The **expected** value is the median of the key's values at the same slot 1..`weeks_back` weeks earlier
(the same wall time in the schedule's time zone), leaving out values that were themselves breaches.

The **band** around it is `tolerance` robust standard deviations of the KPI's noise wide on each side. One
slot's eight earlier values are too few to estimate noise (their MAD alone makes a false alert a day on
ordinary Poisson counts), so the noise is learnt from the slot and its neighbours (the slots up to twelve
periods, at most three days, either side, in the same earlier weeks) as *leave-one-out* prediction errors:
each earlier value against the median of the other values of its own slot, which is exactly the error the
detector makes when it compares a new value with a median.

Counts (non-negative whole numbers) are compared in a variance-stabilised space (`sqrt(x + 3/8)`,
Anscombe), where Poisson noise has a standard deviation near 1/2 whatever the rate. Their noise is a
model of the level (`shared.domain.count_noise`): Poisson noise times an overdispersion `scale x (1 +
growth x level)` fitted to the errors, so a quiet hour next to busy overdispersed ones gets a band near
Poisson width and a busy one a wider band; it is never taken below Poisson noise around a median of n
values (`1/2 x sqrt(1 + pi / 2n)`), so a quiet stretch of history cannot make the band too narrow. Other
values share one noise figure: the trimmed RMS of the errors of the slots up to three periods either side
(`pooled_within`). The band is mapped back to the KPI's own units and is never narrower than
`deviation_percent` % of |expected| or `noise_floor` on each side: the statistics decide, the percentage
and the floor keep a breach material.

Fewer than three usable earlier values at the slot give no baseline (the other rules still apply).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from shared.domain import count_noise
from shared.domain.clock import require_aware
from shared.domain.count_noise import LooError, trimmed_rms

MIN_VALUES = 3
#: The neighbouring slots on each side whose earlier weeks also feed the noise estimate (of counts: the
#: level model needs errors over a range of levels), and those that feed the one noise figure of other values.
NEIGHBOURS = 12
POOLED_NEIGHBOURS = 3
#: The noise of values other than counts is the root mean square of the smallest 90 % of the absolute
#: leave-one-out errors, divided by what that is for standard normal errors (`trimmed_rms`).
_KEPT = 0.9
#: Anscombe's offset (counts are judged in the space of `sqrt(x + 3/8)`).
_ANSCOMBE = 3 / 8
_WEEK = timedelta(weeks=1)
#: The run rule (see `RunRule` and docs/kpis.md): the slots a run spans at most (the judged one and the
#: three before it, whose earlier weeks the band's neighbourhood already reads), the evidence each slot's
#: residual is discounted by (half the smallest shift worth finding, 2 sd), and how far the decision lies
#: beyond the single-slot `tolerance`.
RUN_SLOTS = 4
RUN_REFERENCE = 1.0
RUN_DECISION_OVER_TOLERANCE = 1.0

Position = tuple[int, int, int]  #: weekday, hour, minute on the schedule's wall clock


@dataclass(frozen=True, kw_only=True, slots=True)
class Sample:
    """An earlier, non-breaching value of one key, at the slot (aware instant) it was measured for."""

    at: datetime
    value: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Band:
    """The expected value of a slot and the band a value must stay inside."""

    expected: float
    lower: float
    upper: float
    #: the earlier slots the expected value came from, newest first
    weeks: tuple[datetime, ...]
    #: the robust standard deviation of the noise, in the space the band was built in
    noise: float
    #: whether the band was built for counts (in Anscombe space) rather than in the KPI's own units
    counts: bool = False

    def z(self, value: float) -> float | None:
        """How many noise standard deviations `value` lies from the expected value (signed, in the space
        the band was built in); None without a noise estimate (a constant, non-count history)."""
        if self.noise <= 0 or not math.isfinite(value):
            return None
        forward = _anscombe if self.counts else _identity
        return (forward(value) - forward(self.expected)) / self.noise


@dataclass(frozen=True, kw_only=True, slots=True)
class SeasonalRule:
    """The parameters of one KPI's seasonal baseline."""

    weeks_back: int
    tolerance: float
    deviation_percent: float = 0.0
    noise_floor: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRule:
    """When a run of slots off the expected value breaches: a one-sided CUSUM per side over the last
    `slots` standardized residuals, `reference` sd of each slot's residual discounted, breaching when the
    sum exceeds `decision`."""

    decision: float
    slots: int = RUN_SLOTS
    reference: float = RUN_REFERENCE

    @classmethod
    def for_tolerance(cls, tolerance: float) -> RunRule:
        """The run rule that goes with a band of `tolerance` sd: its decision lies a little beyond it."""
        return cls(decision=tolerance + RUN_DECISION_OVER_TOLERANCE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """The evidence of the slots ending at the judged one that most strongly say "off" on one side."""

    side: int  #: +1 above the expected value, -1 below
    slots: int
    #: the sum over those slots of (residual in sd on that side - reference)
    evidence: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Residual:
    """One slot of a run: its standardized residual (None: no value or no band) and whether it breached."""

    z: float | None
    breach: bool = False


def run_on(residuals: Sequence[Residual], *, side: int, rule: RunRule) -> Run | None:
    """The strongest run on `side` ending at the last of `residuals` (oldest first; the last is the slot
    being judged): its slots all lie on that side of their expected values, the last one adds evidence
    (more than `reference` sd), and it never reaches back past the end of an earlier alert (a breaching
    slot followed by a clean one: that evidence was already reported). None when there is no such run."""
    best: Run | None = None
    total = 0.0
    later_clean = False  # the slot being judged has no verdict yet
    for length, residual in enumerate(reversed(residuals[-rule.slots :]), start=1):
        z = residual.z
        if z is None or side * z <= 0 or (residual.breach and later_clean):
            break
        later_clean = length > 1 and not residual.breach
        total += side * z - rule.reference
        if length == 1 and total <= 0:
            return None
        if best is None or total > best.evidence:
            best = Run(side=side, slots=length, evidence=total)
    return best


def position(moment: datetime, zone: tzinfo) -> Position:
    """Where `moment` falls in the week on the wall clock of `zone`."""
    local = moment.astimezone(zone)
    return local.weekday(), local.hour, local.minute


def earlier_slots(slot: datetime, zone: tzinfo, weeks_back: int) -> list[datetime]:
    """The same wall time 1..`weeks_back` weeks before `slot` in `zone`, as aware UTC-comparable instants,
    newest first (across a daylight-saving change the instant moves; the wall time does not)."""
    local = slot.astimezone(zone)
    return [_wall(local - weeks * _WEEK, zone) for weeks in range(1, weeks_back + 1)]


def seasonal_band(
    slot: datetime, samples: Sequence[Sample], *, zone: tzinfo, rule: SeasonalRule
) -> Band | None:
    """The band of `slot` from earlier non-breaching `samples` of one key (the same slot and its
    neighbours, in the `weeks_back` weeks before `slot`); None with fewer than three at the slot itself."""
    _require_aware(slot)
    return SeasonalHistory([s for s in samples if s.at < slot], zone=zone, rule=rule, now=slot).band(slot)


class SeasonalHistory:
    """One key's earlier non-breaching values, grouped by their place in the week, with one noise estimate
    pooled over every group: the bands of the slot being judged and of the few slots just before it.

    Non-negative values are first carried forward to `now` by the key's weekly trend (see `_weekly_trend`),
    so a KPI that grows a few per cent a week is not judged against the level of a month ago."""

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        zone: tzinfo,
        rule: SeasonalRule,
        now: datetime | None = None,
        pooled_within: timedelta | None = None,
    ) -> None:
        if rule.tolerance <= 0 or rule.weeks_back < 1:
            raise ValueError(f"a seasonal rule needs a positive tolerance and weeks_back, got {rule}")
        usable = [s for s in samples if math.isfinite(s.value)]
        self._zone, self._rule = zone, rule
        self.counts = bool(usable) and all(s.value >= 0 and float(s.value).is_integer() for s in usable)
        self._forward, self._back = (_anscombe, _anscombe_inverse) if self.counts else (_identity, _identity)
        groups = _by_position(usable, zone)
        self.growth = 0.0
        if now is not None and usable and all(s.value >= 0 for s in usable):
            self.growth = _weekly_trend(groups, self._forward, now)
        self._groups = {where: [self._carried(s, now) for s in group] for where, group in groups.items()}
        errors = _loo_errors(self._groups.values(), self._back)
        self.count_noise = count_noise.fit(errors) if self.counts else None
        self._noise = 0.0
        if not self.counts:  # one figure, from the slots within `pooled_within` of `now` in the week
            near = self._groups
            if now is not None and pooled_within is not None:
                near = {w: g for w, g in near.items() if _apart(w, position(now, zone)) <= pooled_within}
            self._noise = _pooled_noise(_loo_errors(near.values(), self._back))

    def _carried(self, sample: Sample, now: datetime | None) -> tuple[datetime, float, float]:
        """The sample's instant, value, and value in the band's space carried forward to `now` by the
        weekly trend."""
        value = self._forward(sample.value)
        if self.growth and now is not None:
            value *= (1 + self.growth) ** ((now - sample.at) / _WEEK)
        return sample.at, sample.value, value

    def band(self, slot: datetime) -> Band | None:
        """The band of `slot` from the values at its place in the week in the `weeks_back` weeks before it;
        None with fewer than three of them."""
        rule, zone = self._rule, self._zone
        oldest = min(earlier_slots(slot, zone, rule.weeks_back))
        same = sorted(
            (c for c in self._groups.get(position(slot, zone), []) if oldest <= c[0] < slot),
            reverse=True,
        )
        if len(same) < MIN_VALUES:
            return None
        if self.growth:
            centre = float(statistics.median(y for _at, _value, y in same))
            expected = self._back(centre)
        else:
            expected = float(statistics.median(value for _at, value, _y in same))
            centre = self._forward(expected)
        noise = self._noise
        if self.count_noise is not None:  # at the slot's own level, never below Poisson noise
            noise = self.count_noise.prediction_sd(expected, len(same))
        lower = self._back(centre - rule.tolerance * noise)
        upper = self._back(centre + rule.tolerance * noise)
        half = max(rule.deviation_percent / 100 * abs(expected), rule.noise_floor)
        return Band(
            expected=expected,
            lower=min(lower, expected - half),
            upper=max(upper, expected + half),
            weeks=tuple(at for at, _value, _y in same),
            noise=noise,
            counts=self.counts,
        )


#: The fewest earlier weeks a trend is estimated from.
MIN_TREND_WEEKS = 4


def _weekly_trend(
    groups: Mapping[Position, Sequence[Sample]], forward: Callable[[float], float], now: datetime
) -> float:
    """The key's relative growth per week (in the band's space), from the earlier weeks' levels: each week's
    values over the slots read, as a share of the same slots' medians, and the Theil-Sen slope of their
    logarithms across weeks. 0 with fewer than four weeks of at least three values each."""
    medians = {
        where: statistics.median(forward(s.value) for s in group)
        for where, group in groups.items()
        if len(group) >= MIN_VALUES
    }
    totals: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for where, group in groups.items():
        if where not in medians:
            continue
        for s in group:
            weeks = round((now - s.at) / _WEEK)
            totals[weeks][0] += forward(s.value)
            totals[weeks][1] += medians[where]
            totals[weeks][2] += 1
    levels = sorted(
        (w, math.log(v / m)) for w, (v, m, n) in totals.items() if v > 0 and m > 0 and n >= MIN_VALUES
    )
    if len(levels) < MIN_TREND_WEEKS:
        return 0.0
    slopes = [
        (b - a) / (wb - wa) for i, (wa, a) in enumerate(levels) for wb, b in levels[i + 1 :] if wb != wa
    ]
    return math.exp(-statistics.median(slopes)) - 1


def _apart(one: Position, other: Position) -> timedelta:
    """How far apart two places in the week are, either way round."""
    minutes = abs((one[0] - other[0]) * 1440 + (one[1] - other[1]) * 60 + one[2] - other[2])
    return timedelta(minutes=min(minutes, 7 * 1440 - minutes))


def _by_position(samples: Sequence[Sample], zone: tzinfo) -> dict[Position, list[Sample]]:
    groups: dict[Position, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[position(sample.at, zone)].append(sample)
    return groups


def _loo_errors(
    groups: Iterable[Sequence[tuple[datetime, float, float]]], back: Callable[[float], float]
) -> list[LooError]:
    """Each value of every group of 3+ against the median of the other values of its group (in the band's
    space), with the group's level (its median in the KPI's units)."""
    errors: list[LooError] = []
    for group in groups:
        values = [y for _at, _value, y in group]
        if len(values) < MIN_VALUES:
            continue
        level = back(float(statistics.median(values)))
        for i, value in enumerate(values):
            others = values[:i] + values[i + 1 :]
            errors.append(LooError(error=value - statistics.median(others), level=level, others=len(others)))
    return errors


def _pooled_noise(errors: Sequence[LooError]) -> float:
    """The robust standard deviation of leave-one-out errors pooled over every group."""
    if not errors:
        return 0.0
    absolute = sorted(abs(e.error) for e in errors)
    kept = max(1, math.floor(len(absolute) * _KEPT))
    return math.sqrt(statistics.fmean(e * e for e in absolute[:kept])) / trimmed_rms(kept / len(absolute))


def _anscombe(value: float) -> float:
    return math.sqrt(max(value, 0.0) + _ANSCOMBE)


def _anscombe_inverse(value: float) -> float:
    return max(value, 0.0) ** 2 - _ANSCOMBE if value > math.sqrt(_ANSCOMBE) else 0.0


def _identity(value: float) -> float:
    return value


def _wall(local: datetime, zone: tzinfo) -> datetime:
    """`local`'s wall time re-read in `zone` (timedelta arithmetic keeps the old UTC offset)."""
    return local.replace(tzinfo=None).replace(tzinfo=zone)


def _require_aware(moment: datetime) -> None:
    require_aware(moment, "moment")

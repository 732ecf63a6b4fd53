"""The seasonal baseline: what a slot's value should be, judged from the same slot in earlier weeks.

The **expected** value is the median of the key's values at the same slot 1..`weeks_back` weeks earlier
(the same wall time in the schedule's time zone), leaving out values that were themselves breaches.

The **band** around it is `tolerance` robust standard deviations of the KPI's noise wide on each side. One
slot's eight earlier values are too few to estimate noise (their MAD alone makes a false alert a day on
ordinary Poisson counts), so the noise is pooled over the slot and its neighbours (the slots up to three
periods either side, in the same earlier weeks) as *leave-one-out* prediction errors: each earlier value
against the median of the other values of its own slot, which is exactly the error the detector makes
when it compares a new value with a median. Counts (non-negative whole numbers) are compared in a
variance-stabilised space (`sqrt(x + 3/8)`, Anscombe), where Poisson noise has a standard deviation near
1/2 whatever the rate, so busy afternoons and quiet nights share one noise estimate; their noise is never
taken below that Poisson level (widened for the median's own error: `1/2 x sqrt(1 + pi / 2n)` for a median
of n values), so a quiet stretch of history cannot make the band too narrow. The band is mapped back to
the KPI's own units and is never narrower than
`deviation_percent` % of |expected| or `noise_floor` on each side: the statistics decide, the percentage and
the floor keep a breach material.

Fewer than three usable earlier values at the slot give no baseline (the other rules still apply).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

MIN_VALUES = 3
#: The neighbouring slots on each side whose earlier weeks also feed the noise estimate.
NEIGHBOURS = 3
#: The robust standard deviation of a normal sample is 1.4826 times its median absolute deviation.
_MAD_TO_SD = 1.4826
_MEAN_ABS_TO_SD = math.sqrt(math.pi / 2)
#: Anscombe's offset, and the standard deviation of Poisson counts in its space.
_ANSCOMBE = 3 / 8
_POISSON_SD = 0.5
_WEEK = timedelta(weeks=1)

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


@dataclass(frozen=True, kw_only=True, slots=True)
class SeasonalRule:
    """The parameters of one KPI's seasonal baseline."""

    weeks_back: int
    tolerance: float
    deviation_percent: float = 0.0
    noise_floor: float = 0.0


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
    if rule.tolerance <= 0 or rule.weeks_back < 1:
        raise ValueError(f"a seasonal rule needs a positive tolerance and weeks_back, got {rule}")
    usable = [s for s in samples if s.at < slot and math.isfinite(s.value)]
    groups = _by_position(usable, zone)
    oldest = min(earlier_slots(slot, zone, rule.weeks_back))
    same = sorted(
        (s for s in groups.get(position(slot, zone), []) if s.at >= oldest), key=lambda s: s.at, reverse=True
    )
    if len(same) < MIN_VALUES:
        return None
    counts = all(s.value >= 0 and float(s.value).is_integer() for s in usable)
    forward, back = (_anscombe, _anscombe_inverse) if counts else (_identity, _identity)
    noise = _pooled_noise(groups.values(), forward)
    if counts:  # never below Poisson noise around a median of len(same) values
        noise = max(noise, _POISSON_SD * math.sqrt(1 + math.pi / (2 * len(same))))
    expected = float(statistics.median(s.value for s in same))
    centre = forward(expected)
    lower, upper = back(centre - rule.tolerance * noise), back(centre + rule.tolerance * noise)
    half = max(rule.deviation_percent / 100 * abs(expected), rule.noise_floor)
    return Band(
        expected=expected,
        lower=min(lower, expected - half),
        upper=max(upper, expected + half),
        weeks=tuple(s.at for s in same),
        noise=noise,
    )


def _by_position(samples: Sequence[Sample], zone: tzinfo) -> dict[Position, list[Sample]]:
    groups: dict[Position, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[position(sample.at, zone)].append(sample)
    return groups


def _pooled_noise(groups: Iterable[Sequence[Sample]], forward: Callable[[float], float]) -> float:
    """The robust standard deviation of leave-one-out errors pooled over every group of 3+ values."""
    errors: list[float] = []
    for group in groups:
        values = [forward(s.value) for s in group]
        if len(values) < MIN_VALUES:
            continue
        for i, value in enumerate(values):
            errors.append(abs(value - statistics.median(values[:i] + values[i + 1 :])))
    if not errors:
        return 0.0
    mad = statistics.median(errors) * _MAD_TO_SD
    return mad if mad > 0 else statistics.fmean(errors) * _MEAN_ABS_TO_SD


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
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware datetime")

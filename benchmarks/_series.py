"""Labelled hourly count series for the detection benchmark: seeded, reproducible, pure (stdlib only).

Each KPI counts events per hour from a Monday 00:00 UTC (`START`, with a day of lead-in before it):
`WARMUP_WEEKS` weeks of baseline, then `SCORED_WEEKS` weeks that are scored. Its expected rate at hour `h` is

    rate(h) = peak * shape(hour of day) * (weekend_share on Saturday and Sunday) * (1 + trend)^(weeks)

where `shape` is a business-hours plateau (logistic edges at `opens` and `closes`, 1 in between, down to
`night_share` of the peak at night), `peak` is spread geometrically over 30..400 per hour, and the trend is a
few per cent a week either way. A value is Poisson(rate), or for overdispersed KPIs negative binomial
(gamma-Poisson) with variance `rate + rate^2 / k`, `k` set so that the variance is 1.5..4x the mean at peak.

**Noise** at an hour is the standard deviation of that distribution at the hour's expected rate without
anomaly: `sd(h) = sqrt(rate + rate^2 / k)` (`k` infinite for Poisson). An anomaly multiplies the rate by a
factor over 1..6 consecutive hours: drops to 20..65 % of the rate, spikes to 1.5..4x, outages to 0..3 %
(outages start on weekdays between 08:00 and 17:00 UTC and end by 18:00). A placement is kept only if every
hour it covers changes the expected value by at least `max(2 sd(h), MIN_CHANGE)` counts; otherwise it is
drawn again, so no anomaly hides in the noise and night-time anomalies exist only where they are measurable.
Anomalies in the scored weeks are labelled; incidents of the same kinds in the last warm-up weeks are not
(nothing scores them), and a baseline that averages earlier weeks echoes them into the scored weeks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
START = datetime(2026, 8, 3, tzinfo=UTC)  #: a Monday
#: Values start this long before START, so the first warm-up slots' neighbours (seasonal noise) have data.
LEAD = timedelta(days=1)
WARMUP_WEEKS = 8
SCORED_WEEKS = 4
PEAK_RANGE = (30.0, 400.0)  #: expected events per hour at the daily peak, before trend and weekends
DISPERSION_RANGE = (1.5, 4.0)  #: variance / mean at peak, for overdispersed KPIs
MIN_SIZE_SD = 2.0  #: no anomalous hour changes the expected value by less than this many sd
MIN_CHANGE = 5.0  #: ... nor by fewer than this many counts
FACTORS = {"drop": (0.20, 0.65), "spike": (1.5, 4.0), "outage": (0.0, 0.03)}
KIND_WEIGHTS = {"drop": 0.40, "spike": 0.35, "outage": 0.25}
MAX_HOURS = 6
GAP = timedelta(hours=24)  #: between two anomalies of one KPI
ATTEMPTS = 200


class Kind(StrEnum):
    DROP = "drop"
    SPIKE = "spike"
    OUTAGE = "outage"


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    """One KPI's shape of traffic."""

    name: str
    peak: float
    night_share: float
    opens: float  #: hour of day (UTC) of the morning ramp's midpoint
    closes: float  #: hour of day of the evening ramp's midpoint
    weekend_share: float
    trend_per_week: float
    shape_k: float | None  #: gamma shape of the negative binomial; None: Poisson

    def rate(self, at: datetime) -> float:
        """Expected events in the hour starting `at`, without anomaly."""
        hour = at.hour + 0.5
        plateau = _logistic(hour - self.opens) * _logistic(self.closes - hour)
        shape = self.night_share + (1 - self.night_share) * plateau
        weekend = self.weekend_share if at.weekday() >= 5 else 1.0
        weeks = (at - START) / WEEK
        growth: float = (1 + self.trend_per_week) ** weeks
        return self.peak * shape * weekend * growth

    def sd(self, rate: float) -> float:
        """The noise: the standard deviation of a value whose expected value is `rate`."""
        extra = rate * rate / self.shape_k if self.shape_k else 0.0
        return math.sqrt(rate + extra)


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    """Hours `[start, start + hours)` with the rate multiplied by `factor`. Scored by slot: the hour starting
    `h` is the window of the slot `h + 1 hour`."""

    kpi: str
    kind: Kind
    start: datetime
    hours: int
    factor: float
    labelled: bool
    sizes_sd: tuple[float, ...]  #: each hour's |expected change| in sd

    @property
    def first_slot(self) -> datetime:
        return self.start + HOUR

    @property
    def last_slot(self) -> datetime:
        return self.start + self.hours * HOUR

    @property
    def peak_sd(self) -> float:
        return max(self.sizes_sd)


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    profile: Profile
    values: tuple[int, ...]  #: one per hour from START - LEAD
    anomalies: tuple[Anomaly, ...]

    def points(self) -> Iterator[tuple[datetime, int]]:
        return ((START - LEAD + index * HOUR, value) for index, value in enumerate(self.values))


@dataclass(frozen=True, kw_only=True, slots=True)
class Dataset:
    seed: int
    series: tuple[Series, ...]

    @property
    def scored_from(self) -> datetime:
        """The first scored slot (its window is the first scored hour)."""
        return START + WARMUP_WEEKS * WEEK + HOUR

    @property
    def scored_to(self) -> datetime:
        """The end of the scored slots, exclusive."""
        return START + (WARMUP_WEEKS + SCORED_WEEKS) * WEEK + HOUR

    @property
    def labelled(self) -> tuple[Anomaly, ...]:
        return tuple(a for s in self.series for a in s.anomalies if a.labelled)


def generate(*, seed: int, kpis: int, quiet_share: float = 0.2) -> Dataset:
    """`kpis` labelled series; about `quiet_share` of them have no labelled anomaly (false alerts only)."""
    rng = random.Random(seed)  # noqa: S311 -- benchmark data, not security
    low, high = PEAK_RANGE
    peaks = [low * (high / low) ** (i / max(kpis - 1, 1)) for i in range(kpis)]
    rng.shuffle(peaks)
    quiet = set(rng.sample(range(kpis), round(kpis * quiet_share)))
    series = []
    for index, peak in enumerate(peaks):
        profile = _profile(rng, f"k{index:02d}", peak, overdispersed=index % 5 in (1, 3))
        labelled = 0 if index in quiet else rng.randint(1, 4)
        anomalies = _place(rng, profile, labelled=labelled, warmup=rng.randint(1, 3))
        series.append(Series(profile=profile, values=_values(rng, profile, anomalies), anomalies=anomalies))
    return Dataset(seed=seed, series=tuple(series))


def _profile(rng: random.Random, name: str, peak: float, *, overdispersed: bool) -> Profile:
    shape_k = peak / (rng.uniform(*DISPERSION_RANGE) - 1) if overdispersed else None
    return Profile(
        name=name,
        peak=peak,
        night_share=rng.uniform(0.01, 0.05),
        opens=rng.uniform(7.0, 9.5),
        closes=rng.uniform(17.0, 20.0),
        weekend_share=rng.uniform(0.25, 0.6),
        trend_per_week=rng.uniform(-0.02, 0.04),
        shape_k=shape_k,
    )


def _place(rng: random.Random, profile: Profile, *, labelled: int, warmup: int) -> tuple[Anomaly, ...]:
    """`warmup` unlabelled incidents in the last half of the warm-up weeks, `labelled` in the scored weeks."""
    placed: list[Anomaly] = []
    half = START + WARMUP_WEEKS // 2 * WEEK
    scored = START + WARMUP_WEEKS * WEEK
    for count, begin, end, label in (
        (warmup, half, scored, False),
        (labelled, scored, scored + SCORED_WEEKS * WEEK, True),
    ):
        for _ in range(count):
            anomaly = _draw(rng, profile, begin=begin, end=end, labelled=label, taken=placed)
            if anomaly is not None:
                placed.append(anomaly)
    return tuple(placed)


def _draw(
    rng: random.Random,
    profile: Profile,
    *,
    begin: datetime,
    end: datetime,
    labelled: bool,
    taken: list[Anomaly],
) -> Anomaly | None:
    """A placement meeting the minimum size in every hour and clear of `taken`; None after ATTEMPTS."""
    for _ in range(ATTEMPTS):
        kind = Kind(rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0])
        hours = rng.randint(1, MAX_HOURS)
        start = begin + rng.randrange(int((end - begin) / HOUR) - hours + 1) * HOUR
        if kind == Kind.OUTAGE and not _business_hours(start, hours):
            continue
        factor = rng.uniform(*FACTORS[kind])
        sizes = _sizes(profile, start, hours, factor)
        if sizes is not None and _clear(start, hours, taken):
            return Anomaly(
                kpi=profile.name,
                kind=kind,
                start=start,
                hours=hours,
                factor=factor,
                labelled=labelled,
                sizes_sd=sizes,
            )
    return None


def _sizes(profile: Profile, start: datetime, hours: int, factor: float) -> tuple[float, ...] | None:
    """Each hour's |expected change| in sd, or None if one hour is below the minimum."""
    sizes = []
    for offset in range(hours):
        rate = profile.rate(start + offset * HOUR)
        change = abs(rate * (factor - 1))
        if change < max(MIN_SIZE_SD * profile.sd(rate), MIN_CHANGE):
            return None
        sizes.append(change / profile.sd(rate))
    return tuple(sizes)


def _business_hours(start: datetime, hours: int) -> bool:
    return start.weekday() < 5 and start.hour >= 8 and start.hour + hours <= 18


def _clear(start: datetime, hours: int, taken: list[Anomaly]) -> bool:
    end = start + hours * HOUR
    return all(end + GAP <= other.start or other.start + other.hours * HOUR + GAP <= start for other in taken)


def _values(rng: random.Random, profile: Profile, anomalies: tuple[Anomaly, ...]) -> tuple[int, ...]:
    factors: dict[datetime, float] = {}
    for anomaly in anomalies:
        for offset in range(anomaly.hours):
            factors[anomaly.start + offset * HOUR] = anomaly.factor
    hours = (LEAD + (WARMUP_WEEKS + SCORED_WEEKS) * WEEK) // HOUR
    values = []
    for index in range(hours):
        at = START - LEAD + index * HOUR
        mean = profile.rate(at) * factors.get(at, 1.0)
        if profile.shape_k and mean > 0:
            mean = rng.gammavariate(profile.shape_k, mean / profile.shape_k)
        values.append(poisson(rng, mean))
    return tuple(values)


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson(mean) draw: multiplication of uniforms below 10, else Hormann's transformed rejection
    with squeeze (PTRS, 1993), exact for any mean."""
    if mean <= 0:
        return 0
    if mean < 10:
        limit, product, count = math.exp(-mean), rng.random(), 0
        while product > limit:
            product *= rng.random()
            count += 1
        return count
    return _ptrs(rng, mean)


def _ptrs(rng: random.Random, mean: float) -> int:
    root, log_mean = math.sqrt(mean), math.log(mean)
    b = 0.931 + 2.53 * root
    a = -0.059 + 0.02483 * b
    inverse_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        if us <= 0:
            continue
        k = math.floor((2 * a / us + b) * u + mean + 0.43)
        if us >= 0.07 and v <= v_r:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        accept = math.log(v * inverse_alpha / (a / (us * us) + b))
        if accept <= -mean + k * log_mean - math.lgamma(k + 1):
            return k


def _logistic(hours: float) -> float:
    return 1 / (1 + math.exp(-hours / 0.6))

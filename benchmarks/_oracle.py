"""An oracle detector for the detection benchmark's data: what a rule judging hourly values could reach at
best. Pure (stdlib only).

The oracle knows what no real detector knows: each hour's true expected count without anomaly (the
generator's `Profile.rate`) and the true noise distribution around it (Poisson, or negative binomial with the
generator's shape `k`). It judges each scored slot by the exact tail probabilities of the observed count
under that distribution:

* **single slot**: a breach when the two-sided tail probability `p = min(1, 2 min(P(X <= x), P(X >= x)))` is
  below `2 (1 - Phi(t))`, i.e. when the normal score of `p` reaches `t` sd;
* **with runs**: also a breach when the seasonal rule's own run logic (`shared.domain.seasonal.run_on`,
  `RunRule.for_tolerance(t)`: up to 4 slots, reference 1 sd, decision `t + 1`) finds enough evidence in the
  slots' mid-p normal scores (`P(X < x) + P(X = x) / 2` mapped through `Phi^-1`).

Episodes follow `fire_after` 1 and `resolve_after` 1, as the benchmark's KPIs: one opens at a breaching slot
and resolves at the next clean one. Nothing is estimated, so every gap between the oracle and the seasonal
rule comes from estimating the expected value and the noise; every miss of the oracle is a miss of any rule
that judges hourly values at the same false-alert rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import NormalDist

from benchmarks._scoring import Episode
from benchmarks._series import HOUR, LEAD, START, Dataset, Series
from shared.domain.seasonal import Residual, RunRule, run_on

#: Terms of a tail sum below this share of the sum so far end it.
_PRECISION = 1e-17
#: The largest normal score reported (a tail probability under about 1e-300 is taken as that).
MAX_Z = 37.0
_NORMAL = NormalDist()


@dataclass(frozen=True, kw_only=True, slots=True)
class Tails:
    """The tail probabilities of one observed count under its true distribution."""

    at_most: float  #: P(X <= x)
    at_least: float  #: P(X >= x)
    equal: float  #: P(X = x)

    @property
    def two_sided(self) -> float:
        return min(1.0, 2 * min(self.at_most, self.at_least))

    def z(self) -> float:
        """The normal score of the two-sided tail probability, signed: + above the expected count."""
        magnitude = _upper_score(self.two_sided / 2)
        return magnitude if self.at_least < self.at_most else -magnitude

    def mid_z(self) -> float:
        """The normal score of the mid-p value `P(X < x) + P(X = x) / 2` (about standard normal)."""
        if self.at_least < self.at_most:
            return _upper_score(self.at_least - self.equal / 2)
        return -_upper_score(self.at_most - self.equal / 2)


def tails(count: int, mean: float, shape_k: float | None) -> Tails:
    """The tails of `count` under Poisson(`mean`) (`shape_k` None) or the negative binomial of that mean and
    variance `mean + mean^2 / shape_k`. The smaller tail is summed term by term, away from the mode."""
    if count < 0 or mean <= 0:
        raise ValueError(f"need a count >= 0 and a mean > 0, got {count} and {mean}")
    equal = math.exp(_log_pmf(count, mean, shape_k))
    if count <= mean:
        below = _sum_down(count, equal, mean, shape_k)
        return Tails(at_most=below, at_least=max(0.0, 1 - below + equal), equal=equal)
    above = _sum_up(count, equal, mean, shape_k)
    return Tails(at_most=max(0.0, 1 - above + equal), at_least=above, equal=equal)


def _log_pmf(count: int, mean: float, shape_k: float | None) -> float:
    if shape_k is None:
        return count * math.log(mean) - mean - math.lgamma(count + 1)
    return (
        math.lgamma(count + shape_k)
        - math.lgamma(shape_k)
        - math.lgamma(count + 1)
        + shape_k * math.log(shape_k / (shape_k + mean))
        + count * math.log(mean / (shape_k + mean))
    )


def _sum_down(count: int, term: float, mean: float, shape_k: float | None) -> float:
    """P(X <= count) from P(X = count), by pmf(j - 1) = pmf(j) x j / mean (Poisson) or x j / ((j - 1 + k) q)
    with q = mean / (k + mean)."""
    total, j = term, count
    ratio_base = mean if shape_k is None else mean / (shape_k + mean)
    while j > 0 and term > total * _PRECISION:
        term *= j / (ratio_base if shape_k is None else (j - 1 + shape_k) * ratio_base)
        total += term
        j -= 1
    return total


def _sum_up(count: int, term: float, mean: float, shape_k: float | None) -> float:
    """P(X >= count) from P(X = count), by pmf(j + 1) = pmf(j) x mean / (j + 1) or (j + k) q / (j + 1)."""
    total, j = term, count
    q = mean if shape_k is None else mean / (shape_k + mean)
    while term > total * _PRECISION or j <= mean:
        term *= (q if shape_k is None else (j + shape_k) * q) / (j + 1)
        total += term
        j += 1
        if term == 0.0:
            break
    return total


def _upper_score(tail: float) -> float:
    """The z with P(Z >= z) = `tail`."""
    if tail >= 1:
        return -MAX_Z
    if tail <= math.exp(-MAX_Z * MAX_Z / 2) / MAX_Z:
        return MAX_Z
    return -_NORMAL.inv_cdf(tail)


def episodes_of_breaches(kpi: str, slots: Sequence[tuple[datetime, bool]]) -> list[Episode]:
    """Episodes with `fire_after` 1 and `resolve_after` 1 over one KPI's consecutive slots (oldest first):
    each opens at a breaching slot after a clean one and resolves at the next clean slot (None: still
    open)."""
    episodes: list[Episode] = []
    opened: datetime | None = None
    for slot, breach in slots:
        if breach and opened is None:
            opened = slot
        elif not breach and opened is not None:
            episodes.append(Episode(kpi=kpi, opened_at=opened, resolved_at=slot))
            opened = None
    if opened is not None:
        episodes.append(Episode(kpi=kpi, opened_at=opened, resolved_at=None))
    return episodes


@dataclass(frozen=True, kw_only=True, slots=True)
class Judged:
    """One scored slot of one KPI as the oracle sees it."""

    slot: datetime
    z: float  #: the two-sided tail's normal score, signed
    mid_z: float  #: the mid-p normal score


def judged(series: Series, *, start: datetime, end: datetime) -> list[Judged]:
    """The KPI's slots in `[start, end)` with their scores against the true distribution of the hour before
    each (a slot's window is the hour that ends at it)."""
    profile, found = series.profile, []
    slot = start
    while slot < end:
        hour = slot - HOUR
        value = series.values[(hour - (START - LEAD)) // HOUR]
        t = tails(value, profile.rate(hour), profile.shape_k)
        found.append(Judged(slot=slot, z=t.z(), mid_z=t.mid_z()))
        slot += HOUR
    return found


def breaches(slots: Sequence[Judged], *, threshold: float, runs: bool) -> Iterator[tuple[datetime, bool]]:
    """Each slot's verdict: |z| >= `threshold`, or (with `runs`) a run the seasonal rule's run logic would
    flag at that tolerance."""
    rule = RunRule.for_tolerance(threshold)
    residuals: list[Residual] = []
    for s in slots:
        breach = abs(s.z) >= threshold
        if runs and not breach:
            window = [*residuals[-(rule.slots - 1) :], Residual(z=s.mid_z)]
            found = (run_on(window, side=side, rule=rule) for side in (1, -1))
            breach = any(r is not None and r.evidence > rule.decision for r in found)
        residuals.append(Residual(z=s.mid_z, breach=breach))
        yield s.slot, breach


def oracle_episodes(
    dataset: Dataset, scored: dict[str, list[Judged]], *, threshold: float, runs: bool
) -> list[Episode]:
    """Every KPI's episodes at `threshold`."""
    return [
        e
        for series in dataset.series
        for e in episodes_of_breaches(
            series.profile.name, list(breaches(scored[series.profile.name], threshold=threshold, runs=runs))
        )
    ]

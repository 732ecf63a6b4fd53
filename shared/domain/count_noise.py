"""The noise of counts at each level: Poisson noise widened by an overdispersion estimated from history.

Counts are judged in Anscombe's variance-stabilised space (`sqrt(x + 3/8)`), where a Poisson count has a
standard deviation near 1/2 whatever its rate. Real counts are often *overdispersed*, and not by the same
factor at every level: when the rate itself wanders from hour to hour (a gamma-Poisson, that is negative
binomial, count) the variance is `rate x (1 + rate / k)`, so the Anscombe standard deviation is

    sd(level) = 1/2 x sqrt(scale x (1 + growth x level))

with `scale` >= 0 the overdispersion at low levels (1 for Poisson, above 1 for counts that come in bursts)
and `growth` = 1/k >= 0 the share of the variance that grows with the level. One noise figure for the
slot and its neighbours (a trimmed RMS) is dominated by the busiest of them: too wide for the quiet
hours next to a busy one, too narrow for the busy hours next to quiet ones (a morning or evening ramp).

Both parameters are fitted to the leave-one-out errors of the earlier weeks (each value against the median
of the other values of its slot), each error scaled by the variance of a difference from a median of its
group's other values: the maximum of the Gaussian likelihood of the errors, over a grid of `growth` values
(`scale` then has a closed form), with the largest twentieth of the standardized errors left out (so an
earlier incident does not widen every band) and the variance corrected for that trimming. The noise is never
taken below Poisson noise: a quiet stretch of history cannot make a band too narrow. Pure.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: The share of the standardized errors kept by the fit (the largest twentieth is left out: enough for an
#: earlier incident that was not flagged; trimming more biases the variance of overdispersed counts low, their
#: errors having heavier tails than the normal ones the trimming correction assumes).
KEPT = 0.95
#: The variance of a Poisson count in Anscombe space.
POISSON_VARIANCE = 0.25
#: The values of `growth` tried (per count of level): none, then 1/k for k from 10 000 down to 1, three a
#: decade.
GROWTHS = (0.0, *(10 ** (exponent / 3) for exponent in range(-12, 1)))


@dataclass(frozen=True, kw_only=True, slots=True)
class LooError:
    """One earlier value's leave-one-out error, in Anscombe space."""

    error: float
    #: the level (in counts) of the group it belongs to
    level: float
    #: the number of other values of its group the median was taken of
    others: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CountNoise:
    """Overdispersed Poisson noise in Anscombe space (see the module docstring)."""

    scale: float = 1.0
    growth: float = 0.0

    def sd(self, level: float) -> float:
        """The standard deviation of one count at `level` (counts) in Anscombe space, at least Poisson's."""
        dispersion = self.scale * (1 + self.growth * max(level, 0.0))
        return math.sqrt(POISSON_VARIANCE * max(dispersion, 1.0))

    def prediction_sd(self, level: float, values: int) -> float:
        """The standard deviation of a new count at `level` minus the median of `values` earlier ones."""
        return self.sd(level) * math.sqrt(1 + median_variance(values))


def median_variance(values: int) -> float:
    """The variance of the median of `values` independent unit-variance normal values: 1/n for one or two,
    pi / 2n (its large-sample value) from three on."""
    if values < 1:
        raise ValueError("a median needs at least one value")
    return 1 / values if values <= 2 else math.pi / (2 * values)


def fit(errors: Sequence[LooError]) -> CountNoise:
    """The overdispersion that makes `errors` most likely (Poisson with none)."""
    usable = [e for e in errors if e.others >= 1 and math.isfinite(e.error)]
    if not usable:
        return CountNoise()
    kept = max(1, math.floor(len(usable) * KEPT))
    trimming = trimmed_rms(kept / len(usable)) ** 2
    squares = [e.error * e.error / _unit(e) for e in usable]  # each a Poisson error's variance from 1
    levels = [max(e.level, 0.0) for e in usable]
    best = (-math.inf, CountNoise())
    for growth in GROWTHS:
        shapes = [1 + growth * level for level in levels]
        scaled = sorted(zip(map(operator.truediv, squares, shapes), shapes, strict=True))[:kept]
        scale = sum(u for u, _shape in scaled) / kept / trimming
        if scale <= 0:
            return CountNoise()
        # The Gaussian log-likelihood of the kept errors (constants left out), `scale` at its maximum.
        likelihood = -(kept * math.log(scale) + sum(math.log(shape) for _u, shape in scaled))
        if likelihood > best[0]:
            best = (likelihood, CountNoise(scale=scale, growth=growth))
    return best[1]


def _unit(error: LooError) -> float:
    """The variance of a Poisson error like `error` (a count against the median of its others)."""
    return POISSON_VARIANCE * (1 + median_variance(error.others))


@functools.cache
def trimmed_rms(share: float) -> float:
    """The root mean square of the smallest `share` of |Z| for standard normal Z."""
    if share >= 1:
        return 1.0
    q = NormalDist().inv_cdf((1 + share) / 2)
    return math.sqrt(1 - 2 * q * NormalDist().pdf(q) / share)

"""The noise of counts at each level: Poisson noise widened by a fitted overdispersion, as tables."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.count_noise import CountNoise, LooError, fit, median_variance
from shared.domain.seasonal import Sample, SeasonalHistory, SeasonalRule

SLOT = datetime(2026, 11, 30, 14, tzinfo=UTC)  # a Monday, 14:00 UTC
HOUR = timedelta(hours=1)
RULE = SeasonalRule(weeks_back=8, tolerance=4.0)


def anscombe(value: float) -> float:
    return math.sqrt(value + 3 / 8)


def loo_errors(levels: list[float], *, growth: float, weeks: int = 8, seed: int = 5) -> list[LooError]:
    """Leave-one-out errors of counts with variance `level x (1 + growth x level)` at each level."""
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    errors = []
    for level in levels:
        values = []
        for _ in range(weeks):
            rate = rng.gammavariate(1 / growth, level * growth) if growth else level
            values.append(anscombe(max(0, round(rng.gauss(rate, math.sqrt(rate))))))
        for i, value in enumerate(values):
            others = sorted(values[:i] + values[i + 1 :])
            median = (others[(len(others) - 1) // 2] + others[len(others) // 2]) / 2
            errors.append(LooError(error=value - median, level=level, others=len(others)))
    return errors


@pytest.mark.parametrize(("values", "variance"), [(1, 1.0), (2, 0.5), (3, math.pi / 6), (8, math.pi / 16)])
def test_the_variance_of_a_median(values: int, variance: float) -> None:
    assert median_variance(values) == pytest.approx(variance)


def test_a_median_of_nothing_has_no_variance() -> None:
    with pytest.raises(ValueError, match="at least one"):
        median_variance(0)


@pytest.mark.parametrize(
    ("noise", "level", "sd"),
    [
        (CountNoise(), 0.0, 0.5),  # Poisson: 1/2 in Anscombe space at every level
        (CountNoise(), 400.0, 0.5),
        (CountNoise(scale=4.0), 10.0, 1.0),  # bursts: twice Poisson's standard deviation
        (CountNoise(scale=1.0, growth=0.01), 300.0, 1.0),  # negative binomial, k = 100, at 3k
        (CountNoise(scale=0.25), 50.0, 0.5),  # never below Poisson noise
        (CountNoise(scale=1.0, growth=0.01), -5.0, 0.5),  # a negative level counts as none
    ],
)
def test_the_noise_at_a_level(noise: CountNoise, level: float, sd: float) -> None:
    assert noise.sd(level) == pytest.approx(sd)


def test_a_prediction_adds_the_error_of_the_median_it_is_compared_with() -> None:
    assert CountNoise().prediction_sd(20.0, 8) == pytest.approx(0.5 * math.sqrt(1 + math.pi / 16))


@pytest.mark.parametrize(
    "errors",
    [
        [],  # no history
        [LooError(error=0.0, level=5.0, others=7)] * 20,  # constant history
        [LooError(error=0.0, level=0.0, others=2)] * 3,  # a zero baseline of three weeks
    ],
)
def test_without_spread_the_noise_is_poissons(errors: list[LooError]) -> None:
    assert fit(errors) == CountNoise()


def test_poisson_counts_fit_as_poisson() -> None:
    noise = fit(loo_errors([2, 5, 10, 30, 60, 120, 250, 400] * 3, growth=0.0))
    for level in (5.0, 50.0, 400.0):
        assert 0.85 < noise.sd(level) / 0.5 < 1.2


def test_overdispersed_counts_fit_a_noise_that_grows_with_the_level() -> None:
    # Negative binomial with k = 50: at level 400 the variance is 9x Poisson's, at level 5 only 1.1x.
    noise = fit(loo_errors([5, 10, 30, 60, 120, 250, 400] * 4, growth=0.02))
    assert noise.sd(5.0) < 0.7
    assert 2.2 < noise.sd(400.0) / 0.5 < 3.6


def test_missing_weeks_give_groups_of_fewer_values_that_still_count() -> None:
    errors = loo_errors([50.0] * 10, growth=0.0, weeks=3) + loo_errors([50.0] * 10, growth=0.0, seed=6)
    assert 0.8 < fit(errors).sd(50.0) / 0.5 < 1.25


def test_a_wild_earlier_value_is_trimmed_away() -> None:
    errors = loo_errors([100.0] * 10, growth=0.0)
    wild = [*errors[:-1], LooError(error=300.0, level=100.0, others=7)]
    assert fit(wild).sd(100.0) == pytest.approx(fit(errors).sd(100.0), rel=0.15)


def ramp(*, growth: float, seed: int = 9) -> list[Sample]:
    """Eight weeks of counts from a quiet night (5 an hour) up to a busy plateau (400) around SLOT."""
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    samples = []
    for week in range(1, 9):
        for hour in range(-12, 13):
            level = 5 + 395 / (1 + math.exp(-hour))
            rate = rng.gammavariate(1 / growth, level * growth) if growth else level
            value = max(0, round(rng.gauss(rate, math.sqrt(rate))))
            samples.append(Sample(at=SLOT - timedelta(weeks=week) + hour * HOUR, value=float(value)))
    return samples


def test_on_a_ramp_quiet_hours_get_a_narrow_band_and_busy_ones_a_wide_one() -> None:
    history = SeasonalHistory(ramp(growth=0.02), zone=UTC, rule=RULE, now=SLOT + 13 * HOUR)
    quiet, busy = history.band(SLOT - 8 * HOUR), history.band(SLOT + 8 * HOUR)
    assert quiet is not None
    assert busy is not None
    # Quiet: near Poisson noise around the median of 8 (0.55); busy: near 3x (variance 1 + 0.02 x 400).
    assert quiet.noise < 0.75
    assert 2.3 < busy.noise / 0.55 < 3.7


def test_on_a_poisson_ramp_every_hour_gets_poisson_noise() -> None:
    history = SeasonalHistory(ramp(growth=0.0), zone=UTC, rule=RULE, now=SLOT + 13 * HOUR)
    for hour in (-8, 0, 8):
        band = history.band(SLOT + hour * HOUR)
        assert band is not None
        assert 0.5 <= band.noise < 0.7


def test_values_other_than_counts_pool_one_noise_figure_from_the_nearer_slots_only() -> None:
    # A ratio, calm around SLOT and wild twelve hours away: the wild hours do not widen SLOT's band.
    rng = random.Random(4)  # noqa: S311  # test data, not secrets
    samples = [
        Sample(
            at=SLOT - timedelta(weeks=week) + hour * HOUR,
            value=0.5 + rng.gauss(0, 0.2 if abs(hour) > 6 else 0.01),
        )
        for week in range(1, 9)
        for hour in range(-12, 13)
    ]
    near = SeasonalHistory(samples, zone=UTC, rule=RULE, now=SLOT, pooled_within=3 * HOUR).band(SLOT)
    everything = SeasonalHistory(samples, zone=UTC, rule=RULE, now=SLOT).band(SLOT)
    assert near is not None
    assert everything is not None
    assert not near.counts
    assert 0.005 < near.noise < 0.02 < everything.noise

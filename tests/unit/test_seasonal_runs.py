"""The seasonal detector's run of slots, weekly trend and noise estimate, as tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.baseline import BaselineData, Verdict, judge, seasonal_plan, verdicts_of
from shared.domain.kpi import Baseline, BaselineMode, Direction, Kpi, Rule, Schedule
from shared.domain.observation import Observation
from shared.domain.seasonal import (
    Residual,
    Run,
    RunRule,
    Sample,
    SeasonalHistory,
    SeasonalRule,
    run_on,
    seasonal_band,
)
from tests.factories import make_kpi

SLOT = datetime(2026, 11, 30, 14, tzinfo=UTC)  # a Monday, 14:00 UTC
HOUR = timedelta(hours=1)
RULE = SeasonalRule(weeks_back=8, tolerance=4.0)
RUNS = RunRule(decision=4.5, slots=4, reference=1.0)


def residuals(*zs: float | None, breaches: tuple[bool, ...] = ()) -> list[Residual]:
    flags = breaches or (False,) * len(zs)
    return [Residual(z=z, breach=b) for z, b in zip(zs, flags, strict=True)]


@pytest.mark.parametrize(
    ("zs", "breaches", "side", "found"),
    [
        # One slot: its residual less the reference.
        ((None, None, None, 3.0), (), 1, Run(side=1, slots=1, evidence=2.0)),
        # Three slots three sd high: 3 x (3 - 1) = 6, more than any shorter run.
        ((0.2, 3.0, 3.0, 3.0), (), 1, Run(side=1, slots=3, evidence=6.0)),
        # The same run below the expected values, looked for on the lower side.
        ((-0.2, -3.0, -3.0, -3.0), (), -1, Run(side=-1, slots=3, evidence=6.0)),
        # Only the last `slots` residuals count.
        ((3.0, 3.0, 3.0, 3.0, 3.0, 3.0), (), 1, Run(side=1, slots=4, evidence=8.0)),
        # A slot on the other side ends the run; the strongest stretch ending now is kept.
        ((3.0, -0.1, 2.0, 2.0), (), 1, Run(side=1, slots=2, evidence=2.0)),
        # A slot that adds less than the reference stays in a run if the run is stronger with it.
        ((4.0, 0.5, 2.0), (), 1, Run(side=1, slots=3, evidence=3.5)),
        # The slot being judged must add evidence itself.
        ((3.0, 3.0, 3.0, 0.5), (), 1, None),
        ((3.0, 3.0, 3.0, 2.0), (), -1, None),
        # A slot without a residual (no value, no band) ends a run.
        ((3.0, None, 3.0), (), 1, Run(side=1, slots=1, evidence=2.0)),
        # An ongoing alert: breaching slots right before the judged one stay in its run...
        ((3.0, 3.0, 3.0), (True, True, False), 1, Run(side=1, slots=3, evidence=6.0)),
        # ... but an alert that already ended (a breach, then a clean slot) lends no evidence to a new one.
        ((6.0, 0.5, 2.0), (True, False, False), 1, Run(side=1, slots=1, evidence=1.0)),
    ],
)
def test_a_run_sums_the_evidence_of_the_slots_ending_at_the_judged_one(
    zs: tuple[float | None, ...], breaches: tuple[bool, ...], side: int, found: Run | None
) -> None:
    assert run_on(residuals(*zs, breaches=breaches), side=side, rule=RUNS) == found


def test_the_run_rule_lies_one_standard_deviation_beyond_the_band() -> None:
    assert RunRule.for_tolerance(4.0) == RunRule(decision=5.0, slots=4, reference=1.0)
    assert RunRule.for_tolerance(3.5).decision == 4.5


def flat_history(rate: float, *, weeks: int = 8, growth: float = 0.0, seed: int = 3) -> list[Sample]:
    """Poisson-like counts at the slot, its three neighbours either side and the three before those (what
    a plan reads), growing by `growth` a week towards SLOT."""
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    samples = []
    for week in range(1, weeks + 1):
        level = rate / (1 + growth) ** week
        for hour in range(-6, 4):
            value = max(0, round(rng.gauss(level, level**0.5)))
            samples.append(Sample(at=SLOT - timedelta(weeks=week) + hour * HOUR, value=float(value)))
    return samples


@pytest.mark.parametrize(("growth", "low", "high"), [(0.0, -0.01, 0.01), (0.04, 0.012, 0.028)])
def test_the_weekly_trend_is_estimated_in_the_bands_space(growth: float, low: float, high: float) -> None:
    # A rate growing 4 % a week grows about 2 % a week under the square root of the Anscombe transform.
    history = SeasonalHistory(flat_history(400, growth=growth), zone=UTC, rule=RULE, now=SLOT)
    assert low < history.growth < high


def test_a_growing_kpi_is_expected_at_its_current_level_not_at_the_median_weeks() -> None:
    band = seasonal_band(SLOT, flat_history(400, growth=0.04), zone=UTC, rule=RULE)
    assert band is not None
    # The median of eight weeks stands about 4.5 weeks back (400 / 1.04^4.5 = 338); carried forward: ~400.
    assert 380 < band.expected < 420


def test_fewer_than_four_weeks_give_no_trend() -> None:
    history = SeasonalHistory(flat_history(400, weeks=3, growth=0.04), zone=UTC, rule=RULE, now=SLOT)
    assert history.growth == 0.0


def test_a_ratio_that_can_be_negative_gets_no_trend() -> None:
    samples = [Sample(at=s.at, value=s.value - 400.5) for s in flat_history(400, growth=0.04)]
    assert SeasonalHistory(samples, zone=UTC, rule=RULE, now=SLOT).growth == 0.0


def test_one_wild_value_barely_moves_the_noise_estimate() -> None:
    samples = flat_history(100)
    wild = [*samples[:-1], Sample(at=samples[-1].at, value=100_000.0)]
    calm = SeasonalHistory(samples, zone=UTC, rule=RULE, now=SLOT).band(SLOT)
    spoilt = SeasonalHistory(wild, zone=UTC, rule=RULE, now=SLOT).band(SLOT)
    assert calm is not None
    assert spoilt is not None
    assert spoilt.noise == pytest.approx(calm.noise, rel=0.15)


def test_the_standardized_residual_is_measured_in_the_bands_space() -> None:
    band = seasonal_band(SLOT, flat_history(100), zone=UTC, rule=RULE)
    assert band is not None
    assert band.counts
    z_up, z_down = band.z(band.upper), band.z(band.lower)
    assert z_up is not None
    assert z_down is not None
    assert z_up == pytest.approx(4.0)
    assert z_down == pytest.approx(-4.0)


def seasonal_kpi(direction: Direction = Direction.BOTH, deviation_percent: float = 0) -> Kpi:
    return make_kpi(
        schedule=Schedule(frequency_minutes=60),
        rule=Rule(
            deviation_percent=deviation_percent,
            direction=direction,
            baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=8, tolerance=4.0),
        ),
    )


def recent(values: list[float], *, breaches: list[bool] | None = None) -> dict[str, list[Verdict]]:
    """`values[0]` at the slot right before SLOT, `values[1]` the one before, ..."""
    flags = breaches or [False] * len(values)
    return verdicts_of(
        ("k", SLOT - (i + 1) * HOUR, value, breach)
        for i, (value, breach) in enumerate(zip(values, flags, strict=True))
    )


def test_a_plan_names_the_three_slots_before_the_judged_one() -> None:
    plan = seasonal_plan(seasonal_kpi(), SLOT)
    assert plan.recent == (SLOT - HOUR, SLOT - 2 * HOUR, SLOT - 3 * HOUR)
    assert plan.ranges[0][0] == SLOT - timedelta(weeks=1, hours=12)


def at_z(history: SeasonalHistory, at: datetime, z: float) -> float:
    """The value `z` noise standard deviations from the expected value of slot `at`."""
    band = history.band(at)
    assert band is not None
    centre = (band.expected + 3 / 8) ** 0.5 + z * band.noise
    return centre**2 - 3 / 8


@pytest.mark.parametrize(
    ("earlier", "breaches", "current", "direction", "deviation_percent", "breach"),
    [
        # Inside the band on its own (2.5 sd) and alone: clean.
        ([], None, 2.5, Direction.BOTH, 0, False),
        # Three slots 2.4 sd high: 3 x 1.4 = 4.2, not more than 5: clean.
        ([2.4, 2.4], None, 2.4, Direction.BOTH, 0, False),
        # Four slots 2.5 sd high: 4 x 1.5 = 6 > 5, a breach.
        ([2.5, 2.5, 2.5], None, 2.5, Direction.BOTH, 0, True),
        # ... only on a side the direction allows.
        ([2.5, 2.5, 2.5], None, 2.5, Direction.DOWN, 0, False),
        ([-2.5, -2.5, -2.5], None, -2.5, Direction.DOWN, 0, True),
        # ... and only when the judged value's own change is material (deviation_percent).
        ([2.5, 2.5, 2.5], None, 2.5, Direction.BOTH, 60, False),
        # A run that reaches back past the end of an earlier alert does not open another.
        ([2.4, 2.4, 6.0], [False, False, True], 2.4, Direction.BOTH, 0, False),
        # An alert still open goes on with the run.
        ([2.4, 2.4, 6.0], [True, True, True], 2.4, Direction.BOTH, 0, True),
        # A missing slot ends a run.
        ([2.5, None, 2.5], None, 2.5, Direction.BOTH, 0, False),
    ],
)
def test_a_value_inside_the_band_breaches_when_it_ends_a_run_of_slots_off_the_same_way(
    earlier: list[float | None],
    breaches: list[bool] | None,
    current: float,
    direction: Direction,
    deviation_percent: float,
    breach: bool,
) -> None:
    """`earlier` and `current` are standardized residuals, `earlier[0]` the slot right before the judged
    one, turned into values at their own slots' bands."""
    kpi = seasonal_kpi(direction=direction, deviation_percent=deviation_percent)
    plan = seasonal_plan(kpi, SLOT)
    samples = flat_history(100)
    history = SeasonalHistory(samples, zone=UTC, rule=RULE, now=SLOT)
    flags = breaches or [False] * len(earlier)
    latest = verdicts_of(
        ("k", at, at_z(history, at, z), b)
        for at, z, b in zip(plan.recent, earlier, flags, strict=False)
        if z is not None
    )
    data = BaselineData(seasonal={"k": samples}, plan=plan, recent=latest)
    value = at_z(history, SLOT, current)
    (evaluation,) = judge(kpi, [Observation(key="k", current=value)], data)
    assert evaluation.lower is not None
    assert evaluation.upper is not None
    assert evaluation.lower < value < evaluation.upper
    assert evaluation.breach is breach
    if breach:
        assert "slots" in evaluation.reasons[0]
        assert "expected" in evaluation.reasons[0]


def test_verdicts_are_kept_oldest_first_each_instant_once() -> None:
    found = recent([5.0, 6.0])
    assert [v.at for v in found["k"]] == [SLOT - 2 * HOUR, SLOT - HOUR]
    doubled = verdicts_of([("k", SLOT, 1.0, False), ("k", SLOT, 2.0, True)])
    assert doubled == {"k": [Verdict(at=SLOT, value=1.0, breach=False)]}

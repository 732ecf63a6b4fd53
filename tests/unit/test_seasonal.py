"""The seasonal band: expected value, noise and width, as tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.domain.baseline import BaselineData, judge, nearest_slot, seasonal_plan
from shared.domain.evaluation import evaluate
from shared.domain.kpi import Baseline, BaselineMode, Direction, Kpi, Rule, Schedule
from shared.domain.observation import Observation
from shared.domain.seasonal import Band, Sample, SeasonalRule, earlier_slots, seasonal_band
from tests.factories import make_kpi

SLOT = datetime(2026, 11, 30, 14, tzinfo=UTC)  # a Monday, 14:00 UTC
LONDON = ZoneInfo("Europe/London")
RULE = SeasonalRule(weeks_back=8, tolerance=4.0)


def weekly(values: list[float], *, slot: datetime = SLOT, zone: ZoneInfo | None = None) -> list[Sample]:
    """`values[0]` one week before `slot`, `values[1]` two weeks before, ... on the clock of `zone`."""
    instants = earlier_slots(slot, zone or UTC, len(values))
    return [Sample(at=at, value=value) for at, value in zip(instants, values, strict=True)]


def neighbourhood(rate: float, *, weeks: int = 8, seed: int = 7) -> list[Sample]:
    """Poisson-like counts at the slot and three hourly neighbours either side, `weeks` weeks back."""
    rng = random.Random(seed)  # noqa: S311  # test data, not secrets
    samples = []
    for week in range(1, weeks + 1):
        for hour in range(-3, 4):
            at = SLOT - timedelta(weeks=week) + timedelta(hours=hour)
            samples.append(Sample(at=at, value=float(_poisson(rng, rate))))
    return samples


def _poisson(rng: random.Random, rate: float) -> int:
    # Normal approximation is enough for a table; counts stay whole and non-negative.
    return max(0, round(rng.gauss(rate, rate**0.5)))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([100, 104, 96, 250, 98, 101, 99, 102], 100.5),  # a spike in the history does not move the median
        ([10, 12, 11], 11),  # three weeks are enough
        ([5, 5, 5, 5], 5),
    ],
)
def test_the_expected_value_is_the_median_of_the_same_slot_in_earlier_weeks(
    values: list[float], expected: float
) -> None:
    band = seasonal_band(SLOT, weekly(values), zone=UTC, rule=RULE)
    assert band is not None
    assert band.expected == expected
    assert band.lower < expected < band.upper


@pytest.mark.parametrize("weeks", [0, 1, 2])
def test_fewer_than_three_earlier_values_give_no_baseline(weeks: int) -> None:
    assert seasonal_band(SLOT, weekly([100.0] * weeks), zone=UTC, rule=RULE) is None


def test_missing_weeks_are_skipped_not_filled() -> None:
    samples = [s for i, s in enumerate(weekly([100, 0, 104, 0, 96, 0, 98, 0])) if i % 2 == 0]
    band = seasonal_band(SLOT, samples, zone=UTC, rule=RULE)
    assert band is not None
    assert band.expected == 99
    assert len(band.weeks) == 4


def test_values_older_than_weeks_back_are_left_out() -> None:
    samples = weekly([100, 100, 100, 500, 500, 500, 500, 500])
    band = seasonal_band(SLOT, samples, zone=UTC, rule=SeasonalRule(weeks_back=3, tolerance=4.0))
    assert band is not None
    assert band.expected == 100


def test_values_at_or_after_the_slot_are_never_used() -> None:
    later = [Sample(at=SLOT, value=1e6), Sample(at=SLOT + timedelta(weeks=1), value=1e6)]
    band = seasonal_band(SLOT, weekly([10, 10, 10]) + later, zone=UTC, rule=RULE)
    assert band is not None
    assert band.expected == 10


def test_constant_history_gives_the_width_of_the_percentage_and_the_floor_only() -> None:
    rule = SeasonalRule(weeks_back=8, tolerance=4.0, deviation_percent=10, noise_floor=0)
    band = seasonal_band(SLOT, weekly([200.5] * 8), zone=UTC, rule=rule)
    assert band == Band(
        expected=200.5, lower=pytest.approx(180.45), upper=pytest.approx(220.55), weeks=band.weeks, noise=0.0
    )


@pytest.mark.parametrize(
    ("history", "rule", "lower", "upper"),
    [
        # A zero baseline of counts: never below zero; Poisson noise keeps a small spike inside the band.
        ([0] * 8, SeasonalRule(weeks_back=8, tolerance=4.0), 0.0, pytest.approx(7.47, abs=0.01)),
        # The noise floor widens a band the statistics would make narrower.
        ([0] * 8, SeasonalRule(weeks_back=8, tolerance=4.0, noise_floor=10), -10.0, 10.0),
        # A small, non-count baseline (a ratio) with no spread: only the percentage gives it width.
        ([0.02] * 8, SeasonalRule(weeks_back=8, tolerance=4.0, deviation_percent=50), 0.01, 0.03),
    ],
)
def test_small_and_zero_baselines(
    history: list[float], rule: SeasonalRule, lower: float, upper: float
) -> None:
    band = seasonal_band(SLOT, weekly(history), zone=UTC, rule=rule)
    assert band is not None
    assert (band.lower, band.upper) == (pytest.approx(lower), upper)


def test_counts_get_a_band_that_grows_with_their_rate_like_poisson_noise() -> None:
    quiet = seasonal_band(SLOT, neighbourhood(30), zone=UTC, rule=RULE)
    busy = seasonal_band(SLOT, neighbourhood(400), zone=UTC, rule=RULE)
    assert quiet is not None
    assert busy is not None
    # Four standard deviations of Poisson noise: about 4 * sqrt(rate) either side.
    assert 0.6 * 4 * 30**0.5 < quiet.expected - quiet.lower < 1.6 * 4 * 30**0.5
    assert 0.6 * 4 * 400**0.5 < busy.upper - busy.expected < 1.6 * 4 * 400**0.5


def test_the_noise_estimate_is_stable_with_a_few_weeks_of_history() -> None:
    widths = []
    for seed in range(20):
        band = seasonal_band(SLOT, neighbourhood(100, weeks=3, seed=seed), zone=UTC, rule=RULE)
        assert band is not None
        widths.append(band.upper - band.lower)
    assert max(widths) < 2.2 * min(widths)


def test_a_dst_week_uses_the_same_wall_time_in_the_schedules_zone() -> None:
    # Monday 2026-11-02 09:00 in London (GMT): one week back is GMT too, the two before were BST (UTC+1).
    slot = datetime(2026, 11, 2, 9, tzinfo=LONDON)
    instants = earlier_slots(slot, LONDON, 3)
    assert [at.astimezone(UTC).hour for at in instants] == [9, 8, 8]
    assert all(at.astimezone(LONDON).hour == 9 for at in instants)
    band = seasonal_band(slot, weekly([50, 52, 48], slot=slot, zone=LONDON), zone=LONDON, rule=RULE)
    assert band is not None
    assert band.expected == 50
    # The same values at 09:00 UTC (10:00 BST) are another slot: no baseline from them.
    shifted = [Sample(at=at.astimezone(UTC).replace(hour=9), value=50) for at in instants]
    assert seasonal_band(slot, shifted, zone=LONDON, rule=RULE) is None


def test_a_manual_run_between_slots_stands_for_the_nearest_scheduled_slot() -> None:
    hourly = Schedule(frequency_minutes=60)
    assert nearest_slot(hourly, SLOT + timedelta(minutes=20)) == SLOT
    assert nearest_slot(hourly, SLOT + timedelta(minutes=40)) == SLOT + timedelta(hours=1)
    assert nearest_slot(hourly, SLOT) == SLOT
    cron = Schedule(cron="0 0 9 * * 1-5", timezone="Europe/London")
    monday_9 = datetime(2026, 11, 30, 9, tzinfo=LONDON)
    assert nearest_slot(cron, monday_9 + timedelta(hours=2)) == monday_9


def seasonal_kpi(direction: Direction = Direction.BOTH) -> Kpi:
    return make_kpi(
        schedule=Schedule(frequency_minutes=60),
        rule=Rule(
            deviation_percent=0,
            direction=direction,
            baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=8, tolerance=4.0),
        ),
    )


def test_a_plan_reads_the_slot_and_twelve_neighbours_either_side_in_each_earlier_week() -> None:
    plan = seasonal_plan(seasonal_kpi(), SLOT)
    assert plan.anchor == SLOT
    assert len(plan.ranges) == 8
    assert plan.ranges[0] == (
        SLOT - timedelta(weeks=1, hours=12),
        SLOT - timedelta(weeks=1) + timedelta(hours=12),
    )


def test_a_daily_kpi_reads_its_neighbours_at_most_three_days_either_side() -> None:
    daily = make_kpi(
        schedule=Schedule(frequency_minutes=1440),
        rule=Rule(deviation_percent=0, baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=8)),
    )
    start, end = seasonal_plan(daily, SLOT.replace(hour=0)).ranges[0]
    assert end - start == timedelta(days=6)


@pytest.mark.parametrize(
    ("current", "direction", "breach"),
    [
        (100, Direction.BOTH, False),
        (160, Direction.BOTH, True),
        (40, Direction.BOTH, True),
        (40, Direction.UP, False),  # below the band, but only increases count
        (160, Direction.DOWN, False),
    ],
)
def test_a_value_outside_the_band_breaches_on_the_sides_direction_allows(
    current: float, direction: Direction, breach: bool
) -> None:
    kpi = seasonal_kpi(direction=direction)
    plan = seasonal_plan(kpi, SLOT)
    data = BaselineData(seasonal={"k": neighbourhood(100)}, plan=plan)
    (evaluation,) = judge(kpi, [Observation(key="k", current=current)], data)
    assert evaluation.breach is breach
    assert evaluation.expected is not None
    assert evaluation.lower is not None
    assert evaluation.upper is not None
    assert evaluation.lower < 100 < evaluation.upper
    if breach:
        assert "expected band" in evaluation.reasons[0]


def test_without_enough_history_the_seasonal_rule_has_no_baseline_and_other_rules_still_apply() -> None:
    kpi = seasonal_kpi()
    (evaluation,) = judge(kpi, [Observation(key="k", current=5)], BaselineData(plan=seasonal_plan(kpi, SLOT)))
    assert (evaluation.breach, evaluation.expected) == (False, None)
    assert evaluation.reasons == ("no baseline yet",)


def test_a_band_judges_against_its_expected_value() -> None:
    band = Band(expected=100, lower=80, upper=120, weeks=(), noise=5)
    evaluation = evaluate(
        Observation(key="k", current=130), Rule(deviation_percent=0), baseline=None, band=band
    )
    assert evaluation.baseline == 100
    assert evaluation.deviation_percent == pytest.approx(30)
    assert evaluation.breach

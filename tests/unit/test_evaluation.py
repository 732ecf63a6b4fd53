"""Evaluation: deviation, direction, noise floor, zero baselines, minimum and threshold rules, baselines."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.domain.evaluation import (
    NO_BASELINE,
    NOT_FINITE,
    Evaluation,
    aggregate,
    baseline_slots,
    deviation_percent,
    evaluate,
)
from shared.domain.kpi import Aggregate, Direction, Rule, Threshold, ThresholdOperator
from shared.domain.observation import Observation

UP, DOWN, BOTH = Direction.UP, Direction.DOWN, Direction.BOTH
GT, GTE, LT, LTE, EQ = (
    ThresholdOperator.GT,
    ThresholdOperator.GTE,
    ThresholdOperator.LT,
    ThresholdOperator.LTE,
    ThresholdOperator.EQ,
)


def judge(
    current: float,
    baseline: float | None,
    *,
    deviation: float = 20,
    direction: Direction = BOTH,
    noise_floor: float = 0.0,
    minimum: float | None = None,
    threshold: Threshold | None = None,
) -> Evaluation:
    rule = Rule(
        deviation_percent=deviation,
        direction=direction,
        noise_floor=noise_floor,
        minimum_threshold=minimum,
        threshold=threshold,
    )
    return evaluate(Observation(key="deposits", current=current), rule, baseline=baseline)


# ------------------------------------------------------------------------------------ deviation_percent


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (100, 145, 45.0),
        (100, 55, -45.0),
        (100, 100, 0.0),
        (-100, -50, 50.0),  # divided by |baseline|: a rise from -100 to -50 is up
        (-100, -150, -50.0),
        (4, 1, -75.0),
        (0, 0, 0.0),
        (0, 5000, None),
        (0, -5, None),
    ],
)
def test_deviation_is_the_signed_change_in_percent_of_the_absolute_baseline(
    baseline: float, current: float, expected: float | None
) -> None:
    assert deviation_percent(current, baseline) == expected


# ------------------------------------------------------------------------------ deviation and direction


@pytest.mark.parametrize(
    ("direction", "current", "breach"),
    [
        (BOTH, 150, True),
        (BOTH, 50, True),
        (UP, 150, True),
        (UP, 50, False),
        (DOWN, 150, False),
        (DOWN, 50, True),
    ],
)
def test_direction_decides_which_sign_of_change_can_breach(
    direction: Direction, current: float, breach: bool
) -> None:
    assert judge(current, 100, direction=direction).breach is breach


@pytest.mark.parametrize(
    ("current", "breach"),
    [
        (120, False),  # exactly +20 %
        (80, False),  # exactly -20 %
        (120.001, True),
        (79.999, True),
        (119.999, False),
    ],
)
def test_deviation_breaches_only_when_strictly_greater_than_deviation_percent(
    current: float, breach: bool
) -> None:
    assert judge(current, 100, deviation=20).breach is breach


@pytest.mark.parametrize(
    ("current", "reason"),
    [
        (145, "up 45.0% from 100 (limit 20%)"),
        (55, "down 45.0% from 100 (limit 20%)"),
    ],
)
def test_a_deviation_breach_explains_itself(current: float, reason: str) -> None:
    evaluation = judge(current, 100)
    assert evaluation.reasons == (reason,)
    assert evaluation.baseline == 100


def test_the_deviation_is_reported_even_when_it_does_not_breach() -> None:
    evaluation = judge(110, 100)
    assert evaluation == Evaluation(
        key="deposits", current=110, baseline=100, deviation_percent=10.0, breach=False, reasons=()
    )


# --------------------------------------------------------------------------------------- zero baselines


@pytest.mark.parametrize(
    ("current", "direction", "noise_floor", "breach"),
    [
        (0, BOTH, 0.0, False),  # 0 -> 0 is no change
        (5000, BOTH, 0.0, True),
        (5000, UP, 0.0, True),
        (5000, DOWN, 0.0, False),  # a rise, filtered by direction
        (5000, BOTH, 10_000.0, False),  # under the noise floor
        (5000, BOTH, 5000.0, True),  # a change equal to the floor counts
        (-5, DOWN, 0.0, True),
        (-5, UP, 0.0, False),
    ],
)
def test_a_zero_baseline_breaches_on_any_counting_change(
    current: float, direction: Direction, noise_floor: float, breach: bool
) -> None:
    evaluation = judge(current, 0, direction=direction, noise_floor=noise_floor)
    assert evaluation.breach is breach
    assert evaluation.deviation_percent == (0.0 if current == 0 else None)


def test_a_zero_baseline_breach_says_the_deviation_is_undefined() -> None:
    assert judge(5000, 0).reasons == ("up from 0 to 5000 (deviation undefined on a zero baseline)",)


# ------------------------------------------------------------------------------------------ noise floor


@pytest.mark.parametrize(
    ("baseline", "current", "noise_floor", "breach"),
    [
        (1, 3, 5.0, False),  # +200 %, but a change of 2 is below the floor of 5
        (1, 3, 0.0, True),
        (1, 6, 5.0, True),  # a change of exactly the floor counts
        (1000, 1300, 5.0, True),  # large baselines clear the floor easily
        (10, 4, 5.0, True),  # -60 %, change 6
    ],
)
def test_the_noise_floor_ignores_small_absolute_changes_on_tiny_baselines(
    baseline: float, current: float, noise_floor: float, breach: bool
) -> None:
    evaluation = judge(current, baseline, noise_floor=noise_floor)
    assert evaluation.breach is breach
    assert evaluation.deviation_percent == deviation_percent(current, baseline)


# ---------------------------------------------------------------------------------- minimum and threshold


@pytest.mark.parametrize(
    ("current", "minimum", "reasons"),
    [
        (5, 10, ("below minimum 10",)),
        (9.5, 10, ("below minimum 10",)),
        (10, 10, ()),  # at the minimum is not below it
        (5, None, ()),
        (-1, 0.5, ("below minimum 0.5",)),
    ],
)
def test_a_value_below_the_minimum_threshold_breaches(
    current: float, minimum: float | None, reasons: tuple[str, ...]
) -> None:
    evaluation = judge(current, current, minimum=minimum)
    assert evaluation.reasons == reasons
    assert evaluation.breach is bool(reasons)


@pytest.mark.parametrize(
    ("operator", "limit", "current", "breach"),
    [
        (GT, 10, 11, True),
        (GT, 10, 10, False),
        (GTE, 10, 10, True),
        (GTE, 10, 9.99, False),
        (LT, 10, 9, True),
        (LT, 10, 10, False),
        (LTE, 10, 10, True),
        (LTE, 10, 10.01, False),
        (EQ, 10, 10, True),
        (EQ, 10, 10 + 1e-12, True),  # within the relative tolerance
        (EQ, 0.3, 0.1 + 0.2, True),  # float arithmetic does not defeat eq
        (EQ, 0, 1e-10, True),  # within the absolute tolerance near 0
        (EQ, 0, 1e-8, False),
        (EQ, 10, 10.001, False),  # much tighter than the original's +-0.01
    ],
)
def test_the_threshold_compares_current_with_its_operator(
    operator: ThresholdOperator, limit: float, current: float, breach: bool
) -> None:
    threshold = Threshold(operator=operator, value=limit)
    assert judge(current, current, threshold=threshold).breach is breach


def test_a_threshold_breach_names_value_operator_and_limit() -> None:
    evaluation = judge(5, 5, threshold=Threshold(operator=LT, value=10))
    assert evaluation.reasons == ("value 5 lt 10",)


def test_every_breached_rule_is_listed_deviation_first() -> None:
    evaluation = judge(5, 100, minimum=10, threshold=Threshold(operator=LT, value=10))
    assert evaluation.breach
    assert evaluation.reasons == ("down 95.0% from 100 (limit 20%)", "below minimum 10", "value 5 lt 10")


# ------------------------------------------------------------------------------------ missing baselines


@pytest.mark.parametrize(
    ("minimum", "breach", "reasons"),
    [
        (None, False, (NO_BASELINE,)),
        (10, True, ("below minimum 10", NO_BASELINE)),
    ],
)
def test_without_a_baseline_only_the_deviation_rule_is_skipped(
    minimum: float | None, breach: bool, reasons: tuple[str, ...]
) -> None:
    evaluation = judge(5, None, minimum=minimum)
    assert evaluation.breach is breach
    assert evaluation.reasons == reasons
    assert evaluation.baseline is None
    assert evaluation.deviation_percent is None


@pytest.mark.parametrize("baseline", [math.nan, math.inf, -math.inf])
def test_a_non_finite_baseline_counts_as_no_baseline(baseline: float) -> None:
    evaluation = judge(500, baseline)
    assert evaluation.breach is False
    assert evaluation.baseline is None
    assert evaluation.reasons == (NO_BASELINE,)


@pytest.mark.parametrize("current", [math.nan, math.inf, -math.inf])
def test_a_non_finite_value_never_breaches_and_says_why(current: float) -> None:
    evaluation = judge(current, 100, minimum=10, threshold=Threshold(operator=GT, value=0))
    assert evaluation.breach is False
    assert evaluation.reasons == (NOT_FINITE,)
    assert evaluation.deviation_percent is None


# ---------------------------------------------------------------------------------- baseline aggregation


@pytest.mark.parametrize(
    ("values", "how", "expected"),
    [
        ([100, 102, 98, 10], Aggregate.MEDIAN, 99.0),
        ([100, 102, 98, 10], Aggregate.MEAN, 77.5),
        ([7], Aggregate.MEDIAN, 7.0),
        ([7], Aggregate.MEAN, 7.0),
        ([1, 2], Aggregate.MEDIAN, 1.5),
        ([3, 1, 2], Aggregate.MEDIAN, 2.0),
        ([], Aggregate.MEDIAN, None),
        ([], Aggregate.MEAN, None),
    ],
)
def test_the_baseline_is_the_mean_or_median_of_past_values(
    values: list[float], how: Aggregate, expected: float | None
) -> None:
    assert aggregate(values, how) == expected


def test_baseline_slots_are_the_same_slot_in_past_weeks_newest_first() -> None:
    slot = datetime(2026, 3, 10, 12, 15, tzinfo=UTC)
    assert baseline_slots(slot, 3) == [
        datetime(2026, 3, 3, 12, 15, tzinfo=UTC),
        datetime(2026, 2, 24, 12, 15, tzinfo=UTC),
        datetime(2026, 2, 17, 12, 15, tzinfo=UTC),
    ]


def test_baseline_slots_on_a_zoned_clock_keep_the_wall_time_across_daylight_saving() -> None:
    london = ZoneInfo("Europe/London")
    slot = datetime(2026, 4, 1, 9, 0, tzinfo=london)  # BST, the week after the clocks went forward
    (previous,) = baseline_slots(slot, 1)
    assert previous == datetime(2026, 3, 25, 9, 0, tzinfo=london)  # 09:00 GMT
    assert previous.astimezone(UTC) == datetime(2026, 3, 25, 9, 0, tzinfo=UTC)  # 167 h earlier, not 168


def test_no_weeks_back_means_no_baseline_slots() -> None:
    assert baseline_slots(datetime(2026, 3, 10, tzinfo=UTC), 0) == []


def test_baseline_slots_reject_naive_datetimes_and_negative_weeks() -> None:
    with pytest.raises(ValueError, match="naive"):
        baseline_slots(datetime(2026, 3, 10), 4)  # noqa: DTZ001 - the naive datetime under test
    with pytest.raises(ValueError, match="weeks_back"):
        baseline_slots(datetime(2026, 3, 10, tzinfo=UTC), -1)


# --------------------------------------------------------------------- defects of the original (section 7)


def test_a_1900_percent_deviation_is_an_ordinary_value_not_an_overflow() -> None:
    # original.md section 7 item 4: DECIMAL(5,2) overflowed on 1 -> 20 after the email went out.
    evaluation = judge(20, 1)
    assert evaluation.deviation_percent == 1900.0
    assert evaluation.breach
    assert evaluation.reasons == ("up 1900.0% from 1 (limit 20%)",)
    assert judge(1_000_000, 0.001).deviation_percent == pytest.approx(1e11)  # unclamped, finite


def test_a_zero_baseline_is_undefined_not_a_flat_100_percent() -> None:
    # original.md section 7 item 5: historical 0 gave a flat 100 % (0 -> 5000 read as 100 %).
    assert deviation_percent(5000, 0) is None
    assert deviation_percent(0, 0) == 0.0
    evaluation = judge(5000, 0, deviation=150)  # a flat 100 % would have passed a 150 % limit
    assert evaluation.breach
    assert evaluation.deviation_percent is None


def test_a_spike_cannot_breach_a_drop_only_rule_and_tiny_baselines_need_the_noise_floor() -> None:
    # original.md section 7 item 6: deviation was absolute (a spike sent "No deposits"), with no noise floor.
    assert judge(300, 100, direction=DOWN).breach is False
    assert judge(20, 100, direction=DOWN).breach is True
    assert judge(3, 1, noise_floor=5).breach is False


def test_a_median_baseline_over_several_weeks_shrugs_off_one_holiday_week() -> None:
    # original.md section 7 item 7: one window 28 days back, so one holiday poisoned the baseline.
    slot = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert len(baseline_slots(slot, 4)) == 4  # weeks_back is honoured, not a single fixed window
    holiday_week = [100, 102, 98, 10]
    median = aggregate(holiday_week, Aggregate.MEDIAN)
    assert median == 99.0
    assert judge(101, median).breach is False
    assert judge(101, aggregate(holiday_week, Aggregate.MEAN)).breach is True  # the mean is poisoned

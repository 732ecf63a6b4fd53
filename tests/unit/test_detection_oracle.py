"""The detection benchmark's oracle (`benchmarks/_oracle.py`): exact tails of Poisson and negative binomial
counts, its episodes and its run verdicts; the in-process replay's KPI definitions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks import _series, detection_replay
from benchmarks._oracle import Judged, Tails, breaches, episodes_of_breaches, tails
from benchmarks._scoring import Episode

T0 = datetime(2026, 10, 5, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def pmf(count: int, mean: float, shape_k: float | None) -> float:
    if shape_k is None:
        return math.exp(count * math.log(mean) - mean - math.lgamma(count + 1))
    p = shape_k / (shape_k + mean)
    return math.exp(
        math.lgamma(count + shape_k)
        - math.lgamma(shape_k)
        - math.lgamma(count + 1)
        + shape_k * math.log(p)
        + count * math.log(1 - p)
    )


@pytest.mark.parametrize(
    ("count", "mean", "shape_k"),
    [
        (0, 2.0, None),
        (3, 2.0, None),
        (20, 40.0, None),
        (61, 40.0, None),
        (0, 5.0, 2.0),
        (30, 20.0, 10.0),
        (100, 200.0, 50.0),
        (290, 200.0, 50.0),
    ],
)
def test_tails_match_the_sum_of_the_probabilities(count: int, mean: float, shape_k: float | None) -> None:
    below = sum(pmf(j, mean, shape_k) for j in range(count + 1))
    found = tails(count, mean, shape_k)
    assert found.at_most == pytest.approx(below, rel=1e-9)
    assert found.at_least == pytest.approx(1 - below + pmf(count, mean, shape_k), rel=1e-9, abs=1e-15)
    assert found.equal == pytest.approx(pmf(count, mean, shape_k), rel=1e-9)


def test_a_count_far_beyond_any_float_tail_gets_the_largest_score() -> None:
    assert tails(1600, 400.0, None).z() == pytest.approx(37.0)
    assert tails(0, 900.0, None).z() < -30


def test_the_scores_are_signed_and_near_the_normal_ones_at_a_high_rate() -> None:
    above, below = tails(460, 400.0, None), tails(340, 400.0, None)
    assert above.z() == pytest.approx(3.0, abs=0.1)
    assert below.z() == pytest.approx(-3.0, abs=0.1)
    assert above.mid_z() == pytest.approx(3.0, abs=0.1)
    assert tails(400, 400.0, None).mid_z() == pytest.approx(0.0, abs=0.05)


def test_the_two_sided_probability_is_twice_the_smaller_tail_at_most_one() -> None:
    assert Tails(at_most=0.01, at_least=0.995, equal=0.005).two_sided == pytest.approx(0.02)
    assert Tails(at_most=0.6, at_least=0.6, equal=0.2).two_sided == 1.0


@pytest.mark.parametrize(
    ("verdicts", "episodes"),
    [
        ("BBCBB", [(0, 2), (3, None)]),
        ("CCC", []),
        ("CBC", [(1, 2)]),
    ],
)
def test_episodes_open_at_a_breach_and_resolve_at_the_next_clean_slot(
    verdicts: str, episodes: list[tuple[int, int | None]]
) -> None:
    slots = [(T0 + i * HOUR, v == "B") for i, v in enumerate(verdicts)]
    assert episodes_of_breaches("k", slots) == [
        Episode(kpi="k", opened_at=T0 + a * HOUR, resolved_at=None if b is None else T0 + b * HOUR)
        for a, b in episodes
    ]


def test_a_run_of_moderate_scores_breaches_only_with_runs() -> None:
    slots = [Judged(slot=T0 + i * HOUR, z=z, mid_z=z) for i, z in enumerate([0.0, -2.5, -2.6, -2.7, 0.1])]
    assert [b for _at, b in breaches(slots, threshold=4.0, runs=False)] == [False] * 5
    # -2.5, -2.6, -2.7 less 1 sd each: 1.5 + 1.6 + 1.7 = 4.8 is below the decision 5; a fourth would pass it
    assert [b for _at, b in breaches(slots, threshold=4.0, runs=True)] == [False] * 5
    longer = [*slots[:4], Judged(slot=T0 + 4 * HOUR, z=-2.5, mid_z=-2.5)]
    assert [b for _at, b in breaches(longer, threshold=4.0, runs=True)] == [False] * 4 + [True]
    assert [b for _at, b in breaches(slots, threshold=2.5, runs=False)] == [False, True, True, True, False]


def test_the_in_process_replay_judges_by_the_benchmarks_own_seasonal_definition() -> None:
    dataset = _series.generate(seed=11, kpis=2)
    found = detection_replay.kpis(dataset, 3.5)
    assert sorted(found) == ["k00", "k01"]
    rule = found["k00"].rule
    assert (rule.baseline.mode, rule.baseline.weeks_back, rule.baseline.tolerance) == ("seasonal", 8, 3.5)
    assert rule.deviation_percent == 20
    assert found["k00"].schedule.frequency_minutes == 60

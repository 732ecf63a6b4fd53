"""The pure parts of backtest and dry run: the in-memory replayed history answers as the database would,
episodes follow fire_after / resolve_after, and the transitions a dry run would report."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.alert import AlertStatus
from shared.domain.alerting import OpenAlert, Streak, Transition
from shared.domain.baseline import nearest_values, samples_of
from shared.domain.episodes import Episode, EpisodeTracker, WouldTransition, would_transition
from shared.domain.evaluation import Evaluation
from shared.domain.kpi import AlertPolicy, Schedule
from shared.domain.replay import ReplayedHistory, slots_in
from shared.domain.seasonal import Sample

T = datetime(2026, 11, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)


def verdict(key: str, current: float, *, breach: bool = False) -> Evaluation:
    return Evaluation(
        key=key, current=current, baseline=None, deviation_percent=None, breach=breach, reasons=()
    )


def test_the_nearest_value_within_the_tolerance_is_taken_per_target_newest_target_first() -> None:
    rows = [("k", T - 2 * HOUR, 1.0), ("k", T + HOUR / 4, 2.0), ("k", T + HOUR / 2, 3.0), ("j", T, 4.0)]
    targets = [T + timedelta(days=7), T]
    assert nearest_values(rows, targets, tolerance=HOUR / 2) == {"k": [2.0], "j": [4.0]}
    assert nearest_values([("k", T - 7 * 24 * HOUR, 5.0), *rows], [T, T - 7 * 24 * HOUR], HOUR) == {
        "k": [2.0, 5.0],
        "j": [4.0],
    }


def test_samples_keep_each_instant_of_a_key_once() -> None:
    assert samples_of([("k", T, 1.0), ("k", T, 9.0), ("k", T + HOUR, 2.0)]) == {
        "k": [Sample(at=T, value=1.0), Sample(at=T + HOUR, value=2.0)]
    }


def test_the_replayed_history_answers_like_the_database_breaches_left_out_of_samples_only() -> None:
    history = ReplayedHistory()
    for i, value in enumerate([10.0, 500.0, 12.0, math.nan]):
        history.record(T + i * HOUR, [verdict("k", value, breach=value > 100)])
    assert len(history) == 3  # the NaN is not stored, as the executor stores no non-finite value
    assert history.values_near([T + HOUR], tolerance=timedelta(0)) == {"k": [500.0]}
    assert history.samples_within([(T, T + 3 * HOUR)]) == {
        "k": [Sample(at=T, value=10.0), Sample(at=T + 2 * HOUR, value=12.0)]
    }
    history.forget_before(T + HOUR)
    assert history.samples_within([(T - HOUR, T + 3 * HOUR)]) == {"k": [Sample(at=T + 2 * HOUR, value=12.0)]}
    with pytest.raises(ValueError, match="recorded after"):
        history.record(T, [verdict("k", 1.0)])


def test_slots_in_a_range_start_at_the_first_slot_at_or_after_its_start_and_exclude_its_end() -> None:
    hourly = Schedule(frequency_minutes=60)
    assert list(slots_in(hourly, T - timedelta(minutes=30), T + 2 * HOUR)) == [T, T + HOUR]
    assert list(slots_in(hourly, T, T)) == []


@pytest.mark.parametrize(
    ("breaches", "fire_after", "resolve_after", "episodes"),
    [
        ("BBCBB", 1, 1, [(0, 2), (3, None)]),
        ("BCBBBCBCC", 2, 2, [(3, 8)]),
        ("BBB", 3, 1, [(2, None)]),
        ("CCC", 1, 1, []),
        ("BNNC", 1, 1, [(0, 3)]),  # N: no data (NaN) changes nothing
    ],
)
def test_episodes_follow_fire_after_and_resolve_after(
    breaches: str, fire_after: int, resolve_after: int, episodes: list[tuple[int, int | None]]
) -> None:
    tracker = EpisodeTracker(AlertPolicy(fire_after=fire_after, resolve_after=resolve_after))
    for i, mark in enumerate(breaches):
        value = math.nan if mark == "N" else 1.0
        tracker.observe(T + i * HOUR, [verdict("k", value, breach=mark == "B")])
    assert tracker.episodes() == [
        Episode(key="k", opened_at=T + o * HOUR, resolved_at=None if r is None else T + r * HOUR)
        for o, r in episodes
    ]


def test_a_dry_run_reports_what_it_would_open_re_notify_and_resolve() -> None:
    alert = OpenAlert(
        id=7, status=AlertStatus.OPEN, opened_at=T, last_triggered_at=T, last_notified_at=T - HOUR
    )
    evaluations = [verdict("new", 1.0, breach=True), verdict("open", 1.0, breach=True), verdict("ok", 1.0)]
    found = would_transition(
        evaluations,
        streaks={"ok": Streak(clean=1)},
        open_alerts={"open": alert, "ok": replace(alert, id=8)},
        policy=AlertPolicy(resolve_after=2, cooldown_minutes=30),
        now=T,
    )
    assert found == [
        WouldTransition(key="new", alert_id=None, transition=Transition.OPENED),
        WouldTransition(key="open", alert_id=7, transition=Transition.RETRIGGERED),
        WouldTransition(key="ok", alert_id=8, transition=Transition.RESOLVED),
    ]

"""Timer semantics with an injected clock: past_due, no overlapping runs, runOnStartup."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from devhost.timers import TimerRunner, TimerSchedule
from shared.domain.ncrontab import CronExpression
from tests.waiting import wait_until

EVERY_MINUTE = CronExpression.parse("0 * * * * *")
T0 = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)


def at(minute: int, second: float = 0) -> datetime:
    return datetime(2026, 1, 5, 12, minute, tzinfo=UTC) + timedelta(seconds=second)


def test_an_occurrence_fires_once_on_time_and_late_ones_are_past_due() -> None:
    schedule = TimerSchedule(EVERY_MINUTE, T0)
    assert schedule.next_due == at(1)
    assert schedule.poll(at(0, 59.9), running=False) is None
    assert schedule.poll(at(1, 0.5), running=False) is False
    assert schedule.poll(at(1, 0.6), running=False) is None  # not twice
    assert schedule.poll(at(2, 1.5), running=False) is True  # more than a second late
    assert schedule.next_due == at(3)


def test_an_occurrence_due_during_a_run_is_skipped_and_the_next_one_is_past_due() -> None:
    schedule = TimerSchedule(EVERY_MINUTE, T0)
    assert schedule.poll(at(1), running=False) is False
    assert schedule.poll(at(2), running=True) is None  # skipped: the previous run is still going
    assert schedule.next_due == at(3)
    assert schedule.poll(at(3), running=False) is True
    assert schedule.poll(at(4), running=False) is False


def test_a_long_outage_fires_once_not_once_per_missed_occurrence() -> None:
    schedule = TimerSchedule(EVERY_MINUTE, T0)
    assert schedule.poll(at(9, 30), running=False) is True
    assert schedule.next_due == at(10)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_runner_never_overlaps_runs_and_marks_the_one_after_a_skip_past_due() -> None:
    clock = FakeClock(T0)
    fired: list[bool] = []
    release = threading.Event()

    def fire(past_due: bool) -> None:
        fired.append(past_due)
        if len(fired) == 1:
            release.wait(10)

    runner = TimerRunner("t", EVERY_MINUTE, fire, clock=clock, tick=0.01)
    runner.start()
    try:
        clock.now = at(1, 0.2)
        assert wait_until(lambda: fired == [False], timeout_s=10, interval_s=0.01)
        clock.now = at(2, 0.1)  # the first run is still going: skipped
        assert wait_until(
            lambda: runner.schedule is not None and runner.schedule.skipped == 1,
            timeout_s=10,
            interval_s=0.01,
        )
        assert fired == [False]
        release.set()
        assert wait_until(lambda: not runner.running, timeout_s=10, interval_s=0.01)
        clock.now = at(3, 0.1)
        assert wait_until(lambda: fired == [False, True], timeout_s=10, interval_s=0.01)
    finally:
        release.set()
        runner.stop()
    assert runner.join_run(5)


def test_run_on_startup_fires_at_start_not_past_due() -> None:
    fired: list[bool] = []
    runner = TimerRunner("t", EVERY_MINUTE, fired.append, run_on_startup=True, clock=FakeClock(T0), tick=0.01)
    runner.start()
    try:
        assert wait_until(lambda: fired == [False], timeout_s=10, interval_s=0.01)
    finally:
        runner.stop()
    assert runner.join_run(5)
    assert fired == [False]

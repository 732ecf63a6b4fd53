"""Slots and windows: aligned frequency slots, fixed windows, coalesced catch-up and zoned cron schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from shared.domain.kpi import Schedule
from shared.domain.schedule import (
    EPOCH,
    first_slot,
    frequency_problem,
    latest_slot_at_or_before,
    next_slot_after,
    stale_after,
    window,
)

NAIVE = datetime(2026, 3, 10, 12, 0)  # noqa: DTZ001 - the naive datetime under test


def every(minutes: int) -> Schedule:
    return Schedule(frequency_minutes=minutes)


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, micro, tzinfo=UTC)


def slots(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = next_slot_after(schedule, moment)
        found.append(moment)
    return found


# ------------------------------------------------------------------------------------------- frequency


@pytest.mark.parametrize(
    ("frequency", "now", "expected"),
    [
        (5, utc(3, 10, 12, 7, 31, 250_000), utc(3, 10, 12, 10)),
        (15, utc(3, 10, 12, 0), utc(3, 10, 12, 15)),  # exactly on a slot: strictly after
        (15, utc(3, 10, 12, 0, 0, 1), utc(3, 10, 12, 15)),
        (60, utc(3, 10, 23, 59, 59), utc(3, 11, 0, 0)),
        (1440, utc(3, 10, 0, 0, 1), utc(3, 11, 0, 0)),
        (7, utc(3, 10, 12, 0), utc(3, 10, 12, 3)),  # refused at import; a stored one keeps a fixed grid
    ],
)
def test_next_slot_after_is_the_first_whole_multiple_strictly_after_now(
    frequency: int, now: datetime, expected: datetime
) -> None:
    assert next_slot_after(every(frequency), now) == expected


@pytest.mark.parametrize("frequency", [5, 15, 60, 90, 1440, 2880, 10080, 43200])
@pytest.mark.parametrize(
    "now", [utc(3, 10, 12, 7, 31, 250_000), utc(3, 10, 12, 0), utc(7, 1, 3, 59, 59, 999_999)]
)
def test_slots_are_aligned_to_whole_multiples_whatever_the_run_time(frequency: int, now: datetime) -> None:
    # original.md section 7 item 14: LastRun was the completion time, so slots drifted with every run.
    period = timedelta(minutes=frequency)
    latest = latest_slot_at_or_before(every(frequency), now)
    following = next_slot_after(every(frequency), now)
    assert (latest - EPOCH) % period == timedelta(0)
    assert latest <= now < following == latest + period


def test_a_moment_in_another_offset_gives_the_same_utc_slot() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    moment = utc(3, 10, 12, 7)
    slot = next_slot_after(every(15), moment.astimezone(india))
    assert slot == utc(3, 10, 12, 15)
    assert slot.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("frequency", "start", "expected_first"),
    [
        (10080, utc(3, 10, 12), utc(3, 16)),  # weekly: Mondays 00:00 UTC (2026-03-10 is a Tuesday)
        (10080, utc(3, 16), utc(3, 23)),  # exactly on Monday 00:00: the next Monday
        (2880, utc(3, 10, 12), utc(3, 12)),  # every two days, counted from Monday 1970-01-05
        (4320, utc(3, 10, 12), utc(3, 12)),  # every three days, likewise
        (43200, utc(3, 10, 12), utc(3, 12)),  # every 30 days
    ],
)
def test_whole_day_periods_start_at_midnight_utc_counted_from_a_monday(
    frequency: int, start: datetime, expected_first: datetime
) -> None:
    # original.md section 7 item 14: frequencies above 1440 minutes ran daily; a weekly KPI must run on
    # Mondays, not on the weekday of 1970-01-01 (a Thursday).
    found = slots(every(frequency), start, 4)
    assert found[0] == expected_first
    assert {later - earlier for earlier, later in pairwise(found)} == {timedelta(minutes=frequency)}
    assert all(slot.hour == slot.minute == 0 for slot in found)


def test_the_epoch_is_a_monday_at_midnight_utc() -> None:
    assert (EPOCH.weekday(), EPOCH.hour, EPOCH.minute, EPOCH.utcoffset()) == (0, 0, 0, timedelta(0))


@pytest.mark.parametrize("frequency", [1, 5, 16, 15, 30, 45, 60, 90, 120, 480, 720, 1440, 2880, 10080])
def test_periods_that_divide_a_day_or_are_whole_days_fit(frequency: int) -> None:
    assert frequency_problem(frequency) is None


@pytest.mark.parametrize("frequency", [7, 11, 100, 1000, 2000, 1441, 100_000])
def test_periods_that_fit_neither_rule_are_refused_with_a_pointer_to_cron(frequency: int) -> None:
    problem = frequency_problem(frequency)
    assert problem is not None
    assert f"{frequency} minutes" in problem
    assert "schedule: {cron" in problem


@pytest.mark.parametrize(
    ("schedule", "slot", "expected"),
    [
        (every(5), utc(3, 10, 12), utc(3, 10, 12, 15)),
        (every(60), utc(3, 10, 23), utc(3, 11, 2)),
        (every(1440), utc(3, 10), utc(3, 13)),  # a daily KPI: three days
        (every(10080), utc(3, 16), utc(4, 6)),  # a weekly KPI: three weeks
        (Schedule(cron="0 0 9 * * *", timezone="UTC"), utc(3, 10, 9), utc(3, 13, 9)),
        # weekdays only: Friday's run counts until Wednesday (the weekend has no periods)
        (Schedule(cron="0 0 9 * * 1-5", timezone="Europe/London"), utc(3, 13, 9), utc(3, 18, 9)),
        # London moves to summer time on 2026-03-29: the third firing keeps its wall time
        (Schedule(cron="0 0 9 * * *", timezone="Europe/London"), utc(3, 28, 9), utc(3, 31, 8)),
    ],
)
def test_an_alert_goes_stale_three_periods_after_the_slot_that_last_evaluated_it(
    schedule: Schedule, slot: datetime, expected: datetime
) -> None:
    assert stale_after(schedule, slot) == expected


def test_stale_after_refuses_a_naive_slot() -> None:
    with pytest.raises(ValueError, match="naive"):
        stale_after(every(5), NAIVE)


# ---------------------------------------------------------------------------------------------- windows


@pytest.mark.parametrize("run_delay", [timedelta(0), timedelta(seconds=1), timedelta(minutes=14, seconds=59)])
def test_the_window_is_the_last_minutes_before_the_slot_whenever_the_run_happens(
    run_delay: timedelta,
) -> None:
    # original.md section 7 item 14: the window was [now - N, now) at run time.
    slot = utc(3, 10, 12, 15)
    run_time = slot + run_delay
    assert latest_slot_at_or_before(every(15), run_time) == slot
    assert window(slot, 60) == (utc(3, 10, 11, 15), slot)


@pytest.mark.parametrize("frequency", [5, 15, 60, 1440, 10080, 2880])
def test_consecutive_windows_neither_overlap_nor_leave_gaps(frequency: int) -> None:
    # original.md section 7 item 14: drifting run times made windows overlap or leave gaps.
    windows = [window(slot, frequency) for slot in slots(every(frequency), utc(3, 10, 12, 7), 6)]
    for (_, end), (start, _) in pairwise(windows):
        assert end == start
    assert all(end - start == timedelta(minutes=frequency) for start, end in windows)


# -------------------------------------------------------------------------------------- missed slots


def test_missed_slots_coalesce_into_one_run_after_an_outage() -> None:
    # original.md section 7 item 14: no catch-up policy after downtime; ours runs once, then on the grid.
    due_slot = utc(3, 10, 12, 0)
    now = due_slot + timedelta(hours=3, minutes=7)  # back after a 3-hour outage
    next_run = next_slot_after(every(15), now)
    assert next_run == utc(3, 10, 15, 15)  # the first slot after now, not the twelve missed ones
    assert next_run - timedelta(minutes=15) <= now < next_run


# ----------------------------------------------------------------------------------------- first slot


def test_a_new_frequency_kpi_starts_at_its_latest_slot_so_it_runs_on_the_next_tick() -> None:
    assert first_slot(every(15), utc(3, 10, 12, 7)) == utc(3, 10, 12, 0)
    assert first_slot(every(15), utc(3, 10, 12, 0)) == utc(3, 10, 12, 0)


def test_a_new_cron_kpi_starts_at_its_next_firing() -> None:
    schedule = Schedule(cron="0 0 9 * * *", timezone="UTC")
    assert first_slot(schedule, utc(3, 10, 9, 0)) == utc(3, 11, 9, 0)


# ------------------------------------------------------------------------------------------------ cron


@pytest.mark.parametrize(
    ("cron", "zone", "now", "expected"),
    [
        # weekdays 09:00 London: GMT before 2026-03-29, BST (UTC+1) after it
        ("0 0 9 * * 1-5", "Europe/London", utc(3, 20, 10), utc(3, 23, 9)),
        ("0 0 9 * * 1-5", "Europe/London", utc(3, 27, 10), utc(3, 30, 8)),
        ("0 0 9 * * 1-5", "Europe/London", utc(10, 23, 10), utc(10, 26, 9)),  # back to GMT on 10-25
        # the design's example: every 15 minutes from 08:00 to 18:45 on weekdays
        ("0 */15 8-18 * * 1-5", "Europe/London", utc(3, 27, 17, 50), utc(3, 27, 18, 0)),
        ("0 */15 8-18 * * 1-5", "Europe/London", utc(3, 27, 18, 45), utc(3, 30, 7, 0)),
        ("0 */15 8-18 * * 1-5", "Europe/London", utc(3, 30, 16, 50), utc(3, 30, 17, 0)),
        ("0 */15 8-18 * * 1-5", "Europe/London", utc(3, 30, 17, 50), utc(3, 31, 7, 0)),
        ("0 30 2 * * *", "America/New_York", utc(3, 10, 12), utc(3, 11, 6, 30)),  # EDT, UTC-4
        ("0 0 0 * * *", "UTC", utc(3, 10, 0), utc(3, 11, 0)),
    ],
)
def test_cron_schedules_fire_on_the_wall_clock_of_their_time_zone(
    cron: str, zone: str, now: datetime, expected: datetime
) -> None:
    # original.md section 7 items 14 and 17: Quartz cron ran on local time while the data is UTC.
    slot = next_slot_after(Schedule(cron=cron, timezone=zone), now)
    assert slot == expected
    assert slot.utcoffset() == timedelta(0)


def test_a_daily_cron_across_daylight_saving_neither_skips_nor_doubles_a_day() -> None:
    schedule = Schedule(cron="0 0 9 * * *", timezone="Europe/London")
    found = slots(schedule, utc(3, 27, 12), 4)
    assert found == [utc(3, 28, 9), utc(3, 29, 8), utc(3, 30, 8), utc(3, 31, 8)]


def test_a_wall_time_repeated_at_fall_back_fires_once() -> None:
    schedule = Schedule(cron="0 30 1 * * *", timezone="Europe/London")  # 01:30 happens twice on 10-25
    found = slots(schedule, utc(10, 24, 12), 3)
    assert found == [utc(10, 25, 0, 30), utc(10, 26, 1, 30), utc(10, 27, 1, 30)]


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("schedule", [every(15), Schedule(cron="0 0 9 * * *")])
def test_naive_datetimes_are_rejected(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match="naive"):
        next_slot_after(schedule, NAIVE)
    with pytest.raises(ValueError, match="naive"):
        first_slot(schedule, NAIVE)


def test_latest_slot_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        latest_slot_at_or_before(every(15), NAIVE)


@pytest.mark.parametrize("schedule", [Schedule(), every(0), every(-15)])
def test_a_schedule_without_a_positive_frequency_or_a_cron_is_rejected(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match="positive frequency_minutes"):
        next_slot_after(schedule, utc(3, 10))

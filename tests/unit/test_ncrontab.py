"""Tests for shared.domain.ncrontab: parsing, matching and next firings in UTC and in DST zones."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from shared.domain.ncrontab import CronExpression, InvalidCronExpression

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ALL_SECONDS = frozenset(range(60))
ALL_DAYS = frozenset(range(1, 32))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def wall(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    """A naive wall-clock time."""
    return utc(year, month, day, hour, minute, second, micro).replace(tzinfo=None)


def firings(text: str, start: datetime, count: int, tz: tzinfo = UTC) -> list[datetime]:
    expression = CronExpression.parse(text)
    found = []
    moment = start
    for _ in range(count):
        moment = expression.next_after(moment, tz)
        found.append(moment)
    return found


def firings_until(
    expression: CronExpression, start: datetime, end: datetime, tz: ZoneInfo
) -> Iterator[datetime]:
    moment = expression.next_after(start, tz)
    while moment < end:
        yield moment
        moment = expression.next_after(moment, tz)


# --------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "attribute", "expected"),
    [
        ("* * * * * *", "seconds", ALL_SECONDS),
        ("*/15 * * * * *", "seconds", {0, 15, 30, 45}),
        ("0 */5 * * * *", "minutes", set(range(0, 60, 5))),
        ("0 5/15 * * * *", "minutes", {5, 20, 35, 50}),
        ("0 10-20/5 * * * *", "minutes", {10, 15, 20}),
        ("0 1,2,30-32 * * * *", "minutes", {1, 2, 30, 31, 32}),
        ("0 0 9-17 * * *", "hours", set(range(9, 18))),
        ("0 0 0 1,15 * *", "days", {1, 15}),
        ("0 0 0 */10 * *", "days", {1, 11, 21, 31}),
        ("0 0 0 1 JAN,mar,Dec *", "months", {1, 3, 12}),
        ("0 0 0 1 jun-AUG *", "months", {6, 7, 8}),
        ("0 0 0 * * MON-FRI", "weekdays", {1, 2, 3, 4, 5}),
        ("0 0 0 * * sun,Sat", "weekdays", {0, 6}),
        ("0 0 0 * * */2", "weekdays", {0, 2, 4, 6}),
        ("0 0 0 * * 5-7", "weekdays", {5, 6, 0}),
        ("0 0 0 * * *", "weekdays", set(range(7))),
        ("0 0 0 * * *", "days", ALL_DAYS),
        ("*/5 * * * *", "seconds", {0}),
        ("*/5 * * * *", "minutes", set(range(0, 60, 5))),
        ("30 4 1 * *", "hours", {4}),
        ("30 4 1 * *", "days", {1}),
        ("  0   0  12 * * *  ", "hours", {12}),
    ],
)
def test_parse_builds_the_allowed_values_of_each_field(text: str, attribute: str, expected: set[int]) -> None:
    assert getattr(CronExpression.parse(text), attribute) == expected


def test_five_field_form_fires_on_second_zero() -> None:
    five = CronExpression.parse("*/5 * * * *")
    six = CronExpression.parse("0 */5 * * * *")
    assert (five.seconds, five.minutes, five.hours, five.days, five.months, five.weekdays) == (
        six.seconds,
        six.minutes,
        six.hours,
        six.days,
        six.months,
        six.weekdays,
    )


@pytest.mark.parametrize("weekday", ["0", "7", "SUN", "sun"])
def test_weekday_seven_means_sunday(weekday: str) -> None:
    assert CronExpression.parse(f"0 0 0 * * {weekday}").weekdays == {0}


def test_parse_keeps_the_original_text() -> None:
    assert CronExpression.parse("0 0 * * * *").text == "0 0 * * * *"


def test_equal_expressions_compare_and_hash_equal() -> None:
    assert CronExpression.parse("0 0 * * * *") == CronExpression.parse("0 0 * * * *")
    assert len({CronExpression.parse("0 0 * * * *"), CronExpression.parse("0 0 * * * *")}) == 1


@pytest.mark.parametrize("text", ["0 0 0 29 2 *", "0 0 0 29 FEB MON", "0 0 0 31 1-2 *", "0 0 0 30,31 2,4 *"])
def test_expressions_that_fire_only_on_some_days_are_valid(text: str) -> None:
    assert CronExpression.parse(text).text == text


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["found 0 field(s)", "expected 5", "or 6"]),
        ("* * * *", ["found 4 field(s)", "expected 5", "or 6"]),
        ("0 0 0 * * * *", ["found 7 field(s)", "expected 5", "or 6"]),
        ("0 0 12 ? * MON", ["'?'", "day-of-month", "Quartz", "use '*'"]),
        ("0 0 12 * * ?", ["'?'", "day-of-week", "Quartz"]),
        ("60 * * * * *", ["second value 60", "range 0-59"]),
        ("0 60 * * * *", ["minute value 60", "range 0-59"]),
        ("0 0 24 * * *", ["hour value 24", "range 0-23"]),
        ("0 0 0 0 * *", ["day-of-month value 0", "range 1-31"]),
        ("0 0 0 32 * *", ["day-of-month value 32", "range 1-31"]),
        ("0 0 0 * 13 *", ["month value 13", "range 1-12"]),
        ("0 0 0 * * 8", ["day-of-week value 8", "range 0-7"]),
        ("0 50-70 * * * *", ["minute value 70", "range 0-59"]),
        ("0 */0 * * * *", ["step 0", "minute"]),
        ("0 0 1-5/0 * * *", ["step 0", "hour"]),
        ("0 30-10 * * * *", ["reversed range '30-10'", "minute"]),
        ("0 0 0 * * FRI-MON", ["reversed range 'FRI-MON'", "day-of-week"]),
        ("0 abc * * * *", ["'abc'", "minute"]),
        ("0 0 0 * * JAN", ["'JAN'", "day-of-week"]),
        ("0 0 0 * MON *", ["'MON'", "month"]),
        ("0 0 0 L * *", ["'L'", "day-of-month"]),
        ("0 1,,2 * * * *", ["cannot parse ''", "minute"]),
        ("0 1- * * * *", ["cannot parse '1-'", "minute"]),
        ("0 */ * * * *", ["cannot parse '*/'", "minute"]),
        ("0 1/2/3 * * * *", ["cannot parse '1/2/3'", "minute"]),
        ("0 */x * * * *", ["step 'x'", "minute"]),
        ("0 0 0 * * MON#2", ["cannot parse 'MON#2'", "day-of-week"]),
        ("0 0 0 31 2 *", ["can never fire"]),
        ("0 0 0 30 2 *", ["can never fire"]),
        ("0 0 0 31 4,6,9,11 *", ["can never fire"]),
    ],
)
def test_invalid_expressions_are_rejected_with_a_reason(text: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidCronExpression) as caught:
        CronExpression.parse(text)
    assert caught.value.expression == text
    for fragment in fragments:
        assert fragment in caught.value.reason
    assert str(caught.value) == f"invalid NCRONTAB expression {text!r}: {caught.value.reason}"


def test_invalid_expression_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid NCRONTAB expression"):
        CronExpression.parse("0 0 0 31 2 *")


# -------------------------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "wall", "expected"),
    [
        ("0 */5 * * * *", wall(2026, 5, 1, 10, 15), True),
        ("0 */5 * * * *", wall(2026, 5, 1, 10, 16), False),
        ("0 */5 * * * *", wall(2026, 5, 1, 10, 15, 1), False),
        ("0 0 3 * * 0", wall(2026, 5, 3, 3), True),  # a Sunday
        ("0 0 3 * * 0", wall(2026, 5, 4, 3), False),  # a Monday
        ("0 0 0 29 2 *", wall(2028, 2, 29), True),
        ("0 0 9 * * *", datetime(2026, 5, 1, 9, tzinfo=NEW_YORK), True),  # only the wall-clock fields count
        ("0 0 9 * * *", wall(2026, 5, 1, 9, 0, 0, 500_000), True),  # microseconds are ignored
    ],
)
def test_matches_compares_the_wall_clock_fields(text: str, wall: datetime, expected: bool) -> None:
    assert CronExpression.parse(text).matches(wall) is expected


@pytest.mark.parametrize(
    ("text", "wall", "expected"),
    [
        ("0 0 8 1-7 * TUE", wall(2026, 1, 6, 8), True),  # the 6th and a Tuesday
        ("0 0 8 1-7 * TUE", wall(2026, 1, 13, 8), False),  # a Tuesday, but not the 1st-7th
        ("0 0 8 1-7 * TUE", wall(2026, 1, 2, 8), False),  # the 2nd, but a Friday
        ("0 0 8 * * TUE", wall(2026, 1, 13, 8), True),  # day-of-month unrestricted
        ("0 0 8 13 * *", wall(2026, 1, 13, 8), True),  # day-of-week unrestricted
    ],
)
def test_day_of_month_and_day_of_week_must_both_match(text: str, wall: datetime, expected: bool) -> None:
    assert CronExpression.parse(text).matches(wall) is expected


@pytest.mark.parametrize(
    ("text", "moment", "expected"),
    [
        ("0 0 8 1-7 * TUE", utc(2026, 1, 1), utc(2026, 1, 6, 8)),  # first Tuesday of the month
        ("0 0 8 1-7 * TUE", utc(2026, 1, 6, 8), utc(2026, 2, 3, 8)),
        ("0 0 0 13 * FRI", utc(2026, 1, 1), utc(2026, 2, 13)),  # the next Friday the 13th
        ("0 0 0 13 * FRI", utc(2026, 2, 13), utc(2026, 3, 13)),
    ],
)
def test_next_after_requires_both_day_fields(text: str, moment: datetime, expected: datetime) -> None:
    assert CronExpression.parse(text).next_after(moment) == expected


# ----------------------------------------------------------------------------------------- UTC firings


@pytest.mark.parametrize(
    ("text", "moment", "expected"),
    [
        ("0 */5 * * * *", utc(2026, 5, 1, 10, 0), utc(2026, 5, 1, 10, 5)),
        ("0 */5 * * * *", utc(2026, 5, 1, 10, 2, 30), utc(2026, 5, 1, 10, 5)),
        ("0 */5 * * * *", utc(2026, 5, 1, 23, 57), utc(2026, 5, 2, 0, 0)),
        ("*/5 * * * *", utc(2026, 5, 1, 10, 4, 59, 999_999), utc(2026, 5, 1, 10, 5)),
        ("*/30 * * * * *", utc(2026, 5, 1, 10, 0, 0), utc(2026, 5, 1, 10, 0, 30)),
        ("*/30 * * * * *", utc(2026, 5, 1, 10, 0, 30), utc(2026, 5, 1, 10, 1, 0)),
        ("*/30 * * * * *", utc(2026, 5, 1, 10, 0, 0, 1), utc(2026, 5, 1, 10, 0, 30)),
        ("0 0 3 * * 0", utc(2026, 5, 1, 12), utc(2026, 5, 3, 3)),  # Friday -> Sunday 03:00
        ("0 0 3 * * 0", utc(2026, 5, 3, 3), utc(2026, 5, 10, 3)),
        ("0 0 3 * * SUN", utc(2026, 5, 3, 2, 59, 59), utc(2026, 5, 3, 3)),
        ("0 0 2 * * *", utc(2026, 5, 1, 1, 59, 59), utc(2026, 5, 1, 2)),
        ("0 0 2 * * *", utc(2026, 5, 1, 2), utc(2026, 5, 2, 2)),
        ("0 0 2 * * *", utc(2026, 5, 31, 2), utc(2026, 6, 1, 2)),  # month rollover
        ("0 0 0 31 * *", utc(2026, 1, 31), utc(2026, 3, 31)),  # skips February
        ("0 0 0 31 * *", utc(2026, 3, 31), utc(2026, 5, 31)),  # skips April
        ("0 0 0 30 * *", utc(2026, 1, 30), utc(2026, 3, 30)),
        ("0 0 12 1 */3 *", utc(2026, 2, 15), utc(2026, 4, 1, 12)),
        ("0 0 0 28-31 2 *", utc(2028, 2, 28), utc(2028, 2, 29)),  # leap year
        ("0 0 0 28-31 2 *", utc(2027, 2, 28), utc(2028, 2, 28)),  # common year
        ("0 0 0 29 2 *", utc(2027, 1, 1), utc(2028, 2, 29)),  # leap day years ahead
        ("0 0 0 29 2 *", utc(2096, 3, 1), utc(2104, 2, 29)),  # 2100 is not a leap year
        ("0 0 0 29 2 MON", utc(2027, 1, 1), utc(2044, 2, 29)),
        ("59 59 23 31 12 *", utc(2026, 6, 1), utc(2026, 12, 31, 23, 59, 59)),  # end of year
        ("* * * * * *", utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1)),
        ("0 0 0 1 1 *", utc(2026, 12, 31, 23, 59, 59), utc(2027, 1, 1)),
        ("0 0 0 1 1 *", utc(2027, 1, 1), utc(2028, 1, 1)),
    ],
)
def test_next_after_in_utc(text: str, moment: datetime, expected: datetime) -> None:
    assert CronExpression.parse(text).next_after(moment) == expected


def test_next_after_returns_an_aware_utc_datetime() -> None:
    found = CronExpression.parse("0 0 * * * *").next_after(utc(2026, 5, 1, 10, 30))
    assert found.tzinfo is UTC


def test_next_after_accepts_a_moment_in_any_offset() -> None:
    moment = datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))  # 10:30 UTC
    assert CronExpression.parse("0 0 * * * *").next_after(moment) == utc(2026, 5, 1, 11)


def test_next_after_evaluates_a_fixed_offset_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert CronExpression.parse("0 0 9 * * *").next_after(utc(2026, 5, 1), plus_two) == utc(2026, 5, 1, 7)


def test_a_zone_without_dst_behaves_like_utc_shifted() -> None:
    tz = ZoneInfo("Asia/Tokyo")
    assert CronExpression.parse("0 30 1 * * *").next_after(utc(2026, 3, 1), tz) == utc(2026, 3, 1, 16, 30)


def test_naive_moment_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CronExpression.parse("0 0 * * * *").next_after(wall(2026, 5, 1))


def test_naive_moment_is_rejected_for_a_zone_too() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CronExpression.parse("0 0 * * * *").next_after(wall(2026, 5, 1), LONDON)


def test_ten_thousand_firings_of_every_second_are_consecutive() -> None:
    found = firings("*/1 * * * * *", utc(2026, 12, 31, 23), 10_000)
    assert found[0] == utc(2026, 12, 31, 23, 0, 1)
    assert all(later - earlier == timedelta(seconds=1) for earlier, later in pairwise(found))
    assert found[-1] == utc(2026, 12, 31, 23) + timedelta(seconds=10_000)


# ----------------------------------------------------------------------------------------- DST firings
# 2026 transitions: London springs forward 29 Mar 01:00 UTC (01:00 GMT -> 02:00 BST) and falls back
# 25 Oct 01:00 UTC (02:00 BST -> 01:00 GMT); New York springs forward 8 Mar 07:00 UTC (02:00 EST ->
# 03:00 EDT) and falls back 1 Nov 06:00 UTC (02:00 EDT -> 01:00 EST).


@pytest.mark.parametrize(
    ("tz", "text", "start", "expected"),
    [
        pytest.param(
            LONDON,
            "0 0 * * * *",
            utc(2026, 3, 28, 23, 30),
            [utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)],
            id="london-spring-hourly-skipped-01:00-fires-once",
        ),
        pytest.param(
            LONDON,
            "0 */15 * * * *",
            utc(2026, 3, 29, 0, 40),
            [
                utc(2026, 3, 29, 0, 45),
                utc(2026, 3, 29, 1),
                utc(2026, 3, 29, 1, 15),
                utc(2026, 3, 29, 1, 30),
                utc(2026, 3, 29, 1, 45),
                utc(2026, 3, 29, 2),
            ],
            id="london-spring-every-15-minutes-no-gap",
        ),
        pytest.param(
            LONDON,
            "0 30 1 * * *",
            utc(2026, 3, 28),
            [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)],
            id="london-spring-daily-01:30-nonexistent-fires-at-01:30-utc",
        ),
        pytest.param(
            LONDON,
            "0 0 * * * *",
            utc(2026, 10, 24, 23, 30),
            [utc(2026, 10, 25, 0), utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)],
            id="london-fall-hourly-repeated-01:00-fires-once",
        ),
        pytest.param(
            LONDON,
            "0 */15 * * * *",
            utc(2026, 10, 24, 23, 50),
            [
                utc(2026, 10, 25, 0),
                utc(2026, 10, 25, 0, 15),
                utc(2026, 10, 25, 0, 30),
                utc(2026, 10, 25, 0, 45),
                utc(2026, 10, 25, 2),
                utc(2026, 10, 25, 2, 15),
            ],
            id="london-fall-every-15-minutes-skips-the-second-pass",
        ),
        pytest.param(
            LONDON,
            "0 30 1 * * *",
            utc(2026, 10, 24),
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
            id="london-fall-daily-01:30-first-occurrence-only",
        ),
        pytest.param(
            NEW_YORK,
            "0 0 * * * *",
            utc(2026, 3, 8, 5, 30),
            [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)],
            id="new-york-spring-hourly-skipped-02:00-fires-once",
        ),
        pytest.param(
            NEW_YORK,
            "0 */15 * * * *",
            utc(2026, 3, 8, 6, 40),
            [
                utc(2026, 3, 8, 6, 45),
                utc(2026, 3, 8, 7),
                utc(2026, 3, 8, 7, 15),
                utc(2026, 3, 8, 7, 30),
                utc(2026, 3, 8, 7, 45),
                utc(2026, 3, 8, 8),
            ],
            id="new-york-spring-every-15-minutes-no-gap",
        ),
        pytest.param(
            NEW_YORK,
            "0 30 1 * * *",
            utc(2026, 3, 7),
            [utc(2026, 3, 7, 6, 30), utc(2026, 3, 8, 6, 30), utc(2026, 3, 9, 5, 30)],
            id="new-york-spring-daily-01:30-exists",
        ),
        pytest.param(
            NEW_YORK,
            "0 30 2 * * *",
            utc(2026, 3, 7),
            [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)],
            id="new-york-spring-daily-02:30-nonexistent-fires-with-est",
        ),
        pytest.param(
            NEW_YORK,
            "0 0 * * * *",
            utc(2026, 11, 1, 3, 30),
            [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 7)],
            id="new-york-fall-hourly-repeated-01:00-fires-once",
        ),
        pytest.param(
            NEW_YORK,
            "0 */15 * * * *",
            utc(2026, 11, 1, 5, 10),
            [
                utc(2026, 11, 1, 5, 15),
                utc(2026, 11, 1, 5, 30),
                utc(2026, 11, 1, 5, 45),
                utc(2026, 11, 1, 7),
                utc(2026, 11, 1, 7, 15),
            ],
            id="new-york-fall-every-15-minutes-skips-the-second-pass",
        ),
        pytest.param(
            NEW_YORK,
            "0 30 1 * * *",
            utc(2026, 10, 31),
            [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
            id="new-york-fall-daily-01:30-first-occurrence-only",
        ),
    ],
)
def test_dst_transitions_fire_every_slot_once(
    tz: ZoneInfo, text: str, start: datetime, expected: list[datetime]
) -> None:
    assert firings(text, start, len(expected), tz) == expected


@pytest.mark.parametrize(
    ("tz", "text", "moment", "expected"),
    [
        pytest.param(
            LONDON,
            "0 30 1 * * *",
            utc(2026, 3, 29, 1, 10),
            utc(2026, 3, 29, 1, 30),
            id="london-skipped-01:30-still-ahead-just-after-spring-forward",
        ),
        pytest.param(
            LONDON,
            "0 */15 * * * *",
            utc(2026, 3, 29, 1, 5),
            utc(2026, 3, 29, 1, 15),
            id="london-15-minutes-just-after-spring-forward",
        ),
        pytest.param(
            LONDON,
            "0 */15 * * * *",
            utc(2026, 10, 25, 1, 10),
            utc(2026, 10, 25, 2),
            id="london-15-minutes-during-the-repeated-hour",
        ),
        pytest.param(
            LONDON,
            "0 20 1 * * *",
            utc(2026, 10, 25, 1, 10),
            utc(2026, 10, 26, 1, 20),
            id="london-daily-01:20-during-the-repeated-hour-waits-a-day",
        ),
        pytest.param(
            LONDON,
            "0 0 * * * *",
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 25, 2),
            id="london-hourly-from-the-first-pass",
        ),
        pytest.param(
            NEW_YORK,
            "0 30 2 * * *",
            utc(2026, 3, 8, 7, 10),
            utc(2026, 3, 8, 7, 30),
            id="new-york-skipped-02:30-still-ahead-just-after-spring-forward",
        ),
        pytest.param(
            NEW_YORK,
            "0 */15 * * * *",
            utc(2026, 11, 1, 6, 10),
            utc(2026, 11, 1, 7),
            id="new-york-15-minutes-during-the-repeated-hour",
        ),
    ],
)
def test_next_after_from_inside_a_transition(
    tz: ZoneInfo, text: str, moment: datetime, expected: datetime
) -> None:
    assert CronExpression.parse(text).next_after(moment, tz) == expected


@pytest.mark.parametrize(
    ("tz", "fall_back_last_first_pass"),
    [(LONDON, utc(2026, 10, 25, 0, 45)), (NEW_YORK, utc(2026, 11, 1, 5, 45))],
)
def test_a_year_of_fifteen_minute_firings_is_strictly_increasing_without_gaps(
    tz: ZoneInfo, fall_back_last_first_pass: datetime
) -> None:
    expression = CronExpression.parse("0 */15 * * * *")
    found = list(firings_until(expression, utc(2026, 1, 1), utc(2027, 1, 1), tz))
    steps = {earlier: later - earlier for earlier, later in pairwise(found)}
    assert all(step > timedelta(0) for step in steps.values())
    assert len(set(found)) == len(found)
    long_steps = {earlier: step for earlier, step in steps.items() if step != timedelta(minutes=15)}
    assert long_steps == {fall_back_last_first_pass: timedelta(minutes=75)}  # the documented fall-back hour
    assert len(found) == 365 * 96 - 1 - 4  # every UTC quarter-hour but the start and the repeated hour


def brute_force_firings(
    expression: CronExpression, tz: ZoneInfo, first_wall: datetime, hours: int
) -> list[datetime]:
    """Every matching wall minute mapped with fold=0, deduplicated: the documented DST rule, literally."""
    walls = (first_wall + timedelta(minutes=minute) for minute in range(hours * 60))
    return sorted(
        {wall.replace(tzinfo=tz, fold=0).astimezone(UTC) for wall in walls if expression.matches(wall)}
    )


@pytest.mark.parametrize(
    ("tz", "day"),
    [
        pytest.param(LONDON, wall(2026, 3, 29), id="london-spring"),
        pytest.param(LONDON, wall(2026, 10, 25), id="london-fall"),
        pytest.param(NEW_YORK, wall(2026, 3, 8), id="new-york-spring"),
        pytest.param(NEW_YORK, wall(2026, 11, 1), id="new-york-fall"),
        pytest.param(ZoneInfo("Australia/Lord_Howe"), wall(2026, 4, 5), id="lord-howe-half-hour-fall"),
        pytest.param(ZoneInfo("Australia/Lord_Howe"), wall(2026, 10, 4), id="lord-howe-half-hour-spring"),
    ],
)
@pytest.mark.parametrize(
    "text", ["0 * * * * *", "0 */7 * * * *", "0 20,50 1,2 * * *", "0 5,45 0-3 * * *", "0 10 2 * * *"]
)
def test_next_after_agrees_with_brute_force_around_transitions(
    tz: ZoneInfo, day: datetime, text: str
) -> None:
    expression = CronExpression.parse(text)
    expected = brute_force_firings(expression, tz, day - timedelta(days=1), hours=72)
    start = (day - timedelta(hours=12)).replace(tzinfo=tz).astimezone(UTC)
    end = (day + timedelta(hours=36)).replace(tzinfo=tz).astimezone(UTC)
    assert list(firings_until(expression, start, end, tz)) == [
        when for when in expected if start < when < end
    ]

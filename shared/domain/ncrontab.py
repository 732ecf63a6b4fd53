"""NCRONTAB expressions, the schedule syntax of Azure Functions timer triggers.

An expression has six whitespace-separated fields,
``{second} {minute} {hour} {day} {month} {day-of-week}``; the five-field form
(no seconds, which are then 0) is accepted too. Each field is ``*``, a number, a
range ``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n`` (``a`` up to the field's
maximum), or a comma list of those. Months accept ``JAN``-``DEC`` and days of
the week ``SUN``-``SAT`` (case-insensitive); day-of-week 7 is Sunday, but ``*``
and ``a/n`` span 0-6. Quartz's ``?`` is not NCRONTAB and is rejected, as is an
expression that can never fire (such as ``0 0 0 31 2 *``).

Day of month and day of week: a day fires only when it matches BOTH fields
(logical AND), which reduces to "whichever is restricted" when the other is
``*``. This is NCrontab's rule, not classic cron's OR. Source: atifaziz/NCrontab,
``NCrontab/CrontabSchedule.cs``, ``GetNextOccurrence``: once the day of month is
resolved it returns the candidate only
``if (_daysOfWeek.Contains((int) nextTime.DayOfWeek))`` and otherwise retries
from the end of that day. NCrontab issue #107 (still open) records the
difference from crontab(5): there ``0 8 1-7 * Tue`` means "the first Tuesday".

Time zones: ``next_after`` evaluates the expression on the wall clock of
``tz``. Every matching wall time maps to an instant using fold=0, i.e. the
offset in force before a transition. So a wall time skipped by spring-forward
still fires, at the instant it maps to with the pre-transition offset (London
2026-03-29 01:30 fires at 01:30 UTC). A wall time that occurs twice at
fall-back fires only at its first occurrence. The firings are the set of those
instants, so wall times that map to the same instant fire once, and iterating
``next_after`` is strictly increasing.
"""

import re
from bisect import bisect_left
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import MAXYEAR, UTC, date, datetime, time, timedelta, timezone, tzinfo
from math import ceil, floor
from typing import NamedTuple

from shared.domain.clock import require_aware

__all__ = ["CronExpression", "InvalidCronExpression"]

_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)
_ITEM = re.compile(r"(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/([0-9A-Za-z]+))?")  # base, optional step
_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February counted with its leap day


class InvalidCronExpression(ValueError):
    """An NCRONTAB expression that cannot be parsed or can never fire.

    ``expression`` is the text as given and ``reason`` says what is wrong with it.
    """

    def __init__(self, expression: str, reason: str) -> None:
        super().__init__(f"invalid NCRONTAB expression {expression!r}: {reason}")
        self.expression = expression
        self.reason = reason


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    step_high: int  # upper end of `*` and `a/n`
    names: dict[str, int]


_SIX_FIELDS = (
    _Field("second", 0, 59, 59, {}),
    _Field("minute", 0, 59, 59, {}),
    _Field("hour", 0, 23, 23, {}),
    _Field("day-of-month", 1, 31, 31, {}),
    _Field("month", 1, 12, 12, {name: number for number, name in enumerate(_MONTH_NAMES, start=1)}),
    _Field("day-of-week", 0, 7, 6, {name: number for number, name in enumerate(_WEEKDAY_NAMES)}),
)


def _value(token: str, spec: _Field) -> int:
    if token.isdigit():
        number = int(token)
    elif token.upper() in spec.names:
        return spec.names[token.upper()]
    else:
        raise ValueError(f"{token!r} is not a valid {spec.name} value")
    if not spec.low <= number <= spec.high:
        raise ValueError(f"{spec.name} value {number} is out of range {spec.low}-{spec.high}")
    return number


def _step(token: str, spec: _Field) -> int:
    if not token.isdigit():
        raise ValueError(f"step {token!r} in the {spec.name} field is not a number")
    if int(token) == 0:
        raise ValueError(f"step 0 in the {spec.name} field is not allowed (the step must be at least 1)")
    return int(token)


def _parse_item(item: str, spec: _Field) -> range:
    matched = _ITEM.fullmatch(item)
    if matched is None:
        raise ValueError(f"cannot parse {item!r} in the {spec.name} field")
    base, step_text = matched.groups()
    step = 1 if step_text is None else _step(step_text, spec)
    if base == "*":
        return range(spec.low, spec.step_high + 1, step)
    first_text, dash, last_text = base.partition("-")
    first = _value(first_text, spec)
    if dash:
        last = _value(last_text, spec)
        if first > last:
            raise ValueError(f"reversed range {base!r} in the {spec.name} field (start must not exceed end)")
    else:
        last = first if step_text is None else max(first, spec.step_high)
    return range(first, last + 1, step)


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    if "?" in text:
        raise ValueError(
            f"'?' in the {spec.name} field is Quartz syntax and is not valid NCRONTAB; use '*' instead"
        )
    values = {value for item in text.split(",") for value in _parse_item(item, spec)}
    if spec.name == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


def _can_fire(days: frozenset[int], months: frozenset[int]) -> bool:
    # Every (month, day) that exists in some year falls on every weekday within the
    # 400-year Gregorian cycle, so with the AND rule only the day/month pair matters.
    return any(day <= _DAYS_IN_MONTH[month - 1] for month in months for day in days)


def _next_at_or_above(values: tuple[int, ...], floor_value: int) -> int | None:
    index = bisect_left(values, floor_value)
    return values[index] if index < len(values) else None


def _to_utc(wall: datetime, tz: tzinfo) -> datetime:
    """The instant a naive wall time maps to in `tz` with fold=0 (the pre-transition offset)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _exists(wall: datetime, tz: tzinfo) -> bool:
    return _to_utc(wall, tz).astimezone(tz).replace(tzinfo=None) == wall


def _transition(after: datetime, upto: datetime, tz: tzinfo) -> datetime:
    """The first whole-second instant in (after, upto] with the UTC offset in force at `upto`.

    The offset at `after` must differ; transitions fall on whole seconds.
    """
    target = upto.astimezone(tz).utcoffset()
    low, high = floor(after.timestamp()), ceil(upto.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _offset(moment: datetime, tz: tzinfo, fold: int | None = None) -> timedelta:
    """The UTC offset of `tz` at an aware instant, or at a naive wall time with the given fold."""
    local = moment.replace(tzinfo=tz, fold=fold) if fold is not None else moment.astimezone(tz)
    offset = local.utcoffset()
    if offset is None:
        raise ValueError(f"time zone {tz!r} gives no UTC offset")
    return offset


@dataclass(frozen=True, kw_only=True, slots=True)
class CronExpression:
    """A parsed NCRONTAB expression; build it with `CronExpression.parse`.

    Each field holds the set of values it allows; ``weekdays`` runs 0=Sunday..6=Saturday.
    """

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    _sorted: tuple[tuple[int, ...], ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        fields = (self.seconds, self.minutes, self.hours, self.days, self.months)
        object.__setattr__(self, "_sorted", tuple(tuple(sorted(values)) for values in fields))

    @classmethod
    def parse(cls, text: str) -> "CronExpression":
        """Parse a six-field (or five-field, seconds = 0) expression.

        Raises `InvalidCronExpression` naming the field and the problem.
        """
        tokens = text.split()
        if len(tokens) not in (5, 6):
            reason = (
                f"found {len(tokens)} field(s); expected 5 (minute hour day month day-of-week) "
                "or 6 (second minute hour day month day-of-week)"
            )
            raise InvalidCronExpression(text, reason)
        specs = _SIX_FIELDS if len(tokens) == 6 else _SIX_FIELDS[1:]
        try:
            values = [_parse_field(token, spec) for token, spec in zip(tokens, specs, strict=True)]
        except ValueError as error:
            raise InvalidCronExpression(text, str(error)) from None
        if len(tokens) == 5:
            values.insert(0, frozenset({0}))
        seconds, minutes, hours, days, months, weekdays = values
        if not _can_fire(days, months):
            raise InvalidCronExpression(
                text, "the expression can never fire: no allowed day-of-month exists in any allowed month"
            )
        return cls(
            text=text,
            seconds=seconds,
            minutes=minutes,
            hours=hours,
            days=days,
            months=months,
            weekdays=weekdays,
        )

    def matches(self, local_wall_time: datetime) -> bool:
        """Whether the wall-clock fields of `local_wall_time` match; tzinfo and microseconds are ignored."""
        return (
            local_wall_time.second in self.seconds
            and local_wall_time.minute in self.minutes
            and local_wall_time.hour in self.hours
            and self._day_matches(local_wall_time.date())
        )

    def next_after(self, moment: datetime, tz: tzinfo = UTC) -> datetime:
        """The first firing strictly after the aware `moment`, as an aware UTC datetime.

        The expression is evaluated on the wall clock of `tz`, with the daylight-saving rules
        of the module docstring. Raises `ValueError` for a naive `moment`.
        """
        require_aware(moment, "moment")
        if isinstance(tz, timezone):  # a fixed offset: the wall clock never jumps
            local = moment.astimezone(tz).replace(tzinfo=None)
            return _to_utc(self._next_wall(local), tz)
        instant = moment.astimezone(UTC)
        candidates = self._regular_candidates(instant, tz) + self._gap_image_candidates(instant, tz)
        return min(candidate for candidate in candidates if candidate > instant)

    def _day_matches(self, day: date) -> bool:
        return day.day in self.days and day.month in self.months and day.isoweekday() % 7 in self.weekdays

    def _time_at_or_after(self, hour: int, minute: int, second: int) -> time | None:
        """The first allowed time of day at or after hour:minute:second, if any."""
        seconds, minutes, hours = self._sorted[0], self._sorted[1], self._sorted[2]
        next_hour = _next_at_or_above(hours, hour)
        if next_hour == hour:
            next_minute = _next_at_or_above(minutes, minute)
            if next_minute == minute:
                next_second = _next_at_or_above(seconds, second)
                if next_second is not None:
                    return time(hour, minute, next_second)
                next_minute = _next_at_or_above(minutes, minute + 1)
            if next_minute is not None:
                return time(hour, next_minute, seconds[0])
            next_hour = _next_at_or_above(hours, hour + 1)
        return None if next_hour is None else time(next_hour, minutes[0], seconds[0])

    def _date_at_or_after(self, start: date) -> date:
        """The first allowed date at or after `start`, jumping month by month."""
        days, months = self._sorted[3], self._sorted[4]
        year, month, day = start.year, start.month, start.day
        while year <= MAXYEAR:
            next_month = _next_at_or_above(months, month)
            if next_month is None:
                year, month, day = year + 1, months[0], 1
                continue
            if next_month != month:
                month, day = next_month, 1
            last = monthrange(year, month)[1]
            for candidate in days[bisect_left(days, day) :]:
                if candidate > last:
                    break
                if date(year, month, candidate).isoweekday() % 7 in self.weekdays:
                    return date(year, month, candidate)
            year, month, day = (year, month + 1, 1) if month < 12 else (year + 1, months[0], 1)
        raise ValueError(f"{self.text!r} does not fire again before the end of year {MAXYEAR}")

    def _next_wall(self, after: datetime) -> datetime:
        """The first matching naive wall time strictly after the naive `after`."""
        start = after.replace(microsecond=0) + _SECOND
        if self._day_matches(start.date()):
            same_day = self._time_at_or_after(start.hour, start.minute, start.second)
            if same_day is not None:
                return datetime.combine(start.date(), same_day)
        day = self._date_at_or_after(start.date() + _DAY)
        return datetime.combine(day, time(self._sorted[2][0], self._sorted[1][0], self._sorted[0][0]))

    def _regular_candidates(self, instant: datetime, tz: tzinfo) -> list[datetime]:
        """Firings of the first matching wall times after the wall clock at `instant`.

        Wall order is instant order except at a spring-forward gap, where the walls just after it
        map to earlier instants than the skipped ones; both are returned and the caller takes the least.
        """
        local = instant.astimezone(tz)
        wall = local.replace(tzinfo=None, fold=0)
        if local.fold == 1:  # second pass over repeated wall times: those fired on the first pass
            first_offset = _offset(wall, tz, fold=0)
            change = _transition(instant - (first_offset - _offset(wall, tz, fold=1)), instant, tz)
            wall = change.replace(tzinfo=None) + first_offset - _SECOND
        found = self._next_wall(wall)
        candidates = [_to_utc(found, tz)]
        if not _exists(found, tz):  # a spring-forward gap: walls just after it map to earlier instants
            mapped = candidates[0]
            gap = _offset(found, tz, fold=1) - _offset(found, tz, fold=0)
            change = _transition(mapped - gap, mapped, tz)
            gap_end = change.replace(tzinfo=None) + _offset(change, tz)
            candidates.append(_to_utc(self._next_wall(gap_end - _SECOND), tz))
        return candidates

    def _gap_image_candidates(self, instant: datetime, tz: tzinfo) -> list[datetime]:
        """Firings of skipped wall times that map after `instant` when it follows a spring-forward.

        Such walls lie before the wall clock at `instant`; the gap is assumed shorter than a day.
        """
        before = _offset(instant - _DAY, tz)
        if before >= _offset(instant, tz):
            return []
        skipped = self._next_wall(instant.replace(tzinfo=None) + before)
        return [] if _exists(skipped, tz) else [_to_utc(skipped, tz)]

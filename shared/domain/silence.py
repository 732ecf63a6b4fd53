"""Silences (maintenance windows): which alerts they cover, and when. Pure.

A silence matches an alert by its KPI's indicator and/or owner (both when both are set) and, optionally, an
fnmatch-style glob on the metric key (case-sensitive: `Pay*`, `EU-??`, `[AB]*`). It is one-off (active in
`[starts_at, ends_at)`) or weekly: on the listed days, from `HH:MM` to `HH:MM` wall time in an IANA zone, the
range crossing midnight when it ends at or before it starts (the part after midnight belongs to the listed
day's occurrence). A weekly silence may also be bounded by `starts_at` / `ends_at`. An expired silence is
inactive from its `expired_at`.

Wall times are turned into instants so that an occurrence covers exactly the local times in its range that
exist on that day: a start or end that falls in a spring-forward gap becomes the instant of the jump, and a
repeated (fall-back) hour inside the range is covered both times (an occurrence starts at the first instance
of its start time and ends at the last instance of its end time).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60


class SilenceSource(StrEnum):
    CLI = "cli"
    API = "api"
    DEFINITIONS = "definitions"  #: owned by the definitions file (upserted by name on import)


@dataclass(frozen=True, kw_only=True, slots=True)
class Weekly:
    """A weekly window: `days` (0 = Monday), minutes since local midnight, an IANA zone."""

    days: frozenset[int]
    start_minute: int
    end_minute: int
    timezone: str

    @property
    def crosses_midnight(self) -> bool:
        return self.end_minute <= self.start_minute

    def occurrences(self, *, around: datetime) -> list[tuple[datetime, datetime]]:
        """The occurrences (UTC start, end) that start within about a week either side of `around`."""
        zone = ZoneInfo(self.timezone)
        today = around.astimezone(zone).date()
        found = []
        for offset in range(-8, 9):
            day = today + timedelta(days=offset)
            if day.weekday() in self.days:
                found.append(self._occurrence(day, zone))
        return found

    def _occurrence(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        end_day = day + timedelta(days=1) if self.crosses_midnight else day
        start = _instant(day, self.start_minute, zone, first=True)
        return start, _instant(end_day, self.end_minute, zone, first=False)

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[day] for day in sorted(self.days))
        return f"{days} {format_minutes(self.start_minute)}-{format_minutes(self.end_minute)} {self.timezone}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Silence:
    """A stored silence; see the module's rules."""

    id: int
    kpi: str | None = None
    owner: str | None = None
    key_glob: str | None = None
    starts_at: datetime
    ends_at: datetime | None = None
    weekly: Weekly | None = None
    created_by: str
    reason: str
    created_at: datetime
    expired_at: datetime | None = None
    expired_by: str | None = None
    source: SilenceSource = SilenceSource.CLI
    name: str | None = None

    def matches(self, *, indicator: str | None, owner: str | None, metric_key: str) -> bool:
        """Whether the silence covers alerts of this KPI (indicator, owner) and metric key."""
        if self.kpi is not None and self.kpi != indicator:
            return False
        if self.owner is not None and self.owner != owner:
            return False
        return self.key_glob is None or fnmatch.fnmatchcase(metric_key, self.key_glob)

    @property
    def until(self) -> datetime | None:
        """The end of the whole silence (its end or expiry, whichever is first); None: open-ended."""
        ends = [moment for moment in (self.ends_at, self.expired_at) if moment is not None]
        return min(ends) if ends else None

    def windows(self, *, around: datetime) -> list[tuple[datetime, datetime]]:
        """The silence's active intervals near `around`, clipped to its bounds, merged, in order."""
        if self.weekly is None:
            raw = [(self.starts_at, self.ends_at or self.starts_at)]
        else:
            raw = self.weekly.occurrences(around=around)
        until = self.until
        clipped = [
            (max(start, self.starts_at), min(end, until) if until is not None else end) for start, end in raw
        ]
        return _merged([(start, end) for start, end in clipped if start < end])

    def active(self, now: datetime) -> bool:
        """Whether the silence covers the instant `now`."""
        return any(start <= now < end for start, end in self.windows(around=now))

    def next_end(self, now: datetime) -> datetime | None:
        """The first end of an active interval after `now` (the current one's when active); None: none."""
        ends = [end for _, end in self.windows(around=now) if end > now]
        return min(ends) if ends else None

    def describe_window(self) -> str:
        if self.weekly is None:
            return f"{self.starts_at.isoformat()} .. {self.ends_at.isoformat() if self.ends_at else ''}"
        return self.weekly.describe()


@dataclass(frozen=True, kw_only=True, slots=True)
class SilenceDefinition:
    """A recurring silence of the definitions file (`silences:`), identified there by its `name`."""

    name: str
    kpi: str | None = None
    owner: str | None = None
    key_glob: str | None = None
    weekly: Weekly
    reason: str
    created_by: str = "definitions"

    def silence(self, *, now: datetime, silence_id: int = 0) -> Silence:
        """The stored form, starting `now`."""
        return Silence(
            id=silence_id,
            name=self.name,
            kpi=self.kpi,
            owner=self.owner,
            key_glob=self.key_glob,
            starts_at=now,
            weekly=self.weekly,
            created_by=self.created_by,
            reason=self.reason,
            source=SilenceSource.DEFINITIONS,
            created_at=now,
        )

    @classmethod
    def of(cls, silence: Silence) -> SilenceDefinition | None:
        """The definition of a stored silence the definitions file owns (None for any other)."""
        if silence.name is None or silence.weekly is None:
            return None
        return cls(
            name=silence.name,
            kpi=silence.kpi,
            owner=silence.owner,
            key_glob=silence.key_glob,
            weekly=silence.weekly,
            reason=silence.reason,
            created_by=silence.created_by,
        )


def covering(
    silences: Iterable[Silence], *, indicator: str | None, owner: str | None, metric_key: str, now: datetime
) -> list[Silence]:
    """The silences that cover an alert of this KPI and metric key at `now`."""
    return [
        silence
        for silence in silences
        if silence.matches(indicator=indicator, owner=owner, metric_key=metric_key) and silence.active(now)
    ]


def parse_days(text: str) -> frozenset[int]:
    """`mon,tue` (case-insensitive, three-letter names) as weekday numbers; ValueError names the bad one."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("no day given (use mon,tue,...,sun)")
    unknown = [name for name in names if name not in DAY_NAMES]
    if unknown:
        raise ValueError(f"unknown day {unknown[0]!r} (use {','.join(DAY_NAMES)})")
    return frozenset(DAY_NAMES.index(name) for name in names)


def format_days(days: Iterable[int]) -> str:
    return ",".join(DAY_NAMES[day] for day in sorted(days))


def parse_range(text: str) -> tuple[int, int]:
    """`22:00-02:00` as minutes since midnight; ValueError when malformed or empty (start equals end)."""
    parts = text.split("-")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a range HH:MM-HH:MM")
    start, end = (parse_minutes(part) for part in parts)
    if start == end:
        raise ValueError(f"{text!r} is empty: the start and the end are the same")
    return start, end


def parse_minutes(text: str) -> int:
    try:
        parsed = time.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a time HH:MM") from None
    if parsed.second or parsed.microsecond or parsed.tzinfo:
        raise ValueError(f"{text.strip()!r} is not a time HH:MM")
    return parsed.hour * 60 + parsed.minute


def format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _instant(day: date, minutes: int, zone: ZoneInfo, *, first: bool) -> datetime:
    """The UTC instant of a wall time: its first (or last) instance when repeated, the jump when skipped."""
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if _exists(wall, zone):
        return min(early, late) if first else max(early, late)
    return _jump(wall, zone, min(early, late), max(early, late))


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    as_utc = wall.replace(tzinfo=zone).astimezone(UTC)
    return as_utc.astimezone(zone).replace(tzinfo=None) == wall


def _jump(wall: datetime, zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first instant in (low, high] whose local time is past `wall` (a wall time in a gap): the jump."""
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _merged(intervals: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged

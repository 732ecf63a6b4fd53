"""Slots: the scheduled instants at which a KPI runs, and the data window each one covers.

A frequency schedule's slots are the whole multiples of `frequency_minutes` since 1970-01-01 00:00 UTC, so
every frequency that divides a day lands on the same boundaries every day (5 minutes: :00, :05, ...), and
longer or odd frequencies keep their period exactly, with no drift and no cap at one day. A cron schedule's
slots are its NCRONTAB firings on the wall clock of its time zone (see `ncrontab` for daylight saving).
The window of a slot is `[slot - last_minutes, slot)`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.domain.kpi import Schedule
from shared.domain.ncrontab import CronExpression

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware datetime")


def next_slot_after(schedule: Schedule, moment: datetime) -> datetime:
    """The first slot strictly after `moment`, in UTC."""
    _require_aware(moment)
    if schedule.cron is not None:
        return CronExpression.parse(schedule.cron).next_after(moment, ZoneInfo(schedule.timezone))
    return latest_slot_at_or_before(schedule, moment) + _period(schedule)


def latest_slot_at_or_before(schedule: Schedule, moment: datetime) -> datetime:
    """The last frequency slot at or before `moment` (frequency schedules only)."""
    _require_aware(moment)
    period = _period(schedule)
    elapsed = moment.astimezone(UTC) - EPOCH
    return EPOCH + (elapsed // period) * period


def first_slot(schedule: Schedule, now: datetime) -> datetime:
    """Where a new or re-activated KPI starts: its latest frequency slot (so it runs on the next tick), or
    its next cron firing."""
    if schedule.cron is not None:
        return next_slot_after(schedule, now)
    return latest_slot_at_or_before(schedule, now)


def window(slot: datetime, last_minutes: int) -> tuple[datetime, datetime]:
    """The data window `[start, end)` a slot covers."""
    return slot - timedelta(minutes=last_minutes), slot


def _period(schedule: Schedule) -> timedelta:
    if schedule.frequency_minutes is None or schedule.frequency_minutes <= 0:
        raise ValueError("this operation needs a frequency schedule with a positive frequency_minutes")
    return timedelta(minutes=schedule.frequency_minutes)

"""Slots: the scheduled instants at which a KPI runs, and the data window each one covers.

A frequency schedule's slots are the whole multiples of `frequency_minutes` since `EPOCH`, Monday
1970-01-05 00:00 UTC. One epoch serves every period that fits:

- a period that divides a day (5, 15, 60, 90, 1440 minutes...) lands on the same boundaries every day,
  counted from midnight UTC (5 minutes: :00, :05, ...);
- a period of whole days starts at 00:00 UTC; a weekly one (10080) runs on Mondays at 00:00 UTC, and every
  other whole-day period counts its days from that Monday (2880: every other day from 1970-01-05).

Any other period (7, 100, 2000 minutes) fits neither rule and is refused at import (`frequency_problem`):
such a KPI takes a `schedule` (cron). A cron schedule's slots are its NCRONTAB firings on the wall clock of
its time zone (see `ncrontab` for daylight saving). The window of a slot is `[slot - last_minutes, slot)`.
A KPI stops counting as evaluating a key three of its periods after the slot that last evaluated it
(`stale_after`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.domain.clock import require_aware
from shared.domain.kpi import Schedule
from shared.domain.ncrontab import CronExpression

#: The origin of every frequency schedule's slots: a Monday, so weekly slots fall on Mondays.
EPOCH = datetime(1970, 1, 5, tzinfo=UTC)
MINUTES_PER_DAY = 1440
#: How many of a KPI's periods may pass without evaluating a key before its alert counts as stale.
STALE_PERIODS = 3


def _require_aware(moment: datetime) -> None:
    require_aware(moment, "moment")


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


def frequency_problem(minutes: int) -> str | None:
    """Why a `frequency_minutes` cannot be aligned (None when it can): it must divide a day or be a
    whole number of days."""
    if minutes <= 0:
        return f"frequency_minutes must be positive, got {minutes}"
    if MINUTES_PER_DAY % minutes == 0 or minutes % MINUTES_PER_DAY == 0:
        return None
    return (
        f"{minutes} minutes neither divides a day nor is a whole number of days, so its slots cannot be "
        "aligned; use a period that does (e.g. 5, 15, 60, 1440, 10080) or a `schedule: {cron: ...}`"
    )


def stale_after(schedule: Schedule, slot: datetime) -> datetime:
    """The instant three of the KPI's periods after `slot`: an alert whose key the KPI evaluated at `slot`
    and not since counts as no longer evaluated from then on (frequency: slot + 3 periods; cron: the third
    firing after the slot, so a weekday-only schedule spans its weekend)."""
    _require_aware(slot)
    if schedule.cron is None:
        return slot.astimezone(UTC) + STALE_PERIODS * _period(schedule)
    moment = slot
    for _ in range(STALE_PERIODS):
        moment = next_slot_after(schedule, moment)
    return moment


def window(slot: datetime, last_minutes: int) -> tuple[datetime, datetime]:
    """The data window `[start, end)` a slot covers."""
    return slot - timedelta(minutes=last_minutes), slot


def _period(schedule: Schedule) -> timedelta:
    if schedule.frequency_minutes is None or schedule.frequency_minutes <= 0:
        raise ValueError("this operation needs a frequency schedule with a positive frequency_minutes")
    return timedelta(minutes=schedule.frequency_minutes)

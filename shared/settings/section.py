"""What every settings section shares: frozen, read by alias, empty values unset, no unresolved Key Vault
reference as a value; and the check that an NCRONTAB schedule parses and agrees with its interval."""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, field_validator

from shared.domain.ncrontab import CronExpression, InvalidCronExpression
from shared.settings.key_vault import resolved
from shared.settings.schedules import SCHEDULE_SETTINGS

# The reference week used to measure how often a schedule fires (any fixed Monday works).
_SCHEDULE_PROBE_START = datetime(2026, 1, 5, tzinfo=UTC)


def valid_cron(text: str) -> str:
    try:
        CronExpression.parse(text)
    except InvalidCronExpression as error:
        raise ValueError(error.reason) from None
    return text


@functools.cache
def _shortest_gap_s(schedule: str) -> int:
    """Shortest gap in seconds between firings of `schedule` over a probe window of 20 firings (a function
    of the text alone, so each schedule is measured once per process however often settings are built)."""
    expression = CronExpression.parse(schedule)
    moments = [expression.next_after(_SCHEDULE_PROBE_START)]
    for _ in range(20):
        moments.append(expression.next_after(moments[-1]))
    return int(min((later - earlier).total_seconds() for earlier, later in itertools.pairwise(moments)))


def check_interval(section: str, interval_s: int, schedule: str) -> None:
    gap_s = _shortest_gap_s(schedule)
    if gap_s != interval_s:
        name = next(flat for flat, place in SCHEDULE_SETTINGS.items() if place == (section, "Schedule"))
        raise ValueError(
            f"{name} {schedule!r} fires every {gap_s} s but "
            f"Worker__{section}__IntervalSeconds is {interval_s}: set them to agree"
        )


def empty_is_none(value: object) -> object:
    """App settings and local.settings.json cannot hold null: an empty value means "not set"."""
    return None if isinstance(value, str) and not value.strip() else value


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    _no_key_vault_reference = field_validator("*", mode="before")(resolved)

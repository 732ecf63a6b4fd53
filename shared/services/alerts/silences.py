"""Silences (maintenance windows) as use cases: add, list, expire, and which silences cover an alert now.

Shared by `mgrid silences` and the management API: inputs come as text the way an operator types them
(`SilenceRequest`), are validated here (an `InvalidSilence` names the field and says what is wrong), and the
results are domain `Silence` values; `as_json` is the one JSON shape of a silence (the CLI's and the API's).
A silence names a KPI indicator and/or an owner that exists, so a typo cannot silence nothing in silence.
Every new or expired silence gets its `next_end_at` bookkeeping, which the alert processor reads to notify,
once, the alerts still open when the silence ends (`shared.services.alerts.silencing`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine

from shared.db import silences as store
from shared.domain.clock import Clock, is_aware, utc_now
from shared.domain.silence import (
    Silence,
    SilenceSource,
    Weekly,
    covering,
    format_days,
    format_minutes,
    parse_days,
    parse_range,
)
from shared.errors import PermanentError

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class InvalidSilence(PermanentError, ValueError):
    """A silence request that cannot be stored; `field` names the input (`kpi`, `until`, `between`, ...)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class SilenceNotFound(PermanentError, LookupError):
    def __init__(self, silence_id: int) -> None:
        self.silence_id = silence_id
        super().__init__(f"no silence with id {silence_id}")


@dataclass(frozen=True, kw_only=True, slots=True)
class SilenceRequest:
    """A silence as asked for, as text: exactly one of `until`, `duration` or `weekly` (with `between` and
    `timezone`); at least one of `kpi` and `owner`. Errors name the fields as `mgrid silences add` and the
    API spell them: `kpi`, `owner`, `key`, `until`, `for` (this `duration`), `weekly`, `between`, `timezone`,
    `by`, `reason`."""

    kpi: str | None = None
    owner: str | None = None
    key: str | None = None
    until: str | None = None
    duration: str | None = None
    weekly: str | None = None
    between: str | None = None
    timezone: str | None = None
    by: str = ""
    reason: str = ""
    source: SilenceSource = SilenceSource.CLI
    name: str | None = None


class SilenceService:
    """See the module's contract."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    def add(self, request: SilenceRequest) -> Silence:
        """Validate and store the silence; it takes effect at once (or at its window)."""
        return self.add_all([request])[0]

    def add_all(self, requests: Sequence[SilenceRequest]) -> list[Silence]:
        """Validate every request, then store them all in one transaction (or none)."""
        now = self._clock()
        built = [build(request, now=now) for request in requests]
        with self._engine.begin() as connection:
            for silence in built:
                known_kpi, known_owner = store.known_labels(
                    connection, indicator=silence.kpi, owner=silence.owner
                )
                if not known_kpi:
                    raise InvalidSilence("kpi", f"no KPI has the indicator {silence.kpi!r}")
                if not known_owner:
                    raise InvalidSilence("owner", f"no KPI has the owner {silence.owner!r}")
            return [store.insert_silence(connection, s, next_end_at=s.next_end(now)) for s in built]

    def list_silences(self, *, everything: bool = False) -> list[Silence]:
        """Current and future silences (with `everything`, expired and past ones too), newest first."""
        with self._engine.connect() as connection:
            return store.list_silences(connection, now=self._clock(), everything=everything)

    def expire(self, silence_id: int, *, by: str) -> Silence:
        """End the silence now; expiring an expired silence changes nothing."""
        by = _required("by", by, 100)
        now = self._clock()
        with self._engine.begin() as connection:
            silence = store.get_silence(connection, silence_id)
            if silence is None:
                raise SilenceNotFound(silence_id)
            store.expire(connection, silence_id, by=by, now=now, active=silence.active(now))
            return store.stored_silence(connection, silence_id)

    def covering_alert(self, alert_id: int) -> list[Silence]:
        """The silences that cover the alert now (none for a system alert or an unknown id)."""
        now = self._clock()
        with self._engine.connect() as connection:
            labels = store.alert_labels(connection, alert_id)
            if labels is None:
                return []
            indicator, owner, key = labels
            live = store.live_for(connection, indicators={indicator}, owners={owner}, now=now)
        return covering(live, indicator=indicator, owner=owner, metric_key=key, now=now)


def build(request: SilenceRequest, *, now: datetime) -> Silence:
    """The silence a request asks for, starting `now`; InvalidSilence names the first wrong field."""
    kpi = _optional("kpi", request.kpi, 255)
    owner = _optional("owner", request.owner, 100)
    if kpi is None and owner is None:
        raise InvalidSilence("kpi", "give a KPI indicator and/or an owner (--kpi / --owner)")
    chosen = [name for name in ("until", "duration", "weekly") if getattr(request, name) is not None]
    if len(chosen) != 1:
        raise InvalidSilence("until", "give exactly one of until, for (a duration) or weekly")
    weekly = _weekly(request) if request.weekly is not None else None
    if weekly is None and (request.between is not None or request.timezone is not None):
        raise InvalidSilence("between", "between and timezone go with weekly")
    return Silence(
        id=0,
        name=_optional("name", request.name, 100),
        kpi=kpi,
        owner=owner,
        key_glob=_optional("key", request.key, 255),
        starts_at=now,
        ends_at=_end(request, now) if weekly is None else None,
        weekly=weekly,
        created_by=_required("by", request.by, 100),
        reason=_required("reason", request.reason, 500),
        source=request.source,
        created_at=now,
    )


def as_json(silence: Silence, *, now: datetime) -> dict[str, Any]:
    """The JSON of a silence (the `mgrid silences list` item; the API uses the same)."""
    weekly = silence.weekly
    return {
        "id": silence.id,
        "kpi": silence.kpi,
        "owner": silence.owner,
        "key": silence.key_glob,
        "starts_at": _iso(silence.starts_at),
        "ends_at": _iso(silence.ends_at),
        "weekly": {
            "days": format_days(weekly.days),
            "between": f"{format_minutes(weekly.start_minute)}-{format_minutes(weekly.end_minute)}",
            "timezone": weekly.timezone,
        }
        if weekly is not None
        else None,
        "by": silence.created_by,
        "reason": silence.reason,
        "active": silence.active(now),
        "name": silence.name,
        "source": silence.source.value,
        "expired_at": _iso(silence.expired_at),
        "expired_by": silence.expired_by,
    }


def _end(request: SilenceRequest, now: datetime) -> datetime:
    if request.until is not None:
        try:
            until = datetime.fromisoformat(request.until.strip())
        except ValueError:
            raise InvalidSilence("until", f"{request.until!r} is not an ISO 8601 time") from None
        if not is_aware(until):
            raise InvalidSilence("until", "give a time zone, e.g. 2026-12-02T06:00Z or +01:00")
        if until <= now:
            raise InvalidSilence("until", f"{request.until} is not in the future")
        return until.astimezone(UTC)
    return now + parse_duration(request.duration or "")


def parse_duration(text: str) -> timedelta:
    """`2h`, `90m`, `1d`, `1h30m` as a positive duration; InvalidSilence names `for` otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not text.strip() or match is None:
        raise InvalidSilence("for", f"{text!r} is not a duration like 2h, 90m, 1d or 1h30m")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes)
    if duration <= timedelta(0):
        raise InvalidSilence("for", "the duration must be positive")
    return duration


def _weekly(request: SilenceRequest) -> Weekly:
    try:
        days = parse_days(request.weekly or "")
    except ValueError as error:
        raise InvalidSilence("weekly", str(error)) from None
    if request.between is None:
        raise InvalidSilence("between", "a weekly silence needs a time range HH:MM-HH:MM")
    try:
        start, end = parse_range(request.between)
    except ValueError as error:
        raise InvalidSilence("between", str(error)) from None
    return Weekly(days=days, start_minute=start, end_minute=end, timezone=_zone(request.timezone))


def _zone(name: str | None) -> str:
    if not name or not name.strip():
        raise InvalidSilence("timezone", "a weekly silence needs an IANA time zone, e.g. Europe/London")
    try:
        ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSilence("timezone", f"{name!r} is not an IANA time zone") from None
    return name.strip()


def _optional(field: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise InvalidSilence(field, "must not be empty")
    if len(value.strip()) > limit:
        raise InvalidSilence(field, f"at most {limit} characters")
    return value.strip()


def _required(field: str, value: str | None, limit: int) -> str:
    text = _optional(field, value, limit)
    if text is None:
        raise InvalidSilence(field, "is required")
    return text


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment is not None else None

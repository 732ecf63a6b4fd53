"""Silences in the monitoring database, and what they do to alerts: hold escalation, restart it when they end.

Reads return `shared.domain.silence.Silence` values. The hot paths read through indexes: the silences that
could cover an alert (by `kpi` or `owner`, live only), the silences whose end the processor has not handled
yet (`next_end_at`), and the open alerts of one silence's KPIs (kpis by indicator or owner, then alerts by
KPI), so handling an ended silence costs O(its alerts), never a scan of all alerts.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, insert, or_, select, update

from shared.db.scheduling import skip_locked
from shared.db.statements import inserted_id
from shared.db.tables import alert_events, alerts, kpis, silences
from shared.domain.alert import AlertEventType, AlertStatus
from shared.domain.silence import Silence, SilenceSource, Weekly, format_days, parse_days


@dataclass(frozen=True, kw_only=True, slots=True)
class SilencedAlert:
    """An open alert of a KPI, with what a silence matches it by."""

    id: int
    indicator: str
    owner: str
    metric_key: str
    next_escalation_at: datetime | None


def insert_silence(connection: Connection, silence: Silence, *, next_end_at: datetime | None) -> Silence:
    """Store a new silence (its `id` is ignored) and return it with its id."""
    values = silence_columns(silence)
    new_id = inserted_id(connection.execute(insert(silences).values(**values, next_end_at=next_end_at)))
    return stored_silence(connection, new_id)


def get_silence(connection: Connection, silence_id: int) -> Silence | None:
    row = connection.execute(select(silences).where(silences.c.id == silence_id)).mappings().first()
    return _silence(row) if row is not None else None


def stored_silence(connection: Connection, silence_id: int) -> Silence:
    """The silence this transaction just wrote (it exists)."""
    silence = get_silence(connection, silence_id)
    if silence is None:
        raise RuntimeError(f"silence {silence_id} vanished inside its own transaction")
    return silence


def list_silences(connection: Connection, *, now: datetime, everything: bool) -> list[Silence]:
    """Silences not expired or over (current and future), or with `everything` all of them; newest first."""
    query = select(silences).order_by(silences.c.created_at.desc(), silences.c.id.desc())
    if not everything:
        query = query.where(*_live(now))
    return [_silence(row) for row in connection.execute(query).mappings()]


def named_silences(connection: Connection) -> list[Silence]:
    """The silences the definitions file owns (they have a name), by name."""
    query = select(silences).where(silences.c.name.is_not(None)).order_by(silences.c.name)
    return [_silence(row) for row in connection.execute(query).mappings()]


def expire(connection: Connection, silence_id: int, *, by: str, now: datetime, active: bool) -> bool:
    """Expire the silence now if it is not expired yet. An active one gets its end handled now (its alerts
    are notified by the next processor pass); False when it was already expired."""
    done = connection.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.expired_at.is_(None))
        .values(expired_at=now, expired_by=by[:100], next_end_at=now if active else None)
    )
    return done.rowcount == 1


def live_for(
    connection: Connection, *, indicators: Collection[str], owners: Collection[str], now: datetime
) -> list[Silence]:
    """Live silences (started, not over, not expired) naming one of these indicators or owners: the
    candidates that may cover their alerts (the caller checks glob and weekly window)."""
    if not indicators and not owners:
        return []
    query = select(silences).where(
        or_(silences.c.kpi.in_(sorted(indicators)), silences.c.owner.in_(sorted(owners))),
        silences.c.starts_at <= now,
        *_live(now),
    )
    return [_silence(row) for row in connection.execute(query).mappings()]


def ended(connection: Connection, *, now: datetime, limit: int) -> list[tuple[Silence, datetime]]:
    """Silences with an end not handled yet that has passed (and that end), locked for this transaction."""
    query = (
        select(silences)
        .where(silences.c.next_end_at <= now)
        .order_by(silences.c.next_end_at, silences.c.id)
        .limit(limit)
    )
    rows = connection.execute(skip_locked(query, silences)).mappings()
    return [(_silence(row), row["next_end_at"]) for row in rows]


def advance_end(connection: Connection, silence_id: int, *, handled: datetime, to: datetime | None) -> bool:
    """Mark the end `handled` as done and move on to `to` (None: no end to come), if nobody else did."""
    done = connection.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.next_end_at == handled)
        .values(next_end_at=to)
    )
    return done.rowcount == 1


def open_alerts_of(
    connection: Connection, silence: Silence, *, opened_before: datetime
) -> list[SilencedAlert]:
    """The open (unacknowledged) alerts of the silence's KPIs opened before `opened_before`, key unchecked."""
    conditions = []
    if silence.kpi is not None:
        conditions.append(kpis.c.indicator == silence.kpi)
    if silence.owner is not None:
        conditions.append(kpis.c.owner == silence.owner)
    query = (
        select(
            alerts.c.id,
            kpis.c.indicator,
            kpis.c.owner,
            alerts.c.metric_key,
            alerts.c.next_escalation_at,
        )
        .select_from(kpis.join(alerts, alerts.c.kpi_id == kpis.c.id))
        .where(
            and_(*conditions),
            alerts.c.status == AlertStatus.OPEN.value,
            alerts.c.opened_at < opened_before,
        )
        .order_by(alerts.c.id)
    )
    return [SilencedAlert(**row) for row in connection.execute(query).mappings()]


def alert_labels(connection: Connection, alert_id: int) -> tuple[str, str, str] | None:
    """(indicator, owner, metric key) of a KPI's alert; None for a system alert or an unknown id."""
    query = (
        select(kpis.c.indicator, kpis.c.owner, alerts.c.metric_key)
        .select_from(alerts.join(kpis, kpis.c.id == alerts.c.kpi_id))
        .where(alerts.c.id == alert_id)
    )
    row = connection.execute(query).first()
    return (row.indicator, row.owner, row.metric_key) if row is not None else None


def kpi_labels(connection: Connection, kpi_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """(indicator, owner) of each KPI."""
    ids = sorted(set(kpi_ids))
    if not ids:
        return {}
    query = select(kpis.c.id, kpis.c.indicator, kpis.c.owner).where(kpis.c.id.in_(ids))
    return {row.id: (row.indicator, row.owner) for row in connection.execute(query)}


def known_labels(connection: Connection, *, indicator: str | None, owner: str | None) -> tuple[bool, bool]:
    """Whether a KPI has this indicator, and whether one has this owner (True when not asked)."""

    def exists(condition: Any) -> bool:
        return connection.execute(select(kpis.c.id).where(condition).limit(1)).first() is not None

    return (
        indicator is None or exists(kpis.c.indicator == indicator),
        owner is None or exists(kpis.c.owner == owner),
    )


def reschedule_escalation(connection: Connection, alert_id: int, *, at: datetime) -> bool:
    """Move a still-open, still-escalating alert's next escalation to `at` (a silence holds it, or its end
    restarts the clock); False when the alert no longer escalates."""
    done = connection.execute(
        update(alerts)
        .where(
            alerts.c.id == alert_id,
            alerts.c.status == AlertStatus.OPEN.value,
            alerts.c.next_escalation_at.is_not(None),
        )
        .values(next_escalation_at=at)
    )
    return done.rowcount == 1


def mark_notified(connection: Connection, alert_id: int, *, now: datetime) -> None:
    """The alert's state was just notified (its re-notification cooldown counts from now)."""
    connection.execute(update(alerts).where(alerts.c.id == alert_id).values(last_notified_at=now))


def held_before(connection: Connection, alert_id: int, event_id: int) -> bool:
    """Whether the alert's timeline already says that this event's notice was held (a redelivery)."""
    query = select(alert_events.c.details).where(
        alert_events.c.alert_id == alert_id, alert_events.c.event_type == AlertEventType.SILENCED.value
    )
    for (details,) in connection.execute(query):
        if json.loads(details or "{}").get("event_id") == event_id:
            return True
    return False


def _live(now: datetime) -> tuple[Any, ...]:
    return (
        silences.c.expired_at.is_(None),
        or_(silences.c.ends_at.is_(None), silences.c.ends_at > now),
    )


def silence_columns(silence: Silence) -> dict[str, Any]:
    weekly = silence.weekly
    return {
        "name": silence.name,
        "kpi": silence.kpi,
        "owner": silence.owner,
        "key_glob": silence.key_glob,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "weekly_days": format_days(weekly.days) if weekly else None,
        "start_minute": weekly.start_minute if weekly else None,
        "end_minute": weekly.end_minute if weekly else None,
        "timezone": weekly.timezone if weekly else None,
        "created_by": silence.created_by[:100],
        "reason": silence.reason[:500],
        "source": silence.source.value,
        "created_at": silence.created_at,
    }


def _silence(row: RowMapping) -> Silence:
    weekly = None
    if row["weekly_days"] is not None:
        weekly = Weekly(
            days=parse_days(row["weekly_days"]),
            start_minute=row["start_minute"],
            end_minute=row["end_minute"],
            timezone=row["timezone"],
        )
    return Silence(
        id=row["id"],
        name=row["name"],
        kpi=row["kpi"],
        owner=row["owner"],
        key_glob=row["key_glob"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        weekly=weekly,
        created_by=row["created_by"],
        reason=row["reason"],
        source=SilenceSource(row["source"]),
        created_at=row["created_at"],
        expired_at=row["expired_at"],
        expired_by=row["expired_by"],
    )

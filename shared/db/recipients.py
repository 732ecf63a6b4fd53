"""Who can be told: the contacts linked to a KPI by escalation level, contacts by id or name, and the channels
each contact was already reached on for an alert."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, RowMapping, select

from shared.db.tables import alert_events, contacts, kpi_contacts, notifications
from shared.domain.contact import Contact
from shared.domain.notification import Channel, DeliveryStatus
from shared.domain.recipients import Member

_CONTACT_COLUMNS = (
    contacts.c.id,
    contacts.c.name,
    contacts.c.email,
    contacts.c.phone,
    contacts.c.teams_webhook,
    contacts.c.slack_webhook,
    contacts.c.webhook_url,
)


def linked_members(connection: Connection, kpi_id: int) -> list[Member]:
    """The KPI's active contacts with their escalation levels."""
    query = (
        select(*_CONTACT_COLUMNS, kpi_contacts.c.escalation_level)
        .select_from(kpi_contacts.join(contacts))
        .where(kpi_contacts.c.kpi_id == kpi_id, contacts.c.is_active)
        .order_by(kpi_contacts.c.escalation_level, contacts.c.name)
    )
    return [_member(row, level=row["escalation_level"]) for row in connection.execute(query).mappings()]


def linked_levels(connection: Connection, kpi_ids: Iterable[int]) -> dict[int, list[int]]:
    """The escalation levels that have an active contact, per KPI, ascending."""
    ids = sorted(set(kpi_ids))
    if not ids:
        return {}
    query = (
        select(kpi_contacts.c.kpi_id, kpi_contacts.c.escalation_level)
        .select_from(kpi_contacts.join(contacts))
        .where(kpi_contacts.c.kpi_id.in_(ids), contacts.c.is_active)
        .distinct()
        .order_by(kpi_contacts.c.kpi_id, kpi_contacts.c.escalation_level)
    )
    levels: dict[int, list[int]] = {}
    for kpi_id, level in connection.execute(query):
        levels.setdefault(kpi_id, []).append(level)
    return levels


def contacts_by_id(connection: Connection, contact_ids: Iterable[int]) -> dict[int, Member]:
    """Stored contacts by id (inactive ones too: a retry or a resolved notice still names them)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    rows = connection.execute(select(*_CONTACT_COLUMNS).where(contacts.c.id.in_(ids))).mappings()
    return {row["id"]: _member(row) for row in rows}


def member_named(connection: Connection, name: str | None) -> Member | None:
    """The active contact called `name` (the administrator contact of the settings)."""
    if not name:
        return None
    row = (
        connection.execute(select(*_CONTACT_COLUMNS).where(contacts.c.name == name, contacts.c.is_active))
        .mappings()
        .first()
    )
    return _member(row) if row is not None else None


def _member(row: RowMapping, *, level: int = 0) -> Member:
    return Member(
        id=row["id"],
        level=level,
        contact=Contact(
            name=row["name"],
            email=row["email"],
            phone=row["phone"],
            teams_webhook=row["teams_webhook"],
            slack_webhook=row["slack_webhook"],
            webhook_url=row["webhook_url"],
        ),
    )


def notified_channels(connection: Connection, alert_id: int) -> dict[int, frozenset[Channel]]:
    """The channels each contact was reached on for any event of the alert."""
    query = (
        select(notifications.c.contact_id, notifications.c.channel)
        .select_from(notifications.join(alert_events, alert_events.c.id == notifications.c.event_id))
        .where(
            alert_events.c.alert_id == alert_id,
            notifications.c.status == DeliveryStatus.SENT.value,
        )
        .distinct()
    )
    reached: dict[int, set[Channel]] = {}
    for contact_id, channel in connection.execute(query):
        reached.setdefault(contact_id, set()).add(Channel(channel))
    return {contact_id: frozenset(channels) for contact_id, channels in reached.items()}

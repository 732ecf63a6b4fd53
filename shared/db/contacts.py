"""Reading and removing contacts by name (case-insensitive, as the definitions file matches them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select

from shared.db.tables import contacts, kpi_contacts, kpis, notifications
from shared.domain.contact import Contact


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredContact:
    """A contact row: its id and definition."""

    id: int
    contact: Contact


def contact_named(connection: Connection, name: str) -> StoredContact | None:
    """The contact whose name is `name`, ignoring case (inactive ones too), or None."""
    row = (
        connection.execute(select(contacts).where(func.lower(contacts.c.name) == name.strip().lower()))
        .mappings()
        .first()
    )
    if row is None:
        return None
    contact = Contact(
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        teams_webhook=row["teams_webhook"],
        slack_webhook=row["slack_webhook"],
        webhook_url=row["webhook_url"],
        is_active=bool(row["is_active"]),
    )
    return StoredContact(id=int(row["id"]), contact=contact)


def linked_indicators(connection: Connection, contact_id: int) -> list[str]:
    """The indicators of the KPIs the contact is linked to, sorted."""
    query = (
        select(kpis.c.indicator)
        .select_from(kpi_contacts.join(kpis))
        .where(kpi_contacts.c.contact_id == contact_id)
        .order_by(kpis.c.indicator)
    )
    return list(connection.scalars(query))


def delete_contact(connection: Connection, contact_id: int) -> int:
    """Remove the contact, its KPI links and its delivery rows; the number of delivery rows removed. The
    alert timelines keep each past delivery (contact name, channel, outcome) in their `notified` events."""
    removed = connection.execute(delete(notifications).where(notifications.c.contact_id == contact_id))
    connection.execute(delete(kpi_contacts).where(kpi_contacts.c.contact_id == contact_id))
    connection.execute(delete(contacts).where(contacts.c.id == contact_id))
    return int(removed.rowcount or 0)

"""Who is told: the contacts and the KPIs each one hears about, by escalation level."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Unicode,
    text,
    true,
)

from shared.db.tables.common import created_at, metadata
from shared.db.types import UtcDateTime

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Unicode(255), nullable=False, unique=True),
    Column("email", Unicode(255)),
    Column("phone", Unicode(50)),
    Column("teams_webhook", Unicode(2000)),
    Column("slack_webhook", Unicode(2000)),
    Column("webhook_url", Unicode(2000)),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    created_at(),
    Column("updated_at", UtcDateTime, nullable=False),
)

kpi_contacts = Table(
    "kpi_contacts",
    metadata,
    Column("kpi_id", Integer, ForeignKey("kpis.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("escalation_level", SmallInteger, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("kpi_id", "contact_id"),
    CheckConstraint("escalation_level >= 0", name="level_not_negative"),
    Index("ix_kpi_contacts_kpi_id_escalation_level", "kpi_id", "escalation_level"),
    Index("ix_kpi_contacts_contact_id", "contact_id"),
)

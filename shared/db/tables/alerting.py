"""Alerts and what follows them: the alerts, their audit trail of events, the outbox of events not yet
dispatched, and the deliveries (one per event, contact and channel)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Table,
    Unicode,
    UnicodeText,
    UniqueConstraint,
    Uuid,
    text,
)

from shared.db.tables.common import Number, created_at, metadata, one_of
from shared.db.types import BigId, UtcDateTime
from shared.domain.alert import AlertEventType, AlertKind, AlertStatus, Severity
from shared.domain.notification import Channel, DeliveryStatus

UNRESOLVED_SQL = "status IN ('open', 'acknowledged')"


alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # NULL only for system (self-monitoring) alerts.
    Column("kpi_id", Integer, ForeignKey("kpis.id", ondelete="CASCADE")),
    Column("metric_key", Unicode(255), nullable=False),
    Column("kind", Unicode(24), nullable=False),
    Column("status", Unicode(16), nullable=False),
    Column("severity", Unicode(16), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_triggered_at", UtcDateTime, nullable=False),
    Column("last_notified_at", UtcDateTime),
    Column("resolved_at", UtcDateTime),
    Column("escalation_level", SmallInteger, nullable=False, server_default=text("0")),
    # NULL once acknowledged or resolved, so the escalation index holds only alerts that may escalate.
    Column("next_escalation_at", UtcDateTime),
    Column("acknowledged_by", Unicode(100)),
    Column("acknowledged_at", UtcDateTime),
    Column("resolved_by", Unicode(100)),
    Column("resolution_reason", Unicode(500)),
    Column("current_value", Number),
    Column("baseline_value", Number),
    Column("deviation_percent", Number),
    Column("expected_value", Number),
    Column("lower_value", Number),
    Column("upper_value", Number),
    # When the key counts as no longer evaluated: three of the KPI's periods after its last evaluation.
    # The processor resolves an alert by timeout once this is AutoResolutionTimeoutMinutes in the past.
    Column("stale_at", UtcDateTime),
    one_of("kind", AlertKind),
    one_of("status", AlertStatus),
    one_of("severity", Severity),
    CheckConstraint("kpi_id IS NOT NULL OR kind = 'system'", name="kpi_unless_system"),
    Index(
        "ux_alerts_unresolved_kpi_metric",
        "kpi_id",
        "metric_key",
        unique=True,
        sqlite_where=text(f"{UNRESOLVED_SQL} AND kpi_id IS NOT NULL"),
        postgresql_where=text(f"{UNRESOLVED_SQL} AND kpi_id IS NOT NULL"),
        mssql_where=text(f"{UNRESOLVED_SQL} AND kpi_id IS NOT NULL"),
    ),
    Index(
        "ux_alerts_unresolved_system_metric",
        "metric_key",
        unique=True,
        sqlite_where=text(f"{UNRESOLVED_SQL} AND kpi_id IS NULL"),
        postgresql_where=text(f"{UNRESOLVED_SQL} AND kpi_id IS NULL"),
        mssql_where=text(f"{UNRESOLVED_SQL} AND kpi_id IS NULL"),
    ),
    Index("ix_alerts_next_escalation_at", "next_escalation_at"),
    Index("ix_alerts_status_last_triggered_at", "status", "last_triggered_at"),
    Index("ix_alerts_resolved_at", "resolved_at"),
    Index("ix_alerts_kpi_id_opened_at", "kpi_id", "opened_at"),
    Index("ix_alerts_stale_at", "stale_at"),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("event_type", Unicode(24), nullable=False),
    Column("escalation_level", SmallInteger, nullable=False, server_default=text("0")),
    Column("actor", Unicode(100), nullable=False),
    Column("execution_id", Uuid),
    Column("details", UnicodeText),
    created_at(),
    one_of("event_type", AlertEventType),
    Index("ix_alert_events_alert_id_created_at", "alert_id", "created_at"),
    Index("ix_alert_events_created_at", "created_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigId, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False, unique=True),
    created_at(),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("dispatched_at", UtcDateTime),
    # The sweeper's query: undispatched entries older than a grace period, oldest first.
    Index("ix_outbox_dispatched_at_created_at", "dispatched_at", "created_at"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", BigId, ForeignKey("alert_events.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", Unicode(16), nullable=False),
    Column("status", Unicode(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", UnicodeText),
    Column("next_attempt_at", UtcDateTime),
    Column("sent_at", UtcDateTime),
    created_at(),
    # At most one delivery per recipient and channel for each event.
    UniqueConstraint("event_id", "contact_id", "channel"),
    one_of("channel", Channel),
    one_of("status", DeliveryStatus),
    Index("ix_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_notifications_contact_id", "contact_id"),
    Index("ix_notifications_created_at", "created_at"),
)

"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 16:56:00.539232
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Unicode(length=255), nullable=False),
        sa.Column("email", sa.Unicode(length=255), nullable=True),
        sa.Column("phone", sa.Unicode(length=50), nullable=True),
        sa.Column("teams_webhook", sa.Unicode(length=2000), nullable=True),
        sa.Column("slack_webhook", sa.Unicode(length=2000), nullable=True),
        sa.Column("webhook_url", sa.Unicode(length=2000), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("name", name=op.f("uq_contacts_name")),
    )
    op.create_table(
        "kpis",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("indicator", sa.Unicode(length=255), nullable=False),
        sa.Column("owner", sa.Unicode(length=100), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.Unicode(length=100), nullable=False),
        sa.Column("kind", sa.Unicode(length=16), nullable=False),
        sa.Column("sql_text", sa.UnicodeText(), nullable=False),
        sa.Column("frequency_minutes", sa.Integer(), nullable=True),
        sa.Column("schedule_cron", sa.Unicode(length=120), nullable=True),
        sa.Column("schedule_timezone", sa.Unicode(length=64), nullable=True),
        sa.Column("last_minutes", sa.Integer(), nullable=False),
        sa.Column("deviation_percent", sa.Float(precision=53), nullable=False),
        sa.Column("direction", sa.Unicode(length=8), server_default="both", nullable=False),
        sa.Column("minimum_threshold", sa.Float(precision=53), nullable=True),
        sa.Column("threshold_operator", sa.Unicode(length=4), nullable=True),
        sa.Column("threshold_value", sa.Float(precision=53), nullable=True),
        sa.Column("noise_floor", sa.Float(precision=53), server_default=sa.text("0"), nullable=False),
        sa.Column("baseline_mode", sa.Unicode(length=8), server_default="history", nullable=False),
        sa.Column("baseline_weeks_back", sa.SmallInteger(), server_default=sa.text("4"), nullable=False),
        sa.Column("baseline_aggregate", sa.Unicode(length=8), server_default="median", nullable=False),
        sa.Column("cooldown_minutes", sa.Integer(), server_default=sa.text("30"), nullable=False),
        sa.Column("fire_after", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("resolve_after", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("failure_alert_after", sa.SmallInteger(), server_default=sa.text("3"), nullable=False),
        sa.Column("subject_template", sa.Unicode(length=500), nullable=False),
        sa.Column("description_template", sa.UnicodeText(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("next_run_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "baseline_aggregate IN ('mean', 'median')", name=op.f("ck_kpis_baseline_aggregate_valid")
        ),
        sa.CheckConstraint(
            "baseline_mode IN ('source', 'history')", name=op.f("ck_kpis_baseline_mode_valid")
        ),
        sa.CheckConstraint("direction IN ('up', 'down', 'both')", name=op.f("ck_kpis_direction_valid")),
        sa.CheckConstraint("kind IN ('procedure', 'query')", name=op.f("ck_kpis_kind_valid")),
        sa.CheckConstraint(
            "threshold_operator IN ('gt', 'gte', 'lt', 'lte', 'eq')",
            name=op.f("ck_kpis_threshold_operator_valid"),
        ),
        sa.CheckConstraint(
            "(threshold_operator IS NULL AND threshold_value IS NULL) OR (threshold_operator IS NOT NULL AND threshold_value IS NOT NULL)",
            name=op.f("ck_kpis_threshold_complete"),
        ),
        sa.CheckConstraint("baseline_weeks_back BETWEEN 1 AND 52", name=op.f("ck_kpis_weeks_back_range")),
        sa.CheckConstraint("cooldown_minutes >= 0", name=op.f("ck_kpis_cooldown_not_negative")),
        sa.CheckConstraint("deviation_percent >= 0", name=op.f("ck_kpis_deviation_not_negative")),
        sa.CheckConstraint(
            "fire_after >= 1 AND resolve_after >= 1 AND failure_alert_after >= 1",
            name=op.f("ck_kpis_streaks_positive"),
        ),
        sa.CheckConstraint(
            "frequency_minutes IS NOT NULL OR schedule_cron IS NOT NULL", name=op.f("ck_kpis_has_schedule")
        ),
        sa.CheckConstraint(
            "frequency_minutes IS NULL OR frequency_minutes > 0", name=op.f("ck_kpis_frequency_positive")
        ),
        sa.CheckConstraint("last_minutes > 0", name=op.f("ck_kpis_last_minutes_positive")),
        sa.CheckConstraint("noise_floor >= 0", name=op.f("ck_kpis_noise_floor_not_negative")),
        sa.CheckConstraint("priority IN (1, 2)", name=op.f("ck_kpis_priority_valid")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpis")),
        sa.UniqueConstraint("indicator", name=op.f("uq_kpis_indicator")),
    )
    op.create_index("ix_kpis_next_run_at", "kpis", ["next_run_at"], unique=False)
    op.create_table(
        "source_slots",
        sa.Column("source", sa.Unicode(length=100), nullable=False),
        sa.Column("slot_no", sa.SmallInteger(), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=True),
        sa.Column("lease_owner", sa.Unicode(length=200), nullable=True),
        sa.Column("lease_until", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source", "slot_no", name=op.f("pk_source_slots")),
    )
    op.create_table(
        "system_status",
        sa.Column("component", sa.Unicode(length=50), nullable=False),
        sa.Column("status", sa.Unicode(length=16), nullable=False),
        sa.Column("heartbeat_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("details", sa.UnicodeText(), nullable=True),
        sa.PrimaryKeyConstraint("component", name=op.f("pk_system_status")),
    )
    op.create_table(
        "alerts",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kpi_id", sa.Integer(), nullable=True),
        sa.Column("metric_key", sa.Unicode(length=255), nullable=False),
        sa.Column("kind", sa.Unicode(length=24), nullable=False),
        sa.Column("status", sa.Unicode(length=16), nullable=False),
        sa.Column("severity", sa.Unicode(length=16), nullable=False),
        sa.Column("opened_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_triggered_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_notified_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("escalation_level", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_escalation_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Unicode(length=100), nullable=True),
        sa.Column("acknowledged_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Unicode(length=100), nullable=True),
        sa.Column("resolution_reason", sa.Unicode(length=500), nullable=True),
        sa.Column("current_value", sa.Float(precision=53), nullable=True),
        sa.Column("baseline_value", sa.Float(precision=53), nullable=True),
        sa.Column("deviation_percent", sa.Float(precision=53), nullable=True),
        sa.CheckConstraint(
            "kind IN ('breach', 'execution_failure', 'system')", name=op.f("ck_alerts_kind_valid")
        ),
        sa.CheckConstraint("kpi_id IS NOT NULL OR kind = 'system'", name=op.f("ck_alerts_kpi_unless_system")),
        sa.CheckConstraint("severity IN ('critical', 'warning')", name=op.f("ck_alerts_severity_valid")),
        sa.CheckConstraint(
            "status IN ('open', 'acknowledged', 'resolved')", name=op.f("ck_alerts_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpis.id"], name=op.f("fk_alerts_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_kpi_id_opened_at", "alerts", ["kpi_id", "opened_at"], unique=False)
    op.create_index("ix_alerts_next_escalation_at", "alerts", ["next_escalation_at"], unique=False)
    op.create_index("ix_alerts_resolved_at", "alerts", ["resolved_at"], unique=False)
    op.create_index(
        "ix_alerts_status_last_triggered_at", "alerts", ["status", "last_triggered_at"], unique=False
    )
    op.create_index(
        "ux_alerts_unresolved_kpi_metric",
        "alerts",
        ["kpi_id", "metric_key"],
        unique=True,
        sqlite_where=sa.text("status IN ('open', 'acknowledged') AND kpi_id IS NOT NULL"),
        postgresql_where=sa.text("status IN ('open', 'acknowledged') AND kpi_id IS NOT NULL"),
        mssql_where=sa.text("status IN ('open', 'acknowledged') AND kpi_id IS NOT NULL"),
    )
    op.create_index(
        "ux_alerts_unresolved_system_metric",
        "alerts",
        ["metric_key"],
        unique=True,
        sqlite_where=sa.text("status IN ('open', 'acknowledged') AND kpi_id IS NULL"),
        postgresql_where=sa.text("status IN ('open', 'acknowledged') AND kpi_id IS NULL"),
        mssql_where=sa.text("status IN ('open', 'acknowledged') AND kpi_id IS NULL"),
    )
    op.create_table(
        "historical_data",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("kpi_id", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=False),
        sa.Column("metric_key", sa.Unicode(length=255), nullable=False),
        sa.Column("window_start", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("window_end", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("baseline_value", sa.Float(precision=53), nullable=True),
        sa.Column("deviation_percent", sa.Float(precision=53), nullable=True),
        sa.Column("breach", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("recorded_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpis.id"], name=op.f("fk_historical_data_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_historical_data")),
        sa.UniqueConstraint(
            "execution_id", "metric_key", name=op.f("uq_historical_data_execution_id_metric_key")
        ),
    )
    op.create_index(
        "ix_historical_data_kpi_id_metric_key_window_end",
        "historical_data",
        ["kpi_id", "metric_key", "window_end"],
        unique=False,
    )
    op.create_index("ix_historical_data_window_end", "historical_data", ["window_end"], unique=False)
    op.create_table(
        "kpi_contacts",
        sa.Column("kpi_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("escalation_level >= 0", name=op.f("ck_kpi_contacts_level_not_negative")),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_kpi_contacts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpis.id"], name=op.f("fk_kpi_contacts_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kpi_id", "contact_id", name=op.f("pk_kpi_contacts")),
    )
    op.create_index("ix_kpi_contacts_contact_id", "kpi_contacts", ["contact_id"], unique=False)
    op.create_index(
        "ix_kpi_contacts_kpi_id_escalation_level",
        "kpi_contacts",
        ["kpi_id", "escalation_level"],
        unique=False,
    )
    op.create_table(
        "kpi_executions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kpi_id", sa.Integer(), nullable=False),
        sa.Column("slot", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("triggered_by", sa.Unicode(length=16), nullable=False),
        sa.Column("status", sa.Unicode(length=16), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_owner", sa.Unicode(length=200), nullable=True),
        sa.Column("lease_until", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.UnicodeText(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'timed_out')",
            name=op.f("ck_kpi_executions_status_valid"),
        ),
        sa.CheckConstraint(
            "triggered_by IN ('scheduled', 'manual')", name=op.f("ck_kpi_executions_triggered_by_valid")
        ),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpis.id"], name=op.f("fk_kpi_executions_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kpi_executions")),
        sa.UniqueConstraint("kpi_id", "slot", name=op.f("uq_kpi_executions_kpi_id_slot")),
    )
    op.create_index("ix_kpi_executions_finished_at", "kpi_executions", ["finished_at"], unique=False)
    op.create_index(
        "ix_kpi_executions_status_created_at", "kpi_executions", ["status", "created_at"], unique=False
    )
    op.create_index(
        "ix_kpi_executions_status_lease_until", "kpi_executions", ["status", "lease_until"], unique=False
    )
    op.create_table(
        "metric_states",
        sa.Column("kpi_id", sa.Integer(), nullable=False),
        sa.Column("metric_key", sa.Unicode(length=255), nullable=False),
        sa.Column("consecutive_breaches", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("consecutive_clean", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_evaluated_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_breach_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["kpi_id"], ["kpis.id"], name=op.f("fk_metric_states_kpi_id_kpis"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("kpi_id", "metric_key", name=op.f("pk_metric_states")),
    )
    op.create_table(
        "alert_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("alert_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_type", sa.Unicode(length=24), nullable=False),
        sa.Column("escalation_level", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("actor", sa.Unicode(length=100), nullable=False),
        sa.Column("execution_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.UnicodeText(), nullable=True),
        sa.Column("created_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "event_type IN ('opened', 'retriggered', 'escalated', 'acknowledged', 'resolved', 'notified', 'delivery_failed')",
            name=op.f("ck_alert_events_event_type_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index(
        "ix_alert_events_alert_id_created_at", "alert_events", ["alert_id", "created_at"], unique=False
    )
    op.create_index("ix_alert_events_created_at", "alert_events", ["created_at"], unique=False)
    op.create_table(
        "notifications",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Unicode(length=16), nullable=False),
        sa.Column("status", sa.Unicode(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.UnicodeText(), nullable=True),
        sa.Column("next_attempt_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'sms', 'teams', 'slack', 'webhook')",
            name=op.f("ck_notifications_channel_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_notifications_status_valid")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_notifications_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alert_events.id"],
            name=op.f("fk_notifications_event_id_alert_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint(
            "event_id", "contact_id", "channel", name=op.f("uq_notifications_event_id_contact_id_channel")
        ),
    )
    op.create_index("ix_notifications_contact_id", "notifications", ["contact_id"], unique=False)
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"], unique=False)
    op.create_index(
        "ix_notifications_status_next_attempt_at",
        "notifications",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("dispatched_at", shared.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alert_events.id"],
            name=op.f("fk_outbox_event_id_alert_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    op.create_index(
        "ix_outbox_dispatched_at_created_at", "outbox", ["dispatched_at", "created_at"], unique=False
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before the tables they reference.
    op.drop_table("outbox")
    op.drop_table("notifications")
    op.drop_table("alert_events")
    op.drop_table("metric_states")
    op.drop_table("kpi_executions")
    op.drop_table("kpi_contacts")
    op.drop_table("historical_data")
    op.drop_table("alerts")
    op.drop_table("system_status")
    op.drop_table("source_slots")
    op.drop_table("kpis")
    op.drop_table("contacts")

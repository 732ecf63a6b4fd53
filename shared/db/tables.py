"""The monitoring database schema (SQLAlchemy Core), the single source of its shape.

Changes reach a database only through Alembic migrations (`shared/db/migrations`); a test checks that the
migrations produce exactly these tables. Indexes exist for the hot paths, each named after its query:
due KPIs by `next_run_at`, one unresolved alert per (kpi, metric key), escalation and auto-resolution due by
time, history by (kpi, metric, time), stale queued executions and expired leases, retention deletes by time.

Foreign keys cascade along a single path only: SQL Server rejects a table reachable by two cascade paths.
`historical_data.execution_id` is therefore a plain column (executions are pruned sooner than history).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Unicode,
    UnicodeText,
    UniqueConstraint,
    Uuid,
    false,
    text,
    true,
)

from shared.db.types import BigId, UtcDateTime
from shared.domain.alert import AlertEventType, AlertKind, AlertStatus, Severity
from shared.domain.execution import ExecutionStatus, ExecutionTrigger
from shared.domain.kpi import Aggregate, BaselineMode, Direction, KpiKind, NoData, ThresholdOperator
from shared.domain.notification import Channel, DeliveryStatus
from shared.domain.silence import SilenceSource

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Wide enough for any value a KPI returns: a double never overflows the way DECIMAL(5,2) did.
Number = Float(precision=53)
UNRESOLVED_SQL = "status IN ('open', 'acknowledged')"
UNFINISHED_SQL = "status IN ('queued', 'running')"
NAMED_SQL = "name IS NOT NULL"


def one_of(column: str, values: type[Enum]) -> CheckConstraint:
    """A CHECK that `column` holds one of the enum's values (named `<column>_valid`)."""
    listed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_valid")


def created_at() -> Column[datetime]:
    return Column("created_at", UtcDateTime, nullable=False)


kpis = Table(
    "kpis",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("indicator", Unicode(255), nullable=False, unique=True),
    Column("owner", Unicode(100), nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("source", Unicode(100), nullable=False),
    Column("kind", Unicode(16), nullable=False),
    Column("sql_text", UnicodeText, nullable=False),
    Column("frequency_minutes", Integer),
    Column("schedule_cron", Unicode(120)),
    Column("schedule_timezone", Unicode(64)),
    Column("last_minutes", Integer, nullable=False),
    Column("deviation_percent", Number, nullable=False),
    Column("direction", Unicode(8), nullable=False, server_default="both"),
    Column("minimum_threshold", Number),
    Column("threshold_operator", Unicode(4)),
    Column("threshold_value", Number),
    Column("noise_floor", Number, nullable=False, server_default=text("0")),
    Column("baseline_mode", Unicode(8), nullable=False, server_default="history"),
    Column("baseline_weeks_back", SmallInteger, nullable=False, server_default=text("4")),
    Column("baseline_aggregate", Unicode(8), nullable=False, server_default="median"),
    # Seasonal baselines only: the band's half-width in robust standard deviations (NULL: the default).
    Column("baseline_tolerance", Number),
    Column("no_data", Unicode(8), nullable=False, server_default="keep"),
    Column("cooldown_minutes", Integer, nullable=False, server_default=text("30")),
    Column("fire_after", SmallInteger, nullable=False, server_default=text("1")),
    Column("resolve_after", SmallInteger, nullable=False, server_default=text("1")),
    Column("failure_alert_after", SmallInteger, nullable=False, server_default=text("3")),
    Column("subject_template", Unicode(500), nullable=False),
    Column("description_template", UnicodeText, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    # NULL while inactive, so the due index holds only schedulable KPIs.
    Column("next_run_at", UtcDateTime),
    Column("last_success_at", UtcDateTime),
    Column("consecutive_failures", Integer, nullable=False, server_default=text("0")),
    # The newest slot whose execution finished, and the newest whose metrics were evaluated (it succeeded):
    # an older slot finishing later records its history but not its alert transitions.
    Column("last_run_slot", UtcDateTime),
    Column("last_evaluated_slot", UtcDateTime),
    created_at(),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("priority IN (1, 2)", name="priority_valid"),
    one_of("kind", KpiKind),
    one_of("direction", Direction),
    one_of("baseline_mode", BaselineMode),
    one_of("baseline_aggregate", Aggregate),
    one_of("no_data", NoData),
    CheckConstraint("baseline_tolerance IS NULL OR baseline_tolerance > 0", name="tolerance_positive"),
    one_of("threshold_operator", ThresholdOperator),
    CheckConstraint("frequency_minutes IS NOT NULL OR schedule_cron IS NOT NULL", name="has_schedule"),
    CheckConstraint("frequency_minutes IS NULL OR frequency_minutes > 0", name="frequency_positive"),
    CheckConstraint("last_minutes > 0", name="last_minutes_positive"),
    CheckConstraint("deviation_percent >= 0", name="deviation_not_negative"),
    CheckConstraint("noise_floor >= 0", name="noise_floor_not_negative"),
    CheckConstraint("baseline_weeks_back BETWEEN 1 AND 52", name="weeks_back_range"),
    CheckConstraint("cooldown_minutes >= 0", name="cooldown_not_negative"),
    CheckConstraint(
        "fire_after >= 1 AND resolve_after >= 1 AND failure_alert_after >= 1", name="streaks_positive"
    ),
    CheckConstraint(
        "(threshold_operator IS NULL AND threshold_value IS NULL)"
        " OR (threshold_operator IS NOT NULL AND threshold_value IS NOT NULL)",
        name="threshold_complete",
    ),
    Index("ix_kpis_next_run_at", "next_run_at"),
)

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

kpi_executions = Table(
    "kpi_executions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kpi_id", Integer, ForeignKey("kpis.id", ondelete="CASCADE"), nullable=False),
    Column("slot", UtcDateTime, nullable=False),
    Column("triggered_by", Unicode(16), nullable=False),
    Column("status", Unicode(16), nullable=False),
    Column("attempt", SmallInteger, nullable=False, server_default=text("0")),
    Column("lease_owner", Unicode(200)),
    Column("lease_until", UtcDateTime),
    created_at(),
    Column("started_at", UtcDateTime),
    Column("finished_at", UtcDateTime),
    Column("duration_ms", Integer),
    Column("error", UnicodeText),
    # When a message for this execution was last sent: a queued execution not claimed long after is re-sent.
    Column("enqueued_at", UtcDateTime),
    Column("metric_count", Integer),
    # The idempotency key: a second scheduler run for the same tick inserts nothing.
    UniqueConstraint("kpi_id", "slot"),
    one_of("triggered_by", ExecutionTrigger),
    one_of("status", ExecutionStatus),
    Index("ix_kpi_executions_status_enqueued_at", "status", "enqueued_at"),
    Index(
        "ix_kpi_executions_unfinished_kpi_id",
        "kpi_id",
        sqlite_where=text(UNFINISHED_SQL),
        postgresql_where=text(UNFINISHED_SQL),
        mssql_where=text(UNFINISHED_SQL),
    ),
    Index("ix_kpi_executions_status_lease_until", "status", "lease_until"),
    Index("ix_kpi_executions_finished_at", "finished_at"),
)

historical_data = Table(
    "historical_data",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kpi_id", Integer, ForeignKey("kpis.id", ondelete="CASCADE"), nullable=False),
    Column("execution_id", Uuid, nullable=False),
    Column("metric_key", Unicode(255), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("value", Number, nullable=False),
    Column("baseline_value", Number),
    Column("deviation_percent", Number),
    # The band the value was judged against (seasonal baselines; NULL where the rule has none).
    Column("expected", Number),
    Column("lower", Number),
    Column("upper", Number),
    Column("breach", Boolean, nullable=False, server_default=false()),
    Column("recorded_at", UtcDateTime, nullable=False),
    # One row per (execution, metric): a redelivered execution cannot write twice.
    UniqueConstraint("execution_id", "metric_key"),
    Index("ix_historical_data_kpi_id_metric_key_window_end", "kpi_id", "metric_key", "window_end"),
    Index("ix_historical_data_window_end", "window_end"),
)

metric_states = Table(
    "metric_states",
    metadata,
    Column("kpi_id", Integer, ForeignKey("kpis.id", ondelete="CASCADE"), nullable=False),
    Column("metric_key", Unicode(255), nullable=False),
    Column("consecutive_breaches", Integer, nullable=False, server_default=text("0")),
    Column("consecutive_clean", Integer, nullable=False, server_default=text("0")),
    Column("last_evaluated_at", UtcDateTime, nullable=False),
    Column("last_breach_at", UtcDateTime),
    PrimaryKeyConstraint("kpi_id", "metric_key"),
)

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

system_status = Table(
    "system_status",
    metadata,
    Column("component", Unicode(50), primary_key=True),
    Column("status", Unicode(16), nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("details", UnicodeText),
)

source_slots = Table(
    "source_slots",
    metadata,
    Column("source", Unicode(100), nullable=False),
    Column("slot_no", SmallInteger, nullable=False),
    Column("execution_id", Uuid),
    Column("lease_owner", Unicode(200)),
    Column("lease_until", UtcDateTime),
    PrimaryKeyConstraint("source", "slot_no"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("queue", Unicode(63), nullable=False),
    Column("message_id", Unicode(100)),
    Column("dequeue_count", Integer),
    Column("reason", UnicodeText, nullable=False),
    # The message as received, cut to 8000 characters: enough to diagnose, bounded in size.
    Column("body", UnicodeText),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_dead_letters_received_at", "received_at"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Set for silences the definitions file owns: its identity there (upserted by name on import).
    Column("name", Unicode(100)),
    Column("kpi", Unicode(255)),
    Column("owner", Unicode(100)),
    Column("key_glob", Unicode(255)),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime),
    # Weekly windows: days as `mon,tue`, minutes since local midnight, an IANA zone (all NULL: one-off).
    Column("weekly_days", Unicode(27)),
    Column("start_minute", SmallInteger),
    Column("end_minute", SmallInteger),
    Column("timezone", Unicode(64)),
    Column("created_by", Unicode(100), nullable=False),
    Column("reason", Unicode(500), nullable=False),
    Column("source", Unicode(16), nullable=False),
    created_at(),
    Column("expired_at", UtcDateTime),
    Column("expired_by", Unicode(100)),
    # The next end of this silence the alert processor has not handled yet (NULL: none to come): the
    # processor selects silences whose end has passed here, then their open alerts, never all alerts.
    Column("next_end_at", UtcDateTime),
    CheckConstraint("kpi IS NOT NULL OR owner IS NOT NULL", name="has_matcher"),
    CheckConstraint("weekly_days IS NOT NULL OR ends_at IS NOT NULL", name="has_end"),
    CheckConstraint(
        "(weekly_days IS NULL AND start_minute IS NULL AND end_minute IS NULL AND timezone IS NULL)"
        " OR (weekly_days IS NOT NULL AND start_minute IS NOT NULL AND end_minute IS NOT NULL"
        " AND timezone IS NOT NULL)",
        name="weekly_complete",
    ),
    CheckConstraint(
        "start_minute IS NULL OR (start_minute BETWEEN 0 AND 1439 AND end_minute BETWEEN 0 AND 1439)",
        name="minutes_range",
    ),
    one_of("source", SilenceSource),
    Index(
        "ux_silences_name",
        "name",
        unique=True,
        sqlite_where=text(NAMED_SQL),
        postgresql_where=text(NAMED_SQL),
        mssql_where=text(NAMED_SQL),
    ),
    Index("ix_silences_kpi", "kpi"),
    Index("ix_silences_owner", "owner"),
    Index("ix_silences_ends_at", "ends_at"),
    Index("ix_silences_next_end_at", "next_end_at"),
)

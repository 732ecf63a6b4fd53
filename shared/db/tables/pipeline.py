"""The KPI pipeline's tables: the KPIs with their schedule state, their executions (one per slot, under a
lease), the history each execution records, the metric streaks and the per-source concurrency slots."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Unicode,
    UnicodeText,
    UniqueConstraint,
    Uuid,
    false,
    literal_column,
    text,
    true,
)

from shared.db.tables.common import Number, created_at, metadata, one_of
from shared.db.types import BigId, UtcDateTime
from shared.domain.execution import ExecutionStatus, ExecutionTrigger
from shared.domain.kpi import Aggregate, BaselineMode, Direction, KpiKind, NoData, ThresholdOperator

UNFINISHED_SQL = "status IN ('queued', 'running')"
# The predicates of kpi_executions' partial indexes. A claim (queued -> running) or a finish (running -> done)
# is never a HOT update, since it changes `status`: each one adds an entry to every index whose predicate
# holds for the new row, so the sweepers' indexes hold only the rows they look for. A reader must state the
# status as a literal (`status_is`), since a plan prepared for a bound parameter cannot use them.
QUEUED_SQL = "status = 'queued'"
RUNNING_SQL = "status = 'running'"
FINISHED_SQL = "finished_at IS NOT NULL"


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
    Index("ix_kpis_owner", "owner"),  # the KPIs a silence matches by owner
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
    *(
        Index(
            name,
            column,
            sqlite_where=text(predicate),
            postgresql_where=text(predicate),
            mssql_where=text(predicate),
        )
        for name, column, predicate in (
            ("ix_kpi_executions_unfinished_kpi_id", "kpi_id", UNFINISHED_SQL),
            ("ix_kpi_executions_queued_enqueued_at", "enqueued_at", QUEUED_SQL),  # the re-send sweeper
            ("ix_kpi_executions_running_lease_until", "lease_until", RUNNING_SQL),  # expired leases
            ("ix_kpi_executions_finished_finished_at", "finished_at", FINISHED_SQL),  # cleanup, health
        )
    ),
)


def status_is(column: ColumnElement[str], status: ExecutionStatus) -> ColumnElement[bool]:
    """`column = '<status>'` with the status as a literal, so that the partial index on that status serves
    the statement in every plan, a prepared one's included."""
    return column == literal_column(f"'{status.value}'")


def status_in(column: ColumnElement[str], *statuses: ExecutionStatus) -> ColumnElement[bool]:
    """`column IN ('<status>', ...)` with literals, as `status_is`."""
    return column.in_([literal_column(f"'{status.value}'") for status in statuses])


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
    # Every read gives the KPI and a range of window ends (never the key alone): the range follows the KPI.
    Index("ix_historical_data_kpi_id_window_end_metric_key", "kpi_id", "window_end", "metric_key"),
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

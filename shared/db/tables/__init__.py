"""The monitoring database schema (SQLAlchemy Core), the single source of its shape.

Changes reach a database only through Alembic migrations (`shared/db/migrations`); a test checks that the
migrations produce exactly these tables. Indexes exist for the hot paths, each named after its query:
due KPIs by `next_run_at`, one unresolved alert per (kpi, metric key), escalation and auto-resolution due by
time, history by (kpi, metric, time), stale queued executions and expired leases, retention deletes by time.

Foreign keys cascade along a single path only: SQL Server rejects a table reachable by two cascade paths.
`historical_data.execution_id` is therefore a plain column (executions are pruned sooner than history).

Every table belongs to the one `metadata` of `common`; the tables are defined by concept (`pipeline`,
`recipients`, `alerting`, `operations`, `silencing`) and all of them are imported here, so importing any
part of the schema registers the whole of it. Import tables from this package: `from shared.db.tables
import kpis`.
"""

from __future__ import annotations

from shared.db.tables.alerting import UNRESOLVED_SQL, alert_events, alerts, notifications, outbox
from shared.db.tables.common import Number, created_at, metadata, one_of
from shared.db.tables.operations import dead_letters, system_status
from shared.db.tables.pipeline import (
    UNFINISHED_SQL,
    historical_data,
    kpi_executions,
    kpis,
    metric_states,
    source_slots,
    status_in,
    status_is,
)
from shared.db.tables.recipients import contacts, kpi_contacts
from shared.db.tables.silencing import NAMED_SQL, silences

__all__ = [
    "NAMED_SQL",
    "UNFINISHED_SQL",
    "UNRESOLVED_SQL",
    "Number",
    "alert_events",
    "alerts",
    "contacts",
    "created_at",
    "dead_letters",
    "historical_data",
    "kpi_contacts",
    "kpi_executions",
    "kpis",
    "metadata",
    "metric_states",
    "notifications",
    "one_of",
    "outbox",
    "silences",
    "source_slots",
    "status_in",
    "status_is",
    "system_status",
]

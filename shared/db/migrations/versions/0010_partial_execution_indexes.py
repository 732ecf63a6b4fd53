"""partial execution indexes: the re-send sweeper's, the lease sweeper's and the finished-executions index of
kpi_executions hold only the queued, the running and the finished rows, so that a claim or a finish (never a
HOT update, since it changes `status`) adds entries to 4 and 3 of its indexes instead of all 6

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTIAL = (
    ("ix_kpi_executions_queued_enqueued_at", "enqueued_at", "status = 'queued'"),
    ("ix_kpi_executions_running_lease_until", "lease_until", "status = 'running'"),
    ("ix_kpi_executions_finished_finished_at", "finished_at", "finished_at IS NOT NULL"),
)
FULL = (
    ("ix_kpi_executions_status_enqueued_at", ["status", "enqueued_at"]),
    ("ix_kpi_executions_status_lease_until", ["status", "lease_until"]),
    ("ix_kpi_executions_finished_at", ["finished_at"]),
)


def upgrade() -> None:
    for name, column, predicate in PARTIAL:
        op.create_index(
            op.f(name),
            "kpi_executions",
            [column],
            unique=False,
            sqlite_where=sa.text(predicate),
            postgresql_where=sa.text(predicate),
            mssql_where=sa.text(predicate),
        )
    for name, _ in FULL:
        op.drop_index(op.f(name), table_name="kpi_executions")


def downgrade() -> None:
    for name, columns in FULL:
        op.create_index(op.f(name), "kpi_executions", columns, unique=False)
    for name, _, _ in PARTIAL:
        op.drop_index(op.f(name), table_name="kpi_executions")

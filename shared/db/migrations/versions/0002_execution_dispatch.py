"""execution dispatch: re-send tracking, unfinished-per-KPI index, metric count, dead letters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "status IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("kpi_executions") as batch:
        batch.add_column(sa.Column("enqueued_at", shared.db.types.UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("metric_count", sa.Integer(), nullable=True))
        batch.drop_index("ix_kpi_executions_status_created_at")
        batch.create_index("ix_kpi_executions_status_enqueued_at", ["status", "enqueued_at"], unique=False)
        batch.create_index(
            "ix_kpi_executions_unfinished_kpi_id",
            ["kpi_id"],
            unique=False,
            sqlite_where=sa.text(UNFINISHED),
            postgresql_where=sa.text(UNFINISHED),
            mssql_where=sa.text(UNFINISHED),
        )
    op.create_table(
        "dead_letters",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("queue", sa.Unicode(length=63), nullable=False),
        sa.Column("message_id", sa.Unicode(length=100), nullable=True),
        sa.Column("dequeue_count", sa.Integer(), nullable=True),
        sa.Column("reason", sa.UnicodeText(), nullable=False),
        sa.Column("body", sa.UnicodeText(), nullable=True),
        sa.Column("received_at", shared.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_table("dead_letters")
    with op.batch_alter_table("kpi_executions") as batch:
        batch.drop_index("ix_kpi_executions_unfinished_kpi_id")
        batch.drop_index("ix_kpi_executions_status_enqueued_at")
        batch.create_index("ix_kpi_executions_status_created_at", ["status", "created_at"], unique=False)
        batch.drop_column("metric_count")
        batch.drop_column("enqueued_at")

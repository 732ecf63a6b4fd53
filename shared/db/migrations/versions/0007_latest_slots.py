"""latest slots: the newest slot of each KPI whose execution finished, and the newest whose metrics were
evaluated (succeeded), so an older slot that finishes late (its message was lost and re-sent) writes its
history but none of its alert transitions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kpis") as batch:
        batch.add_column(
            sa.Column("last_run_slot", shared.db.types.UtcDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("last_evaluated_slot", shared.db.types.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("kpis") as batch:
        batch.drop_column("last_evaluated_slot")
        batch.drop_column("last_run_slot")

"""kpis by owner: an index, so a silence that matches by owner finds its KPIs' open alerts through the KPIs'
ids instead of reading every open alert

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_kpis_owner"), "kpis", ["owner"])


def downgrade() -> None:
    op.drop_index(op.f("ix_kpis_owner"), table_name="kpis")

"""seasonal baseline and no data: the band stored with every value, the KPI's tolerance and no-data mode,
and the instant from which an alert's key counts as no longer evaluated

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kpis") as batch:
        batch.add_column(sa.Column("baseline_tolerance", sa.Float(precision=53), nullable=True))
        batch.add_column(sa.Column("no_data", sa.Unicode(length=8), server_default="keep", nullable=False))
        batch.drop_constraint(op.f("ck_kpis_baseline_mode_valid"), type_="check")
        batch.create_check_constraint(
            op.f("ck_kpis_baseline_mode_valid"), "baseline_mode IN ('source', 'history', 'seasonal')"
        )
        batch.create_check_constraint(op.f("ck_kpis_no_data_valid"), "no_data IN ('keep', 'alert', 'ok')")
        batch.create_check_constraint(
            op.f("ck_kpis_tolerance_positive"), "baseline_tolerance IS NULL OR baseline_tolerance > 0"
        )
    with op.batch_alter_table("historical_data") as batch:
        for name in ("expected", "lower", "upper"):
            batch.add_column(sa.Column(name, sa.Float(precision=53), nullable=True))
    with op.batch_alter_table("alerts") as batch:
        for name in ("expected_value", "lower_value", "upper_value"):
            batch.add_column(sa.Column(name, sa.Float(precision=53), nullable=True))
        batch.add_column(sa.Column("stale_at", shared.db.types.UtcDateTime(timezone=True), nullable=True))
        batch.create_index("ix_alerts_stale_at", ["stale_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_stale_at")
        for name in ("stale_at", "upper_value", "lower_value", "expected_value"):
            batch.drop_column(name)
    with op.batch_alter_table("historical_data") as batch:
        for name in ("upper", "lower", "expected"):
            batch.drop_column(name)
    with op.batch_alter_table("kpis") as batch:
        batch.drop_constraint(op.f("ck_kpis_tolerance_positive"), type_="check")
        batch.drop_constraint(op.f("ck_kpis_no_data_valid"), type_="check")
        batch.drop_constraint(op.f("ck_kpis_baseline_mode_valid"), type_="check")
        batch.create_check_constraint(
            op.f("ck_kpis_baseline_mode_valid"), "baseline_mode IN ('source', 'history')"
        )
        batch.drop_column("no_data")
        batch.drop_column("baseline_tolerance")

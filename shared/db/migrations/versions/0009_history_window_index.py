"""history window index: KPI history by (kpi_id, window_end, metric_key) instead of (kpi_id, metric_key,
window_end), since every read of it (baselines, the history API, backfill) gives the KPI and a range of
window ends but no metric key: with the key second, each read scanned all of the KPI's history

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_historical_data_kpi_id_window_end_metric_key"),
        "historical_data",
        ["kpi_id", "window_end", "metric_key"],
        unique=False,
    )
    op.drop_index(op.f("ix_historical_data_kpi_id_metric_key_window_end"), table_name="historical_data")


def downgrade() -> None:
    op.create_index(
        op.f("ix_historical_data_kpi_id_metric_key_window_end"),
        "historical_data",
        ["kpi_id", "metric_key", "window_end"],
        unique=False,
    )
    op.drop_index(op.f("ix_historical_data_kpi_id_window_end_metric_key"), table_name="historical_data")

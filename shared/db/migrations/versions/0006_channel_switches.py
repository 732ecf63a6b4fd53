"""channel switches: deliveries never tried are `skipped` (channel off or not configured) or `dropped`
(the alert was acknowledged or resolved first), no longer `failed`

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = "status IN ('pending', 'sent', 'failed', 'skipped', 'dropped')"
OLD = "status IN ('pending', 'sent', 'failed')"
#: What `failed` rows that were never tried because their alert had moved on looked like before.
DROPPED_ERROR = "not sent: the alert is no longer open"


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint(op.f("ck_notifications_status_valid"), type_="check")
        batch.create_check_constraint(op.f("ck_notifications_status_valid"), NEW)
    notifications = sa.table(
        "notifications", sa.column("status", sa.Unicode(16)), sa.column("last_error", sa.UnicodeText())
    )
    op.execute(
        notifications.update()
        .where(notifications.c.status == "failed", notifications.c.last_error == DROPPED_ERROR)
        .values(status="dropped")
    )


def downgrade() -> None:
    op.execute("UPDATE notifications SET status = 'failed' WHERE status IN ('skipped', 'dropped')")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_constraint(op.f("ck_notifications_status_valid"), type_="check")
        batch.create_check_constraint(op.f("ck_notifications_status_valid"), OLD)

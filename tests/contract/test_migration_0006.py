"""Migration 0006 (channel switches) on SQLite and PostgreSQL: deliveries that were marked failed only because
their alert had moved on become `dropped`; real failures stay failed; downgrading turns both new statuses
back into `failed`."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import insert, select

from shared.db import alerts as alert_store
from shared.db import migrate
from shared.db.alerts import AlertValues
from shared.db.tables import notifications
from shared.domain.alert import AlertEventType, AlertKind, Severity
from tests.conftest import Database
from tests.factories import NOW, insert_contact, insert_kpi, make_kpi

#: The revision 0006 follows, whatever it is chained to.
BEFORE = str(ScriptDirectory.from_config(migrate._config()).get_revision("0006").down_revision)


def test_old_not_sent_failures_become_dropped_and_come_back_on_downgrade(empty_database: Database) -> None:
    engine = empty_database.engine
    migrate.upgrade(engine, BEFORE)
    with engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi())
        contact_id = insert_contact(connection, "Ops", email="ops@example.com")
        alert_id = alert_store.open_alert(
            connection,
            kpi_id=kpi_id,
            metric_key="k",
            kind=AlertKind.BREACH,
            severity=Severity.CRITICAL,
            values=AlertValues(current=1.0),
            now=NOW,
            next_escalation_at=None,
        )
        event = alert_store.record_event(
            connection,
            alert_id=alert_id,
            event_type=AlertEventType.OPENED,
            actor="system",
            now=NOW,
            details={},
            dispatch=True,
        )
        assert event is not None
        for channel, error in [("email", "not sent: the alert is no longer open"), ("sms", "550 refused")]:
            connection.execute(
                insert(notifications).values(
                    event_id=event.event_id,
                    contact_id=contact_id,
                    channel=channel,
                    status="failed",
                    last_error=error,
                    created_at=NOW,
                )
            )

    def statuses() -> dict[str, str]:
        with engine.connect() as connection:
            return dict(connection.execute(select(notifications.c.channel, notifications.c.status)).all())

    migrate.upgrade(engine)
    assert statuses() == {"email": "dropped", "sms": "failed"}
    migrate.downgrade(engine, BEFORE)
    assert statuses() == {"email": "failed", "sms": "failed"}

"""Seeding the monitoring database for API tests: KPIs, executions, history rows, alerts and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert

from shared.db.alerts import AlertValues
from shared.db.tables import historical_data, kpi_executions, metric_states, notifications
from tests.factories import NOW, insert_contact, insert_kpi, make_kpi, open_alert


def execution(connection: Connection, kpi_id: int, slot: datetime, *, status: str = "succeeded") -> uuid.UUID:
    execution_id = uuid.uuid4()
    connection.execute(
        insert(kpi_executions).values(
            id=execution_id,
            kpi_id=kpi_id,
            slot=slot,
            triggered_by="scheduled",
            status=status,
            created_at=slot,
            started_at=slot,
            finished_at=slot + timedelta(seconds=1),
            duration_ms=1000,
        )
    )
    return execution_id


def history(
    connection: Connection, kpi_id: int, slot: datetime, values: dict[str, float], **band: object
) -> None:
    execution_id = execution(connection, kpi_id, slot)
    connection.execute(
        insert(historical_data),
        [
            {
                "kpi_id": kpi_id,
                "execution_id": execution_id,
                "metric_key": key,
                "window_start": slot - timedelta(hours=1),
                "window_end": slot,
                "value": value,
                "expected": band.get("expected"),
                "lower": band.get("lower"),
                "upper": band.get("upper"),
                "breach": bool(band.get("breach", False)),
                "recorded_at": slot,
            }
            for key, value in values.items()
        ],
    )
    for key in values:
        connection.execute(
            metric_states.delete().where(metric_states.c.kpi_id == kpi_id, metric_states.c.metric_key == key)
        )
        connection.execute(
            insert(metric_states).values(kpi_id=kpi_id, metric_key=key, last_evaluated_at=slot)
        )


def alert(connection: Connection, kpi_id: int, key: str = "k") -> tuple[int, int]:
    event = open_alert(
        connection,
        kpi_id,
        key=key,
        values=AlertValues(current=42.0),
        next_escalation_at=NOW + timedelta(hours=1),
        details={"current": 42.0},
    )
    return event.alert_id, event.event_id


class Demo:
    """Three KPIs: Deposits (history, one open alert, a delivery), Idle (never run), Old (inactive)."""

    def __init__(self, connection: Connection) -> None:
        self.deposits = insert_kpi(connection, make_kpi())
        self.idle = insert_kpi(connection, make_kpi(indicator="Idle"))
        self.old = insert_kpi(connection, make_kpi(indicator="Old", is_active=False))
        for hours in range(6, 0, -1):
            slot = NOW - timedelta(hours=hours)
            history(
                connection,
                self.deposits,
                slot,
                {"k": 10.0 + hours, "j": 1.0},
                expected=10.0,
                lower=8.0,
                upper=12.0,
            )
        history(
            connection, self.deposits, NOW, {"k": 42.0}, expected=10.0, lower=8.0, upper=12.0, breach=True
        )
        self.contact = insert_contact(connection, "Ops", kpi_id=self.deposits, email="ops@example.com")
        self.alert, event_id = alert(connection, self.deposits)
        connection.execute(
            insert(notifications).values(
                event_id=event_id,
                contact_id=self.contact,
                channel="email",
                status="sent",
                attempts=1,
                sent_at=NOW,
                created_at=NOW,
            )
        )

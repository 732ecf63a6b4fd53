"""What a fault scenario proves, counted from the monitoring database and from what the receivers got.

Slots: the slots each KPI should have run (its first slot, then every minute until the slot at which the test
stopped scheduling), against the executions that finished for them and the history rows they wrote.
Notices: every alert event with an outbox entry, times its KPI's contact on each of the contact's channels,
against what the real SMTP server and webhook receiver accepted (keyed by the event id every channel
carries).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from shared.db.tables import (
    alert_events,
    alerts,
    contacts,
    historical_data,
    kpi_contacts,
    kpi_executions,
    kpis,
    notifications,
    outbox,
)
from tests.conftest import Database

FINISHED = ("succeeded", "failed", "timed_out")
Key = tuple[int, str]  #: (event id, recipient address or webhook URL)


@dataclass(kw_only=True)
class Figures:
    """One scenario's figures, printed at the end of the session (`pytest_terminal_summary`)."""

    scenario: str
    slots_expected: int = 0
    slots_executed: int = 0
    slots_duplicated: int = 0
    notices_expected: int = 0
    notices_sent: int = 0
    notices_duplicated: int = 0
    #: repeats inside the crash window (a kill between the server's accept and the row's mark)
    notices_repeated_in_crash_window: int = 0
    recovery_s: float | None = None
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return json.dumps(asdict(self))


def stop_scheduling(database: Database) -> dict[int, datetime]:
    """Unschedule every KPI; the slot each would have run next (the first slot not expected)."""
    with database.engine.begin() as connection:
        rows = connection.execute(
            select(kpis.c.id, kpis.c.next_run_at).where(kpis.c.next_run_at.is_not(None)).with_for_update()
        ).all()
        connection.execute(kpis.update().values(next_run_at=None))
    return dict(rows)


def expected_slots(first: datetime, stops: dict[int, datetime]) -> set[tuple[int, datetime]]:
    """Per KPI: `first`, then every whole minute after it, before the KPI's stop slot."""
    expected: set[tuple[int, datetime]] = set()
    for kpi_id, stop in stops.items():
        slot = first
        while slot < stop:
            expected.add((kpi_id, slot))
            slot = slot.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return expected


def count_slots(figures: Figures, database: Database, expected: set[tuple[int, datetime]]) -> None:
    """Fill the slot figures: executed = expected slots with a finished execution; duplicated = extra
    executions of a slot, extra history rows of an execution, and executions of slots not expected."""
    with database.engine.connect() as connection:
        executions = connection.execute(
            select(
                kpi_executions.c.id, kpi_executions.c.kpi_id, kpi_executions.c.slot, kpi_executions.c.status
            )
        ).all()
        history = Counter(connection.scalars(select(historical_data.c.execution_id)))
    per_slot = Counter((kpi_id, slot) for _, kpi_id, slot, _ in executions)
    finished = {(kpi_id, slot) for _, kpi_id, slot, status in executions if status in FINISHED}
    figures.slots_expected = len(expected)
    figures.slots_executed = len(finished & expected)
    figures.slots_duplicated = (
        sum(n - 1 for n in per_slot.values())
        + sum(n - 1 for n in history.values() if n > 1)
        + len(set(per_slot) - expected)
    )


def expected_notices(database: Database) -> set[Key]:
    """(event, address) for every event with an outbox entry, on each channel of its KPI's contacts."""
    query = (
        select(outbox.c.event_id, contacts.c.email, contacts.c.webhook_url)
        .join(alert_events, alert_events.c.id == outbox.c.event_id)
        .join(alerts, alerts.c.id == alert_events.c.alert_id)
        .join(kpi_contacts, kpi_contacts.c.kpi_id == alerts.c.kpi_id)
        .join(contacts, contacts.c.id == kpi_contacts.c.contact_id)
    )
    with database.engine.connect() as connection:
        rows = connection.execute(query).all()
    return {(event_id, address.lower()) for event_id, *addresses in rows for address in addresses if address}


def count_notices(
    figures: Figures, expected: set[Key], received: Iterable[Key], *, crash_window: set[Key] | None = None
) -> tuple[set[Key], set[Key]]:
    """Fill the notice figures; return (missing, unexpected) keys. One repeat of a key in `crash_window` is
    counted as a crash-window repeat, not as a duplicate (a second repeat is a duplicate)."""
    counts = Counter(received)
    figures.notices_expected = len(expected)
    figures.notices_sent = len(set(counts) & expected)
    repeats = {key: n - 1 for key, n in counts.items() if n > 1}
    window = crash_window or set()
    figures.notices_repeated_in_crash_window = sum(1 for key in repeats if key in window)
    figures.notices_duplicated = sum(n - (key in window) for key, n in repeats.items())
    return expected - set(counts), set(counts) - expected


def unfinished(database: Database) -> dict[str, int]:
    """Work the database still holds as not done: executions, outbox entries, pending deliveries."""
    with database.engine.connect() as connection:

        def count(table: object, *where: object) -> int:
            query = select(func.count()).select_from(table).where(*where)  # type: ignore[arg-type]
            return int(connection.scalar(query) or 0)

        return {
            "executions": count(kpi_executions, kpi_executions.c.status.in_(["queued", "running"])),
            "outbox": count(outbox, outbox.c.dispatched_at.is_(None)),
            "deliveries": count(notifications, notifications.c.status == "pending"),
        }


def nothing_unfinished(database: Database) -> bool:
    return not any(unfinished(database).values())


def delivery_statuses(database: Database) -> Counter[str]:
    with database.engine.connect() as connection:
        return Counter(connection.scalars(select(notifications.c.status)))


def late_slots(database: Database) -> int:
    """Executions that finished after a later slot of the same KPI had finished (a lost message re-sent by
    the sweep runs after the next slot): their alert transitions apply out of slot order."""
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(kpi_executions.c.kpi_id, kpi_executions.c.slot, kpi_executions.c.finished_at)
            .where(kpi_executions.c.finished_at.is_not(None))
            .order_by(kpi_executions.c.kpi_id, kpi_executions.c.finished_at)
        ).all()
    late, newest = 0, {}
    for kpi_id, slot, _ in rows:
        if kpi_id in newest and slot < newest[kpi_id]:
            late += 1
        newest[kpi_id] = max(slot, newest.get(kpi_id, slot))
    return late


def stale_transitions(database: Database) -> int:
    """Alert transitions written by an execution after a newer slot of its KPI had been recorded: a metric
    transition after a newer slot had succeeded (evaluated its metrics), an "execution failing" transition
    after a newer slot had finished. The executor skips both, so this must be 0."""
    with database.engine.connect() as connection:
        runs = connection.execute(
            select(
                kpi_executions.c.id,
                kpi_executions.c.kpi_id,
                kpi_executions.c.slot,
                kpi_executions.c.status,
                kpi_executions.c.finished_at,
            ).where(kpi_executions.c.finished_at.is_not(None))
        ).all()
        events = connection.execute(
            select(alert_events.c.execution_id, alerts.c.metric_key)
            .join(alerts, alerts.c.id == alert_events.c.alert_id)
            .where(alert_events.c.execution_id.is_not(None))
        ).all()
    by_id = {run.id: run for run in runs}
    stale = 0
    for execution_id, metric_key in events:
        run = by_id.get(execution_id)
        if run is None:
            continue
        counts = ("succeeded",) if metric_key != "(execution)" else FINISHED
        stale += any(
            other.kpi_id == run.kpi_id
            and other.slot > run.slot
            and other.status in counts
            and other.finished_at < run.finished_at
            for other in runs
        )
    return stale


def unfinished_before(database: Database, moment: datetime) -> int:
    """Executions and outbox entries created before `moment` not yet done, and their pending deliveries."""
    with database.engine.connect() as connection:
        executions = connection.scalar(
            select(func.count()).where(
                kpi_executions.c.created_at < moment, kpi_executions.c.status.in_(["queued", "running"])
            )
        )
        entries = connection.scalar(
            select(func.count()).where(outbox.c.created_at < moment, outbox.c.dispatched_at.is_(None))
        )
        deliveries = connection.scalar(
            select(func.count()).where(
                notifications.c.created_at < moment, notifications.c.status == "pending"
            )
        )
    return int(executions or 0) + int(entries or 0) + int(deliveries or 0)


def unmarked_keys(database: Database) -> set[Key]:
    """(event, address) of the deliveries not yet marked sent (nor failed, skipped or dropped)."""
    return delivery_keys(database, "pending")


def delivery_keys(database: Database, *statuses: str) -> set[Key]:
    """(event, address) of the email and webhook deliveries in one of `statuses`."""
    query = (
        select(notifications.c.event_id, notifications.c.channel, contacts.c.email, contacts.c.webhook_url)
        .join(contacts, contacts.c.id == notifications.c.contact_id)
        .where(notifications.c.status.in_(statuses))
    )
    with database.engine.connect() as connection:
        rows = connection.execute(query).all()
    addresses = {"email": 0, "webhook": 1}
    return {
        (event_id, str((email, url)[addresses[channel]]).lower())
        for event_id, channel, email, url in rows
        if channel in addresses
    }

"""Azurite (the queues) killed and restarted empty while a devhost runs: every queued message is lost. The
database still says what is unfinished: the scheduler's resend sweep sends the queued executions again
(after `ResendAfterSeconds`) and the alert processor delivers the outbox entries whose message never went
out (after `OutboxGraceSeconds`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.storage.queue import QueueClient
from sqlalchemy import func, select

from shared.db.tables import kpi_executions, outbox
from tests.conftest import Database
from tests.e2e.harness import start_devhost
from tests.faults.conftest import add_alerting_kpis, fault_env, first_slot_soon
from tests.faults.figures import (
    Figures,
    count_notices,
    count_slots,
    expected_notices,
    expected_slots,
    late_slots,
    nothing_unfinished,
    stale_transitions,
    stop_scheduling,
    unfinished,
    unfinished_before,
)
from tests.faults.processes import Azurite, Mailbox, elapsed_since
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.short,
    pytest.mark.postgres,
    pytest.mark.parametrize("database", ["postgresql"], indirect=True),
]


@pytest.mark.timeout(300)
def test_azurite_restarted_empty_loses_no_slot_and_no_notice(
    database: Database, tmp_path: Path, figures: Figures
) -> None:
    azurite, mailbox = Azurite(tmp_path), Mailbox(tmp_path)
    azurite.start()
    mailbox.start()
    # Two source slots for four KPIs: the executor sends some messages back to the queue to wait their
    # turn, so the queue holds messages when Azurite dies.
    env = fault_env(
        database,
        azurite.connection_string,
        Worker__KpiMonitoring__MaxParallelKpis="2",
        **mailbox.environment(),
    )
    host = start_devhost(env, tmp_path)
    try:
        first = first_slot_soon()
        with database.engine.begin() as connection:
            add_alerting_kpis(connection, 4, first_slot=first, sleep_s=2)

        def running_with_messages_waiting() -> bool:
            return _running(database) > 0 and _queued_messages(azurite.connection_string) > 0

        assert wait_until(running_with_messages_waiting, timeout_s=120), host.log.read_text()[-3000:]
        azurite.kill()  # an execution is running: its alert event's message cannot be sent either
        figures.notes.append(f"at the kill: {unfinished(database)}")
        # The executions running at the kill finish and open their alerts; their events' messages cannot
        # be sent, and the alert processor delivers them from the outbox while the queues are still down.
        assert wait_until(lambda: _running(database) == 0 and _outbox_delivered(database), timeout_s=60)
        azurite.start()  # empty: no queue, no message
        restarted, restarted_at = time.monotonic(), datetime.now(UTC)

        def recovered() -> bool:
            return unfinished_before(database, restarted_at) == 0

        assert wait_until(recovered, timeout_s=150, interval_s=0.5), unfinished(database)
        figures.recovery_s = elapsed_since(restarted)
        stops = stop_scheduling(database)
        assert wait_until(lambda: nothing_unfinished(database), timeout_s=120), unfinished(database)
    finally:
        exit_code = host.stop()
        mailbox.stop()
        azurite.stop()
    assert exit_code == 0
    count_slots(figures, database, expected_slots(first, stops))
    missing, unexpected = count_notices(figures, expected_notices(database), mailbox.deliveries())
    redispatched = _redispatched(database)
    late, stale = late_slots(database), stale_transitions(database)
    figures.notes.append(
        f"slots finished after a later slot of their KPI: {late} (alert transitions: {stale})"
    )
    figures.notes.append(f"outbox entries redispatched by the processor: {redispatched}")
    assert figures.slots_executed == figures.slots_expected >= 8
    assert figures.slots_duplicated == 0
    assert not missing
    assert not unexpected
    assert figures.notices_sent == figures.notices_expected >= 4
    assert figures.notices_duplicated == 0
    assert stale == 0  # a slot re-sent after its KPI's next slot ran records history, never a transition
    assert redispatched >= 1  # the events of the executions that finished while Azurite was down
    assert nothing_unfinished(database)


def _running(database: Database) -> int:
    with database.engine.connect() as connection:
        query = select(func.count()).where(kpi_executions.c.status == "running")
        return int(connection.scalar(query) or 0)


def _outbox_delivered(database: Database) -> bool:
    """Some outbox entries exist, and every one is dispatched."""
    with database.engine.connect() as connection:
        dispatched = set(connection.scalars(select(outbox.c.dispatched_at.is_not(None))))
    return dispatched == {True}


def _queued_messages(storage: str) -> int:
    try:
        properties = QueueClient.from_connection_string(storage, "kpi-executions").get_queue_properties()
    except Exception:
        return 0
    return properties.approximate_message_count or 0


def _redispatched(database: Database) -> int:
    """Outbox entries dispatched more than `OutboxGraceSeconds` after they were written: the processor's."""
    with database.engine.connect() as connection:
        rows = connection.execute(select(outbox.c.created_at, outbox.c.dispatched_at)).all()
    return sum(
        1 for created, dispatched in rows if dispatched and dispatched - created > timedelta(seconds=10)
    )

"""A devhost SIGKILLed while it delivers notices (slow webhook calls in flight), replaced by a new one. The
claims of the killed host's deliveries expire and the new host's alert processor sends them. Every (event,
contact, channel) arrives once, or twice with the same event id when the kill fell between the receiver
accepting a call and the row being marked sent (counted and reported)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db.tables import kpi_executions
from tests.azurite import azurite_queue
from tests.conftest import Database
from tests.e2e.harness import start_devhost
from tests.faults.conftest import add_alerting_kpis, fault_env, first_slot_soon
from tests.faults.figures import (
    Figures,
    count_notices,
    count_slots,
    expected_notices,
    nothing_unfinished,
    stop_scheduling,
    unfinished,
    unmarked_keys,
)
from tests.faults.processes import Mailbox, elapsed_since
from tests.receivers import Reply, http_capture
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.postgres,
    pytest.mark.parametrize("database", ["postgresql"], indirect=True),
]
KPIS = 4


@pytest.mark.timeout(360)
def test_a_host_killed_while_delivering_loses_no_notice_and_repeats_only_the_crash_window(
    database: Database, tmp_path: Path, figures: Figures
) -> None:
    mailbox = Mailbox(tmp_path)
    mailbox.start()
    try:
        with azurite_queue(tmp_path) as storage, http_capture() as webhook:
            webhook.reply_with(Reply(status=200, delay_s=3))  # accepted, answered 3 s later
            env = fault_env(
                database, storage, Notifications__HttpTimeoutSeconds="10", **mailbox.environment()
            )
            victim = start_devhost(env, tmp_path)
            first = first_slot_soon()
            with database.engine.begin() as connection:
                ids = add_alerting_kpis(connection, KPIS, first_slot=first, webhook=webhook.base_url)
            assert wait_until(lambda: _executions(database) == KPIS, timeout_s=120)
            stop_scheduling(database)
            assert wait_until(lambda: bool(webhook.requests), timeout_s=60), unfinished(database)
            victim.stop(signal.SIGKILL)  # webhook calls in flight, the receiver already holding them
            killed = time.monotonic()
            # accepted by a receiver, not marked sent: the window no bookkeeping can close
            crash_window = {*_keys(webhook), *mailbox.deliveries()} & unmarked_keys(database)
            figures.notes.append(
                f"in the crash window: {len(crash_window)}; at the kill: {unfinished(database)}"
            )
            survivor = start_devhost(env, tmp_path)
            try:
                assert wait_until(lambda: nothing_unfinished(database), timeout_s=200), unfinished(database)
                figures.recovery_s = elapsed_since(killed)
            finally:
                exit_code = survivor.stop()
            delivered = [*_keys(webhook), *mailbox.deliveries()]
    finally:
        mailbox.stop()
    assert exit_code == 0
    count_slots(figures, database, {(kpi_id, first) for kpi_id in ids})
    missing, unexpected = count_notices(
        figures, expected_notices(database), delivered, crash_window=crash_window
    )
    assert figures.slots_executed == figures.slots_expected == KPIS
    assert figures.slots_duplicated == 0
    assert not missing
    assert not unexpected
    assert figures.notices_sent == figures.notices_expected == 2 * KPIS
    assert figures.notices_duplicated == 0  # a repeat only inside the crash window, and at most one each


def _keys(webhook: object) -> list[tuple[int, str]]:
    return [
        (int(str(request.headers["X-MonitoringGrid-Event"])), webhook.url(request.path).lower())  # type: ignore[attr-defined]
        for request in webhook.requests  # type: ignore[attr-defined]
    ]


def _executions(database: Database) -> int:
    with database.engine.connect() as connection:
        return len(connection.execute(select(kpi_executions.c.id)).all())

"""The mail server down for several alert processor passes, then up; a webhook receiver that answers 500,
then hangs past `Notifications__HttpTimeoutSeconds`, then recovers. Deliveries are retried with back-off
(`RetryBackoffSeconds`, doubling per round) and each (event, contact, channel) arrives once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from shared.db.tables import kpi_executions, notifications
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
)
from tests.faults.processes import Mailbox, elapsed_since
from tests.receivers import Reply, http_capture
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.faults,
    pytest.mark.short,
    pytest.mark.postgres,
    pytest.mark.parametrize("database", ["postgresql"], indirect=True),
]
KPIS = 2
HTTP_TIMEOUT_S = 2
#: The webhook receiver's first answers: errors, then hangs past the timeout (then a 503), then 200s.
SCRIPT = [Reply(status=500)] * KPIS + [Reply(status=503, delay_s=HTTP_TIMEOUT_S + 2)] * KPIS


@pytest.mark.timeout(300)
def test_deliveries_survive_a_mail_server_outage_and_a_failing_then_hanging_webhook(
    database: Database, tmp_path: Path, figures: Figures
) -> None:
    mailbox = Mailbox(tmp_path)  # not started: the mail server is down from the first try
    with azurite_queue(tmp_path) as storage, http_capture() as webhook:
        for reply in SCRIPT:
            webhook.reply_with(reply, times=1)
        env = fault_env(
            database,
            storage,
            Notifications__HttpTimeoutSeconds=str(HTTP_TIMEOUT_S),
            **mailbox.environment(),
        )
        host = start_devhost(env, tmp_path)
        try:
            first = first_slot_soon()
            with database.engine.begin() as connection:
                ids = add_alerting_kpis(connection, KPIS, first_slot=first, webhook=webhook.base_url)
            assert wait_until(lambda: _executions(database) == KPIS, timeout_s=120)
            stop_scheduling(database)  # one slot each: one opened event, one email and one webhook call each

            def email_tried(times: int) -> bool:
                attempts = _attempts(database, "email")
                return len(attempts) == KPIS and min(attempts) >= times

            # Down for the dispatch and at least two processor passes (every 10 s) after it.
            assert wait_until(lambda: email_tried(3), timeout_s=90), unfinished(database)
            mailbox.start()
            restarted = time.monotonic()
            assert wait_until(lambda: nothing_unfinished(database), timeout_s=90), unfinished(database)
            figures.recovery_s = elapsed_since(restarted)
        finally:
            exit_code = host.stop()
            mailbox.stop()
        received = webhook.requests
    assert exit_code == 0
    count_slots(figures, database, {(kpi_id, first) for kpi_id in ids})
    answered = [
        (int(str(request.headers["X-MonitoringGrid-Event"])), webhook.url(request.path).lower())
        for request in received[len(SCRIPT) :]
    ]
    missing, unexpected = count_notices(
        figures, expected_notices(database), [*mailbox.deliveries(), *answered]
    )
    attempts = {channel: _attempts(database, channel) for channel in ("email", "webhook")}
    figures.notes.append(f"tries per delivery: {attempts}; webhook requests: {len(received)}")
    assert figures.slots_executed == figures.slots_expected == KPIS
    assert figures.slots_duplicated == 0
    assert not missing
    assert not unexpected
    assert figures.notices_sent == figures.notices_expected == 2 * KPIS
    assert figures.notices_duplicated == 0
    assert min(attempts["email"]) >= 4  # refused at least three times, then sent
    assert sum(attempts["webhook"]) == len(received) == len(SCRIPT) + KPIS  # every failure retried once sent
    assert set(_statuses(database)) == {"sent"}


def _executions(database: Database) -> int:
    with database.engine.connect() as connection:
        return len(connection.execute(select(kpi_executions.c.id)).all())


def _attempts(database: Database, channel: str) -> list[int]:
    with database.engine.connect() as connection:
        return list(
            connection.scalars(select(notifications.c.attempts).where(notifications.c.channel == channel))
        )


def _statuses(database: Database) -> list[str]:
    with database.engine.connect() as connection:
        return list(connection.scalars(select(notifications.c.status)))

"""End to end, as deployed: real devhost processes running `function_app`, a real Azurite, PostgreSQL for
the monitoring database and the KPIs' source, a real SMTP server. Timer -> `kpi-executions` -> executor ->
`alert-events` -> escalation -> email."""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from sqlalchemy import func, select, text

from demo import kpis as demo_kpis
from demo import source as demo_source
from shared.db.tables import (
    alerts,
    dead_letters,
    historical_data,
    kpi_executions,
    kpis,
    notifications,
    outbox,
)
from shared.domain.kpi import Schedule
from shared.domain.schedule import first_slot
from shared.notify.email import EVENT_HEADER
from shared.services.definitions import import_file
from shared.settings import Settings
from tests.conftest import Database
from tests.e2e.conftest import host_env
from tests.e2e.harness import Devhost, start_devhost
from tests.factories import insert_kpi, make_kpi, queue_execution
from tests.receivers import smtp_capture
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("database", ["postgresql"], indirect=True)]
ANOMALOUS = {
    ("Deposits", "TotalDeposits"),
    ("Settlement Companies", "PayFlow"),
    ("Country Deposits", "Germany"),
}


def open_alerts(database: Database) -> set[tuple[str, str]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(kpis.c.indicator, alerts.c.metric_key)
            .join(kpis, kpis.c.id == alerts.c.kpi_id)
            .where(alerts.c.status == "open")
        )
        return {(indicator, key) for indicator, key in rows}


def count(database: Database, table: object, *where: object) -> int:
    with database.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)  # type: ignore[arg-type]


def ran_kpis(database: Database) -> int:
    """How many KPIs have a succeeded execution."""
    succeeded = kpi_executions.c.status == "succeeded"
    with database.engine.connect() as connection:
        return int(
            connection.scalar(select(func.count(kpi_executions.c.kpi_id.distinct())).where(succeeded)) or 0
        )


@pytest.mark.timeout(240)
def test_the_demo_kpis_flow_from_the_timer_to_the_contacts_mailboxes(
    database: Database, queues: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's own anomaly is sized for daytime traffic; at night a country has a few deposits an hour and
    # a 70 % drop can hide in the noise. The whole country gone and every PayFlow deposit failing breach at
    # any hour, so the test does not depend on the time of day it runs.
    strong = demo_source.Anomaly(country_drop=1.0, company_success=0.0)
    demo_source.build(database.url, now=datetime.now(UTC).replace(second=0, microsecond=0), anomaly=strong)
    kpi_file = tmp_path / "kpis.yaml"
    kpi_file.write_text(demo_kpis.render("postgresql"), encoding="utf-8")
    monkeypatch.setenv("ConnectionStrings__Sources__main", database.url)
    import_file(database.engine, kpi_file, Settings.load(), now=datetime.now(UTC))
    with smtp_capture() as smtp:
        mail = {
            **smtp.environment(),
            "Notifications__Sms__Mode": "gateway",
            "Notifications__Sms__Gateway": "sms.test",
        }
        host = start_devhost(host_env(database, queues, **mail), tmp_path)
        try:

            def every_kpi_ran_alerted_and_told() -> bool:  # each KPI's first run, its alerts, their notices
                told = count(database, outbox, outbox.c.dispatched_at.is_(None)) == 0
                return (
                    ran_kpis(database) == len(demo_kpis.INDICATORS)
                    and open_alerts(database) >= ANOMALOUS
                    and told
                )

            assert wait_until(every_kpi_ran_alerted_and_told, timeout_s=150), (
                f"open: {open_alerts(database)}; "
                f"succeeded: {count(database, kpi_executions, kpi_executions.c.status == 'succeeded')}; "
                f"undispatched: {count(database, outbox, outbox.c.dispatched_at.is_(None))}\n"
                + host.log.read_text()[-3000:]
            )
        finally:
            assert host.stop() == 0
    subjects = [(mail.rcpt_tos, str(mail.message["Subject"])) for mail in smtp.mails]
    for indicator, key in ANOMALOUS:
        assert any(subject.startswith(f"{indicator} {key}: ") for _, subject in subjects), subjects
    deliveries = [(mail.rcpt_tos, mail.message[EVENT_HEADER]) for mail in smtp.mails]
    assert len(deliveries) == len(set(deliveries))  # nobody got the same notice twice
    assert count(database, notifications, notifications.c.status != "sent") == 0
    assert ran_kpis(database) == len(demo_kpis.INDICATORS)
    with database.engine.connect() as connection:
        histories = dict(
            connection.execute(
                select(kpis.c.indicator, func.count())
                .select_from(historical_data)
                .join(kpis, kpis.c.id == historical_data.c.kpi_id)
                .group_by(kpis.c.indicator)
            ).all()
        )
    assert set(histories) == set(demo_kpis.INDICATORS)  # the seasonal one too (no history yet: no band)
    events = QueueClient.from_connection_string(queues, "alert-events")
    assert (events.get_queue_properties().approximate_message_count or 0) == 0  # every event was consumed


def test_bad_messages_are_recorded_and_the_good_ones_still_complete(
    database: Database, queues: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    with database.engine.begin() as connection:
        good = [insert_kpi(connection, make_kpi(indicator=f"good{i}"), next_run_at=None) for i in range(3)]
        doomed = insert_kpi(connection, make_kpi(indicator="deleted"), next_run_at=None)
        ids = {kpi_id: queue_execution(connection, kpi_id, now) for kpi_id in [*good, doomed]}
        connection.execute(kpis.delete().where(kpis.c.id == doomed))  # its execution goes with it
    sender = QueueClient.from_connection_string(
        queues, "kpi-executions", message_encode_policy=TextBase64EncodePolicy()
    )
    with contextlib.suppress(ResourceExistsError):
        sender.create_queue()
    sender.clear_messages()
    sender.send_message("this is not json")
    for execution_id in ids.values():
        sender.send_message(json.dumps({"execution_id": str(execution_id)}))
    host = start_devhost(host_env(database, queues), tmp_path)
    try:
        done = lambda: count(database, kpi_executions, kpi_executions.c.status == "succeeded") == 3  # noqa: E731
        assert wait_until(done, timeout_s=60), host.log.read_text()[-3000:]
        assert wait_until(lambda: count(database, dead_letters) == 2, timeout_s=30)
    finally:
        assert host.stop() == 0
    with database.engine.connect() as connection:
        reasons = sorted(connection.scalars(select(dead_letters.c.reason)))
    assert reasons[0].startswith(f"execution {ids[doomed]} does not exist")
    assert reasons[1].startswith("invalid message on kpi-executions: body: Invalid JSON")


SLOW = "SELECT 'k' AS key, 1 AS current_value FROM pg_sleep(2)"


@pytest.mark.timeout(540)
def test_three_hosts_run_every_slot_once_within_the_slot_limit_and_survive_a_killed_host(
    database: Database, queues: str, tmp_path: Path
) -> None:
    # The first slot lies at least 45 s ahead, so the hosts are up before it: a first tick later than the next
    # slot would coalesce the missed one into it, by design, and the test counts every slot.
    start = first_slot(Schedule(frequency_minutes=1), datetime.now(UTC) + timedelta(seconds=105))
    with database.engine.begin() as connection:
        for i in range(8):  # due now, then every minute
            insert_kpi(
                connection,
                make_kpi(indicator=f"slow{i}", sql_text=SLOW, schedule=Schedule(frequency_minutes=1)),
                next_run_at=start,
            )
    # Every slot must run, even while an earlier one of the same KPI waits for the killed host's lease.
    env = host_env(
        database,
        queues,
        Worker__KpiMonitoring__MaxParallelKpis="2",
        Worker__KpiMonitoring__SkipRunningKpis="false",
        # Messages the killed host had received but not yet claimed come back through the resend sweep.
        Worker__KpiMonitoring__ResendAfterSeconds="60",
    )
    most = _watch_source_concurrency(database)
    hosts = [start_devhost(env, tmp_path) for _ in range(3)]
    survivors = list(hosts)
    try:
        busy: list[Devhost] = []

        def some_host_is_running_an_execution() -> bool:
            busy[:] = [host for host in hosts if _running_on(database, host.process.pid)]
            return bool(busy)

        assert wait_until(some_host_is_running_an_execution, timeout_s=180)
        victim = busy[0]
        survivors.remove(victim)
        victim.stop(signal.SIGKILL)  # mid-run: its execution's lease must expire and another host finish it
        deadline = start + timedelta(minutes=2, seconds=30)
        assert wait_until(lambda: datetime.now(UTC) > deadline, timeout_s=300, interval_s=1)
        with database.engine.begin() as connection:  # no new slots from here: let the hosts drain the work
            connection.execute(kpis.update().values(next_run_at=None))
        assert wait_until(lambda: _all_finished(database), timeout_s=240, interval_s=1), _unfinished(database)
    finally:
        exit_codes = [host.stop() for host in survivors]
        for host in hosts:  # the killed one too: close its log
            host.stop(signal.SIGKILL)
        most.stop()
    assert exit_codes == [0, 0]  # the survivors shut down gracefully
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(
                kpi_executions.c.kpi_id,
                kpi_executions.c.slot,
                kpi_executions.c.status,
                kpi_executions.c.attempt,
            )
        ).all()
        per_execution = connection.scalar(select(func.count()).select_from(historical_data))
    assert {status for _, _, status, _ in rows} == {"succeeded"}  # nothing lost, nothing failed
    assert per_execution == len(rows)  # one history row per execution: none ran twice
    slots_by_kpi: dict[int, list[datetime]] = {}
    for kpi_id, slot, _, _ in rows:
        slots_by_kpi.setdefault(kpi_id, []).append(slot)
    for slots in slots_by_kpi.values():  # every minute from the start, none missing, none twice
        ordered = sorted(slots)
        assert len(ordered) >= 3
        assert all(later - earlier == timedelta(minutes=1) for earlier, later in itertools.pairwise(ordered))
    assert any(attempt == 2 for _, _, _, attempt in rows)  # the killed host's execution was run again
    assert 1 <= most.value <= 2


class _Peak:
    def __init__(self) -> None:
        self.value = 0
        self.running = True
        self.thread: threading.Thread | None = None

    def stop(self) -> None:
        self.running = False
        if self.thread is not None:
            self.thread.join()


def _watch_source_concurrency(database: Database) -> _Peak:
    """Sample how many KPI queries run on the source at once, for the whole test."""
    peak = _Peak()

    def sample() -> None:
        with database.engine.connect() as connection:
            while peak.running:
                active = connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE state = 'active' AND query LIKE '%pg_sleep(2)%'"
                        " AND datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
                peak.value = max(peak.value, int(active or 0))
                connection.commit()
                threading.Event().wait(0.05)

    peak.thread = threading.Thread(target=sample, daemon=True)
    peak.thread.start()
    return peak


def _running_on(database: Database, pid: int) -> bool:
    with database.engine.connect() as connection:
        owners = connection.scalars(
            select(kpi_executions.c.lease_owner).where(kpi_executions.c.status == "running")
        )
        return any(owner and f":{pid}:" in owner for owner in owners)


def _all_finished(database: Database) -> bool:
    return count(database, kpi_executions, kpi_executions.c.status.in_(["queued", "running"])) == 0


def _unfinished(database: Database) -> str:
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(
                kpi_executions.c.kpi_id,
                kpi_executions.c.slot,
                kpi_executions.c.status,
                kpi_executions.c.attempt,
                kpi_executions.c.lease_owner,
                kpi_executions.c.lease_until,
                kpi_executions.c.enqueued_at,
            ).where(kpi_executions.c.status.in_(["queued", "running"]))
        ).all()
    return f"unfinished at {datetime.now(UTC)}: " + "; ".join(str(tuple(row)) for row in rows)

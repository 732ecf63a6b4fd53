"""The monitoring PostgreSQL restarted mid-run (`pg_ctl restart -m fast` on a cluster the test owns, while two
devhosts run), and the source database unreachable, then back. Every slot runs once (a failed or timed-out
execution is an outcome, not a lost slot), every notice is delivered once, nothing stays unfinished."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from shared.db.tables import kpi_executions, kpis
from tests.azurite import azurite_queue
from tests.conftest import Database
from tests.e2e.harness import Devhost, start_devhost
from tests.faults.cluster import Cluster, binaries
from tests.faults.conftest import add_alerting_kpis, fault_env, first_slot_soon
from tests.faults.figures import (
    Figures,
    count_notices,
    count_slots,
    expected_notices,
    expected_slots,
    nothing_unfinished,
    stop_scheduling,
    unfinished,
    unfinished_before,
)
from tests.faults.processes import Mailbox, elapsed_since
from tests.waiting import wait_until

pytestmark = [pytest.mark.faults]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = binaries()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI requires the PostgreSQL server binaries (initdb, pg_ctl)")
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    owned = Cluster(found)
    try:
        owned.start()
        yield owned
    finally:
        owned.destroy()


def _owned_database(cluster: Cluster) -> Database:
    """A migrated monitoring database on the owned cluster; the test's engine keeps no connection between
    uses (`NullPool`), so none is left half-open by the restart it causes."""
    url = cluster.create_database(f"mgrid_faults_{uuid.uuid4().hex[:8]}")
    engine = create_monitoring_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return Database(backend="postgresql", url=url, engine=create_engine(url, poolclass=NullPool))


def _running(database: Database) -> bool:
    with database.engine.connect() as connection:
        return (
            connection.scalar(select(kpi_executions.c.id).where(kpi_executions.c.status == "running"))
            is not None
        )


@pytest.mark.timeout(360)
def test_a_monitoring_database_restart_mid_run_loses_and_repeats_nothing(
    cluster: Cluster, tmp_path: Path, figures: Figures
) -> None:
    database = _owned_database(cluster)
    mailbox = Mailbox(tmp_path)
    mailbox.start()
    hosts: list[Devhost] = []
    try:
        with azurite_queue(tmp_path) as storage:
            env = fault_env(
                database, storage, Worker__KpiMonitoring__MaxParallelKpis="2", **mailbox.environment()
            )
            hosts = [start_devhost(env, tmp_path) for _ in range(2)]
            first = first_slot_soon()
            with database.engine.begin() as connection:
                add_alerting_kpis(connection, 4, first_slot=first, sleep_s=2)
            assert wait_until(lambda: _running(database), timeout_s=120)
            cluster.restart()  # executions running, their sessions cut mid-query
            restarted, restarted_at = time.monotonic(), datetime.now(UTC)
            assert wait_until(lambda: unfinished_before(database, restarted_at) == 0, timeout_s=200), (
                unfinished(database)
            )
            figures.recovery_s = elapsed_since(restarted)
            stops = stop_scheduling(database)
            assert wait_until(lambda: nothing_unfinished(database), timeout_s=120), unfinished(database)
            exit_codes = [host.stop() for host in hosts]
    finally:
        for host in hosts:
            host.stop()
        mailbox.stop()
        database.engine.dispose()
    assert exit_codes == [0, 0]
    count_slots(figures, database, expected_slots(first, stops))
    missing, unexpected = count_notices(figures, expected_notices(database), mailbox.deliveries())
    figures.notes.append(f"attempts: {_attempts(database)}")
    assert figures.slots_executed == figures.slots_expected >= 4
    assert figures.slots_duplicated == 0
    assert not missing
    assert not unexpected
    assert figures.notices_sent == figures.notices_expected >= 4
    assert figures.notices_duplicated == 0


@pytest.mark.short
@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@pytest.mark.timeout(360)
def test_an_unreachable_source_fails_its_slots_as_outcomes_then_they_succeed_again(
    database: Database, cluster: Cluster, tmp_path: Path, figures: Figures
) -> None:
    source = cluster.create_database("source")
    mailbox = Mailbox(tmp_path)
    mailbox.start()
    cluster.stop()  # unreachable from the first slot on
    try:
        with azurite_queue(tmp_path) as storage:
            env = fault_env(
                database, storage, ConnectionStrings__Sources__main=source, **mailbox.environment()
            )
            host = start_devhost(env, tmp_path)
            try:
                first = first_slot_soon()
                with database.engine.begin() as connection:
                    ids = add_alerting_kpis(connection, 2, first_slot=first)
                    connection.execute(  # one failure opens the "execution failing" alert
                        kpis.update().values(failure_alert_after=1)
                    )
                assert wait_until(lambda: _statuses(database) == {"failed"}, timeout_s=150), unfinished(
                    database
                )
                cluster.start()
                back = time.monotonic()
                assert wait_until(lambda: _succeeded_kpis(database) == set(ids), timeout_s=120), unfinished(
                    database
                )
                figures.recovery_s = elapsed_since(back)
                stops = stop_scheduling(database)
                assert wait_until(lambda: nothing_unfinished(database), timeout_s=90), unfinished(database)
            finally:
                exit_code = host.stop()
    finally:
        mailbox.stop()
    assert exit_code == 0
    count_slots(figures, database, expected_slots(first, stops))
    missing, unexpected = count_notices(figures, expected_notices(database), mailbox.deliveries())
    figures.notes.append(f"execution outcomes: {_outcomes(database)}")
    assert figures.slots_executed == figures.slots_expected >= 4
    assert figures.slots_duplicated == 0
    assert not missing
    assert not unexpected
    # per KPI: its "execution failing" alert opened, then resolved by the next success
    assert figures.notices_sent == figures.notices_expected >= 4
    assert figures.notices_duplicated == 0


def _statuses(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(connection.scalars(select(kpi_executions.c.status)))


def _succeeded_kpis(database: Database) -> set[int]:
    with database.engine.connect() as connection:
        query = select(kpi_executions.c.kpi_id).where(kpi_executions.c.status == "succeeded")
        return set(connection.scalars(query))


def _outcomes(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        rows = connection.execute(select(kpi_executions.c.status)).scalars()
        found: dict[str, int] = {}
        for status in rows:
            found[status] = found.get(status, 0) + 1
        return found


def _attempts(database: Database) -> dict[int, int]:
    with database.engine.connect() as connection:
        found: dict[int, int] = {}
        for attempt in connection.scalars(select(kpi_executions.c.attempt)):
            found[attempt] = found.get(attempt, 0) + 1
        return found

"""Batches of executions (one `kpi-executions` message naming several) on SQLite and PostgreSQL: each
execution keeps its own outcome, a slow or failing one holds nobody up, a redelivered batch re-runs nothing
that finished, a lost batch is recovered by the scheduler's sweep, and the per-source slot limit holds across
concurrent batches."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text

from shared.db import executions
from shared.db.tables import historical_data, kpi_executions, source_slots
from shared.domain.kpi import Schedule
from shared.messages import execution_message, parse_execution_message
from shared.services.execution import Executor
from shared.services.execution_messages import ExecutionMessages
from shared.services.scheduling import Scheduler
from tests.conftest import Database
from tests.contract.test_executor import HANGS, READINGS, CountingRunner, Pipeline, settings_with
from tests.factories import NOW, Clock, insert_kpi, make_kpi

FAILS = "SELECT nope FROM nowhere"
HOURLY = Schedule(frequency_minutes=60)
OK = "SELECT 'k' AS key, 100 AS current_value, 100 AS historical_value"


@pytest.fixture
def source_url(database: Database, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/source.db" if database.backend == "sqlite" else database.url
    source = create_engine(url)
    with source.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS readings (k VARCHAR(20), v INTEGER)"))
    source.dispose()
    return url


def queue_kpis(database: Database, queries: Sequence[str], *, source: str = "main") -> list[uuid.UUID]:
    """One queued execution (slot NOW) of a new KPI per query."""
    ids = []
    with database.engine.begin() as connection:
        for n, sql in enumerate(queries):
            kpi = make_kpi(indicator=f"kpi-{uuid.uuid4().hex[:8]}-{n}", sql_text=sql, source=source)
            kpi_id = insert_kpi(connection, kpi, next_run_at=None)
            ids.append(Pipeline.queue_slot(None, connection, kpi_id, NOW))  # type: ignore[arg-type]
    return ids


def statuses(database: Database, ids: Sequence[uuid.UUID]) -> list[str]:
    with database.engine.connect() as connection:
        found = dict(
            connection.execute(
                select(kpi_executions.c.id, kpi_executions.c.status).where(kpi_executions.c.id.in_(ids))
            ).all()
        )
    return [found[execution_id] for execution_id in ids]


def test_one_failing_and_one_hanging_kpi_hold_up_none_of_the_others(
    database: Database, source_url: str
) -> None:
    runner = CountingRunner({"main": source_url}, pool_size=8)
    clock = Clock(NOW + timedelta(seconds=5))
    # The hanging query runs into its 2 s timeout; the others are recorded within about 0.15 s, even on a
    # loaded machine (SQLite and PostgreSQL alike), so the test waits for the timeout and nothing else.
    settings = settings_with(execution_timeout_seconds=2, execution_batch_parallelism=8)
    executor = Executor(database.engine, runner, settings, clock=clock)
    ids = queue_kpis(database, [OK, FAILS, HANGS[database.backend], OK, OK])
    reports: list[Any] = []
    batch = threading.Thread(target=lambda: reports.extend(executor.execute_batch(ids, owner="batch-1")))
    batch.start()
    try:
        for _ in range(400):  # the others are recorded while the hanging query still runs
            if statuses(database, ids) == ["succeeded", "failed", "running", "succeeded", "succeeded"]:
                break
            time.sleep(0.025)
        else:
            pytest.fail(
                f"the others were not recorded before the hanging query ended: {statuses(database, ids)}"
            )
    finally:
        batch.join()
        runner.dispose()
    assert [r.status for r in reports] == ["succeeded", "failed", "timed_out", "succeeded", "succeeded"]
    assert [r.execution_id for r in reports] == ids
    assert statuses(database, ids) == ["succeeded", "failed", "timed_out", "succeeded", "succeeded"]
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(historical_data)) == 3
        assert connection.scalar(select(func.count()).where(source_slots.c.lease_owner.is_not(None))) == 0


def test_a_redelivered_batch_reruns_nothing_that_finished(database: Database, source_url: str) -> None:
    runner = CountingRunner({"main": source_url})
    clock = Clock(NOW + timedelta(seconds=5))
    executor = Executor(database.engine, runner, settings_with(), clock=clock)
    ids = queue_kpis(database, [OK, OK, OK])
    with database.engine.begin() as connection:  # another executor holds the last one, then dies
        assert executions.claim(connection, ids[2], owner="dead", now=clock.now, lease_s=30)
    first = executor.execute_batch(ids, owner="batch-1")
    assert [r.status for r in first] == ["succeeded", "succeeded", "held by another executor"]
    again = executor.execute_batch(ids, owner="batch-2")  # the message comes back
    assert [r.status for r in again] == ["already succeeded", "already succeeded", "held by another executor"]
    assert runner.calls == 2
    clock.now += timedelta(seconds=31)  # the dead executor's lease expired
    last = executor.execute_batch(ids, owner="batch-3")
    runner.dispose()
    assert [r.status for r in last] == ["already succeeded", "already succeeded", "succeeded"]
    assert runner.calls == 3
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(historical_data)) == 3


def test_a_lost_batch_and_a_dead_batch_are_recovered_by_the_sweep(
    database: Database, source_url: str
) -> None:
    settings = settings_with(execution_batch_size=8)
    with database.engine.begin() as connection:
        for n in range(3):
            insert_kpi(connection, make_kpi(indicator=f"a{n}", sql_text=OK, schedule=HOURLY), next_run_at=NOW)
        for n in range(2):
            insert_kpi(
                connection,
                make_kpi(indicator=f"b{n}", sql_text=OK, source="other", schedule=HOURLY),
                next_run_at=NOW,
            )
    scheduler = Scheduler(database.engine, settings)
    report = scheduler.tick(now=NOW)
    batches = report.batches()
    assert sorted(len(ids) for ids in batches) == [2, 3]  # one message per source
    lost, dead = batches
    # `lost` never arrives; the executor that took `dead` dies after claiming it.
    with database.engine.begin() as connection:
        assert len(executions.claim_many(connection, dead, owner="dead", now=NOW, lease_s=360)) == len(dead)
    later = NOW + timedelta(seconds=settings.worker.kpi_monitoring.resend_after_seconds + 1)
    recovery = scheduler.tick(now=later)
    assert sorted(recovery.resent) == sorted(lost)
    assert sorted(recovery.requeued) == sorted(dead)
    (message,) = [execution_message(ids) for ids in recovery.batches()]  # the sweep's re-sends batch too
    assert sorted(parse_execution_message(message.encode()).ids) == sorted([*lost, *dead])
    runner = CountingRunner({"main": source_url, "other": source_url})
    executor = Executor(database.engine, runner, settings, clock=lambda: later)
    reports = executor.execute_batch(parse_execution_message(message.encode()).ids, owner="survivor")
    runner.dispose()
    assert {r.status for r in reports} == {"succeeded"}
    assert statuses(database, [*lost, *dead]) == ["succeeded"] * 5


class Sender:
    """A queue sender that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str], int]] = []

    def send(self, queue: str, messages: Sequence[str], *, delay_s: int = 0) -> None:
        self.sent.append((queue, list(messages), delay_s))


def test_a_batch_larger_than_its_sources_slots_waits_for_its_own_slots(
    database: Database, source_url: str
) -> None:
    settings = settings_with(max_parallel_kpis=2)
    runner = CountingRunner({"main": source_url})
    clock = Clock(NOW + timedelta(seconds=5))
    sender = Sender()
    executor = Executor(database.engine, runner, settings, clock=clock)
    handler = ExecutionMessages(database.engine, executor, settings, lambda: sender, clock=clock)
    ids = queue_kpis(database, [OK] * 5)
    reports = handler.handle(execution_message(ids).encode(), owner="batch-1")
    runner.dispose()
    assert reports is not None
    assert [r.status for r in reports] == ["succeeded"] * 5
    assert runner.most_active <= 2
    assert sender.sent == []


def test_a_batch_claims_no_more_at_once_than_its_sources_slots(
    database: Database, source_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Waves larger than the source's slots would claim executions only to give them back.
    given_back: list[int] = []
    give_back_many = executions.give_back_many

    def counting(connection: Any, claims: Any, **kwargs: Any) -> None:
        given_back.append(len(claims))
        give_back_many(connection, claims, **kwargs)

    monkeypatch.setattr(executions, "give_back_many", counting)
    settings = settings_with(max_parallel_kpis=2, execution_batch_parallelism=16)
    runner = CountingRunner({"main": source_url})
    executor = Executor(database.engine, runner, settings, clock=Clock(NOW + timedelta(seconds=5)))
    reports = executor.execute_batch(queue_kpis(database, [OK] * 6), owner="batch-1")
    runner.dispose()
    assert [r.status for r in reports] == ["succeeded"] * 6
    assert runner.most_active <= 2
    assert given_back == []


def test_a_batch_that_finds_its_source_full_is_sent_again_as_one_message(
    database: Database, source_url: str
) -> None:
    settings = settings_with(max_parallel_kpis=2)
    runner = CountingRunner({"main": source_url})
    clock = Clock(NOW + timedelta(seconds=5))
    sender = Sender()
    executor = Executor(database.engine, runner, settings, clock=clock)
    handler = ExecutionMessages(database.engine, executor, settings, lambda: sender, clock=clock)
    ids = queue_kpis(database, [OK] * 3)
    with database.engine.begin() as connection:  # other executors hold both slots of `main`
        for slot_no in range(2):
            connection.execute(
                source_slots.insert().values(
                    source="main", slot_no=slot_no, lease_owner="busy", lease_until=NOW + timedelta(hours=1)
                )
            )
    reports = handler.handle(execution_message(ids).encode(), owner="batch-1")
    runner.dispose()
    assert reports is not None
    assert [r.status for r in reports] == ["deferred"] * 3
    ((queue, (body,), delay_s),) = sender.sent
    assert queue == "kpi-executions"
    assert delay_s > 0
    assert json.loads(body)["execution_ids"] == [str(execution_id) for execution_id in ids]
    assert statuses(database, ids) == ["queued"] * 3
    with database.engine.connect() as connection:
        attempts = connection.scalars(select(kpi_executions.c.attempt).where(kpi_executions.c.id.in_(ids)))
        assert set(attempts) == {0}
    assert runner.calls == 0


def test_a_message_of_one_execution_in_the_format_before_batches_still_runs(
    database: Database, source_url: str
) -> None:
    runner = CountingRunner({"main": source_url})
    settings = settings_with()
    clock = Clock(NOW + timedelta(seconds=5))
    handler = ExecutionMessages(
        database.engine, Executor(database.engine, runner, settings, clock=clock), settings, list, clock=clock
    )
    (execution_id,) = queue_kpis(database, [READINGS])
    reports = handler.handle(json.dumps({"execution_id": str(execution_id)}).encode(), owner="old")
    runner.dispose()
    assert reports is not None
    assert [(r.execution_id, r.status) for r in reports] == [(execution_id, "succeeded")]


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_two_concurrent_batches_never_exceed_the_sources_slot_limit(
    database: Database, source_url: str
) -> None:
    # Two batches on threads, as two instances would run them: real concurrent transactions on PostgreSQL.
    runner = CountingRunner({"main": source_url}, pool_size=10)
    executor = Executor(
        database.engine, runner, settings_with(max_parallel_kpis=2, execution_batch_parallelism=4)
    )
    ids = queue_kpis(database, ["SELECT 'k' AS key, 1 AS current_value FROM pg_sleep(0.2)"] * 8)
    outcomes: list[str] = []

    def work(batch: list[uuid.UUID], owner: str) -> None:
        for attempt in range(200):
            reports = executor.execute_batch(batch, owner=f"{owner}-{attempt}")
            outcomes.extend(r.status for r in reports if not r.deferred)
            batch = [r.execution_id for r in reports if r.deferred]
            if not batch:
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=work, args=(ids[n::2], f"b{n}")) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runner.dispose()
    assert outcomes == ["succeeded"] * 8
    assert runner.most_active == 2
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(source_slots.c.lease_owner.is_not(None))) == 0


def test_an_unexpected_error_in_one_run_leaves_it_to_its_lease_and_records_the_others(
    database: Database, source_url: str
) -> None:
    class Crashing(CountingRunner):
        def run(self, kpi: Any, **kwargs: Any) -> Any:
            if "boom" in kpi.sql_text:
                raise RuntimeError("a bug")
            return super().run(kpi, **kwargs)

    runner = Crashing({"main": source_url})
    executor = Executor(database.engine, runner, settings_with(), clock=Clock(NOW + timedelta(seconds=5)))
    ids = queue_kpis(database, [OK, "SELECT 'boom' AS key, 1 AS current_value", OK])
    reports = executor.execute_batch(ids, owner="batch-1")
    runner.dispose()
    assert [r.status for r in reports] == ["succeeded", "crashed", "succeeded"]
    assert statuses(database, ids) == ["succeeded", "running", "succeeded"]  # retried once its lease expires
    with database.engine.connect() as connection:
        assert connection.scalar(select(func.count()).where(source_slots.c.lease_owner.is_not(None))) == 0

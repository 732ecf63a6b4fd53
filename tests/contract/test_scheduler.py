"""The scheduler tick on SQLite and PostgreSQL: one execution per (KPI, slot), however often or however many
schedulers run, lost messages re-sent, dead executors' work recovered."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shared.db import executions
from shared.db.tables import alerts, kpi_executions, kpis
from shared.domain.kpi import AlertPolicy, Schedule
from shared.services.scheduling import Scheduler
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi


def scheduler(database: Database, **monitoring: object) -> Scheduler:
    settings = Settings.load()
    if monitoring:
        changed = settings.worker.kpi_monitoring.model_copy(update=monitoring)
        settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"kpi_monitoring": changed})}
        )
    return Scheduler(database.engine, settings)


def executions_of(database: Database) -> list[tuple[int, object, str]]:
    with database.engine.connect() as connection:
        rows = connection.execute(
            select(kpi_executions.c.kpi_id, kpi_executions.c.slot, kpi_executions.c.status).order_by(
                kpi_executions.c.kpi_id, kpi_executions.c.slot
            )
        )
        return [tuple(row) for row in rows]


def next_run(database: Database, kpi_id: int) -> object:
    with database.engine.connect() as connection:
        return connection.scalar(select(kpis.c.next_run_at).where(kpis.c.id == kpi_id))


def test_a_due_kpi_gets_one_execution_for_its_slot_and_moves_to_the_next_slot(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(), next_run_at=NOW)
        insert_kpi(connection, make_kpi(indicator="Later"), next_run_at=NOW + timedelta(minutes=1))
    report = scheduler(database).tick(now=NOW + timedelta(seconds=3))
    assert len(report.created) == 1
    assert report.to_send == report.created
    assert executions_of(database) == [(kpi_id, NOW, "queued")]
    assert next_run(database, kpi_id) == NOW + timedelta(minutes=5)


def test_a_second_tick_for_the_same_moment_creates_nothing(database: Database) -> None:
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(), next_run_at=NOW)
    first = scheduler(database).tick(now=NOW)
    again = scheduler(database).tick(now=NOW)
    assert (len(first.created), len(again.created)) == (1, 0)
    assert len(executions_of(database)) == 1


def test_a_late_tick_runs_missed_slots_once_and_moves_past_now(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(), next_run_at=NOW)
    late = NOW + timedelta(hours=3, minutes=2)
    report = scheduler(database).tick(now=late)  # three hours of 5-minute slots were missed
    assert len(report.created) == 1
    assert executions_of(database) == [(kpi_id, NOW, "queued")]  # the oldest missed slot, once
    assert next_run(database, kpi_id) == NOW + timedelta(hours=3, minutes=5)


def test_concurrent_schedulers_create_each_execution_once(database: Database) -> None:
    with database.engine.begin() as connection:
        ids = [insert_kpi(connection, make_kpi(indicator=f"kpi{i}"), next_run_at=NOW) for i in range(60)]
    created: list[int] = []
    errors: list[BaseException] = []

    def tick() -> None:
        try:
            created.append(len(scheduler(database).tick(now=NOW).created))
        except BaseException as error:  # re-raised by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(created) == 60
    assert sorted(kpi_id for kpi_id, _, _ in executions_of(database)) == sorted(ids)


def test_an_inactive_kpi_found_due_is_unscheduled_not_run(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(is_active=False), next_run_at=NOW)
    report = scheduler(database).tick(now=NOW)
    assert (report.created, report.unscheduled) == ([], 1)
    assert next_run(database, kpi_id) is None


def test_an_inactive_kpi_runs_when_process_only_active_kpis_is_off(database: Database) -> None:
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(is_active=False), next_run_at=NOW)
    assert len(scheduler(database, process_only_active_kpis=False).tick(now=NOW).created) == 1


@pytest.mark.parametrize(("skip_running", "expected"), [(True, 1), (False, 2)])
def test_skip_running_kpis_skips_a_slot_while_the_previous_execution_is_unfinished(
    database: Database, skip_running: bool, expected: int
) -> None:
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(), next_run_at=NOW)
    tick = scheduler(database, skip_running_kpis=skip_running).tick
    tick(now=NOW)
    report = tick(now=NOW + timedelta(minutes=5))
    assert len(executions_of(database)) == expected
    assert report.skipped_running == (1 if skip_running else 0)
    assert next_run(database, kpi_id) == NOW + timedelta(minutes=10)


def test_a_queued_execution_whose_message_was_lost_is_sent_again_once_per_period(database: Database) -> None:
    with database.engine.begin() as connection:
        insert_kpi(connection, make_kpi(schedule=Schedule(frequency_minutes=1440)), next_run_at=NOW)
    tick = scheduler(database, resend_after_seconds=600).tick
    (execution_id,) = tick(now=NOW).created
    assert tick(now=NOW + timedelta(minutes=9)).resent == []
    assert tick(now=NOW + timedelta(minutes=11)).resent == [execution_id]
    assert tick(now=NOW + timedelta(minutes=12)).resent == []  # just re-sent: not again before the period


def test_an_expired_lease_is_released_to_another_attempt_then_abandoned(database: Database) -> None:
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(
            connection,
            make_kpi(schedule=Schedule(frequency_minutes=1440), policy=AlertPolicy(failure_alert_after=1)),
            next_run_at=NOW,
        )
    tick = scheduler(database, max_attempts=2).tick
    (execution_id,) = tick(now=NOW).created
    moment = NOW
    for attempt in (1, 2):
        with database.engine.begin() as connection:  # an executor claims it, then dies
            assert executions.claim(connection, execution_id, owner=f"dead{attempt}", now=moment, lease_s=60)
        moment += timedelta(seconds=61)
        report = tick(now=moment)
        if attempt == 1:
            assert report.requeued == [execution_id]
    assert report.abandoned == [(execution_id, kpi_id)]
    assert executions_of(database) == [(kpi_id, NOW, "failed")]
    assert len(report.events) == 1  # the failure counted: an "execution failing" alert opened
    with database.engine.connect() as connection:
        assert (
            connection.scalar(
                select(func.count()).select_from(alerts).where(alerts.c.kind == "execution_failure")
            )
            == 1
        )


def test_the_scheduler_records_its_heartbeat(database: Database) -> None:
    scheduler(database).tick(now=NOW)
    with database.engine.connect() as connection:
        from shared.db.tables import system_status

        row = connection.execute(select(system_status)).one()
    assert (row.component, row.status, row.heartbeat_at) == ("scheduler", "ok", NOW)


def test_a_kpi_with_an_unknown_time_zone_is_unscheduled_without_stopping_the_tick(database: Database) -> None:
    with database.engine.begin() as connection:
        bad = insert_kpi(connection, make_kpi(indicator="bad"), next_run_at=NOW)
        connection.execute(
            update(kpis)
            .where(kpis.c.id == bad)
            .values(schedule_cron="0 0 * * * *", schedule_timezone="Mars/Base")
        )
        good = insert_kpi(connection, make_kpi(indicator="good"), next_run_at=NOW)
    report = scheduler(database).tick(now=NOW)
    assert len(report.created) == 1
    assert [kpi_id for kpi_id, _, _ in executions_of(database)] == [good]
    assert next_run(database, bad) is None

"""The executor on SQLite and PostgreSQL, against a real source database: claims, slots, history, evaluation,
alert transitions, failures, timeouts and redelivery."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from shared.db import executions
from shared.db.tables import alert_events, alerts, historical_data, kpi_executions, kpis, outbox, source_slots
from shared.domain.kpi import AlertPolicy, Baseline, BaselineMode, Kpi, Rule
from shared.domain.observation import Observation
from shared.services.execution import Executor
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.factories import NOW, Clock, insert_kpi, make_kpi, queue_execution


class CountingRunner(SourceRunner):
    """The real runner, counting calls and the most calls in flight at once."""

    def __init__(self, urls: dict[str, str], *, pool_size: int = 5) -> None:
        super().__init__(urls, pool_size=pool_size, retry_wait_s=0)
        self.calls = 0
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def run(self, kpi: Kpi, **kwargs: Any) -> list[Observation]:
        with self._lock:
            self.calls += 1
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            return super().run(kpi, **kwargs)
        finally:
            with self._lock:
                self.active -= 1


@dataclass
class Pipeline:
    database: Database
    executor: Executor
    runner: CountingRunner
    clock: Clock
    source: Engine

    def queue(self, kpi: Kpi, *, slot: datetime = NOW) -> tuple[int, uuid.UUID]:
        with self.database.engine.begin() as connection:
            kpi_id = insert_kpi(connection, kpi, next_run_at=None)
            return kpi_id, self.queue_slot(connection, kpi_id, slot)

    def queue_slot(self, connection: Any, kpi_id: int, slot: datetime) -> uuid.UUID:
        return queue_execution(connection, kpi_id, slot)

    def run(self, execution_id: uuid.UUID, owner: str = "executor-1") -> Any:
        return self.executor.execute(execution_id, owner=owner)

    def rows(self, table: Any, *columns: Any) -> list[tuple[Any, ...]]:
        with self.database.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(select(*columns).select_from(table))]


def settings_with(**monitoring: Any) -> Settings:
    settings = Settings.load()
    changed = settings.worker.kpi_monitoring.model_copy(update=monitoring)
    return settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"kpi_monitoring": changed})}
    )


@pytest.fixture
def source_url(database: Database, tmp_path: Path) -> str:
    """The source database: SQLite beside a SQLite monitoring database, else the PostgreSQL one itself."""
    return f"sqlite:///{tmp_path}/source.db" if database.backend == "sqlite" else database.url


@pytest.fixture
def pipeline(database: Database, source_url: str) -> Iterator[Pipeline]:
    source = create_engine(source_url)
    with source.begin() as connection:
        connection.execute(text("CREATE TABLE readings (k VARCHAR(20), v INTEGER)"))
    runner = CountingRunner({"main": source_url})
    clock = Clock(NOW + timedelta(seconds=5))
    yield Pipeline(
        database, Executor(database.engine, runner, settings_with(), clock=clock), runner, clock, source
    )
    runner.dispose()
    source.dispose()


def set_readings(pipeline: Pipeline, **values: int) -> None:
    with pipeline.source.begin() as connection:
        connection.execute(text("DELETE FROM readings"))
        for key, value in values.items():
            connection.execute(text("INSERT INTO readings VALUES (:k, :v)"), {"k": key, "v": value})


READINGS = "SELECT k AS key, v AS current_value, 100 AS historical_value FROM readings"


def test_an_execution_stores_history_and_opens_an_alert_with_its_event_and_outbox_entry(
    pipeline: Pipeline,
) -> None:
    set_readings(pipeline, ok=110, low=50)  # baseline 100: +10 % is fine, -50 % breaches the 20 % rule
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    report = pipeline.run(execution_id)
    assert report.status == "succeeded"
    assert {(m["key"], m["breach"]) for m in report.to_dict()["metrics"]} == {("ok", False), ("low", True)}
    assert sorted(
        pipeline.rows(
            historical_data,
            historical_data.c.metric_key,
            historical_data.c.value,
            historical_data.c.deviation_percent,
        )
    ) == [("low", 50.0, -50.0), ("ok", 110.0, 10.0)]
    ((alert_id, key, status),) = pipeline.rows(alerts, alerts.c.id, alerts.c.metric_key, alerts.c.status)
    assert (key, status) == ("low", "open")
    ((event_id, event_type),) = pipeline.rows(alert_events, alert_events.c.id, alert_events.c.event_type)
    assert event_type == "opened"
    assert pipeline.rows(outbox, outbox.c.event_id) == [(event_id,)]
    assert [(e.event_id, e.alert_id) for e in report.events] == [(event_id, alert_id)]
    assert pipeline.rows(kpi_executions, kpi_executions.c.status, kpi_executions.c.metric_count) == [
        ("succeeded", 2)
    ]


def test_a_redelivered_message_for_a_finished_execution_does_nothing(pipeline: Pipeline) -> None:
    set_readings(pipeline, low=50)
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    pipeline.run(execution_id)
    again = pipeline.run(execution_id, owner="executor-2")
    assert again.status == "already succeeded"
    assert pipeline.runner.calls == 1
    assert len(pipeline.rows(alert_events, alert_events.c.id)) == 1


def test_two_executors_racing_for_one_execution_run_it_once(pipeline: Pipeline) -> None:
    set_readings(pipeline, low=50)
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    statuses: list[str] = []
    threads = [
        threading.Thread(target=lambda n=n: statuses.append(pipeline.run(execution_id, f"e{n}").status))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pipeline.runner.calls == 1
    assert statuses.count("succeeded") == 1
    assert len(pipeline.rows(historical_data, historical_data.c.id)) == 1


def test_an_unknown_execution_is_reported_missing(pipeline: Pipeline) -> None:
    assert pipeline.run(uuid.uuid4()).status == "missing"
    assert pipeline.runner.calls == 0


def test_an_expired_lease_is_recovered_by_another_executor(pipeline: Pipeline) -> None:
    set_readings(pipeline, ok=100)
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    with pipeline.database.engine.begin() as connection:  # the first executor claims it and dies
        assert executions.claim(connection, execution_id, owner="dead", now=pipeline.clock.now, lease_s=30)
    assert pipeline.run(execution_id).status == "held by another executor"
    pipeline.clock.now += timedelta(seconds=31)
    report = pipeline.run(execution_id, owner="survivor")
    assert report.status == "succeeded"
    assert pipeline.rows(kpi_executions, kpi_executions.c.attempt) == [(2,)]


def test_a_breach_opens_an_alert_only_after_fire_after_and_resolves_after_resolve_after(
    pipeline: Pipeline,
) -> None:
    kpi = make_kpi(sql_text=READINGS, policy=AlertPolicy(fire_after=2, resolve_after=2))
    with pipeline.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
    transitions = []
    for minute, value in enumerate([50, 50, 50, 100, 100]):
        set_readings(pipeline, k=value)
        with pipeline.database.engine.begin() as connection:
            execution_id = pipeline.queue_slot(connection, kpi_id, NOW + timedelta(minutes=5 * minute))
        transitions.append([t.transition.value for t in pipeline.run(execution_id).transitions])
    assert transitions == [[], ["opened"], ["retriggered"], [], ["resolved"]]
    events = sorted(pipeline.rows(alert_events, alert_events.c.id, alert_events.c.event_type))
    assert [event_type for _, event_type in events] == ["opened", "retriggered", "resolved"]
    assert len(pipeline.rows(outbox, outbox.c.id)) == 2  # the retrigger inside the cooldown tells nobody


def test_a_retrigger_inside_the_cooldown_writes_its_event_without_an_outbox_entry(
    pipeline: Pipeline,
) -> None:
    kpi = make_kpi(sql_text=READINGS, policy=AlertPolicy(cooldown_minutes=30))
    with pipeline.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
    reports = []
    for minutes in (0, 5, 35):
        set_readings(pipeline, k=50)
        pipeline.clock.now = NOW + timedelta(minutes=minutes, seconds=5)
        with pipeline.database.engine.begin() as connection:
            execution_id = pipeline.queue_slot(connection, kpi_id, NOW + timedelta(minutes=minutes))
        reports.append(pipeline.run(execution_id))
    assert [[t.transition.value for t in r.transitions] for r in reports] == [
        ["opened"],
        ["retriggered"],
        ["retriggered"],
    ]
    assert [len(r.events) for r in reports] == [1, 0, 1]  # only the one after the cooldown is dispatched
    events = sorted(pipeline.rows(alert_events, alert_events.c.id, alert_events.c.event_type))
    assert [event_type for _, event_type in events] == ["opened", "retriggered", "retriggered"]
    outboxed = {event_id for (event_id,) in pipeline.rows(outbox, outbox.c.event_id)}
    assert outboxed == {events[0][0], events[2][0]}


def test_failures_open_an_execution_failing_alert_after_n_in_a_row_and_a_success_resolves_it(
    pipeline: Pipeline,
) -> None:
    kpi = make_kpi(sql_text="SELECT nope FROM missing_table", policy=AlertPolicy(failure_alert_after=2))
    with pipeline.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
    results = []
    for minute in range(3):
        if minute == 2:
            with pipeline.database.engine.begin() as connection:
                connection.execute(kpis.update().where(kpis.c.id == kpi_id).values(sql_text=READINGS))
            set_readings(pipeline, k=100)
        with pipeline.database.engine.begin() as connection:
            execution_id = pipeline.queue_slot(connection, kpi_id, NOW + timedelta(minutes=5 * minute))
        report = pipeline.run(execution_id)
        results.append((report.status, [t.transition.value for t in report.transitions]))
    assert results == [("failed", []), ("failed", ["opened"]), ("succeeded", ["resolved"])]
    assert pipeline.rows(alerts, alerts.c.kind, alerts.c.metric_key, alerts.c.status) == [
        ("execution_failure", "(execution)", "resolved")
    ]


def _queue_two_slots(pipeline: Pipeline, kpi: Kpi) -> tuple[uuid.UUID, uuid.UUID]:
    """Slot t and slot t+5 min of a new KPI, both queued (t's message was lost and is re-sent later)."""
    with pipeline.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
        older = pipeline.queue_slot(connection, kpi_id, NOW)
        newer = pipeline.queue_slot(connection, kpi_id, NOW + timedelta(minutes=5))
    return older, newer


def test_an_older_slot_finishing_after_a_newer_one_writes_its_history_but_opens_no_alert(
    pipeline: Pipeline,
) -> None:
    older, newer = _queue_two_slots(pipeline, make_kpi(sql_text=READINGS))
    set_readings(pipeline, k=100)  # the newer slot runs first and is clean
    assert pipeline.run(newer).transitions == []
    set_readings(pipeline, k=50)  # the older slot, re-sent by the sweep, breaches
    report = pipeline.run(older)
    assert report.status == "succeeded"
    assert report.transitions == []
    assert report.alerts_skipped is not None
    assert "newer slot" in report.alerts_skipped
    assert [(m["key"], m["breach"]) for m in report.to_dict()["metrics"]] == [("k", True)]
    assert sorted(pipeline.rows(historical_data, historical_data.c.value)) == [(50.0,), (100.0,)]
    assert pipeline.rows(alerts, alerts.c.id) == []
    assert pipeline.rows(alert_events, alert_events.c.id) == []
    assert pipeline.rows(outbox, outbox.c.id) == []


def test_an_older_clean_slot_finishing_late_does_not_resolve_the_newer_slots_alert(
    pipeline: Pipeline,
) -> None:
    older, newer = _queue_two_slots(pipeline, make_kpi(sql_text=READINGS))
    set_readings(pipeline, k=50)
    assert [t.transition.value for t in pipeline.run(newer).transitions] == ["opened"]
    set_readings(pipeline, k=100)
    report = pipeline.run(older)
    assert (report.status, report.transitions) == ("succeeded", [])
    assert report.alerts_skipped is not None
    assert pipeline.rows(alerts, alerts.c.status) == [("open",)]
    assert [e for (e,) in pipeline.rows(alert_events, alert_events.c.event_type)] == ["opened"]


def test_an_older_slot_failing_late_neither_counts_nor_opens_an_execution_failing_alert(
    pipeline: Pipeline,
) -> None:
    kpi = make_kpi(sql_text=READINGS, policy=AlertPolicy(failure_alert_after=1))
    older, newer = _queue_two_slots(pipeline, kpi)
    set_readings(pipeline, k=100)
    assert pipeline.run(newer).status == "succeeded"
    with pipeline.database.engine.begin() as connection:  # the source breaks before the older slot runs
        connection.execute(kpis.update().values(sql_text="SELECT nope FROM missing_table"))
    report = pipeline.run(older)
    assert (report.status, report.transitions) == ("failed", [])
    assert report.alerts_skipped is not None
    assert pipeline.rows(kpis, kpis.c.consecutive_failures) == [(0,)]
    assert pipeline.rows(alerts, alerts.c.id) == []


def test_slots_finishing_in_order_apply_every_transition(pipeline: Pipeline) -> None:
    older, newer = _queue_two_slots(pipeline, make_kpi(sql_text=READINGS))
    set_readings(pipeline, k=50)
    first = pipeline.run(older)
    set_readings(pipeline, k=100)
    second = pipeline.run(newer)
    assert [t.transition.value for t in first.transitions] == ["opened"]
    assert [t.transition.value for t in second.transitions] == ["resolved"]
    assert (first.alerts_skipped, second.alerts_skipped) == (None, None)
    assert pipeline.rows(kpis, kpis.c.last_run_slot, kpis.c.last_evaluated_slot) == [
        (NOW + timedelta(minutes=5), NOW + timedelta(minutes=5))
    ]


def test_no_rows_is_a_successful_execution_without_metrics(pipeline: Pipeline) -> None:
    set_readings(pipeline)
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    report = pipeline.run(execution_id)
    assert (report.status, report.evaluations, report.transitions) == ("succeeded", [], [])
    assert pipeline.rows(kpi_executions, kpi_executions.c.metric_count) == [(0,)]


def test_a_history_baseline_is_the_median_of_the_same_window_in_earlier_weeks(pipeline: Pipeline) -> None:
    kpi = make_kpi(
        sql_text="SELECT 'k' AS key, 100 AS current_value",
        rule=Rule(deviation_percent=20, baseline=Baseline(mode=BaselineMode.HISTORY, weeks_back=4)),
    )
    with pipeline.database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
        for weeks, value in [(1, 150.0), (2, 160.0), (3, 10.0), (4, 155.0), (5, 1.0)]:  # week 5 is too old
            past = pipeline.queue_slot(connection, kpi_id, NOW - timedelta(weeks=weeks))
            connection.execute(
                historical_data.insert().values(
                    kpi_id=kpi_id,
                    execution_id=past,
                    metric_key="k",
                    window_start=NOW - timedelta(weeks=weeks, hours=1),
                    window_end=NOW - timedelta(weeks=weeks),
                    value=value,
                    recorded_at=NOW,
                )
            )
            connection.execute(
                kpi_executions.update().where(kpi_executions.c.id == past).values(status="succeeded")
            )
        execution_id = pipeline.queue_slot(connection, kpi_id, NOW)
    (evaluation,) = pipeline.run(execution_id).evaluations
    assert evaluation.baseline == 152.5  # median of 150, 160, 10, 155: one bad week does not poison it
    assert evaluation.breach


def test_a_source_that_is_not_configured_fails_the_execution_with_a_clear_error(pipeline: Pipeline) -> None:
    _, execution_id = pipeline.queue(make_kpi(source="elsewhere"))
    report = pipeline.run(execution_id)
    assert report.status == "failed"
    assert "elsewhere" in (report.error or "")


def test_a_full_source_defers_the_execution_without_counting_an_attempt(pipeline: Pipeline) -> None:
    set_readings(pipeline, k=100)
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    with pipeline.database.engine.begin() as connection:  # every slot of `main` is held by live leases
        for slot_no in range(5):
            connection.execute(
                source_slots.insert().values(
                    source="main", slot_no=slot_no, lease_owner="busy", lease_until=NOW + timedelta(hours=1)
                )
            )
    report = pipeline.run(execution_id)
    assert (report.status, report.deferred) == ("deferred", True)
    assert pipeline.rows(kpi_executions, kpi_executions.c.status, kpi_executions.c.attempt) == [("queued", 0)]
    assert pipeline.runner.calls == 0


def test_the_alert_event_details_carry_the_values_and_window(pipeline: Pipeline) -> None:
    set_readings(pipeline, low=50)
    _, execution_id = pipeline.queue(make_kpi(sql_text=READINGS))
    pipeline.run(execution_id)
    ((details,),) = pipeline.rows(alert_events, alert_events.c.details)
    shown = json.loads(details)
    assert (shown["metric_key"], shown["current"], shown["baseline"], shown["deviation_percent"]) == (
        "low",
        50.0,
        100.0,
        -50.0,
    )
    assert shown["window_end"].startswith("2026-11-28 12:00:00")


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_concurrent_executors_never_exceed_the_sources_slot_limit(
    database: Database, source_url: str
) -> None:
    # Threads on PostgreSQL: real concurrent transactions (SQLite serialises them, proving less).
    runner = CountingRunner({"main": source_url}, pool_size=10)
    executor = Executor(database.engine, runner, settings_with(max_parallel_kpis=2))
    kpi = replace(make_kpi(sql_text="SELECT 'k' AS key, 1 AS current_value FROM pg_sleep(0.2)"))
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, kpi, next_run_at=None)
        ids = [Pipeline.queue_slot(None, connection, kpi_id, NOW + timedelta(minutes=i)) for i in range(8)]  # type: ignore[arg-type]
    outcomes: list[str] = []

    def work(execution_id: uuid.UUID) -> None:
        for _ in range(200):
            report = executor.execute(execution_id, owner=f"w-{execution_id}")
            if not report.deferred:
                outcomes.append(report.status)
                return

    threads = [threading.Thread(target=work, args=(execution_id,)) for execution_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runner.dispose()
    assert outcomes == ["succeeded"] * 8
    assert runner.most_active == 2
    with database.engine.connect() as connection:
        assert (
            connection.scalar(
                select(func.count()).select_from(source_slots).where(source_slots.c.lease_owner.is_not(None))
            )
            == 0
        )


HANGS = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
    "SELECT 'k' AS key, max(i) AS current_value FROM n",
    "postgresql": "SELECT 'k' AS key, 1 AS current_value FROM pg_sleep(30)",
}


def test_a_hanging_query_is_cancelled_and_the_execution_timed_out(
    database: Database, source_url: str
) -> None:
    runner = CountingRunner({"main": source_url})
    executor = Executor(database.engine, runner, settings_with(execution_timeout_seconds=1))
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(sql_text=HANGS[database.backend]), next_run_at=None)
        execution_id = Pipeline.queue_slot(None, connection, kpi_id, NOW)  # type: ignore[arg-type]
    report = executor.execute(execution_id, owner="e1")
    runner.dispose()
    assert report.status == "timed_out"
    assert report.duration_ms is not None
    assert report.duration_ms < 10_000
    with database.engine.connect() as connection:
        assert (
            connection.execute(select(kpi_executions.c.status, kpi_executions.c.error)).one()[0]
            == "timed_out"
        )
        if database.backend == "postgresql":  # the statement no longer runs on the server
            assert (
                connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()"
                    )
                )
                == 0
            )


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_dead_pooled_connection_is_replaced_and_the_claim_retried(
    database: Database, source_url: str, postgres_admin: Engine
) -> None:
    runner = CountingRunner({"main": source_url})
    executor = Executor(database.engine, runner, settings_with())
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(connection, make_kpi(), next_run_at=None)
        execution_id = Pipeline.queue_slot(None, connection, kpi_id, NOW)  # type: ignore[arg-type]
    with database.engine.connect() as connection:  # the pool keeps this connection...
        pid = connection.scalar(text("SELECT pg_backend_pid()"))
    with postgres_admin.connect() as admin:  # ...which the server then drops (a failover, an idle cut)
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    report = executor.execute(execution_id, owner="e1")
    runner.dispose()
    assert report.status == "succeeded"


class CuttingRunner(CountingRunner):
    """Runs the query, then has the server drop every monitoring connection of the database (a restart
    while the source query ran)."""

    def __init__(self, urls: dict[str, str], admin: Engine, database: str) -> None:
        super().__init__(urls)
        self.admin, self.database = admin, database

    def run(self, kpi: Kpi, **kwargs: Any) -> list[Observation]:
        observations = super().run(kpi, **kwargs)
        with self.admin.connect() as admin:
            cut = admin.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND application_name = 'monitoringgrid'"
                ),
                {"db": self.database},
            )
        assert cut, "the executor's monitoring connection was not found"
        return observations


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_dropped_during_the_run_is_replaced_and_the_outcome_recorded_at_once(
    database: Database, source_url: str, postgres_admin: Engine
) -> None:
    runner = CuttingRunner({"main": source_url}, postgres_admin, database.engine.url.database or "")
    executor = Executor(database.engine, runner, settings_with())
    with database.engine.begin() as connection:
        kpi_id = insert_kpi(
            connection,
            make_kpi(sql_text="SELECT 'k' AS key, 50 AS current_value, 100 AS historical_value"),
            next_run_at=None,
        )
        execution_id = Pipeline.queue_slot(None, connection, kpi_id, NOW)  # type: ignore[arg-type]
    report = executor.execute(execution_id, owner="e1")
    runner.dispose()
    assert report.status == "succeeded"
    assert [t.transition.value for t in report.transitions] == ["opened"]
    with database.engine.connect() as connection:
        assert connection.execute(select(kpi_executions.c.status, kpi_executions.c.attempt)).all() == [
            ("succeeded", 1)
        ]
        assert (
            connection.scalar(
                select(func.count()).select_from(source_slots).where(source_slots.c.execution_id.is_not(None))
            )
            == 0
        )

"""The alert lifecycle on SQLite and PostgreSQL, through the executor and the alert processor: no data (a
NULL value, a key that vanished, a query without rows) under each `no_data` mode, and auto-resolution only
for keys their KPI stopped evaluating (three periods and the timeout)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.dialects import mssql

from shared.db import alerts as alert_store
from shared.db.tables import alert_events, alerts, kpis, outbox
from shared.domain.kpi import AlertPolicy, NoData, Schedule
from shared.domain.notification import Channel
from shared.notify.base import Notice
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.processor import AlertProcessor
from shared.services.execution_report import ExecutionReport
from tests.contract.test_executor import READINGS, Pipeline, set_readings, settings_with
from tests.contract.test_executor import pipeline as executor_pipeline
from tests.contract.test_executor import source_url as executor_source_url
from tests.factories import NOW, insert_contact, insert_kpi, make_kpi

HOURLY = Schedule(frequency_minutes=60)
# The executor tests' fixtures, under their own names here: a real source database and an executor.
source_url = pytest.fixture(executor_source_url.__wrapped__, name="source_url")  # type: ignore[attr-defined]
pipeline = pytest.fixture(executor_pipeline.__wrapped__, name="pipeline")  # type: ignore[attr-defined]
DAILY = Schedule(frequency_minutes=1440)


def add_kpi(pipeline: Pipeline, **changes: Any) -> int:
    with pipeline.database.engine.begin() as connection:
        return insert_kpi(connection, make_kpi(**{"sql_text": READINGS, **changes}), next_run_at=None)


def run_slot(pipeline: Pipeline, kpi_id: int, slot: datetime) -> ExecutionReport:
    pipeline.clock.now = slot + timedelta(seconds=5)
    with pipeline.database.engine.begin() as connection:
        execution_id: uuid.UUID = pipeline.queue_slot(connection, kpi_id, slot)
    report: ExecutionReport = pipeline.run(execution_id)
    assert report.status == "succeeded", report.error
    return report


def transitions(report: ExecutionReport) -> list[tuple[str, str]]:
    return [(t.metric_key, t.transition.value) for t in report.transitions]


def processor(pipeline: Pipeline) -> AlertProcessor:
    settings = settings_with()
    dispatcher = EventDispatcher(pipeline.database.engine, settings, dict, clock=pipeline.clock)
    return AlertProcessor(pipeline.database.engine, settings, dispatcher, clock=pipeline.clock)


def alert_rows(pipeline: Pipeline) -> list[tuple[Any, ...]]:
    return sorted(pipeline.rows(alerts, alerts.c.metric_key, alerts.c.status, alerts.c.stale_at))


def event_rows(pipeline: Pipeline) -> list[tuple[str, dict[str, Any]]]:
    query = select(alert_events.c.event_type, alert_events.c.details).order_by(alert_events.c.id)
    with pipeline.database.engine.connect() as connection:
        return [(kind, json.loads(details)) for kind, details in connection.execute(query)]


# ------------------------------------------------------------------------------------------ auto-resolution


def test_a_daily_kpis_alert_stays_open_across_24_hours_of_processor_runs(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=DAILY)
    set_readings(pipeline, k=50)
    assert transitions(run_slot(pipeline, kpi_id, NOW)) == [("k", "opened")]
    passes = processor(pipeline)
    for minutes in range(0, 24 * 60, 30):
        pipeline.clock.now = NOW + timedelta(minutes=minutes, seconds=10)
        assert passes.run().auto_resolved == 0
    assert transitions(run_slot(pipeline, kpi_id, NOW + timedelta(days=1))) == [("k", "retriggered")]
    assert alert_rows(pipeline) == [("k", "open", NOW + timedelta(days=4))]


def test_a_deactivated_kpis_alert_resolves_once_stale_for_the_timeout(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY)
    set_readings(pipeline, k=50)
    run_slot(pipeline, kpi_id, NOW)
    with pipeline.database.engine.begin() as connection:
        connection.execute(update(kpis).where(kpis.c.id == kpi_id).values(is_active=False, next_run_at=None))
    passes = processor(pipeline)
    due = NOW + timedelta(hours=3, minutes=120)  # three hourly periods, then the 120-minute timeout
    pipeline.clock.now = due - timedelta(seconds=1)
    assert passes.run().auto_resolved == 0
    pipeline.clock.now = due
    report = passes.run()
    assert report.auto_resolved == 1
    assert [status for _, status, _ in alert_rows(pipeline)] == ["resolved"]
    kind, details = event_rows(pipeline)[-1]
    assert (kind, details["reason"]) == ("resolved", "not evaluated for three periods and 120 min")


def test_a_clean_evaluation_that_does_not_resolve_yet_keeps_the_alert_fresh(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY, policy=AlertPolicy(resolve_after=2))
    set_readings(pipeline, k=50)
    run_slot(pipeline, kpi_id, NOW)
    set_readings(pipeline, k=100)
    assert transitions(run_slot(pipeline, kpi_id, NOW + timedelta(hours=1))) == []
    assert alert_rows(pipeline) == [("k", "open", NOW + timedelta(hours=4))]


def test_an_execution_failure_alert_is_not_auto_resolved_while_its_daily_kpi_keeps_failing(
    pipeline: Pipeline,
) -> None:
    kpi_id = add_kpi(
        pipeline,
        schedule=DAILY,
        sql_text="SELECT nope FROM missing",
        policy=AlertPolicy(failure_alert_after=1),
    )
    for day in range(3):
        pipeline.clock.now = NOW + timedelta(days=day, seconds=5)
        with pipeline.database.engine.begin() as connection:
            execution_id = pipeline.queue_slot(connection, kpi_id, NOW + timedelta(days=day))
        assert pipeline.run(execution_id).status == "failed"
        pipeline.clock.now = NOW + timedelta(days=day, hours=23)
        assert processor(pipeline).run().auto_resolved == 0
    assert alert_rows(pipeline) == [("(execution)", "open", NOW + timedelta(days=5))]


def test_the_statement_that_marks_alerts_evaluated_compiles_for_sql_server() -> None:
    compiled = alert_store._MARK_EVALUATED.compile(dialect=mssql.dialect())
    assert str(compiled).startswith("UPDATE alerts SET stale_at=")


# ------------------------------------------------------------------------------------------------ cooldown


class Mailbox:
    """The email channel, recording what it is asked to send."""

    channel = Channel.EMAIL

    def __init__(self) -> None:
        self.sent: list[Notice] = []

    def send(self, notice: Notice, address: str) -> None:
        self.sent.append(notice)


def test_a_retrigger_inside_the_cooldown_is_audited_but_never_delivered(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY, policy=AlertPolicy(cooldown_minutes=120))
    with pipeline.database.engine.begin() as connection:
        insert_contact(connection, "Ops", kpi_id=kpi_id, email="ops@example.com")
    mailbox = Mailbox()
    settings = settings_with()
    dispatcher = EventDispatcher(
        pipeline.database.engine, settings, lambda: {Channel.EMAIL: mailbox}, clock=pipeline.clock
    )
    set_readings(pipeline, k=50)
    for hours in (0, 1):
        run_slot(pipeline, kpi_id, NOW + timedelta(hours=hours))
        dispatcher.dispatch_outbox(limit=100)
    pipeline.clock.now += timedelta(minutes=10)  # past the outbox grace: the processor sweeps what is left
    AlertProcessor(pipeline.database.engine, settings, dispatcher, clock=pipeline.clock).run()
    assert [kind for kind, _ in event_rows(pipeline)] == ["opened", "notified", "retriggered"]
    assert [notice.event_type for notice in mailbox.sent] == ["opened"]


# ------------------------------------------------------------------------------------------------ no data


@pytest.mark.parametrize(
    ("mode", "expected", "status"),
    [
        (NoData.KEEP, [], "open"),
        (NoData.ALERT, [("gone", "retriggered")], "open"),
        (NoData.OK, [("gone", "resolved")], "resolved"),
    ],
)
def test_a_key_with_an_alert_that_vanishes_from_the_result_is_no_data(
    pipeline: Pipeline, mode: NoData, expected: list[tuple[str, str]], status: str
) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY, policy=AlertPolicy(no_data=mode, cooldown_minutes=0))
    set_readings(pipeline, gone=50, stays=100)
    run_slot(pipeline, kpi_id, NOW)
    before = alert_rows(pipeline)
    set_readings(pipeline, stays=100)
    report = run_slot(pipeline, kpi_id, NOW + timedelta(hours=1))
    assert transitions(report) == expected
    metrics = {m["key"]: m for m in report.to_dict()["metrics"]}  # type: ignore[union-attr]
    assert (metrics["gone"]["current"], metrics["gone"]["no_data"]) == (None, True)
    assert metrics["gone"]["breach"] is False  # the evaluation; the mode decides what it counts as
    assert [row[1] for row in alert_rows(pipeline)] == [status]
    if mode is NoData.KEEP:  # exactly as it was: no event, no new stale_at
        assert alert_rows(pipeline) == before
        assert [kind for kind, _ in event_rows(pipeline)] == ["opened"]
    else:
        _, details = event_rows(pipeline)[-1]
        assert (details["current"], details["reasons"], details["no_data"]) == (None, ["no data"], True)
    if mode is NoData.ALERT:  # counted as evaluated: three periods after this slot
        assert alert_rows(pipeline)[0][2] == NOW + timedelta(hours=4)


def test_a_kept_key_that_stays_silent_is_resolved_once_stale_for_the_timeout(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY)
    set_readings(pipeline, gone=50, stays=100)
    run_slot(pipeline, kpi_id, NOW)
    set_readings(pipeline, stays=100)
    for hours in range(1, 5):
        assert transitions(run_slot(pipeline, kpi_id, NOW + timedelta(hours=hours))) == []
    report = run_slot(pipeline, kpi_id, NOW + timedelta(hours=5))  # 3 h stale + 120 min
    assert transitions(report) == [("gone", "resolved")]


def test_a_query_without_rows_is_no_data_for_every_key_with_an_alert(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY, policy=AlertPolicy(no_data=NoData.ALERT, cooldown_minutes=0))
    set_readings(pipeline, a=50, b=10, fine=100)
    run_slot(pipeline, kpi_id, NOW)
    set_readings(pipeline)
    report = run_slot(pipeline, kpi_id, NOW + timedelta(hours=1))
    assert transitions(report) == [("a", "retriggered"), ("b", "retriggered")]
    assert len(report.events) == 2
    assert len(pipeline.rows(outbox, outbox.c.id)) == 4


def test_a_null_value_under_alert_opens_an_alert_after_fire_after(pipeline: Pipeline) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY, policy=AlertPolicy(no_data=NoData.ALERT, fire_after=2))
    with pipeline.source.begin() as connection:
        connection.execute(text("DELETE FROM readings"))
        connection.execute(text("INSERT INTO readings VALUES ('k', NULL)"))
    assert transitions(run_slot(pipeline, kpi_id, NOW)) == []
    assert transitions(run_slot(pipeline, kpi_id, NOW + timedelta(hours=1))) == [("k", "opened")]
    kind, details = event_rows(pipeline)[0]
    assert (kind, details["current"], details["reasons"]) == ("opened", None, ["no data"])
    assert pipeline.rows(alerts, alerts.c.current_value) == [(None,)]


@pytest.mark.parametrize("mode", [NoData.KEEP, NoData.OK])
def test_a_null_value_without_an_alert_opens_nothing_unless_the_mode_is_alert(
    pipeline: Pipeline, mode: NoData
) -> None:
    kpi_id = add_kpi(pipeline, schedule=HOURLY, policy=AlertPolicy(no_data=mode))
    with pipeline.source.begin() as connection:
        connection.execute(text("INSERT INTO readings VALUES ('k', NULL)"))
    report = run_slot(pipeline, kpi_id, NOW)
    assert (transitions(report), alert_rows(pipeline)) == ([], [])
    assert report.to_dict()["metrics"] == [  # no history row either: there is no value
        {
            "key": "k",
            "current": None,
            "baseline": None,
            "deviation_percent": None,
            "expected": None,
            "lower": None,
            "upper": None,
            "breach": False,
            "no_data": True,
        }
    ]

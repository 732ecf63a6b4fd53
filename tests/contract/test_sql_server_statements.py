"""Every statement the pipeline sends compiles for SQL Server: captured from a real run on SQLite, then
compiled with the mssql dialect (no SQL Server here; `tests/unit/test_mssql_ddl.py` covers the schema)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement

from shared.domain.kpi import AlertPolicy, Baseline, BaselineMode, Rule
from shared.services.execution import Executor
from shared.services.execution_messages import ExecutionMessages
from shared.services.scheduling import Scheduler
from shared.settings import Settings
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.factories import NOW, insert_kpi, make_kpi


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_pipeline_statement_compiles_for_sql_server(database: Database, tmp_path: Path) -> None:
    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement):
            captured.append(clause)

    source = f"sqlite:///{tmp_path}/source.db"
    create_engine(source).dispose()
    settings = Settings.load()
    runner = SourceRunner({"main": source}, pool_size=2, retry_wait_s=0)
    executor = Executor(database.engine, runner, settings, clock=lambda: NOW + timedelta(seconds=5))
    with database.engine.begin() as connection:
        insert_kpi(
            connection,
            make_kpi(
                sql_text="SELECT 'k' AS key, 1 AS current_value, 100 AS historical_value",
                policy=AlertPolicy(failure_alert_after=1),
            ),
            next_run_at=NOW,
        )
        insert_kpi(
            connection,
            make_kpi(
                indicator="broken",
                sql_text="SELECT nope FROM nowhere",
                policy=AlertPolicy(failure_alert_after=1),
            ),
            next_run_at=NOW,
        )
        for mode in (
            BaselineMode.HISTORY,
            BaselineMode.HISTORY,
            BaselineMode.SEASONAL,
            BaselineMode.SEASONAL,
        ):
            rule = Rule(deviation_percent=20, baseline=Baseline(mode=mode))
            insert_kpi(connection, make_kpi(indicator=f"{mode.value}-{uuid.uuid4().hex[:6]}", rule=rule))
    report = Scheduler(database.engine, settings).tick(now=NOW)
    for execution_id in report.created[:2]:  # a breach opens an alert; the broken KPI's failure opens another
        executor.execute(execution_id, owner="e1")
    # The rest as one batch (claims, slots, baselines, outcomes: one statement each), and a redelivery.
    assert {r.status for r in executor.execute_batch(report.created[2:], owner="e2")} == {"succeeded"}
    executor.execute_batch(report.created[2:], owner="e3")
    messages = ExecutionMessages(database.engine, executor, settings, sender=lambda: None)  # type: ignore[arg-type,return-value]
    messages.handle(b"not json", owner="e1")
    messages.poisoned(f'{{"execution_id": "{uuid.uuid4()}"}}'.encode())
    Scheduler(database.engine, settings).tick(now=NOW + timedelta(hours=1))  # sweeps
    runner.dispose()

    compiled = {str(clause.compile(dialect=mssql.dialect())) for clause in captured if not _is_text(clause)}
    assert len(compiled) > 20
    assert any("OUTPUT inserted.id" in sql and "CASE" in sql for sql in compiled), "a batch's outcomes"
    locked = [sql for sql in compiled if "kpis" in sql and "UPDLOCK" in sql]
    assert locked, "due KPIs are selected with UPDLOCK, READPAST on SQL Server"
    assert all("READPAST" in sql for sql in locked)


def _is_text(clause: ClauseElement) -> bool:
    return isinstance(clause, type(text("")))


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_alert_delivery_statement_compiles_for_sql_server(database: Database) -> None:
    from shared.domain.notification import Channel
    from shared.services.alerts.actions import AlertActions
    from shared.services.alerts.events import AlertEventMessages
    from tests.contract.test_escalation import build, open_alert, seed

    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement):
            captured.append(clause)

    service = build(database)
    service.senders[Channel.SMS].failures = 100
    setup = seed(service)
    first = open_alert(service, setup.kpi_id)
    service.dispatcher.dispatch(first.event_id)  # deliveries, claims, a retry left for the processor
    service.clock.now += timedelta(minutes=61)
    for event_ref in service.processor.run().events:  # escalation, retries, a failed delivery
        service.dispatcher.dispatch(event_ref.event_id)
    actions = AlertActions(database.engine, clock=service.clock)
    actions.acknowledge(first.alert_id, by="alice")
    actions.resolve(first.alert_id, by="alice")
    second = open_alert(service, setup.kpi_id)
    handlers = AlertEventMessages(database.engine, service.dispatcher, service.settings, clock=service.clock)
    handlers.poisoned(f'{{"event_id": {second.event_id}, "alert_id": {second.alert_id}}}'.encode())
    service.clock.now += timedelta(days=60)
    service.processor.run()  # auto-resolution and the outbox sweep
    service.dispatcher.dispatch_outbox(limit=10)

    compiled = {str(clause.compile(dialect=mssql.dialect())) for clause in captured if not _is_text(clause)}
    assert len(compiled) > 25
    locked = [sql for sql in compiled if sql.lstrip().startswith("SELECT") and "UPDLOCK" in sql]
    assert len(locked) == 3, "due escalations, stale alerts, ended silences: selected with UPDLOCK, READPAST"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_silence_statement_compiles_for_sql_server(database: Database, tmp_path: Path) -> None:
    import json

    from shared.services.alerts.silences import SilenceRequest, SilenceService
    from shared.services.definitions import export_document, import_file
    from tests.contract.test_escalation import build, open_alert, seed

    captured: list[ClauseElement] = []

    @event.listens_for(database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement):
            captured.append(clause)

    service = build(database)
    setup = seed(service)
    silences = SilenceService(database.engine, clock=service.clock)
    held = silences.add(SilenceRequest(kpi="Deposits", duration="2h", by="ops", reason="upgrade"))
    weekly = {"weekly": "mon", "between": "22:00-02:00", "timezone": "UTC"}
    silences.add(SilenceRequest(owner="Payments", by="o", reason="r", **weekly))
    first = open_alert(service, setup.kpi_id)
    service.dispatcher.dispatch(first.event_id)  # held: a silenced event, no deliveries
    silences.covering_alert(first.alert_id)
    silences.list_silences(everything=False)
    silences.list_silences(everything=True)
    service.clock.now += timedelta(minutes=61)
    service.processor.run()  # the escalation held
    silences.expire(held.id, by="ops")
    for event_ref in service.processor.run().events:  # the silence's end: one unsilenced notice
        service.dispatcher.dispatch(event_ref.event_id)
    entry = {"name": "n", "owner": "payments", "weekly": "sun", "between": "01:00-03:00", "timezone": "UTC"}
    for between in ("01:00-03:00", "01:00-03:00", "02:00-04:00"):  # created, unchanged, updated
        path = tmp_path / "silences.json"
        path.write_text(json.dumps({"silences": [{**entry, "between": between, "reason": "r"}]}))
        import_file(database.engine, path, service.settings, now=service.clock())
    export_document(database.engine)

    compiled = {str(clause.compile(dialect=mssql.dialect())) for clause in captured if not _is_text(clause)}
    touching = [sql for sql in compiled if "silences" in sql]
    assert len(touching) >= 8
    locked = [sql for sql in touching if sql.lstrip().startswith("SELECT") and "UPDLOCK" in sql]
    assert len(locked) == 1, "ended silences are selected with UPDLOCK, READPAST"

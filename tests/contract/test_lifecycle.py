"""Deleting KPIs and contacts, and pruning to a definitions file, on SQLite and PostgreSQL: a KPI with
history, executions (one still queued) and an open alert whose notice went out. Its open alert is resolved
("KPI deleted") and the resolved notice sent before everything recorded under it goes; other KPIs keep
theirs. Every statement also compiles for SQL Server."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import ClauseElement

from shared.db import executions
from shared.db.tables import (
    alert_events,
    alerts,
    contacts,
    historical_data,
    kpi_contacts,
    kpi_executions,
    kpis,
    notifications,
    outbox,
    silences,
)
from shared.domain.notification import Channel
from shared.errors import ContactNotFound, DefinitionsError, KpiNotFound
from shared.services.alerts.actions import AlertActions
from shared.services.execution import Executor
from shared.services.lifecycle import ContactInUse, Lifecycle
from shared.services.scheduling import Scheduler
from shared.sources import SourceRunner
from tests.conftest import Database
from tests.contract.test_escalation import Service, build
from tests.factories import NOW, insert_contact, insert_kpi, make_kpi

BREACHING = "SELECT 'k' AS key, 1 AS current_value, 100 AS historical_value"


@dataclass
class World:
    service: Service
    lifecycle: Lifecycle
    deposits: int
    payouts: int

    def count(self, table: Any, *where: Any) -> int:
        with self.service.database.engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(table).where(*where)) or 0)


@pytest.fixture
def world(database: Database, tmp_path: Path) -> World:
    """Deposits and Payouts, each run once (history, an open alert, its notice sent to Ops), and a queued
    execution of Deposits; Ops is linked to both, Admin is the administrator contact."""
    service = build(database, ConnectionStrings__Sources__main=f"sqlite:///{tmp_path}/source.db")
    create_engine(f"sqlite:///{tmp_path}/source.db").dispose()
    with database.engine.begin() as connection:
        ids = [
            insert_kpi(connection, make_kpi(indicator=name, sql_text=BREACHING))
            for name in ("Deposits", "Payouts")
        ]
        ops = insert_contact(connection, "Ops", kpi_id=ids[0], email="ops@example.com", phone="+441234567890")
        connection.execute(kpi_contacts.insert().values(kpi_id=ids[1], contact_id=ops, escalation_level=0))
        insert_contact(connection, "Admin", email="admin@example.com")
    runner = SourceRunner(service.settings.connection_strings.sources, pool_size=2, retry_wait_s=0)
    executor = Executor(database.engine, runner, service.settings, clock=service.clock)
    for execution_id in Scheduler(database.engine, service.settings).tick(now=NOW).created:
        for event_ref in executor.execute(execution_id, owner="test").events:
            service.dispatcher.dispatch(event_ref.event_id)
    runner.dispose()
    with database.engine.begin() as connection:
        executions.create_manual(connection, ids[0], now=NOW + timedelta(minutes=1))  # queued at deletion

    def deliver(event_ids: Sequence[int]) -> Mapping[str, Any]:
        return service.dispatcher.dispatch_now(event_ids).summary()

    actions = AlertActions(database.engine, clock=service.clock)
    lifecycle = Lifecycle(database.engine, service.settings, deliver, actions=actions)
    return World(service, lifecycle, deposits=ids[0], payouts=ids[1])


def test_deleting_a_kpi_resolves_its_open_alert_tells_who_was_told_then_removes_its_records(
    world: World,
) -> None:
    assert world.count(alerts, alerts.c.kpi_id == world.deposits) == 1
    assert world.count(historical_data, historical_data.c.kpi_id == world.deposits) == 1
    world.service.senders[Channel.EMAIL].sent.clear()

    deletion = world.lifecycle.delete_kpi("deposits", by="alice")

    assert (deletion.kpi_id, deletion.indicator, len(deletion.resolved_alerts)) == (
        world.deposits,
        "Deposits",
        1,
    )
    assert deletion.notices["sent"] == 2  # email and SMS: Ops was told on both (priority 1)
    [(address, notice)] = world.service.senders[Channel.EMAIL].sent
    assert address == "ops@example.com"
    assert notice.subject.startswith("[Resolved] Deposits")
    assert "KPI deleted" in notice.body
    assert deletion.removed["kpis"] == 1
    assert deletion.removed["kpi_executions"] == 2  # the finished run and the queued one
    assert (deletion.removed["historical_data"], deletion.removed["alerts"]) == (1, 1)
    for table in (kpi_executions, historical_data, alerts, kpi_contacts):
        assert world.count(table, table.c.kpi_id == world.deposits) == 0
    assert world.count(kpis) == 1
    assert world.count(alert_events) == world.count(
        alert_events, alert_events.c.alert_id.in_(select(alerts.c.id).where(alerts.c.kpi_id == world.payouts))
    )
    assert world.count(alerts, alerts.c.kpi_id == world.payouts, alerts.c.status == "open") == 1
    assert world.count(historical_data, historical_data.c.kpi_id == world.payouts) == 1
    with pytest.raises(KpiNotFound):
        world.lifecycle.delete_kpi("Deposits", by="alice")


def test_deleting_a_kpi_by_id_without_open_alerts_sends_nothing(world: World) -> None:
    actions = AlertActions(world.service.database.engine, clock=world.service.clock)
    with world.service.database.engine.connect() as connection:
        alert_id = connection.scalar(select(alerts.c.id).where(alerts.c.kpi_id == world.payouts))
    actions.resolve(int(alert_id), by="bob")

    deletion = world.lifecycle.delete_kpi(str(world.payouts), by="alice")

    assert (deletion.indicator, deletion.resolved_alerts, dict(deletion.notices)) == ("Payouts", (), {})
    assert world.count(outbox, outbox.c.event_id.in_(select(alert_events.c.id))) == world.count(outbox)


def test_deleting_a_contact_removes_its_links_and_deliveries_but_timelines_still_name_it(
    world: World,
) -> None:
    assert world.count(notifications) == 4

    deletion = world.lifecycle.delete_contact("OPS")

    assert deletion.to_dict() == {"contact": "Ops", "kpis": ["Deposits", "Payouts"], "deliveries_removed": 4}
    assert world.count(contacts) == 1
    assert world.count(kpi_contacts) == 0
    assert world.count(notifications) == 0
    with world.service.database.engine.connect() as connection:
        details = list(
            connection.scalars(select(alert_events.c.details).where(alert_events.c.event_type == "notified"))
        )
    assert len(details) == 2
    assert all('"contact": "Ops"' in detail for detail in details)
    with pytest.raises(ContactNotFound):
        world.lifecycle.delete_contact("Ops")
    for sender in world.service.senders.values():
        sender.sent.clear()
    actions = AlertActions(world.service.database.engine, clock=world.service.clock)
    with world.service.database.engine.connect() as connection:
        alert_id = connection.scalar(select(alerts.c.id).where(alerts.c.kpi_id == world.payouts))
    resolved = actions.resolve(int(alert_id), by="bob")  # Ops was told of it, but Ops is gone
    assert resolved.event is not None
    world.service.dispatcher.dispatch_now([resolved.event.event_id])
    assert [sent for sender in world.service.senders.values() for sent in sender.sent] == []


def test_the_administrator_contact_cannot_be_deleted(world: World) -> None:
    with pytest.raises(ContactInUse, match="Notifications__AdminContact"):
        world.lifecycle.delete_contact("admin")
    assert world.count(contacts) == 2


FILE = """\
contacts:
  - {name: Lead, email: lead@example.com}
kpis:
  - indicator: Payouts
    owner: Payments
    priority: 2
    source: main
    query: "SELECT 'k' AS key, 1 AS current_value, 100 AS historical_value"
    frequency_minutes: 5
    last_minutes: 60
    deviation_percent: 20
    baseline: {mode: source}
    subject_template: "{Indicator} {MetricKey}"
    description_template: "{CurrentValue} vs {HistoricalValue}"
    contacts: [{name: Lead, level: 0}]
"""


def test_prune_without_apply_lists_what_it_would_delete_and_changes_nothing(
    world: World, tmp_path: Path
) -> None:
    (tmp_path / "kpis.yaml").write_text(FILE, encoding="utf-8")
    before = [world.count(table) for table in (kpis, contacts, alerts, historical_data, kpi_contacts)]

    plan = world.lifecycle.prune(tmp_path / "kpis.yaml", apply=False, by="alice", now=NOW)

    assert plan.to_dict() == {
        "applied": False,
        "import": None,
        "delete": {"kpis": ["Deposits"], "contacts": ["Ops"]},
        "expire": {"silences": []},
        "kept": {"contacts": ["Admin"]},
        "deleted": [],
    }
    assert [world.count(table) for table in (kpis, contacts, alerts, historical_data, kpi_contacts)] == before


def test_prune_with_apply_makes_the_database_match_the_file(world: World, tmp_path: Path) -> None:
    (tmp_path / "kpis.yaml").write_text(FILE, encoding="utf-8")
    world.service.senders[Channel.EMAIL].sent.clear()

    report = world.lifecycle.prune(tmp_path / "kpis.yaml", apply=True, by="alice", now=NOW)

    assert report.applied
    assert report.imported == {
        "contacts": {"created": 1, "updated": 0, "unchanged": 0},
        "kpis": {"created": 0, "updated": 1, "unchanged": 0},
        "silences": {"created": 0, "updated": 0, "unchanged": 0},
    }
    assert [
        deleted.get("kpi", {}).get("indicator") or deleted["contact"] for deleted in report.deletions
    ] == [
        "Deposits",
        "Ops",
    ]
    with world.service.database.engine.connect() as connection:
        assert list(connection.scalars(select(kpis.c.indicator))) == ["Payouts"]
        assert sorted(connection.scalars(select(contacts.c.name))) == ["Admin", "Lead"]
    assert world.count(historical_data, historical_data.c.kpi_id == world.payouts) == 1  # history kept
    # Deposits had history and an open alert: the alert was resolved ("KPI deleted") and Ops, who was told
    # about it, heard so before Ops went too; then everything recorded under Deposits went.
    deposits = report.deletions[0]
    assert (len(deposits["resolved_alerts"]), deposits["notifications"]["sent"]) == (1, 2)
    assert (deposits["removed"]["historical_data"], deposits["removed"]["alerts"]) == (1, 1)
    [(address, notice)] = world.service.senders[Channel.EMAIL].sent
    assert (address, notice.subject.startswith("[Resolved] Deposits")) == ("ops@example.com", True)
    assert "KPI deleted" in notice.body
    for table in (kpi_executions, historical_data, alerts, kpi_contacts):
        assert world.count(table, table.c.kpi_id == world.deposits) == 0


def test_prune_refuses_a_file_whose_kpis_name_contacts_it_would_delete(world: World, tmp_path: Path) -> None:
    (tmp_path / "kpis.yaml").write_text(
        FILE.replace("{name: Lead, level: 0}", "{name: Ops, level: 0}"), "utf-8"
    )

    with pytest.raises(DefinitionsError, match="Ops"):
        world.lifecycle.prune(tmp_path / "kpis.yaml", apply=False, by="alice", now=NOW)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_lifecycle_statement_compiles_for_sql_server(world: World, tmp_path: Path) -> None:
    captured: list[ClauseElement] = []

    @event.listens_for(world.service.database.engine, "before_execute")
    def capture(_conn: Any, clause: Any, *_args: Any) -> None:
        if isinstance(clause, ClauseElement) and not isinstance(clause, type(text(""))):
            captured.append(clause)

    (tmp_path / "kpis.yaml").write_text(textwrap.dedent(FILE), encoding="utf-8")
    world.lifecycle.prune(tmp_path / "kpis.yaml", apply=True, by="alice", now=NOW)
    world.lifecycle.delete_kpi("Payouts", by="alice")

    compiled = {str(clause.compile(dialect=mssql.dialect())) for clause in captured}
    assert any(sql.startswith("DELETE FROM historical_data") for sql in compiled)


def test_prune_expires_the_recurring_silences_the_file_no_longer_names(world: World, tmp_path: Path) -> None:
    window = (
        "silences:\n  - {name: %s, kpi: Payouts, weekly: sat, between: 22:00-02:00, "
        "timezone: Europe/London, reason: batch load}\n"
    )
    (tmp_path / "kpis.yaml").write_text(
        FILE + window % "night" + window.split("\n", 1)[1] % "weekend", "utf-8"
    )
    world.lifecycle.prune(tmp_path / "kpis.yaml", apply=True, by="alice", now=NOW)
    (tmp_path / "kpis.yaml").write_text(FILE + window % "night", "utf-8")

    plan = world.lifecycle.prune(tmp_path / "kpis.yaml", apply=False, by="alice", now=NOW)
    assert plan.to_dict()["expire"] == {"silences": ["weekend"]}
    world.lifecycle.prune(tmp_path / "kpis.yaml", apply=True, by="alice", now=NOW)

    with world.service.database.engine.connect() as connection:
        rows = connection.execute(select(silences.c.name, silences.c.expired_by).order_by(silences.c.name))
        assert [tuple(row) for row in rows] == [("night", None), ("weekend", "alice")]

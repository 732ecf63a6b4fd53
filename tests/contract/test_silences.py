"""Silences on SQLite and PostgreSQL: the service's validation and bookkeeping, what covers an alert, the
processor's handling of ended silences (each weekly occurrence, once, only alerts still open and
unacknowledged), and the definitions file's recurring silences (upsert by name, export).

Channels are the scripted senders of tests/contract/test_escalation.py; the real SMTP path is in
tests/integration/test_silences.py."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select
from sqlalchemy import event as sql_event

from shared.db.tables import alert_events, silences
from shared.domain.notification import Channel
from shared.services.alerts import silencing
from shared.services.alerts.actions import AlertActions
from shared.services.alerts.processor import AlertProcessor
from shared.services.alerts.silences import InvalidSilence, SilenceNotFound, SilenceRequest, SilenceService
from shared.services.definitions import export_document, import_file
from shared.settings import Settings
from tests import factories
from tests.conftest import Database
from tests.contract.test_escalation import Service, build, open_alert, seed
from tests.factories import NOW, insert_kpi, make_kpi

DAY = timedelta(days=1)


@pytest.fixture
def service(database: Database) -> Service:
    return build(database)


@pytest.fixture
def silences_service(service: Service) -> SilenceService:
    return SilenceService(service.database.engine, clock=service.clock)


def request(**fields: Any) -> SilenceRequest:
    return SilenceRequest(**{"kpi": "Deposits", "by": "ops", "reason": "maintenance", **fields})


def sent_to(service: Service) -> list[str]:
    return sorted(address for sender in service.senders.values() for address in sender.addresses())


def events(service: Service) -> list[str]:
    return [
        row.event_type for row in service.rows(select(alert_events.c.event_type).order_by(alert_events.c.id))
    ]


def process(service: Service) -> None:
    for event in service.processor.run().events:
        service.dispatcher.dispatch(event.event_id)


def test_a_silence_must_name_an_existing_kpi_or_owner(
    service: Service, silences_service: SilenceService
) -> None:
    seed(service)
    with pytest.raises(InvalidSilence) as raised:
        silences_service.add(request(kpi="Deposit", duration="1h"))
    assert (raised.value.field, raised.value.problem) == ("kpi", "no KPI has the indicator 'Deposit'")
    with pytest.raises(InvalidSilence, match="owner: no KPI has the owner 'Risk'"):
        silences_service.add(request(kpi=None, owner="Risk", duration="1h"))
    assert silences_service.list_silences(everything=True) == []


def test_several_silences_are_added_all_or_none(service: Service, silences_service: SilenceService) -> None:
    seed(service)
    with pytest.raises(InvalidSilence):
        silences_service.add_all([request(duration="1h"), request(kpi="Nope", duration="1h")])
    assert silences_service.list_silences(everything=True) == []
    added = silences_service.add_all(
        [request(duration="1h"), request(kpi=None, owner="Payments", duration="2h")]
    )
    assert [silence.id for silence in silences_service.list_silences()] == [s.id for s in reversed(added)]


def test_listing_shows_current_and_future_silences_and_all_with_everything(
    service: Service, silences_service: SilenceService
) -> None:
    seed(service)
    short = silences_service.add(request(duration="1h"))
    weekly = silences_service.add(request(weekly="sun", between="01:00-03:00", timezone="Europe/London"))
    expired = silences_service.add(request(duration="8h"))
    silences_service.expire(expired.id, by="ann")
    service.clock.now += timedelta(hours=2)

    assert [s.id for s in silences_service.list_silences()] == [weekly.id]
    assert [s.id for s in silences_service.list_silences(everything=True)] == [
        expired.id,
        weekly.id,
        short.id,
    ]
    again = silences_service.expire(expired.id, by="bob")  # expiring twice changes nothing
    assert (again.expired_by, again.expired_at) == ("ann", NOW)
    with pytest.raises(SilenceNotFound):
        silences_service.expire(999, by="ann")


def test_covering_alert_lists_the_silences_that_cover_it_now(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    alert = open_alert(service, setup.kpi_id)  # metric key PayFlow
    matching = silences_service.add(request(duration="1h", key="Pay*"))
    silences_service.add(request(duration="1h", key="Card*"))
    silences_service.add(request(kpi=None, owner="Payments", until=(NOW + 2 * DAY).isoformat()))

    assert [s.id for s in silences_service.covering_alert(alert.alert_id)][:1] == [matching.id]
    assert len(silences_service.covering_alert(alert.alert_id)) == 2
    assert silences_service.covering_alert(424242) == []


def test_a_weekly_silence_notifies_its_open_alert_at_the_end_of_every_occurrence(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    # NOW is Saturday 28 November 2026, 12:00 UTC: the window is 11:00-13:00 UTC on Saturdays.
    silences_service.add(request(weekly="sat", between="11:00-13:00", timezone="UTC"))
    first = open_alert(service, setup.kpi_id, escalate_in=None)
    service.dispatcher.dispatch(first.event_id)
    assert sent_to(service) == []

    for week in range(2):
        service.clock.now = NOW + timedelta(days=7 * week, hours=1)
        process(service)
        process(service)  # a second pass (or a second processor) handles nothing twice
    assert events(service).count("unsilenced") == 2
    assert sent_to(service).count("ops@example.com") == 2


def test_two_processors_at_once_handle_a_silences_end_once(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    silences_service.add(request(duration="1h"))
    open_alert(service, setup.kpi_id, escalate_in=None)
    service.clock.now = NOW + timedelta(minutes=61)
    other = build(service.database)
    other.clock.now = service.clock.now
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def run(processor: AlertProcessor) -> None:
        barrier.wait()
        counts.append(processor.run().unsilenced)

    threads = [threading.Thread(target=run, args=(p,)) for p in (service.processor, other.processor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 1]
    assert events(service).count("unsilenced") == 1


#: Open alerts of KPIs no silence names: what handling an ended silence must never read through.
OTHER_KPIS = 300
#: How each table may be read: alerts by their KPI or id, KPIs by indicator, owner or id (never all of them).
#: (PostgreSQL writes a text column's condition as `(owner)::text = ...`, SQLite as `owner=?`.)
READ_BY = {
    "alerts": re.compile(r"\b(kpi_id|id|rowid)(\)::\w+)? ?="),
    "kpis": re.compile(r"\b(indicator|owner|id|rowid)(\)::\w+)? ?="),
    "silences": re.compile(r"\w"),
}


def plans(connection: Connection, backend: str, statements: list[tuple[str, Any]]) -> list[str]:
    """The query plan of each SELECT and UPDATE, one text each. PostgreSQL plans with sequential scans
    switched off, so a `Seq Scan` is left only where no index can serve the statement."""
    if backend == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    explain = "EXPLAIN " if backend == "postgresql" else "EXPLAIN QUERY PLAN "
    return [
        "\n".join(str(row[-1]).strip() for row in connection.exec_driver_sql(explain + statement, parameters))
        for statement, parameters in statements
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE"))
    ]


def accesses(plan: str) -> list[tuple[str, str]]:
    """(table, condition) of each read of a table in a plan: SQLite's `SCAN`/`SEARCH` lines, PostgreSQL's scan
    nodes with the index condition under them; the condition is empty for a read of the whole table."""
    lines = plan.splitlines()
    found = []
    for n, line in enumerate(lines):
        if match := re.match(r"(?:SCAN|SEARCH) (\w+)(.*)", line):
            found.append((match[1], match[2] if "(" in match[2] else ""))
        elif match := re.search(r"Scan(?: using \S+)? on (\w+)", line):
            below = lines[n + 1].strip() if n + 1 < len(lines) else ""
            found.append((match[1], below if below.startswith(("Index Cond", "Recheck Cond")) else ""))
    return found


def test_handling_ended_silences_reads_their_kpis_alerts_through_indexes_never_every_open_alert(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    with service.database.engine.begin() as connection:
        for n in range(OTHER_KPIS):
            kpi_id = insert_kpi(connection, make_kpi(indicator=f"Other{n}", owner=f"Team{n % 30}"))
            factories.open_alert(connection, kpi_id)
        connection.exec_driver_sql("ANALYZE")
    silences_service.add(request(duration="1h"))  # by indicator
    silences_service.add(request(kpi=None, owner="Payments", duration="1h"))  # by owner
    open_alert(service, setup.kpi_id)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        statements.append((statement, parameters))

    with service.database.engine.begin() as connection:
        sql_event.listen(connection, "before_cursor_execute", capture)
        handled = silencing.handle_ends(
            connection, now=NOW + timedelta(minutes=61), limit=100, timeout=timedelta(hours=1), seen=set()
        )
        sql_event.remove(connection, "before_cursor_execute", capture)
        found = plans(connection, service.database.backend, statements)

    assert (handled.silences, len(handled.events)) == (2, 1)
    reads = [(table, condition, plan) for plan in found for table, condition in accesses(plan)]
    assert {table for table, _, _ in reads} >= {"alerts", "kpis", "silences"}
    for table, condition, plan in reads:
        assert table not in READ_BY or READ_BY[table].search(condition), plan


def test_an_ended_silence_leaves_alerts_acknowledged_or_opened_after_its_end_alone(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    silences_service.add(request(duration="1h"))
    held = open_alert(service, setup.kpi_id)
    service.dispatcher.dispatch(held.event_id)
    AlertActions(service.database.engine, clock=service.clock).acknowledge(held.alert_id, by="ann")
    service.clock.now = NOW + timedelta(minutes=61)
    process(service)
    assert "unsilenced" not in events(service)
    assert sent_to(service) == []


def test_a_delivery_failure_notice_to_the_administrator_is_never_silenced(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    service.senders[Channel.SMS].permanent = True
    first = open_alert(service, setup.kpi_id)
    failures = service.dispatcher.dispatch(first.event_id).events  # the SMS failed: the admin is to be told
    silences_service.add(request(duration="1h"))
    service.dispatcher.dispatch_now([event.event_id for event in failures])

    assert "admin@example.com" in sent_to(service)
    assert "silenced" not in events(service)


def test_a_redelivered_held_notice_is_audited_once(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    silences_service.add(request(duration="1h"))
    first = open_alert(service, setup.kpi_id)
    for _ in range(3):
        service.dispatcher.dispatch(first.event_id)
    assert events(service) == ["opened", "silenced"]
    assert service.deliveries() == []


def test_a_retry_that_comes_due_under_a_silence_is_dropped(
    service: Service, silences_service: SilenceService
) -> None:
    setup = seed(service)
    service.senders[Channel.SMS].failures = 3  # the first round fails: a retry is left for the processor
    first = open_alert(service, setup.kpi_id, escalate_in=None)
    service.dispatcher.dispatch(first.event_id)
    silences_service.add(request(duration="1d"))
    service.clock.now += timedelta(minutes=5)
    process(service)

    assert service.senders[Channel.SMS].addresses() == []
    assert ("Ops", "sms", "dropped", 3) in service.deliveries()


# -------------------------------------------------------------------------------------------- definitions


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ConnectionStrings__Sources__Main", "sqlite:///source.db")
    return Settings.load()


def definitions_file(tmp_path: Path, *entries: dict[str, Any], name: str = "kpis.json") -> Path:
    kpi = {
        "indicator": "Deposits",
        "owner": "Payments",
        "priority": 2,
        "source": "main",
        "query": "SELECT 'k' AS key, 1 AS current_value",
        "frequency_minutes": 5,
        "last_minutes": 60,
        "deviation_percent": 20,
        "subject_template": "{Indicator}",
        "description_template": "{Indicator}",
    }
    path = tmp_path / name
    path.write_text(json.dumps({"kpis": [kpi], "silences": list(entries)}), encoding="utf-8")
    return path


NIGHTLY = {
    "name": "nightly",
    "kpi": "deposits",
    "weekly": "mon,tue",
    "between": "22:00-02:00",
    "timezone": "Europe/London",
    "reason": "batch load",
}


def test_recurring_silences_are_upserted_by_name_and_exported(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    created = import_file(database.engine, definitions_file(tmp_path, NIGHTLY), settings, now=NOW)
    assert (created.silences_created, created.silences_unchanged) == (1, 0)
    exported = export_document(database.engine)
    assert exported["silences"] == [
        {**NIGHTLY, "kpi": "Deposits", "owner": None, "key": None, "by": "definitions"}
    ]  # stored as the KPI spells it

    again = import_file(database.engine, definitions_file(tmp_path, NIGHTLY), settings, now=NOW + DAY)
    assert (again.silences_created, again.silences_updated, again.silences_unchanged) == (0, 0, 1)
    changed = {**NIGHTLY, "name": "NIGHTLY", "between": "23:00-01:00"}
    updated = import_file(database.engine, definitions_file(tmp_path, changed), settings, now=NOW + 2 * DAY)
    assert (updated.silences_created, updated.silences_updated) == (0, 1)

    with database.engine.connect() as connection:
        rows = connection.execute(select(silences)).mappings().all()
    assert [(row["name"], row["source"], row["start_minute"], row["created_at"]) for row in rows] == [
        ("NIGHTLY", "definitions", 23 * 60, NOW)
    ]
    assert rows[0]["next_end_at"] == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tue 01:00 GMT


def test_an_invalid_silence_fails_the_whole_import(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    path = definitions_file(tmp_path, NIGHTLY, {**NIGHTLY, "name": "x", "kpi": "Withdrawals"})
    with pytest.raises(Exception, match=r"silences\[1\] \(x\)\.kpi: unknown KPI 'Withdrawals'"):
        import_file(database.engine, path, settings, now=NOW)
    assert export_document(database.engine)["kpis"] == []

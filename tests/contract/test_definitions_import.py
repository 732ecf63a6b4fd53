"""Importing and exporting definitions on SQLite and PostgreSQL: upserts, links, scheduling state, no-ops."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import ClauseElement, Connection, event, func, insert, select
from sqlalchemy.dialects import mssql

from shared.db.definitions import ImportSummary
from shared.db.tables import contacts, kpi_contacts, kpis
from shared.errors import DefinitionsError
from shared.services.definitions import export_document, import_file, list_kpis
from shared.settings import Settings
from tests.conftest import Database

NOW = datetime(2026, 3, 2, 9, 7, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=3, minutes=1)
CREATED_ONE_EACH = ImportSummary(contacts_created=1, kpis_created=1)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ConnectionStrings__Sources__Main", "sqlite:///source.db")
    return Settings.load()


def kpi(indicator: str = "Deposits", **fields: Any) -> dict[str, Any]:
    entry = {
        "indicator": indicator,
        "owner": "Payments",
        "priority": 1,
        "source": "main",
        "query": "SELECT 'k' AS key, COUNT(*) AS current_value FROM t WHERE at >= :window_start",
        "frequency_minutes": 5,
        "last_minutes": 60,
        "deviation_percent": 20,
        "subject_template": "{Indicator}: {CurrentValue}",
        "description_template": "{Indicator} moved {DeviationPercent}%",
        "contacts": [{"name": "Ops", "level": 0}],
    }
    entry.update(fields)
    return entry


def write(tmp_path: Path, contacts_: list[dict[str, Any]], kpis_: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"definitions-{len(list(tmp_path.glob('*.json')))}.json"
    path.write_text(json.dumps({"contacts": contacts_, "kpis": kpis_}), encoding="utf-8")
    return path


def ops(**fields: Any) -> dict[str, Any]:
    return {"name": "Ops", "email": "ops@example.com", **fields}


def kpi_row(database: Database, indicator: str = "Deposits") -> Any:
    with database.engine.connect() as connection:
        return connection.execute(select(kpis).where(kpis.c.indicator == indicator)).mappings().one()


def links_of(database: Database, indicator: str) -> set[tuple[str, int]]:
    query = (
        select(contacts.c.name, kpi_contacts.c.escalation_level)
        .join(kpi_contacts, kpi_contacts.c.contact_id == contacts.c.id)
        .join(kpis, kpis.c.id == kpi_contacts.c.kpi_id)
        .where(kpis.c.indicator == indicator)
    )
    with database.engine.connect() as connection:
        return {(row.name, row.escalation_level) for row in connection.execute(query)}


def counts(database: Database) -> tuple[int, int, int]:
    with database.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (contacts, kpis, kpi_contacts)
        )


def test_import_creates_contacts_kpis_links_and_the_first_slot(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    path = write(tmp_path, [ops()], [kpi()])
    assert import_file(database.engine, path, settings, now=NOW) == CREATED_ONE_EACH
    row = kpi_row(database)
    assert (row["owner"], row["source"], row["kind"], row["frequency_minutes"]) == (
        "Payments",
        "main",
        "query",
        5,
    )
    assert row["next_run_at"] == datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    assert row["created_at"] == row["updated_at"] == NOW
    assert links_of(database, "Deposits") == {("Ops", 0)}


def test_reimporting_the_same_file_changes_nothing_and_keeps_next_run_at(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    path = write(
        tmp_path, [ops()], [kpi(), kpi("Logins", schedule={"cron": "0 0 8 * * *"}, frequency_minutes=None)]
    )
    import_file(database.engine, path, settings, now=NOW)
    before = [kpi_row(database, name) for name in ("Deposits", "Logins")]
    summary = import_file(database.engine, path, settings, now=LATER)
    assert summary == ImportSummary(contacts_unchanged=1, kpis_unchanged=2)
    assert [kpi_row(database, name) for name in ("Deposits", "Logins")] == before


def test_a_changed_schedule_moves_next_run_at_and_updated_at(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    import_file(database.engine, write(tmp_path, [ops()], [kpi()]), settings, now=NOW)
    changed = kpi(frequency_minutes=None, schedule={"cron": "0 30 * * * *", "timezone": "Europe/London"})
    summary = import_file(database.engine, write(tmp_path, [ops()], [changed]), settings, now=LATER)
    assert summary == ImportSummary(contacts_unchanged=1, kpis_updated=1)
    row = kpi_row(database)
    assert (row["schedule_cron"], row["schedule_timezone"]) == ("0 30 * * * *", "Europe/London")
    assert row["next_run_at"] == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)
    assert (row["created_at"], row["updated_at"]) == (NOW, LATER)


def test_a_change_outside_the_schedule_keeps_next_run_at(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    import_file(database.engine, write(tmp_path, [ops()], [kpi()]), settings, now=NOW)
    import_file(database.engine, write(tmp_path, [ops()], [kpi(deviation_percent=35.5)]), settings, now=LATER)
    row = kpi_row(database)
    assert (row["deviation_percent"], row["updated_at"]) == (35.5, LATER)
    assert row["next_run_at"] == datetime(2026, 3, 2, 9, 5, tzinfo=UTC)


def test_deactivation_clears_next_run_at_and_reactivation_schedules_from_now(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    import_file(database.engine, write(tmp_path, [ops()], [kpi()]), settings, now=NOW)
    import_file(database.engine, write(tmp_path, [ops()], [kpi(is_active=False)]), settings, now=NOW)
    assert kpi_row(database)["next_run_at"] is None
    summary = import_file(database.engine, write(tmp_path, [ops()], [kpi()]), settings, now=LATER)
    assert summary.kpis_updated == 1
    assert kpi_row(database)["next_run_at"] == datetime(2026, 3, 2, 12, 5, tzinfo=UTC)


def test_an_inactive_kpi_is_created_without_a_slot(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    import_file(database.engine, write(tmp_path, [ops()], [kpi(is_active=False)]), settings, now=NOW)
    assert kpi_row(database)["next_run_at"] is None


def test_inactive_kpis_are_scheduled_when_process_only_active_kpis_is_false(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ConnectionStrings__Sources__main", "sqlite:///source.db")
    monkeypatch.setenv("Worker__KpiMonitoring__ProcessOnlyActiveKpis", "false")
    import_file(database.engine, write(tmp_path, [ops()], [kpi(is_active=False)]), Settings.load(), now=NOW)
    assert kpi_row(database)["next_run_at"] == datetime(2026, 3, 2, 9, 5, tzinfo=UTC)


def test_import_upserts_by_name_and_indicator_ignoring_case_and_leaves_others_alone(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    first = write(tmp_path, [ops(), {"name": "Finance"}], [kpi(), kpi("Logins", contacts=[])])
    import_file(database.engine, first, settings, now=NOW)
    ids = (kpi_row(database)["id"], kpi_row(database, "Logins"))
    second = write(
        tmp_path, [ops(name="OPS", email="oncall@example.com")], [kpi("deposits", owner="Treasury")]
    )
    summary = import_file(database.engine, second, settings, now=LATER)
    assert summary == ImportSummary(contacts_updated=1, kpis_updated=1)
    row = kpi_row(database, "deposits")
    assert (row["id"], row["owner"], row["updated_at"]) == (ids[0], "Treasury", LATER)
    assert kpi_row(database, "Logins") == ids[1]
    with database.engine.connect() as connection:
        stored = dict(connection.execute(select(contacts.c.name, contacts.c.email)).all())
    assert stored == {"OPS": "oncall@example.com", "Finance": None}


def test_import_replaces_the_contact_links_of_each_imported_kpi(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    people = [ops(), {"name": "Finance"}, {"name": "Director"}]
    both = [{"name": "Ops", "level": 0}, {"name": "Finance", "level": 0}]
    import_file(database.engine, write(tmp_path, people, [kpi(contacts=both)]), settings, now=NOW)
    escalated = [{"name": "Finance", "level": 0}, {"name": "Director", "level": 1}]
    summary = import_file(
        database.engine, write(tmp_path, people, [kpi(contacts=escalated)]), settings, now=LATER
    )
    assert summary == ImportSummary(contacts_unchanged=3, kpis_updated=1)
    assert links_of(database, "Deposits") == {("Finance", 0), ("Director", 1)}
    assert kpi_row(database)["updated_at"] == LATER


def test_an_invalid_file_applies_nothing(database: Database, settings: Settings, tmp_path: Path) -> None:
    import_file(database.engine, write(tmp_path, [ops()], [kpi()]), settings, now=NOW)
    before = (counts(database), kpi_row(database))
    bad = write(
        tmp_path,
        [ops(email="changed@example.com"), {"name": "New"}],
        [kpi(owner="Changed"), kpi("Logins"), kpi("Broken", deviation_percent=-1)],
    )
    with pytest.raises(DefinitionsError) as raised:
        import_file(database.engine, bad, settings, now=LATER)
    assert raised.value.problems == ("kpis[2] (Broken).deviation_percent: must be >= 0",)
    assert (counts(database), kpi_row(database)) == before


def test_export_then_import_is_unchanged(database: Database, settings: Settings, tmp_path: Path) -> None:
    people = [ops(phone="+441234567890"), {"name": "Finance", "webhook_url": "https://hooks.example.com/f"}]
    kpis_ = [
        kpi(contacts=[{"name": "Finance", "level": 1}, {"name": "Ops", "level": 0}]),
        kpi(
            "Logins",
            query=None,
            procedure="[monitoring].[usp_MonitorLogins]",
            frequency_minutes=None,
            schedule={"cron": "0 */5 8-18 * * 1-5", "timezone": "Europe/London"},
            threshold={"operator": "lt", "value": 3},
            minimum_threshold=1.5,
            baseline={"mode": "source"},
            direction="down",
            is_active=False,
            contacts=[],
        ),
    ]
    import_file(database.engine, write(tmp_path, people, kpis_), settings, now=NOW)
    exported = export_document(database.engine)
    path = tmp_path / "exported.json"
    path.write_text(json.dumps(exported), encoding="utf-8")
    assert import_file(database.engine, path, settings, now=LATER) == ImportSummary(
        contacts_unchanged=2, kpis_unchanged=2
    )
    assert export_document(database.engine) == exported
    assert [entry["indicator"] for entry in exported["kpis"]] == ["Deposits", "Logins"]
    assert exported["kpis"][0]["contacts"] == [{"name": "Ops", "level": 0}, {"name": "Finance", "level": 1}]


def test_a_kpi_may_name_a_contact_that_exists_only_in_the_database(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    with database.engine.begin() as connection:
        connection.execute(insert(contacts).values(name="Ops", created_at=NOW, updated_at=NOW))
    summary = import_file(database.engine, write(tmp_path, [], [kpi()]), settings, now=NOW)
    assert summary == ImportSummary(kpis_created=1)
    assert links_of(database, "Deposits") == {("Ops", 0)}


def test_list_kpis_summarises_each_kpi_with_its_next_run(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    cron = {"cron": "0 0 8 * * *", "timezone": "Europe/London"}
    path = write(
        tmp_path, [ops()], [kpi(), kpi("Logins", frequency_minutes=None, schedule=cron, is_active=False)]
    )
    import_file(database.engine, path, settings, now=NOW)
    listed = [summary.as_json() for summary in list_kpis(database.engine)]
    assert [{key: value for key, value in row.items() if key != "id"} for row in listed] == [
        {
            "indicator": "Deposits",
            "owner": "Payments",
            "priority": 1,
            "source": "main",
            "schedule": "every 5 min",
            "is_active": True,
            "next_run_at": "2026-03-02T09:05:00+00:00",
        },
        {
            "indicator": "Logins",
            "owner": "Payments",
            "priority": 1,
            "source": "main",
            "schedule": "cron 0 0 8 * * * (Europe/London)",
            "is_active": False,
            "next_run_at": None,
        },
    ]
    assert listed[0]["id"] == kpi_row(database)["id"]


def test_every_statement_of_an_import_and_export_compiles_for_sql_server(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    statements: list[ClauseElement] = []

    def record(connection: Connection, statement: ClauseElement, *args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_execute", record)
    import_file(database.engine, write(tmp_path, [ops()], [kpi()]), settings, now=NOW)
    import_file(
        database.engine,
        write(tmp_path, [ops(email=None)], [kpi(is_active=False, contacts=[])]),
        settings,
        now=LATER,
    )
    export_document(database.engine)
    list_kpis(database.engine)
    compiled = [str(statement.compile(dialect=mssql.dialect())) for statement in statements]
    assert {sql.split()[0] for sql in compiled} == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert any("OUTPUT inserted.id" in sql for sql in compiled)

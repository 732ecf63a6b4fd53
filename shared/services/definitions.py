"""Use cases of the KPI definitions file: import it, export the stored definitions, list the KPIs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shared.db.definitions import (
    ImportSummary,
    apply_definitions,
    existing_contact_names,
    load_definitions,
    load_kpis,
)
from shared.db.silence_definitions import kpi_labels
from shared.db.silences import named_silences
from shared.definitions import definitions_document, parse_definitions, read_document
from shared.domain.kpi import Schedule
from shared.domain.silence import SilenceDefinition
from shared.settings import Settings


def import_file(engine: Engine, path: Path, settings: Settings, *, now: datetime) -> ImportSummary:
    """Validate the whole file, then upsert its contacts and KPIs in one transaction.

    Raises `DefinitionsError` listing every problem (sources are checked against
    `ConnectionStrings__Sources__*`, contacts against the file and the database) and then writes nothing.
    """
    document = read_document(path)
    with engine.begin() as connection:
        definitions = parse_definitions(
            document,
            sources=settings.connection_strings.sources.keys(),
            existing_contacts=existing_contact_names(connection),
            existing_kpis=kpi_labels(connection),
        )
        return apply_definitions(
            connection,
            definitions.contacts,
            definitions.kpis,
            now=now,
            schedule_inactive=not settings.worker.kpi_monitoring.process_only_active_kpis,
            silence_definitions=definitions.silences,
        )


def export_document(engine: Engine) -> dict[str, Any]:
    """Every stored contact and KPI, and every unexpired silence the definitions file owns, as a definitions
    document, which imports back unchanged."""
    with engine.connect() as connection:
        contacts, kpis = load_definitions(connection)
        owned = [SilenceDefinition.of(s) for s in named_silences(connection) if s.expired_at is None]
    return definitions_document(
        contacts, kpis, [definition for definition in owned if definition is not None]
    )


def list_kpis(engine: Engine) -> list[dict[str, Any]]:
    """One summary per KPI, by indicator: id, indicator, owner, priority, source, schedule, is_active and
    next_run_at (ISO 8601 UTC, or None when not scheduled)."""
    with engine.connect() as connection:
        stored = load_kpis(connection)
    return [
        {
            "id": kpi.id,
            "indicator": kpi.indicator,
            "owner": kpi.owner,
            "priority": int(kpi.priority),
            "source": kpi.source,
            "schedule": schedule_text(kpi.schedule),
            "is_active": kpi.is_active,
            "next_run_at": None if next_run_at is None else next_run_at.isoformat(),
        }
        for kpi, next_run_at in stored
    ]


def schedule_text(schedule: Schedule) -> str:
    """`every 5 min` or `cron 0 */5 8-18 * * 1-5 (Europe/London)`."""
    if schedule.cron is None:
        return f"every {schedule.frequency_minutes} min"
    return f"cron {schedule.cron} ({schedule.timezone})"

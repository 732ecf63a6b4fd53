"""Use cases of the KPI definitions file: import it, export the stored definitions, list the KPIs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
from shared.notify import target_rules
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
            targets=target_rules(settings),
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


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiSummary:
    """A stored KPI as `mgrid kpi list` shows it; `next_run_at` is None when it is not scheduled."""

    id: int
    indicator: str
    owner: str
    priority: int
    source: str
    schedule: str
    is_active: bool
    next_run_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object, `next_run_at` in ISO 8601 UTC."""
        return {
            **asdict(self),
            "next_run_at": None if self.next_run_at is None else self.next_run_at.isoformat(),
        }


def list_kpis(engine: Engine) -> list[KpiSummary]:
    """One summary per KPI, by indicator."""
    with engine.connect() as connection:
        stored = load_kpis(connection)
    return [
        KpiSummary(
            id=kpi.id,
            indicator=kpi.indicator,
            owner=kpi.owner,
            priority=int(kpi.priority),
            source=kpi.source,
            schedule=schedule_text(kpi.schedule),
            is_active=kpi.is_active,
            next_run_at=next_run_at,
        )
        for kpi, next_run_at in stored
    ]


def schedule_text(schedule: Schedule) -> str:
    """`every 5 min` or `cron 0 */5 8-18 * * 1-5 (Europe/London)`."""
    if schedule.cron is None:
        return f"every {schedule.frequency_minutes} min"
    return f"cron {schedule.cron} ({schedule.timezone})"

"""Storing KPI definitions: contacts and KPIs upserted by name, each KPI's contact links replaced.

Contract of `apply_definitions`: it runs in the caller's transaction and writes only what the given
definitions change. Contacts match by `name` and KPIs by `indicator`, ignoring case (so a file means the same
on every database collation); rows the definitions do not name are left untouched. `updated_at` moves only
when a row's definition (for a KPI: its columns or its contact links) changed.

Scheduling state: `next_run_at` is set to the KPI's first slot when it is created schedulable, becomes
schedulable (or has no slot yet), or its schedule (frequency, cron, time zone) changed; it is cleared when the
KPI is not schedulable; otherwise it is left alone, so importing an unchanged file moves nothing. A KPI is
schedulable when it is active, or always when `schedule_inactive` (`ProcessOnlyActiveKpis=false`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, RowMapping, delete, insert, select, update

from shared.db.kpis import kpi_from_row, kpi_values
from shared.db.silence_definitions import apply_silences
from shared.db.tables import contacts, kpi_contacts, kpis
from shared.domain.clock import require_aware
from shared.domain.contact import Contact, ContactLink
from shared.domain.kpi import Kpi
from shared.domain.schedule import first_slot
from shared.domain.silence import SilenceDefinition
from shared.errors import DefinitionsError

KpiWithLinks = tuple[Kpi, Sequence[ContactLink]]
Links = frozenset[tuple[int, int]]  # (contact id, escalation level)
_SCHEDULE_COLUMNS = ("frequency_minutes", "schedule_cron", "schedule_timezone")
_CONTACT_FIELDS = tuple(field.name for field in dataclasses.fields(Contact))


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportSummary:
    """How many contacts, KPIs and recurring silences an import created, updated and left unchanged."""

    contacts_created: int = 0
    contacts_updated: int = 0
    contacts_unchanged: int = 0
    kpis_created: int = 0
    kpis_updated: int = 0
    kpis_unchanged: int = 0
    silences_created: int = 0
    silences_updated: int = 0
    silences_unchanged: int = 0

    def to_dict(self) -> dict[str, dict[str, int]]:
        """`{"contacts": {"created", "updated", "unchanged"}, "kpis": {...}, "silences": {...}}`."""
        return {
            section: {
                outcome: getattr(self, f"{section}_{outcome}")
                for outcome in ("created", "updated", "unchanged")
            }
            for section in ("contacts", "kpis", "silences")
        }


def existing_contact_names(connection: Connection) -> set[str]:
    """The names of every stored contact."""
    return set(connection.scalars(select(contacts.c.name)))


def apply_definitions(
    connection: Connection,
    contact_definitions: Sequence[Contact],
    kpis_with_links: Sequence[KpiWithLinks],
    *,
    now: datetime,
    schedule_inactive: bool,
    silence_definitions: Sequence[SilenceDefinition] = (),
) -> ImportSummary:
    """Upsert contacts and KPIs and replace the imported KPIs' contact links (see the module's contract).

    Every contact a link names must be among `contact_definitions` or already stored; otherwise
    `DefinitionsError` is raised and the caller's transaction should roll back."""
    require_aware(now, "now")
    contact_outcomes = _apply_contacts(connection, contact_definitions, now=now)
    kpi_outcomes = _apply_kpis(connection, kpis_with_links, now=now, schedule_inactive=schedule_inactive)
    silence_outcomes = apply_silences(connection, silence_definitions, now=now)
    return ImportSummary(
        **{f"contacts_{outcome}": count for outcome, count in contact_outcomes.items()},
        **{f"kpis_{outcome}": count for outcome, count in kpi_outcomes.items()},
        **{f"silences_{outcome}": count for outcome, count in silence_outcomes.items()},
    )


def _apply_contacts(connection: Connection, definitions: Sequence[Contact], *, now: datetime) -> Counter[str]:
    stored = _rows_by_name(connection, contacts.c.name)
    outcomes: Counter[str] = Counter()
    for contact in definitions:
        values = dataclasses.asdict(contact)
        row = stored.get(contact.name.casefold())
        if row is None:
            connection.execute(insert(contacts).values(**values, created_at=now, updated_at=now))
            outcomes["created"] += 1
        elif _differs(row, values):
            connection.execute(
                update(contacts).where(contacts.c.id == row["id"]).values(**values, updated_at=now)
            )
            outcomes["updated"] += 1
        else:
            outcomes["unchanged"] += 1
    return outcomes


def _apply_kpis(
    connection: Connection, definitions: Sequence[KpiWithLinks], *, now: datetime, schedule_inactive: bool
) -> Counter[str]:
    contact_ids = {
        row.name.casefold(): row.id for row in connection.execute(select(contacts.c.id, contacts.c.name))
    }
    stored = _rows_by_name(connection, kpis.c.indicator)
    stored_links = _links_by_kpi(connection)
    outcomes: Counter[str] = Counter()
    for kpi, links in definitions:
        wanted = _link_ids(kpi, links, contact_ids)
        schedulable = kpi.is_active or schedule_inactive
        row = stored.get(kpi.indicator.casefold())
        if row is None:
            _create_kpi(connection, kpi, wanted, now=now, schedulable=schedulable)
            outcomes["created"] += 1
        else:
            current = stored_links.get(row["id"], frozenset())
            changed = _update_kpi(connection, kpi, row, wanted, current, now=now, schedulable=schedulable)
            outcomes["updated" if changed else "unchanged"] += 1
    return outcomes


def _create_kpi(connection: Connection, kpi: Kpi, links: Links, *, now: datetime, schedulable: bool) -> None:
    slot = first_slot(kpi.schedule, now) if schedulable else None
    statement = insert(kpis).values(**kpi_values(kpi), next_run_at=slot, created_at=now, updated_at=now)
    kpi_id: int = connection.execute(statement.returning(kpis.c.id)).scalar_one()
    _insert_links(connection, kpi_id, links)


def _update_kpi(
    connection: Connection,
    kpi: Kpi,
    row: RowMapping,
    links: Links,
    current_links: Links,
    *,
    now: datetime,
    schedulable: bool,
) -> bool:
    """Bring a stored KPI to `kpi`; whether its definition changed (scheduling state aside)."""
    values = kpi_values(kpi)
    changed = _differs(row, values) or links != current_links
    changes: dict[str, Any] = {**values, "updated_at": now} if changed else {}
    next_run_at = _next_run_at(row, kpi, now=now, schedulable=schedulable)
    if next_run_at != row["next_run_at"]:
        changes["next_run_at"] = next_run_at
    if changes:
        connection.execute(update(kpis).where(kpis.c.id == row["id"]).values(**changes))
    if links != current_links:
        _replace_links(connection, row["id"], links)
    return changed


def _next_run_at(row: RowMapping, kpi: Kpi, *, now: datetime, schedulable: bool) -> datetime | None:
    """The KPI's `next_run_at` after the import (see the module's scheduling contract)."""
    if not schedulable:
        return None
    values = kpi_values(kpi)
    rescheduled = any(row[column] != values[column] for column in _SCHEDULE_COLUMNS)
    if row["next_run_at"] is None or rescheduled:
        return first_slot(kpi.schedule, now)
    current: datetime = row["next_run_at"]
    return current


def _differs(row: RowMapping, values: Mapping[str, Any]) -> bool:
    return any(row[column] != value for column, value in values.items())


def _rows_by_name(connection: Connection, column: Column[str]) -> dict[str, RowMapping]:
    """Every row of `column`'s table, keyed by its case-folded name."""
    rows = connection.execute(select(column.table)).mappings()
    return {row[column.name].casefold(): row for row in rows}


def _links_by_kpi(connection: Connection) -> dict[int, Links]:
    links: defaultdict[int, set[tuple[int, int]]] = defaultdict(set)
    for row in connection.execute(select(kpi_contacts)):
        links[row.kpi_id].add((row.contact_id, row.escalation_level))
    return {kpi_id: frozenset(pairs) for kpi_id, pairs in links.items()}


def _link_ids(kpi: Kpi, links: Sequence[ContactLink], contact_ids: Mapping[str, int]) -> Links:
    unknown = [link.name for link in links if link.name.casefold() not in contact_ids]
    if unknown:
        raise DefinitionsError([f"kpi {kpi.indicator!r}: unknown contact {name!r}" for name in unknown])
    return frozenset((contact_ids[link.name.casefold()], link.level) for link in links)


def _replace_links(connection: Connection, kpi_id: int, links: Links) -> None:
    connection.execute(delete(kpi_contacts).where(kpi_contacts.c.kpi_id == kpi_id))
    _insert_links(connection, kpi_id, links)


def _insert_links(connection: Connection, kpi_id: int, links: Links) -> None:
    if links:
        rows = [
            {"kpi_id": kpi_id, "contact_id": contact, "escalation_level": level} for contact, level in links
        ]
        connection.execute(insert(kpi_contacts), rows)


def load_definitions(
    connection: Connection,
) -> tuple[list[Contact], list[tuple[Kpi, tuple[ContactLink, ...]]]]:
    """Every contact and every KPI with its contact links (by level, then name), sorted by name."""
    stored_contacts = [
        Contact(**{field: row[field] for field in _CONTACT_FIELDS})
        for row in connection.execute(select(contacts)).mappings()
    ]
    links = _links_by_name(connection)
    stored_kpis = [(kpi, links.get(kpi.id, ())) for kpi, _ in load_kpis(connection)]
    return sorted(stored_contacts, key=lambda contact: contact.name.casefold()), stored_kpis


def load_kpis(connection: Connection) -> list[tuple[Kpi, datetime | None]]:
    """Every KPI with its `next_run_at`, sorted by indicator (ignoring case)."""
    rows = connection.execute(select(kpis)).mappings()
    loaded = [(kpi_from_row(row), row["next_run_at"]) for row in rows]
    return sorted(loaded, key=lambda pair: pair[0].indicator.casefold())


def _links_by_name(connection: Connection) -> dict[int, tuple[ContactLink, ...]]:
    query = select(kpi_contacts.c.kpi_id, kpi_contacts.c.escalation_level, contacts.c.name).join(
        contacts, contacts.c.id == kpi_contacts.c.contact_id
    )
    links: defaultdict[int, list[ContactLink]] = defaultdict(list)
    for row in connection.execute(query):
        links[row.kpi_id].append(ContactLink(name=row.name, level=row.escalation_level))
    return {
        kpi_id: tuple(sorted(found, key=lambda link: (link.level, link.name.casefold())))
        for kpi_id, found in links.items()
    }

"""The definitions lifecycle: deleting a KPI or a contact, and pruning what a definitions file no longer names
(`mgrid kpi delete`, `mgrid contacts delete`, `mgrid kpi import FILE --prune [--yes]`).

Deleting a KPI first unschedules it, then resolves its open and acknowledged alerts with the reason
"KPI deleted" and sends their resolved notices (to everyone who was told, as a manual resolve does), then
removes the KPI with everything recorded under it: executions (queued ones too), history, alerts and their
timelines and deliveries. Deleting a contact removes its KPI links and its delivery rows; the alert
timelines keep each past delivery by the contact's name. The administrator contact
(`Notifications__AdminContact`) is never deleted: change the setting first. docs/kpis.md ("Deleting KPIs
and contacts, pruning") gives the reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from shared.db import contacts as contact_store
from shared.db import removal
from shared.db import silences as silence_store
from shared.db.kpi_lookup import find_kpi_named
from shared.definitions import Definitions, parse_definitions, read_document
from shared.errors import ContactNotFound, PermanentError
from shared.notify import target_rules
from shared.services.alerts.actions import AlertActions
from shared.services.definitions import import_file
from shared.settings import Settings

#: Delivers alert events now and summarises what happened (the dispatcher's `dispatch_now(...).summary()`).
Deliver = Callable[[Sequence[int]], Mapping[str, Any]]
REASON = "KPI deleted"


class ContactInUse(PermanentError):
    """The contact cannot be deleted: it is the administrator contact."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"{name!r} is the administrator contact (Notifications__AdminContact): change that setting first"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiDeletion:
    kpi_id: int
    indicator: str
    resolved_alerts: tuple[int, ...]
    notices: Mapping[str, Any]
    removed: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kpi": {"id": self.kpi_id, "indicator": self.indicator},
            "resolved_alerts": list(self.resolved_alerts),
            "notifications": dict(self.notices),
            "removed": dict(self.removed),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactDeletion:
    name: str
    kpis: tuple[str, ...]  #: the indicators it was linked to
    deliveries_removed: int

    def to_dict(self) -> dict[str, Any]:
        return {"contact": self.name, "kpis": list(self.kpis), "deliveries_removed": self.deliveries_removed}


@dataclass(frozen=True, kw_only=True, slots=True)
class PruneReport:
    """What `--prune` deletes (or would), what it keeps although unnamed, and whether it was applied."""

    kpis: tuple[str, ...]
    contacts: tuple[str, ...]
    #: recurring silences the file owned once and no longer names: expired, not deleted (their audit stays)
    silences: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    applied: bool = False
    imported: Mapping[str, Any] | None = None
    deletions: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    kpi_ids: tuple[tuple[int, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "import": None if self.imported is None else dict(self.imported),
            "delete": {"kpis": list(self.kpis), "contacts": list(self.contacts)},
            "expire": {"silences": list(self.silences)},
            "kept": {"contacts": list(self.kept)},
            "deleted": list(self.deletions),
        }


class Lifecycle:
    """Deletes definitions; see the module's contract."""

    def __init__(
        self, engine: Engine, settings: Settings, deliver: Deliver, *, actions: AlertActions
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._deliver = deliver
        self._actions = actions

    def delete_kpi(self, reference: str, *, by: str) -> KpiDeletion:
        """Delete the KPI named by id or indicator; raises `KpiNotFound`."""
        with self._engine.connect() as connection:
            kpi_id, indicator = find_kpi_named(connection, reference)
        return self._delete_kpi(kpi_id, indicator, by=by)

    def _delete_kpi(self, kpi_id: int, indicator: str, *, by: str) -> KpiDeletion:
        with self._engine.begin() as connection:
            removal.unschedule(connection, kpi_id)
            open_ids = removal.unresolved_alerts(connection, kpi_id)
        results = [self._actions.resolve(alert_id, by=by, reason=REASON) for alert_id in open_ids]
        events = [result.event.event_id for result in results if result.event is not None]
        notices = self._deliver(events) if events else {}
        with self._engine.begin() as connection:
            removed = removal.delete_kpi(connection, kpi_id)
        return KpiDeletion(
            kpi_id=kpi_id,
            indicator=indicator,
            resolved_alerts=tuple(open_ids),
            notices=notices,
            removed=removed,
        )

    def delete_contact(self, name: str) -> ContactDeletion:
        """Delete the contact called `name` (any case); raises `ContactNotFound` or `ContactInUse`."""
        with self._engine.begin() as connection:
            stored = contact_store.contact_named(connection, name)
            if stored is None:
                raise ContactNotFound(name)
            if self._is_admin(stored.contact.name):
                raise ContactInUse(stored.contact.name)
            linked = contact_store.linked_indicators(connection, stored.id)
            removed = contact_store.delete_contact(connection, stored.id)
        return ContactDeletion(name=stored.contact.name, kpis=tuple(linked), deliveries_removed=removed)

    def prune(self, path: Path, *, apply: bool, by: str, now: datetime) -> PruneReport:
        """Make the database match the file: with `apply`, import it, then delete every KPI and contact it
        does not name (the administrator contact is kept); without, only say what would be deleted. The
        file is validated first either way, and its KPIs may name only its own contacts (and the
        administrator), since every other contact is about to go."""
        plan = self._plan(path)
        if not apply:
            return plan
        imported = import_file(self._engine, path, self._settings, now=now).to_dict()
        deletions = [self._delete_kpi(kpi_id, name, by=by).to_dict() for kpi_id, name in plan.kpi_ids]
        deletions += [self.delete_contact(name).to_dict() for name in plan.contacts]
        self._expire_silences(plan.silences, by=by, now=now)
        return PruneReport(
            kpis=plan.kpis,
            contacts=plan.contacts,
            silences=plan.silences,
            kept=plan.kept,
            applied=True,
            imported=imported,
            deletions=tuple(deletions),
            kpi_ids=plan.kpi_ids,
        )

    def _plan(self, path: Path) -> PruneReport:
        admin = self._settings.notifications.admin_contact
        definitions: Definitions = parse_definitions(
            read_document(path),
            sources=self._settings.connection_strings.sources.keys(),
            existing_contacts=[admin] if admin else [],
            targets=target_rules(self._settings),
        )
        with self._engine.connect() as connection:
            kpis = removal.kpis_not_named(connection, {kpi.indicator for kpi, _ in definitions.kpis})
            unnamed = removal.contacts_not_named(
                connection, {contact.name for contact in definitions.contacts}
            )
            named = {silence.name.casefold() for silence in definitions.silences}
            silences = tuple(
                s.name
                for s in silence_store.named_silences(connection)
                if s.name is not None and s.expired_at is None and s.name.casefold() not in named
            )
        kept = tuple(name for name in unnamed if self._is_admin(name))
        contacts = tuple(name for name in unnamed if not self._is_admin(name))
        return PruneReport(
            kpis=tuple(name for _, name in kpis),
            contacts=contacts,
            silences=silences,
            kept=kept,
            kpi_ids=tuple(kpis),
        )

    def _expire_silences(self, names: tuple[str, ...], *, by: str, now: datetime) -> None:
        wanted = {name.casefold() for name in names}
        with self._engine.begin() as connection:
            for silence in silence_store.named_silences(connection):
                if silence.name is not None and silence.name.casefold() in wanted:
                    silence_store.expire(connection, silence.id, by=by, now=now, active=silence.active(now))

    def _is_admin(self, name: str) -> bool:
        admin = self._settings.notifications.admin_contact
        return admin is not None and admin.strip().casefold() == name.casefold()

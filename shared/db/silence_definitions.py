"""Storing the recurring silences of a definitions file: upserted by name (ignoring case), in the import's
transaction, after its KPIs.

A silence names KPIs by indicator and/or owner the way the file spells them; they are stored the way the
KPIs spell them, since silences match exactly. A definition whose stored silence says the same is left alone
(an operator's expiry of it stands); a changed one is rewritten and active again, keeping its creation time.
Silences the file does not name are left untouched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Column, Connection, func, select, update

from shared.db.silences import insert_silence, named_silences, silence_columns
from shared.db.tables import kpis, silences
from shared.domain.silence import SilenceDefinition
from shared.errors import DefinitionsError


def kpi_labels(connection: Connection) -> set[tuple[str, str]]:
    """Every stored KPI's (indicator, owner): what a file's silences may name besides its own KPIs."""
    return {(row.indicator, row.owner) for row in connection.execute(select(kpis.c.indicator, kpis.c.owner))}


def apply_silences(
    connection: Connection, definitions: Sequence[SilenceDefinition], *, now: datetime
) -> Counter[str]:
    """Upsert the definitions' silences (see the module's contract); `created` / `updated` / `unchanged`."""
    stored = {silence.name.casefold(): silence for silence in named_silences(connection) if silence.name}
    outcomes: Counter[str] = Counter({"created": 0, "updated": 0, "unchanged": 0})
    for definition in definitions:
        wanted = _as_stored(connection, definition)
        current = stored.get(wanted.name.casefold())
        if current is None:
            silence = wanted.silence(now=now)
            insert_silence(connection, silence, next_end_at=silence.next_end(now))
            outcomes["created"] += 1
        elif SilenceDefinition.of(current) == wanted:
            outcomes["unchanged"] += 1
        else:
            silence = replace(
                wanted.silence(now=now), starts_at=current.starts_at, created_at=current.created_at
            )
            values = {**silence_columns(silence), "expired_at": None, "expired_by": None}
            values["next_end_at"] = silence.next_end(now)
            connection.execute(update(silences).where(silences.c.id == current.id).values(values))
            outcomes["updated"] += 1
    return outcomes


def _as_stored(connection: Connection, definition: SilenceDefinition) -> SilenceDefinition:
    kpi = _spelled(connection, kpis.c.indicator, definition.kpi)
    owner = _spelled(connection, kpis.c.owner, definition.owner)
    return replace(definition, kpi=kpi, owner=owner)


def _spelled(connection: Connection, column: Column[str], name: str | None) -> str | None:
    if name is None:
        return None
    found = connection.execute(
        select(column).where(func.lower(column) == name.lower()).order_by(column).limit(1)
    ).scalar()
    if found is None:
        raise DefinitionsError([f"silences: no KPI has the {column.name} {name!r}"])
    return str(found)

"""The `silences:` section of a KPI definitions file: recurring (weekly) maintenance windows.

```yaml
silences:
  - name: weekend-batch          # its identity: import upserts by name
    kpi: Deposits                # and/or owner: Payments (a KPI of the file or the database)
    key: "EU-*"                  # optional: only metric keys matching this glob
    weekly: sat,sun
    between: "22:00-02:00"       # local wall time; may cross midnight
    timezone: Europe/London
    reason: weekend batch load
    by: platform-team            # optional (default: definitions)
```
One-off silences belong to the moment, not to the file: add them with `mgrid silences add`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, ValidationInfo

from shared.definitions_models import Entry, TimeZone, known_names
from shared.domain.silence import (
    SilenceDefinition,
    Weekly,
    format_days,
    format_minutes,
    parse_days,
    parse_range,
)


def _text(max_length: int) -> StringConstraints:
    return StringConstraints(min_length=1, max_length=max_length)


def _trimmed(text: str) -> str:
    if text != text.strip():
        raise ValueError("must not start or end with whitespace")
    return text


def _defined_indicator(name: str, info: ValidationInfo) -> str:
    if name.casefold() not in known_names(info).indicators:
        raise ValueError(f"unknown KPI {name!r}: define it under kpis or import it first")
    return name


def _defined_owner(name: str, info: ValidationInfo) -> str:
    if name.casefold() not in known_names(info).owners:
        raise ValueError(f"no KPI has the owner {name!r}")
    return name


def _days(text: str) -> str:
    parse_days(text)  # its ValueError names the bad day
    return text


def _range(text: str) -> str:
    parse_range(text)  # its ValueError says what is wrong
    return text


class SilenceModel(Entry):
    """`silences[i]`: a weekly window of KPIs (by indicator and/or owner), upserted by `name`."""

    name: Annotated[str, _text(100), AfterValidator(_trimmed)]
    kpi: Annotated[str, _text(255), AfterValidator(_defined_indicator)] | None = None
    owner: Annotated[str, _text(100), AfterValidator(_defined_owner)] | None = None
    key: Annotated[str, _text(255)] | None = None
    weekly: Annotated[str, _text(27), AfterValidator(_days)]
    between: Annotated[str, _text(11), AfterValidator(_range)]
    timezone: TimeZone
    reason: Annotated[str, _text(500)]
    by: Annotated[str, _text(100)] = "definitions"

    @classmethod
    def entry_problems(cls, entry: Mapping[Any, Any]) -> list[str]:
        given = any(entry.get(key) is not None for key in ("kpi", "owner"))
        return [] if given else ["give kpi or owner (or both)"]


def silence_definition(model: SilenceModel) -> SilenceDefinition:
    start, end = parse_range(model.between)
    return SilenceDefinition(
        name=model.name,
        kpi=model.kpi,
        owner=model.owner,
        key_glob=model.key,
        weekly=Weekly(
            days=parse_days(model.weekly), start_minute=start, end_minute=end, timezone=model.timezone
        ),
        reason=model.reason,
        created_by=model.by,
    )


def silence_document(definition: SilenceDefinition) -> dict[str, Any]:
    """The file entry of a definition: every field, in the order of the model."""
    weekly = definition.weekly
    return {
        "name": definition.name,
        "kpi": definition.kpi,
        "owner": definition.owner,
        "key": definition.key_glob,
        "weekly": format_days(weekly.days),
        "between": f"{format_minutes(weekly.start_minute)}-{format_minutes(weekly.end_minute)}",
        "timezone": weekly.timezone,
        "reason": definition.reason,
        "by": definition.created_by,
    }

"""The KPI definitions file of `mgrid kpi import` and `mgrid kpi export`: YAML or JSON with top-level
`contacts` and `kpis` (DESIGN section 9), and `silences` (recurring windows, `shared.definitions_silences`).

This is an edge of the system, so the file is read into pydantic models that forbid unknown fields. The whole
file is validated before anything is used: `parse_definitions` collects every problem, each naming its entry
and field (`kpis[2] (Deposits).deviation_percent: must be >= 0`), and raises one `DefinitionsError`; only a
valid file becomes domain values. `definitions_document` is the reverse, for export: it writes every field,
so exporting and importing again changes nothing.

Names: sources are case-insensitive and stored lowercase (as configured); contact names and indicators are
matched case-insensitively, so a file means the same on every database whatever its collation.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml  # type: ignore[import-untyped]  # PyYAML ships no type information
from pydantic import ValidationError

from shared.definitions_models import BaselineModel, ContactModel, Entry, KnownNames, KpiModel, describe_error
from shared.definitions_silences import SilenceModel, silence_definition, silence_document
from shared.domain.contact import Contact, ContactLink
from shared.domain.kpi import (
    SEASONAL_TOLERANCE,
    SEASONAL_WEEKS_BACK,
    Aggregate,
    AlertPolicy,
    Baseline,
    BaselineMode,
    Direction,
    Kpi,
    KpiKind,
    NoData,
    Priority,
    Rule,
    Schedule,
    Threshold,
    ThresholdOperator,
)
from shared.domain.silence import SilenceDefinition
from shared.errors import DefinitionsError

#: A KPI and the contacts it notifies, in escalation order.
KpiWithLinks = tuple[Kpi, tuple[ContactLink, ...]]
Format = Literal["yaml", "json"]
E = TypeVar("E", bound=Entry)
_SECTIONS = {"contacts": "name", "kpis": "indicator", "silences": "name"}
_NO_FOLDING = 1_000_000  # YAML line width: never fold long SQL across lines


@dataclass(frozen=True, kw_only=True, slots=True)
class Definitions:
    """The valid content of a definitions file, as domain values (KPIs not yet stored have `id=0`)."""

    contacts: tuple[Contact, ...]
    kpis: tuple[KpiWithLinks, ...]
    silences: tuple[SilenceDefinition, ...] = ()


def read_document(path: Path) -> object:
    """The document in the file at `path`: JSON for `.json`, YAML for `.yaml`/`.yml`, otherwise JSON when
    the text starts with `{`, else YAML. Raises `DefinitionsError` when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DefinitionsError([f"{path}: cannot read the file: {error}"]) from None
    suffix = path.suffix.lower()
    as_json = suffix == ".json" or (suffix not in {".yaml", ".yml"} and text.lstrip().startswith("{"))
    return load_text(text, fmt="json" if as_json else "yaml")


def load_text(text: str, *, fmt: Format) -> object:
    """Parse definitions text; raise `DefinitionsError` naming the line and column of a syntax error."""
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise DefinitionsError(
                [f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise DefinitionsError([f"invalid YAML{where}: {error.problem}"]) from None
    except yaml.YAMLError as error:
        raise DefinitionsError([f"invalid YAML: {error}"]) from None


def parse_definitions(
    document: object,
    *,
    sources: Collection[str],
    existing_contacts: Collection[str],
    existing_kpis: Collection[tuple[str, str]] = (),
) -> Definitions:
    """Validate a whole definitions document and convert it to domain values.

    `sources` are the configured source names; `existing_contacts` the contact names already stored, which
    KPIs may name besides the file's own contacts; `existing_kpis` the stored (indicator, owner) pairs, which
    silences may name besides the file's own KPIs. Raises `DefinitionsError` listing every problem.
    """
    problems: list[str] = []
    sections = _sections(document, problems)
    known = KnownNames(
        sources=frozenset(name.lower() for name in sources),
        contacts=frozenset(name.casefold() for name in existing_contacts)
        | frozenset(_names(sections["contacts"], "name")),
        indicators=frozenset(indicator.casefold() for indicator, _ in existing_kpis)
        | frozenset(_names(sections["kpis"], "indicator")),
        owners=frozenset(owner.casefold() for _, owner in existing_kpis)
        | frozenset(_names(sections["kpis"], "owner")),
    )
    contacts = _validate_section("contacts", sections["contacts"], ContactModel, known, problems)
    kpis = _validate_section("kpis", sections["kpis"], KpiModel, known, problems)
    silences = _validate_section("silences", sections["silences"], SilenceModel, known, problems)
    if problems:
        raise DefinitionsError(problems)
    return Definitions(
        contacts=tuple(Contact(**model.model_dump()) for model in contacts),
        kpis=tuple(_kpi(model) for model in kpis),
        silences=tuple(silence_definition(model) for model in silences),
    )


def _sections(document: object, problems: list[str]) -> dict[str, list[object]]:
    sections: dict[str, list[object]] = {name: [] for name in _SECTIONS}
    if document is None:
        return sections
    if not isinstance(document, Mapping):
        problems.append("the file must hold a mapping with the keys contacts, kpis and silences")
        return sections
    for key, value in document.items():
        if key not in _SECTIONS:
            problems.append(f"{key}: unknown top-level key; expected contacts, kpis and silences")
        elif isinstance(value, list):
            sections[key] = value
        elif value is not None:
            problems.append(f"{key}: must be a list")
    return sections


def _names(entries: Sequence[object], key: str) -> list[str]:
    """The case-folded `key` of every entry that has a string there."""
    return [
        entry[key].casefold()
        for entry in entries
        if isinstance(entry, Mapping) and isinstance(entry.get(key), str)
    ]


def _validate_section(
    section: str, entries: Sequence[object], model: type[E], known: KnownNames, problems: list[str]
) -> list[E]:
    """The valid entries of one section; the problems of the others are appended to `problems`."""
    key = _SECTIONS[section]
    first_index: dict[str, int] = {}
    valid: list[E] = []
    for index, entry in enumerate(entries):
        parsed, entry_problems = _validate_entry(model, entry, known)
        for name in _names([entry], key):
            if first_index.setdefault(name, index) != index:
                entry_problems.append(
                    f".{key}: same name as {section}[{first_index[name]}] (names ignore case)"
                )
        if parsed is not None and not entry_problems:
            valid.append(parsed)
        label = _label(section, index, entry, key)
        problems.extend(f"{label}{problem}" for problem in entry_problems)
    return valid


def _validate_entry(model: type[E], entry: object, known: KnownNames) -> tuple[E | None, list[str]]:
    """The parsed entry (None when invalid) and its problems as `.field: message` suffixes."""
    if not isinstance(entry, Mapping):
        return None, [": must be a mapping"]
    problems = [f": {problem}" for problem in model.entry_problems(entry)]
    try:
        return model.model_validate(entry, context=known), problems
    except ValidationError as error:
        return None, problems + [line for detail in error.errors() for line in describe_error(detail)]


def _label(section: str, index: int, entry: object, key: str) -> str:
    name = entry.get(key) if isinstance(entry, Mapping) else None
    return f"{section}[{index}] ({name})" if isinstance(name, str) and name else f"{section}[{index}]"


def _kpi(model: KpiModel) -> KpiWithLinks:
    kpi = Kpi(
        id=0,
        indicator=model.indicator,
        owner=model.owner,
        priority=Priority(model.priority),
        source=model.source,
        kind=KpiKind.QUERY if model.query is not None else KpiKind.PROCEDURE,
        sql_text=model.query if model.query is not None else model.procedure or "",
        schedule=Schedule(frequency_minutes=model.frequency_minutes)
        if model.schedule is None
        else Schedule(cron=model.schedule.cron, timezone=model.schedule.timezone),
        last_minutes=model.last_minutes,
        rule=_rule(model),
        policy=AlertPolicy(
            fire_after=model.fire_after,
            resolve_after=model.resolve_after,
            cooldown_minutes=model.cooldown_minutes,
            failure_alert_after=model.failure_alert_after,
            no_data=NoData(model.no_data),
        ),
        subject_template=model.subject_template,
        description_template=model.description_template,
        is_active=model.is_active,
    )
    return kpi, tuple(ContactLink(name=link.name, level=link.level) for link in model.contacts)


def _rule(model: KpiModel) -> Rule:
    threshold, baseline = model.threshold, model.baseline
    return Rule(
        deviation_percent=model.deviation_percent,
        direction=Direction(model.direction),
        minimum_threshold=model.minimum_threshold,
        threshold=None
        if threshold is None
        else Threshold(operator=ThresholdOperator(threshold.operator), value=threshold.value),
        noise_floor=model.noise_floor,
        baseline=_baseline(baseline),
    )


def _baseline(model: BaselineModel) -> Baseline:
    mode = BaselineMode(model.mode)
    seasonal = mode is BaselineMode.SEASONAL
    return Baseline(
        mode=mode,
        weeks_back=model.weeks_back or (SEASONAL_WEEKS_BACK if seasonal else 4),
        aggregate=Aggregate.MEDIAN if seasonal else Aggregate(model.aggregate),
        tolerance=model.tolerance or SEASONAL_TOLERANCE,
    )


def _baseline_document(baseline: Baseline) -> dict[str, Any]:
    if baseline.mode is BaselineMode.SEASONAL:
        return {"mode": "seasonal", "weeks_back": baseline.weeks_back, "tolerance": baseline.tolerance}
    return {
        "mode": baseline.mode.value,
        "weeks_back": baseline.weeks_back,
        "aggregate": baseline.aggregate.value,
    }


def definitions_document(
    contacts: Sequence[Contact], kpis: Sequence[KpiWithLinks], silences: Sequence[SilenceDefinition] = ()
) -> dict[str, Any]:
    """The definitions file (as plain data) that describes exactly these contacts, KPIs and recurring
    silences: every field is written, in the order of DESIGN section 9, so importing it changes nothing."""
    return {
        "contacts": [
            {field: getattr(contact, field) for field in ContactModel.model_fields} for contact in contacts
        ],
        "kpis": [_kpi_document(kpi, links) for kpi, links in kpis],
        "silences": [silence_document(silence) for silence in silences],
    }


def _kpi_document(kpi: Kpi, links: Sequence[ContactLink]) -> dict[str, Any]:
    rule, policy, threshold, baseline = kpi.rule, kpi.policy, kpi.rule.threshold, kpi.rule.baseline
    schedule = (
        {"frequency_minutes": kpi.schedule.frequency_minutes}
        if kpi.schedule.cron is None
        else {"schedule": {"cron": kpi.schedule.cron, "timezone": kpi.schedule.timezone}}
    )
    return {
        "indicator": kpi.indicator,
        "owner": kpi.owner,
        "priority": int(kpi.priority),
        "source": kpi.source,
        kpi.kind.value: kpi.sql_text,
        **schedule,
        "last_minutes": kpi.last_minutes,
        "deviation_percent": rule.deviation_percent,
        "direction": rule.direction.value,
        "minimum_threshold": rule.minimum_threshold,
        "threshold": None
        if threshold is None
        else {"operator": threshold.operator.value, "value": threshold.value},
        "baseline": _baseline_document(baseline),
        "noise_floor": rule.noise_floor,
        "cooldown_minutes": policy.cooldown_minutes,
        "fire_after": policy.fire_after,
        "resolve_after": policy.resolve_after,
        "failure_alert_after": policy.failure_alert_after,
        "no_data": policy.no_data.value,
        "subject_template": kpi.subject_template,
        "description_template": kpi.description_template,
        "contacts": [{"name": link.name, "level": link.level} for link in links],
        "is_active": kpi.is_active,
    }


def render_document(document: Mapping[str, Any], *, fmt: Format) -> str:
    """`document` as JSON or YAML text (keys in file order, multi-line strings as YAML `|` blocks)."""
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return str(yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_NO_FOLDING))


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML is untyped
    """Safe YAML that writes multi-line strings (SQL, descriptions) as readable `|` blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> Any:
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _represent_text)

"""The definitions file's `silences:` section: recurring windows validated with the rest, every problem named
with its entry and field, and exported in a shape that imports back unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from shared.definitions import definitions_document, load_text, parse_definitions, render_document
from shared.domain.silence import SilenceDefinition, Weekly
from shared.errors import DefinitionsError
from tests.unit.test_definitions import SOURCES, minimal_kpi


def night(**fields: Any) -> dict[str, Any]:
    entry = {
        "name": "nightly-batch",
        "kpi": "Deposits",
        "weekly": "mon,tue,wed",
        "between": "22:00-02:00",
        "timezone": "Europe/London",
        "reason": "the nightly batch load",
    }
    entry.update(fields)
    return {name: value for name, value in entry.items() if value is not ...}


def problems(*silences: object, existing: set[tuple[str, str]] | None = None) -> list[str]:
    with pytest.raises(DefinitionsError) as raised:
        parse_definitions(
            {"kpis": [minimal_kpi()], "silences": list(silences)},
            sources=SOURCES,
            existing_contacts=(),
            existing_kpis=existing or set(),
        )
    return list(raised.value.problems)


def test_a_recurring_silence_parses_into_its_definition() -> None:
    document = {"kpis": [minimal_kpi()], "silences": [night(key="EU-*", by="platform")]}
    definitions = parse_definitions(document, sources=SOURCES, existing_contacts=())
    assert definitions.silences == (
        SilenceDefinition(
            name="nightly-batch",
            kpi="Deposits",
            key_glob="EU-*",
            weekly=Weekly(
                days=frozenset({0, 1, 2}), start_minute=22 * 60, end_minute=120, timezone="Europe/London"
            ),
            reason="the nightly batch load",
            created_by="platform",
        ),
    )


def test_a_silence_may_name_kpis_and_owners_of_the_file_or_the_database_ignoring_case() -> None:
    document = {
        "kpis": [minimal_kpi()],
        "silences": [
            night(kpi="deposits"),
            night(name="b", kpi=..., owner="Risk"),
            night(name="c", kpi="Logins"),
        ],
    }
    parsed = parse_definitions(
        document, sources=SOURCES, existing_contacts=(), existing_kpis={("Logins", "Risk")}
    )
    assert [silence.name for silence in parsed.silences] == ["nightly-batch", "b", "c"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"kpi": ...}, "silences[0] (nightly-batch): give kpi or owner (or both)"),
        ({"kpi": "Nope"}, ".kpi: unknown KPI 'Nope': define it under kpis or import it first"),
        ({"owner": "Nobody"}, "silences[0] (nightly-batch).owner: no KPI has the owner 'Nobody'"),
        ({"weekly": "monday"}, ".weekly: unknown day 'monday' (use mon,tue,wed,thu,fri,sat,sun)"),
        ({"between": "22:00"}, "silences[0] (nightly-batch).between: '22:00' is not a range HH:MM-HH:MM"),
        ({"between": "02:00-02:00"}, ".between: '02:00-02:00' is empty: the start and the end are the same"),
        ({"timezone": "Mars/Olympus"}, ".timezone: must be an IANA time zone, such as Europe/London or UTC"),
        ({"reason": ...}, "silences[0] (nightly-batch).reason: required"),
        ({"until": "2026-12-02"}, "silences[0] (nightly-batch).until: unknown field"),
        ({"name": ""}, "silences[0].name: must not be empty"),
    ],
)  # fmt: skip
def test_each_silence_rule_is_enforced_with_its_entry_and_field(
    fields: dict[str, Any], expected: str
) -> None:
    label = "silences[0]" if "name" in fields else "silences[0] (nightly-batch)"
    assert problems(night(**fields)) == [expected if expected.startswith("silences") else label + expected]


def test_silence_names_are_unique_in_the_file_ignoring_case() -> None:
    assert problems(night(), night(name="Nightly-Batch")) == [
        "silences[1] (Nightly-Batch).name: same name as silences[0] (names ignore case)"
    ]


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_exported_silences_parse_back_to_the_same_definitions(fmt: Any) -> None:
    document = {
        "kpis": [minimal_kpi()],
        "silences": [night(key="EU-*"), night(name="owners", kpi=..., owner="Payments")],
    }
    definitions = parse_definitions(document, sources=SOURCES, existing_contacts=())
    exported = definitions_document(definitions.contacts, definitions.kpis, definitions.silences)
    assert list(exported["silences"][0]) == [
        "name",
        "kpi",
        "owner",
        "key",
        "weekly",
        "between",
        "timezone",
        "reason",
        "by",
    ]
    text = render_document(exported, fmt=fmt)
    assert parse_definitions(load_text(text, fmt=fmt), sources=SOURCES, existing_contacts=()) == definitions

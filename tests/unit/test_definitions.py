"""The definitions file: every rule, every problem at once, YAML and JSON, and an export that re-imports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.definitions import (
    definitions_document,
    load_text,
    parse_definitions,
    read_document,
    render_document,
)
from shared.domain.contact import Contact, ContactLink
from shared.domain.kpi import (
    Aggregate,
    AlertPolicy,
    Baseline,
    BaselineMode,
    Direction,
    KpiKind,
    Priority,
    Schedule,
    Threshold,
    ThresholdOperator,
)
from shared.errors import DefinitionsError, PermanentError

SOURCES = {"main", "reporting"}
# Verbatim from DESIGN section 9, long lines included.
DESIGN_EXAMPLE = """\
contacts:
  - {name: Ops, email: ops@example.com, phone: "+441234567890", teams_webhook: null, slack_webhook: null, webhook_url: null}
kpis:
  - indicator: Deposits
    owner: Payments
    priority: 1                      # 1 critical (SMS + email), 2 warning (email)
    source: main                     # a named connection string
    query: "SELECT 'TotalDeposits' AS key, COUNT(*) AS current_value FROM deposits WHERE at >= :window_start AND at < :window_end"
    # or: procedure: "[monitoring].[usp_MonitorDeposits]"
    frequency_minutes: 5             # or schedule: {cron: "0 */5 8-18 * * 1-5", timezone: Europe/London}
    last_minutes: 60
    deviation_percent: 20
    direction: both                  # up | down | both
    minimum_threshold: null
    threshold: null                  # or {operator: gt|gte|lt|lte|eq, value: 100}
    baseline: {mode: history, weeks_back: 4, aggregate: median}   # or {mode: source}
    cooldown_minutes: 30
    fire_after: 1
    resolve_after: 1
    subject_template: "{Indicator}: {CurrentValue} vs {HistoricalValue} ({DeviationPercent}%)"
    description_template: "..."
    contacts: [{name: Ops, level: 0}]
    is_active: true
"""  # noqa: E501


def minimal_kpi(**fields: Any) -> dict[str, Any]:
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
        "description_template": "{Indicator} is {CurrentValue}",
    }
    kpi.update(fields)
    return {name: value for name, value in kpi.items() if value is not ...}


def problems_of(document: object, existing_contacts: set[str] | None = None) -> list[str]:
    with pytest.raises(DefinitionsError) as raised:
        parse_definitions(document, sources=SOURCES, existing_contacts=existing_contacts or set())
    return list(raised.value.problems)


def kpi_problems(**fields: Any) -> list[str]:
    return problems_of({"kpis": [minimal_kpi(**fields)]})


def test_the_design_example_parses_into_domain_values() -> None:
    definitions = parse_definitions(
        load_text(DESIGN_EXAMPLE, fmt="yaml"), sources={"main"}, existing_contacts=()
    )
    assert definitions.contacts == (Contact(name="Ops", email="ops@example.com", phone="+441234567890"),)
    ((kpi, links),) = definitions.kpis
    assert (kpi.id, kpi.indicator, kpi.owner, kpi.priority, kpi.source) == (
        0,
        "Deposits",
        "Payments",
        1,
        "main",
    )
    assert kpi.kind is KpiKind.QUERY
    assert kpi.sql_text.startswith("SELECT 'TotalDeposits'")
    assert kpi.schedule == Schedule(frequency_minutes=5)
    assert (kpi.last_minutes, kpi.rule.deviation_percent, kpi.rule.direction) == (60, 20.0, Direction.BOTH)
    assert kpi.rule.baseline == Baseline(mode=BaselineMode.HISTORY, weeks_back=4, aggregate=Aggregate.MEDIAN)
    assert kpi.policy == AlertPolicy(
        fire_after=1, resolve_after=1, cooldown_minutes=30, failure_alert_after=3
    )
    assert links == (ContactLink(name="Ops", level=0),)


def test_omitted_optional_fields_take_their_defaults() -> None:
    definitions = parse_definitions({"kpis": [minimal_kpi()]}, sources=SOURCES, existing_contacts=())
    ((kpi, links),) = definitions.kpis
    assert kpi.rule.direction is Direction.BOTH
    assert (kpi.rule.minimum_threshold, kpi.rule.threshold, kpi.rule.noise_floor) == (None, None, 0.0)
    assert kpi.rule.baseline == Baseline()
    assert kpi.policy == AlertPolicy()
    assert kpi.is_active is True
    assert links == ()
    assert definitions.contacts == ()


def test_every_optional_field_is_read() -> None:
    document = {
        "contacts": [{"name": "Ops", "webhook_url": "https://hooks.example.com/x", "is_active": False}],
        "kpis": [
            minimal_kpi(
                query=...,
                procedure="[stats].[stp_MonitorTransactions]",
                frequency_minutes=...,
                schedule={"cron": "0 */15 8-18 * * 1-5", "timezone": "Europe/London"},
                source="Reporting",
                direction="down",
                minimum_threshold=10.5,
                threshold={"operator": "gte", "value": 100},
                baseline={"mode": "source"},
                noise_floor=2,
                cooldown_minutes=0,
                fire_after=2,
                resolve_after=3,
                failure_alert_after=5,
                contacts=[{"name": "ops", "level": 1}],
                is_active=False,
            )
        ],
    }
    definitions = parse_definitions(document, sources=SOURCES, existing_contacts=())
    ((kpi, links),) = definitions.kpis
    assert (kpi.kind, kpi.sql_text, kpi.source) == (
        KpiKind.PROCEDURE,
        "[stats].[stp_MonitorTransactions]",
        "reporting",
    )
    assert kpi.schedule == Schedule(cron="0 */15 8-18 * * 1-5", timezone="Europe/London")
    assert kpi.rule.threshold == Threshold(operator=ThresholdOperator.GTE, value=100.0)
    assert (kpi.rule.direction, kpi.rule.minimum_threshold, kpi.rule.noise_floor) == (
        Direction.DOWN,
        10.5,
        2.0,
    )
    assert kpi.rule.baseline.mode is BaselineMode.SOURCE
    assert kpi.policy == AlertPolicy(fire_after=2, resolve_after=3, cooldown_minutes=0, failure_alert_after=5)
    assert (kpi.priority, kpi.is_active) == (Priority.WARNING, False)
    assert links == (ContactLink(name="ops", level=1),)
    assert definitions.contacts[0].is_active is False


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"indicator": ...}, "kpis[0].indicator: required"),
        ({"owner": ...}, "kpis[0] (Deposits).owner: required"),
        ({"priority": ...}, "kpis[0] (Deposits).priority: required"),
        ({"source": ...}, "kpis[0] (Deposits).source: required"),
        ({"last_minutes": ...}, "kpis[0] (Deposits).last_minutes: required"),
        ({"deviation_percent": ...}, "kpis[0] (Deposits).deviation_percent: required"),
        ({"subject_template": ...}, "kpis[0] (Deposits).subject_template: required"),
        ({"description_template": ...}, "kpis[0] (Deposits).description_template: required"),
        ({"indicator": ""}, "kpis[0].indicator: must not be empty"),
        ({"indicator": " Deposits"}, "kpis[0] ( Deposits).indicator: must not start or end with whitespace"),
        ({"indicator": "x" * 256}, ".indicator: must be at most 255 characters"),
        ({"owner": "x" * 101}, ".owner: must be at most 100 characters"),
        ({"colour": "red"}, "kpis[0] (Deposits).colour: unknown field"),
        ({"priority": 3}, "kpis[0] (Deposits).priority: must be 1 or 2"),
        ({"priority": "1"}, "kpis[0] (Deposits).priority: must be 1 or 2"),
        ({"source": "nowhere"}, ".source: unknown source 'nowhere'; configured sources: main, reporting"),
        ({"query": ..., "procedure": ...}, "kpis[0] (Deposits): give query or procedure"),
        ({"procedure": "usp_x"}, "kpis[0] (Deposits): give either query or procedure, not both"),
        ({"frequency_minutes": ...}, "kpis[0] (Deposits): give frequency_minutes or schedule"),
        (
            {"schedule": {"cron": "0 * * * * *"}},
            "kpis[0] (Deposits): give either frequency_minutes or schedule, not both",
        ),
        ({"frequency_minutes": 0}, "kpis[0] (Deposits).frequency_minutes: must be > 0"),
        ({"frequency_minutes": 2.5}, "kpis[0] (Deposits).frequency_minutes: must be an integer"),
        ({"frequency_minutes": "5"}, "kpis[0] (Deposits).frequency_minutes: must be an integer"),
        ({"last_minutes": 0}, "kpis[0] (Deposits).last_minutes: must be > 0"),
        ({"deviation_percent": -1}, "kpis[0] (Deposits).deviation_percent: must be >= 0"),
        ({"deviation_percent": float("nan")}, ".deviation_percent: must be a finite number"),
        ({"deviation_percent": "20"}, ".deviation_percent: must be a number"),
        ({"direction": "sideways"}, ".direction: must be 'up', 'down' or 'both'"),
        ({"minimum_threshold": "low"}, ".minimum_threshold: must be a number"),
        ({"noise_floor": -0.5}, ".noise_floor: must be >= 0"),
        ({"cooldown_minutes": -1}, ".cooldown_minutes: must be >= 0"),
        ({"fire_after": 0}, ".fire_after: must be >= 1"),
        ({"resolve_after": 0}, ".resolve_after: must be >= 1"),
        ({"failure_alert_after": 0}, ".failure_alert_after: must be >= 1"),
        ({"fire_after": 40000}, ".fire_after: must be <= 32767"),
        ({"is_active": "yes"}, ".is_active: must be true or false"),
        (
            {"threshold": {"operator": "ne", "value": 1}},
            ".threshold.operator: must be 'gt', 'gte', 'lt', 'lte'",
        ),
        ({"threshold": {"operator": "gt"}}, ".threshold.value: required"),
        ({"threshold": 5}, ".threshold: must be a mapping"),
        ({"baseline": {"mode": "history", "weeks_back": 0}}, ".baseline.weeks_back: must be >= 1"),
        ({"baseline": {"weeks_back": 53}}, ".baseline.weeks_back: must be <= 52"),
        ({"baseline": {"aggregate": "mode"}}, ".baseline.aggregate: must be 'mean' or 'median'"),
        ({"baseline": {"mode": "magic"}}, ".baseline.mode: must be 'history', 'source' or 'seasonal'"),
        ({"contacts": [{"name": "Ops", "level": -1}]}, ".contacts[0].level: must be >= 0"),
        ({"contacts": "Ops"}, ".contacts: must be a list"),
    ],
)
def test_each_kpi_rule_is_enforced_with_its_entry_and_field(fields: dict[str, Any], expected: str) -> None:
    problems = problems_of({"contacts": [{"name": "Ops"}], "kpis": [minimal_kpi(**fields)]})
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"cron": "0 */5 8-18 * * 1-5", "timezone": "Europe/London"}, None),
        ({"cron": "*/5 * * * *"}, None),
        ({"cron": "0 0 0 31 2 *"}, ".schedule.cron: invalid NCRONTAB expression: "),
        ({"cron": "0 ? * * * *"}, ".schedule.cron: invalid NCRONTAB expression"),
        (
            {"cron": "0 * * * * *", "timezone": "Mars/Olympus"},
            ".schedule.timezone: must be an IANA time zone",
        ),
        ({"cron": "0 * * * * *", "timezone": "localtime"}, ".schedule.timezone: must be an IANA time zone"),
        (
            {"cron": "0 * * * * *", "timezone": "../etc/passwd"},
            ".schedule.timezone: must be an IANA time zone",
        ),
        ({"cron": "0 * * * * *", "timezone": "Europe"}, ".schedule.timezone: must be an IANA time zone"),
        ({"timezone": "UTC"}, ".schedule.cron: required"),
        ({"cron": "0 * * * * *", "every": 5}, ".schedule.every: unknown field"),
    ],
)
def test_cron_schedules_need_a_valid_expression_and_iana_time_zone(
    schedule: dict[str, Any], expected: str | None
) -> None:
    document = {"kpis": [minimal_kpi(frequency_minutes=..., schedule=schedule)]}
    if expected is None:
        parse_definitions(document, sources=SOURCES, existing_contacts=())
    else:
        assert any(expected in problem for problem in problems_of(document))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("SELECT k AS key, v AS current_value FROM t WHERE at >= :window_start AND at < :window_end", None),
        ("SELECT 'k' AS key, :for_last_minutes AS current_value;", None),
        ("SELECT x::int AS key, 1 AS current_value FROM t", None),
        ("SELECT ':not_a_param' AS key, 1 AS current_value -- :nor_this; DROP TABLE t", None),
        ("SELECT 1 /* ; :hidden */ AS current_value", None),
        ("SELECT :window_begin AS key", "unknown bind parameter :window_begin; allowed: :for_last_minutes"),
        ("SELECT :a, :b", "unknown bind parameters :a, :b;"),
        ("SELECT 1; DELETE FROM t", "must be a single statement"),
        ("  ;  ", "must contain a SQL statement"),
        ("", "must not be empty"),
    ],
)
def test_queries_are_single_statements_with_known_bind_parameters(query: str, expected: str | None) -> None:
    document = {"kpis": [minimal_kpi(query=query)]}
    if expected is None:
        parse_definitions(document, sources=SOURCES, existing_contacts=())
    else:
        assert any(problem.startswith("kpis[0] (Deposits).query: ") for problem in problems_of(document))
        assert any(expected in problem for problem in problems_of(document))


@pytest.mark.parametrize(
    ("procedure", "valid"),
    [
        ("[stats].[stp_MonitorTransactions]", True),
        ("monitoring.usp_MonitorDeposits", True),
        ("usp_x", True),
        ('"monitoring"."usp x"', True),
        ("[dbo].[usp monitor]", True),
        ("usp x", False),
        ("usp_x;DROP TABLE t", False),
        ("usp_x()", False),
        ("[dbo].[usp(x)]", False),
        ("a.b.c", False),
        ("EXEC usp_x", False),
        ("[unclosed", False),
    ],
)
def test_procedures_are_optionally_schema_qualified_identifiers(procedure: str, valid: bool) -> None:
    document = {"kpis": [minimal_kpi(query=..., procedure=procedure)]}
    if valid:
        parse_definitions(document, sources=SOURCES, existing_contacts=())
    else:
        (problem,) = problems_of(document)
        assert problem.startswith("kpis[0] (Deposits).procedure: must be a procedure name")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"email": "ops"}, "contacts[0] (Ops).email: must be an email address"),
        ({"email": "ops @example.com"}, "contacts[0] (Ops).email: must be an email address"),
        ({"phone": "01234 567890"}, "contacts[0] (Ops).phone: must be an E.164 phone number"),
        ({"phone": "+12"}, "contacts[0] (Ops).phone: must be an E.164 phone number"),
        ({"teams_webhook": "ftp://x"}, "contacts[0] (Ops).teams_webhook: must be an http(s) URL"),
        ({"slack_webhook": "hooks.slack.com"}, "contacts[0] (Ops).slack_webhook: must be an http(s) URL"),
        ({"webhook_url": 5}, "contacts[0] (Ops).webhook_url: must be a string"),
        ({"is_active": 1}, "contacts[0] (Ops).is_active: must be true or false"),
        ({"pager": "x"}, "contacts[0] (Ops).pager: unknown field"),
        ({"name": None}, "contacts[0].name: must be a string"),
    ],
)
def test_each_contact_rule_is_enforced(fields: dict[str, Any], expected: str) -> None:
    (problem,) = problems_of({"contacts": [{"name": "Ops", **fields}]})
    assert problem.startswith(expected)


def test_a_kpi_may_name_contacts_from_the_file_or_the_database_but_no_others() -> None:
    document = {
        "contacts": [{"name": "Ops"}],
        "kpis": [minimal_kpi(contacts=[{"name": "ops"}, {"name": "Finance", "level": 1}, {"name": "Ghost"}])],
    }
    assert problems_of(document, existing_contacts={"FINANCE"}) == [
        "kpis[0] (Deposits).contacts[2].name: unknown contact 'Ghost': "
        "define it under contacts or create it first"
    ]


def test_a_kpi_names_each_contact_once() -> None:
    document = {
        "contacts": [{"name": "Ops"}],
        "kpis": [minimal_kpi(contacts=[{"name": "Ops"}, {"name": "OPS"}])],
    }
    assert problems_of(document) == ["kpis[0] (Deposits).contacts: contact 'ops' is listed more than once"]


def test_names_are_unique_within_the_file_ignoring_case() -> None:
    document = {
        "contacts": [{"name": "Ops"}, {"name": "OPS"}],
        "kpis": [minimal_kpi(), minimal_kpi(owner="Other"), minimal_kpi(indicator="DEPOSITS")],
    }
    assert problems_of(document) == [
        "contacts[1] (OPS).name: same name as contacts[0] (names ignore case)",
        "kpis[1] (Deposits).indicator: same name as kpis[0] (names ignore case)",
        "kpis[2] (DEPOSITS).indicator: same name as kpis[0] (names ignore case)",
    ]


def test_the_original_seeded_templates_are_rejected_at_import_with_a_clear_message() -> None:
    seeded = {
        "subject_template": "{Indicator} deviation {deviation}% (every {frequency} min)",
        "description_template": "Current: {{current}}, historical: {historical}",
    }
    problems = kpi_problems(**seeded)
    assert problems[0].startswith(
        "kpis[0] (Deposits).subject_template: unknown placeholders {deviation}, {frequency}; allowed: "
    )
    assert problems[1] == (
        "kpis[0] (Deposits).description_template: '{{current}}' at character 10 is the literal text "
        "'{current}', not a placeholder: write {current}"
    )
    assert problems[2].startswith(
        "kpis[0] (Deposits).description_template: unknown placeholder {historical};"
    )
    assert len(problems) == 3


def test_template_problems_are_listed_one_per_line() -> None:
    problems = kpi_problems(subject_template="{X.y} {0}", description_template="{")
    assert problems == [
        "kpis[0] (Deposits).subject_template: '{X.y}' at character 1 uses attribute access (.): "
        "only bare placeholder names are allowed",
        "kpis[0] (Deposits).subject_template: '{0}' at character 7 is a positional field: "
        "name a placeholder, such as {Indicator}",
        "kpis[0] (Deposits).description_template: unclosed '{' at character 1: "
        "write '{{' for a literal brace",
    ]


def test_every_problem_in_the_file_is_reported_at_once() -> None:
    document = {
        "contacts": [{"name": "Ops", "email": "nope"}, "Finance"],
        "kpis": [
            minimal_kpi(),
            minimal_kpi(indicator="Withdrawals", deviation_percent=-5, source="dwh", priority=0),
            minimal_kpi(indicator="Logins", frequency_minutes=..., query=...),
            7,
        ],
        "alerts": [],
    }
    problems = problems_of(document)
    assert problems == [
        "alerts: unknown top-level key; expected contacts, kpis and silences",
        "contacts[0] (Ops).email: must be an email address",
        "contacts[1]: must be a mapping",
        "kpis[1] (Withdrawals).priority: must be 1 or 2",
        "kpis[1] (Withdrawals).source: unknown source 'dwh'; configured sources: main, reporting "
        "(ConnectionStrings__Sources__<name>)",
        "kpis[1] (Withdrawals).deviation_percent: must be >= 0",
        "kpis[2] (Logins): give query or procedure",
        "kpis[2] (Logins): give frequency_minutes or schedule",
        "kpis[3]: must be a mapping",
    ]


def test_definitions_error_is_a_permanent_value_error_carrying_every_problem() -> None:
    error = DefinitionsError(["a: first", "b: second"])
    assert isinstance(error, PermanentError)
    assert isinstance(error, ValueError)
    assert error.problems == ("a: first", "b: second")
    assert str(error) == "invalid definitions (2):\n  - a: first\n  - b: second"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], "the file must hold a mapping with the keys contacts, kpis and silences"),
        ("kpis", "the file must hold a mapping with the keys contacts, kpis and silences"),
        ({"kpis": {"Deposits": {}}}, "kpis: must be a list"),
    ],
)
def test_the_top_level_must_be_a_mapping_of_lists(document: object, expected: str) -> None:
    assert problems_of(document) == [expected]


def test_an_empty_file_defines_nothing() -> None:
    definitions = parse_definitions(None, sources=SOURCES, existing_contacts=())
    assert (definitions.contacts, definitions.kpis) == ((), ())


def test_no_configured_source_is_explained() -> None:
    with pytest.raises(DefinitionsError) as raised:
        parse_definitions({"kpis": [minimal_kpi()]}, sources=set(), existing_contacts=())
    assert raised.value.problems == (
        "kpis[0] (Deposits).source: unknown source 'main'; configured sources: none "
        "(ConnectionStrings__Sources__<name>)",
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("defs.yaml", DESIGN_EXAMPLE),
        ("defs.yml", DESIGN_EXAMPLE),
        ("defs.json", json.dumps(load_text(DESIGN_EXAMPLE, fmt="yaml"))),
        ("defs.txt", json.dumps(load_text(DESIGN_EXAMPLE, fmt="yaml"))),
        ("defs", DESIGN_EXAMPLE),
    ],
)
def test_files_are_read_as_yaml_or_json_by_extension_or_content(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert read_document(path) == load_text(DESIGN_EXAMPLE, fmt="yaml")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("bad.json", '{"kpis": [}', "invalid JSON at line 1 column 11: "),
        ("bad.yaml", "kpis:\n  - indicator: [unclosed\n", "invalid YAML at line 3 column 1: "),
        ("bad.yaml", "kpis: [\n", "invalid YAML at line 2 column 1: "),
    ],
)
def test_syntax_errors_name_the_line_and_column(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionsError) as raised:
        read_document(path)
    (problem,) = raised.value.problems
    assert problem.startswith(expected)


def test_a_missing_file_is_a_definitions_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionsError, match="cannot read the file"):
        read_document(tmp_path / "missing.yaml")


def _full_document() -> dict[str, Any]:
    return {
        "contacts": [{"name": "Ops", "email": "ops@example.com", "phone": "+441234567890"}],
        "kpis": [
            minimal_kpi(contacts=[{"name": "Ops", "level": 0}], query="SELECT 1 AS current_value\nFROM t"),
            minimal_kpi(
                indicator="Logins",
                query=...,
                procedure="[monitoring].[usp_MonitorLogins]",
                frequency_minutes=...,
                schedule={"cron": "0 */5 8-18 * * 1-5", "timezone": "Europe/London"},
                threshold={"operator": "lt", "value": 3},
                baseline={"mode": "source"},
                is_active=False,
            ),
        ],
    }


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_exported_document_parses_back_to_the_same_values(fmt: Any) -> None:
    definitions = parse_definitions(_full_document(), sources=SOURCES, existing_contacts=())
    document = definitions_document(definitions.contacts, definitions.kpis)
    text = render_document(document, fmt=fmt)
    again = parse_definitions(load_text(text, fmt=fmt), sources=SOURCES, existing_contacts=())
    assert again == definitions


def test_the_exported_document_writes_every_field_in_design_order() -> None:
    definitions = parse_definitions(_full_document(), sources=SOURCES, existing_contacts=())
    document = definitions_document(definitions.contacts, definitions.kpis)
    assert list(document) == ["contacts", "kpis", "silences"]
    assert list(document["contacts"][0]) == [
        "name", "email", "phone", "teams_webhook", "slack_webhook", "webhook_url", "is_active",
    ]  # fmt: skip
    first, second = document["kpis"]
    assert list(first)[:6] == ["indicator", "owner", "priority", "source", "query", "frequency_minutes"]
    assert list(second)[4:6] == ["procedure", "schedule"]
    assert list(first)[6:] == [
        "last_minutes", "deviation_percent", "direction", "minimum_threshold", "threshold", "baseline",
        "noise_floor", "cooldown_minutes", "fire_after", "resolve_after", "failure_alert_after",
        "no_data", "subject_template", "description_template", "contacts", "is_active",
    ]  # fmt: skip
    assert first["baseline"] == {"mode": "history", "weeks_back": 4, "aggregate": "median"}
    assert second["schedule"] == {"cron": "0 */5 8-18 * * 1-5", "timezone": "Europe/London"}


def test_yaml_export_keeps_multi_line_sql_readable() -> None:
    definitions = parse_definitions(_full_document(), sources=SOURCES, existing_contacts=())
    text = render_document(definitions_document(definitions.contacts, definitions.kpis), fmt="yaml")
    assert "  query: |-\n    SELECT 1 AS current_value\n    FROM t\n" in text


def test_parsing_does_not_mutate_the_document() -> None:
    document = _full_document()
    before = copy.deepcopy(document)
    parse_definitions(document, sources=SOURCES, existing_contacts=())
    assert document == before

"""Subject and description templates: bare known placeholders only, literal braces doubled."""

from __future__ import annotations

import pytest

from shared.domain.kpi import TEMPLATE_PLACEHOLDERS
from shared.domain.template import placeholders, render, template_problems


@pytest.mark.parametrize(
    ("template", "names"),
    [
        ("", set()),
        ("plain text", set()),
        (
            "{Indicator}: {CurrentValue} vs {HistoricalValue}",
            {"Indicator", "CurrentValue", "HistoricalValue"},
        ),
        ("{Indicator} and {Indicator} again", {"Indicator"}),
        ("{{Indicator}} is literal", set()),
        ("{{{Indicator}}} keeps braces around a value", {"Indicator"}),
        ("{unknown} is still a placeholder name", {"unknown"}),
        ("{X.y} {A[0]} {B:>10} {C!r} {} {0}", set()),
        ("{unclosed", set()),
    ],
)
def test_placeholders_are_the_bare_names_between_single_braces(template: str, names: set[str]) -> None:
    assert placeholders(template) == names


@pytest.mark.parametrize(
    "template",
    [
        "",
        "no placeholders at all",
        " ".join(f"{{{name}}}" for name in sorted(TEMPLATE_PLACEHOLDERS)),
        "{Indicator}: {CurrentValue} vs {HistoricalValue} ({DeviationPercent}%)",
        'literal braces: {{"key": 1}} and {{ }}',
        "{{{Indicator}}}",
        "100% {Severity}\nwindow {WindowStart} - {WindowEnd}",
    ],
)
def test_templates_with_only_known_placeholders_and_doubled_braces_are_valid(template: str) -> None:
    assert template_problems(template) == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{Indicator.__class__}", "'{Indicator.__class__}' at character 1 uses attribute access (.)"),
        ("{X[0]}", "'{X[0]}' at character 1 uses indexing ([])"),
        ("{CurrentValue:>10}", "'{CurrentValue:>10}' at character 1 uses a format spec (:)"),
        ("{CurrentValue:.2f}", "uses a format spec (:)"),
        ("{Indicator!r}", "'{Indicator!r}' at character 1 uses a conversion (!)"),
        ("a {} b", "'{}' at character 3 is a positional field"),
        ("{0}", "'{0}' at character 1 is a positional field"),
        ("{two words}", "'{two words}' at character 1 is not a placeholder name"),
        ("value { here", "unclosed '{' at character 7: write '{{' for a literal brace"),
        ("{Indicator", "unclosed '{' at character 1"),
        ("{a{Indicator}", "unclosed '{' at character 1"),
        ("value } here", "stray '}' at character 7: write '}}' for a literal brace"),
        ("{current}", "unknown placeholder {current}; allowed: {AckUrl}, {AlertUrl}, {CurrentValue}, "),
        ("{indicator}", "unknown placeholder {indicator} (did you mean {Indicator}?)"),
        (
            "{{Indicator}}",
            "'{{Indicator}}' at character 1 is the literal text '{Indicator}', not a placeholder",
        ),
    ],
)
def test_each_invalid_template_is_explained(template: str, expected: str) -> None:
    problems = template_problems(template)
    assert len(problems) == 1
    assert expected in problems[0]


def test_every_problem_of_a_template_is_reported_in_reading_order() -> None:
    problems = template_problems("{X.y} } {A[0]} {nope} {other} {nope} {")
    assert [problem.split(" at character")[0] for problem in problems[:4]] == [
        "'{X.y}'",
        "stray '}'",
        "'{A[0]}'",
        "unclosed '{'",
    ]
    assert problems[4].startswith("unknown placeholders {nope}, {other};")
    assert len(problems) == 5


def test_the_original_seeded_templates_are_rejected() -> None:
    seeded = "KPI {frequency}: current {current}, historical {historical}, deviation {deviation}%"
    (problem,) = template_problems(seeded)
    assert problem.startswith("unknown placeholders {frequency}, {current}, {historical}, {deviation};")
    assert "{CurrentValue}" in problem


VALUES = {name: f"<{name}>" for name in TEMPLATE_PLACEHOLDERS}


@pytest.mark.parametrize("name", sorted(TEMPLATE_PLACEHOLDERS))
def test_render_substitutes_every_placeholder(name: str) -> None:
    assert render(f"before {{{name}}} after", VALUES) == f"before <{name}> after"


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{Indicator}} is literal", "{Indicator} is literal"),
        ("{{{Indicator}}}", "{<Indicator>}"),
        ('json: {{"key": 1}}', 'json: {"key": 1}'),
        ("{Indicator.__class__} {Owner[0]} {CurrentValue:>99999} {Severity!r}", None),
        ("{Unknown} stays", "{Unknown} stays"),
        ("{unclosed and } stray", "{unclosed and } stray"),
    ],
)
def test_render_never_evaluates_anything_but_bare_names(template: str, rendered: str | None) -> None:
    assert render(template, VALUES) == (template if rendered is None else rendered)


@pytest.mark.parametrize(
    "hostile",
    ["{Indicator}", "{0}", "{CurrentValue:>1000000000}", "{{}}", "%s %(x)s", "${HOME}", "}{"],
)
def test_values_are_inserted_verbatim_and_never_rendered_again(hostile: str) -> None:
    values = {**VALUES, "MetricKey": hostile}
    assert render("key={MetricKey} indicator={Indicator}", values) == f"key={hostile} indicator=<Indicator>"

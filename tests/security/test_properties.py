"""Property-based tests (hypothesis): template rendering and the definitions parser on arbitrary input.

- `render` and `template_problems` never fail, whatever the template and the values; rendering never
  evaluates a field (no attribute, index, conversion or format of a value: a value that would record any of
  them records nothing) and reads only known placeholder names; a value is inserted as it is, never parsed
  again; an unknown placeholder is always reported.
- `parse_definitions` on arbitrary nested YAML/JSON-like data raises nothing but `DefinitionsError`, and each
  of its problems names its entry (`kpis[3] (Name)`) and, below the entry, its field.

Fast and deterministic: a modest number of examples, no deadline, derandomized, no example database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from shared.definitions import parse_definitions
from shared.definitions_models import ContactModel, KpiModel
from shared.definitions_silences import SilenceModel
from shared.domain.kpi import TEMPLATE_PLACEHOLDERS
from shared.domain.template import render, template_problems
from shared.errors import DefinitionsError

FAST = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
KNOWN = sorted(TEMPLATE_PLACEHOLDERS)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


class Trap(str):
    """A value that records every attempt to evaluate something on it (what `str.format` would do)."""

    touched: list[str]

    def __new__(cls, text: str) -> Trap:
        value = super().__new__(cls, text)
        value.touched = []
        return value

    def __getattr__(self, name: str) -> Any:
        self.touched.append(f".{name}")
        raise AttributeError(name)

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        self.touched.append(f"[{key!r}]")
        return super().__getitem__(key)

    def __format__(self, spec: str) -> str:
        self.touched.append(f":{spec}")
        return super().__format__(spec)

    def __repr__(self) -> str:
        self.touched.append("!r")
        return super().__repr__()


class RecordingValues(Mapping[str, str]):
    """The placeholder values, recording which names rendering looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: list[str] = []

    def __getitem__(self, name: str) -> str:
        self.read.append(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


# Templates mix free text with what matters: known and unknown fields, every malformed kind, doubled and
# stray braces.
FIELD_PIECES = st.one_of(
    st.sampled_from(KNOWN).map(lambda name: f"{{{name}}}"),
    NAMES.map(lambda name: f"{{{name}}}"),
    st.sampled_from(KNOWN).flatmap(
        lambda name: st.sampled_from(
            [f"{{{name}.__class__}}", f"{{{name}[0]}}", f"{{{name}!r}}", f"{{{name}:>10}}", "{}", "{0}"]
        )
    ),
    st.sampled_from(["{{", "}}", "{", "}", "{{Indicator}}"]),
    st.text(max_size=8),
)
TEMPLATES = st.one_of(st.text(max_size=60), st.lists(FIELD_PIECES, max_size=12).map("".join))
VALUES = st.dictionaries(st.sampled_from(KNOWN), st.text(max_size=20))


@FAST
@given(template=TEMPLATES, values=VALUES)
def test_rendering_never_fails_and_never_evaluates_anything_on_a_value(
    template: str, values: dict[str, str]
) -> None:
    traps = {name: Trap(text) for name, text in values.items()}
    recording = RecordingValues(dict(traps))

    rendered = render(template, recording)

    assert isinstance(rendered, str)
    assert all(trap.touched == [] for trap in traps.values())
    assert set(recording.read) <= TEMPLATE_PLACEHOLDERS


@FAST
@given(template=TEMPLATES)
def test_template_problems_never_fail_and_report_every_unknown_placeholder(template: str) -> None:
    problems = template_problems(template)

    assert all(isinstance(problem, str) and problem for problem in problems)
    unknown = {
        name
        for name in re.findall(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})", template)
        if name not in TEMPLATE_PLACEHOLDERS
    }
    if unknown and not any("unclosed" in problem or "stray" in problem for problem in problems):
        reported = " ".join(problem for problem in problems if problem.startswith("unknown placeholder"))
        for name in unknown:
            assert f"{{{name}}}" in reported


@FAST
@given(
    pieces=st.lists(
        st.one_of(
            st.sampled_from(KNOWN).map(lambda name: ("field", name)),
            st.text(alphabet=st.characters(exclude_characters="{}"), max_size=10).map(lambda t: ("text", t)),
            st.sampled_from(["{{", "}}"]).map(lambda brace: ("brace", brace)),
        ),
        max_size=10,
    ),
    values=st.fixed_dictionaries({name: st.text(max_size=15) for name in KNOWN}),
)
def test_a_valid_template_renders_each_value_verbatim_and_is_never_parsed_again(
    pieces: list[tuple[str, str]], values: dict[str, str]
) -> None:
    template = "".join(f"{{{text}}}" if kind == "field" else text for kind, text in pieces)
    expected = "".join(
        values[text] if kind == "field" else text[0] if kind == "brace" else text for kind, text in pieces
    )

    rendered = render(template, values)

    if not re.search(r"\{\{[A-Za-z_]\w*\}\}", template):
        assert template_problems(template) == []
    assert rendered == expected


# ------------------------------------------------------------------------------------------ definitions

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from(["https://hooks.example.com/x", "http://10.0.0.1/x", "+441234567890", "ops@example.com"]),
    st.sampled_from(["0 */5 * * * *", "Europe/London", "SELECT 1 AS current_value", "{Indicator}", "{X.y}"]),
)
KEYS = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none())


def _nested(keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=12,
    )


def _entry(model: type[Any]) -> st.SearchStrategy[dict[Any, Any]]:
    """An entry using the model's own field names (so the validators run), with arbitrary values."""
    fields = sorted(model.model_fields)
    return st.dictionaries(
        st.one_of(st.sampled_from(fields), st.text(max_size=8)), _nested(KEYS), max_size=len(fields) + 1
    )


DOCUMENTS = st.one_of(
    _nested(KEYS),
    st.fixed_dictionaries(
        {},
        optional={
            "contacts": st.one_of(
                st.lists(st.one_of(_entry(ContactModel), _nested(KEYS)), max_size=3), SCALARS
            ),
            "kpis": st.one_of(st.lists(st.one_of(_entry(KpiModel), _nested(KEYS)), max_size=3), SCALARS),
            "silences": st.lists(st.one_of(_entry(SilenceModel), _nested(KEYS)), max_size=2),
        },
    ),
)
_MODELS = {"contacts": ContactModel, "kpis": KpiModel, "silences": SilenceModel}
_ENTRY = re.compile(r"^(contacts|kpis|silences)\[(\d+)\]")
_KEY_PROBLEMS = (": unknown field", ": keys should be strings")
_KEY_PROBLEMS = (": unknown field", ": keys should be strings")
_TOP_LEVEL = ("the file must hold a mapping", "unknown top-level key", "must be a list")


def _problems(document: object) -> tuple[str, ...]:
    """The problems `parse_definitions` reports (none when the document is valid); any other exception fails
    the test."""
    try:
        parse_definitions(document, sources=["main"], existing_contacts=["Ops"])
    except DefinitionsError as error:
        return error.problems or ("<a DefinitionsError without problems>",)
    return ()


def _section_sizes(document: object) -> dict[str, int]:
    if not isinstance(document, dict):
        return {}
    return {name: len(value) for name, value in document.items() if isinstance(value, list)}


@settings(FAST, max_examples=300)
@given(document=DOCUMENTS)
def test_the_definitions_parser_reports_problems_only_as_definitions_errors_naming_entry_and_field(
    document: object,
) -> None:
    problems = _problems(document)
    sizes = _section_sizes(document)
    for problem in problems:
        entry = _ENTRY.match(problem)
        if entry is None:
            assert any(words in problem for words in _TOP_LEVEL), problem
            continue
        section, index = entry.group(1), int(entry.group(2))
        assert index < sizes[section], problem
        rest = _after_label(problem[entry.end() :])
        assert rest.startswith((": ", ".", "[")), problem
        if rest.startswith("."):
            field = re.match(r"\.([^\W\d]\w*)", rest)
            assert field is not None, problem
            known = field.group(1) in _MODELS[section].model_fields
            assert known or any(words in problem for words in _KEY_PROBLEMS), problem


def _after_label(rest: str) -> str:
    """What follows `section[i]` and its optional ` (name)`."""
    if rest.startswith(" ("):
        closing = [match.end() for match in re.finditer(r"\)(?=[.:\[])", rest)]
        return rest[closing[0] :] if closing else rest
    return rest


@FAST
@given(value=SCALARS, field=st.sampled_from(sorted(KpiModel.model_fields)))
def test_any_value_in_any_kpi_field_is_reported_or_accepted_never_raised(value: Any, field: str) -> None:
    entry: dict[str, Any] = {
        "indicator": "Deposits",
        "owner": "Payments",
        "priority": 1,
        "source": "main",
        "query": "SELECT 'k' AS key, 1 AS current_value",
        "frequency_minutes": 5,
        "last_minutes": 60,
        "deviation_percent": 20,
        "subject_template": "{Indicator}",
        "description_template": "{Indicator}",
    }
    entry[field] = value
    assert all(problem.startswith("kpis[0]") for problem in _problems({"kpis": [entry]})), entry

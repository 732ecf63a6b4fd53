"""Alert subject and description templates: literal text with `{Placeholder}` fields.

A field is a bare placeholder name between single braces, one of `TEMPLATE_PLACEHOLDERS`; `{{` and `}}` are
literal braces. Nothing else is a field: no attribute access (`{Indicator.x}`), indexing (`{X[0]}`), format
spec (`{CurrentValue:>10}`), conversion (`{X!r}`) or positional field (`{}`, `{0}`), so rendering can never
evaluate anything. `template_problems` explains what is wrong, so a KPI with a bad template is rejected when
it is saved instead of sending alerts with unrendered text, as the original system did.

`render` substitutes values by name only. The values are inserted as they are, never parsed again, so a value
holding braces or a format spec is just text. A field that is not a known placeholder (a template saved before
a rule changed) stays as it was written, so a notice is still sent rather than lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from shared.domain.kpi import TEMPLATE_PLACEHOLDERS

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOUBLED_NAME = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
_ALLOWED = ", ".join(f"{{{name}}}" for name in sorted(TEMPLATE_PLACEHOLDERS))


@dataclass(frozen=True, kw_only=True, slots=True)
class _Field:
    text: str  #: what stands between the braces
    position: int  #: 1-based character position of the opening brace


def placeholders(template: str) -> frozenset[str]:
    """The names of the bare `{Name}` fields in `template`, known or not (malformed fields are left out)."""
    return frozenset(
        item.text for item in _scan(template) if isinstance(item, _Field) and _NAME.fullmatch(item.text)
    )


def render(template: str, values: Mapping[str, str]) -> str:
    """`template` with each known `{Placeholder}` replaced by its value and `{{` / `}}` made single braces."""
    parts: list[str] = []
    index = 0
    for start, end, replacement in _substitutions(template, values):
        parts.append(template[index:start])
        parts.append(replacement)
        index = end
    parts.append(template[index:])
    return "".join(parts)


def _substitutions(template: str, values: Mapping[str, str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, text) spans of `template` to replace, in order."""
    index = 0
    while index < len(template):
        if template.startswith(("{{", "}}"), index):
            yield index, index + 2, template[index]
            index += 2
        elif template[index] == "{" and (end := _field_end(template, index)) is not None:
            name = template[index + 1 : end]
            if name in TEMPLATE_PLACEHOLDERS and name in values:
                yield index, end + 1, values[name]
            index = end + 1
        else:
            index += 1


def template_problems(template: str) -> list[str]:
    """What is wrong with `template`, in reading order; empty when it is valid."""
    problems: list[str] = []
    unknown: list[str] = []
    for item in _scan(template):
        if isinstance(item, str):
            problems.append(item)
        elif _NAME.fullmatch(item.text):
            if item.text not in TEMPLATE_PLACEHOLDERS and item.text not in unknown:
                unknown.append(item.text)
        else:
            problems.append(_malformed(item))
    if unknown:
        problems.append(_unknown(unknown))
    return problems


def _scan(template: str) -> Iterator[_Field | str]:
    index = 0
    while index < len(template):
        if template.startswith("{{", index):
            doubled = _DOUBLED_NAME.match(template, index)
            if doubled:
                name = doubled.group(1)
                yield (
                    f"'{{{{{name}}}}}' at character {index + 1} is the literal text '{{{name}}}', "
                    f"not a placeholder: write {{{name}}}"
                )
            index += 2
        elif template.startswith("}}", index):
            index += 2
        elif template[index] == "{":
            end = _field_end(template, index)
            if end is None:
                yield (f"unclosed '{{' at character {index + 1}: write '{{{{' for a literal brace")
                index += 1
            else:
                yield _Field(text=template[index + 1 : end], position=index + 1)
                index = end + 1
        elif template[index] == "}":
            yield (f"stray '}}' at character {index + 1}: write '}}}}' for a literal brace")
            index += 1
        else:
            index += 1


def _field_end(template: str, start: int) -> int | None:
    """Index of the `}` closing the field opened at `start`; None when a `{` or the end comes first."""
    for index in range(start + 1, len(template)):
        if template[index] == "{":
            return None
        if template[index] == "}":
            return index
    return None


def _malformed(field: _Field) -> str:
    shown = f"'{{{field.text}}}' at character {field.position}"
    if field.text == "" or field.text.isdigit():
        return f"{shown} is a positional field: name a placeholder, such as {{Indicator}}"
    if "!" in field.text:
        return f"{shown} uses a conversion (!): only bare placeholder names are allowed"
    if ":" in field.text:
        return f"{shown} uses a format spec (:): only bare placeholder names are allowed"
    if "." in field.text:
        return f"{shown} uses attribute access (.): only bare placeholder names are allowed"
    if "[" in field.text:
        return f"{shown} uses indexing ([]): only bare placeholder names are allowed"
    return f"{shown} is not a placeholder name"


def _unknown(names: list[str]) -> str:
    listed = ", ".join(f"{{{name}}}{_suggestion(name)}" for name in names)
    noun = "placeholder" if len(names) == 1 else "placeholders"
    return f"unknown {noun} {listed}; allowed: {_ALLOWED}"


def _suggestion(name: str) -> str:
    for known in sorted(TEMPLATE_PLACEHOLDERS):
        if known.casefold() == name.casefold():
            return f" (did you mean {{{known}}}?)"
    return ""

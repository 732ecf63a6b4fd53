"""Checks on the SQL a KPI runs, made when it is saved: a query's bind parameters and single statement, and
the shape of a stored procedure's name.

Bind parameters follow SQLAlchemy's `text()` rule (`:name` not preceded by a word character, a colon or a
backslash, and not followed by a colon, so a PostgreSQL `::type` cast is not one), but only outside string
literals, quoted or bracketed identifiers, dollar-quoted strings and comments.
"""

from __future__ import annotations

import re

from shared.domain.kpi import QUERY_PARAMETERS

# Spans where `:name` and `;` are text, not SQL: literals, quoted identifiers, comments, $tag$ strings.
_NOT_CODE = re.compile(
    r"""'(?:[^']|'')*'?"""
    r"""|"(?:[^"]|"")*"?"""
    r"|\[[^\]]*\]?"
    r"|--[^\n]*"
    r"|/\*.*?(?:\*/|\Z)"
    r"|\$((?:[A-Za-z_]\w*)?)\$.*?(?:\$\1\$|\Z)",
    re.DOTALL,
)
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_SECOND_STATEMENT = re.compile(r";\s*[^;\s]")
_IDENTIFIER = r"(?:\[[^\[\];()]+\]|\"[^\";()]+\"|[A-Za-z_@#][\w@#$]*)"
_PROCEDURE = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})?")
_ALLOWED = ", ".join(f":{name}" for name in sorted(QUERY_PARAMETERS))


def code_of(query: str) -> str:
    """`query` with literals, quoted identifiers and comments blanked out (each replaced by one space)."""
    return _NOT_CODE.sub(" ", query)


def bind_parameters(query: str) -> frozenset[str]:
    """The names of the `:name` bind parameters `query` uses outside literals and comments."""
    return frozenset(_BIND.findall(code_of(query)))


def query_problems(query: str) -> list[str]:
    """What is wrong with a KPI query: empty, several statements, or unknown bind parameters."""
    code = code_of(query)
    if not code.strip(" \t\r\n;"):
        return ["must contain a SQL statement"]
    problems = []
    if _SECOND_STATEMENT.search(code):
        problems.append("must be a single statement (nothing may follow a ';')")
    unknown = sorted(bind_parameters(query) - QUERY_PARAMETERS)
    if unknown:
        listed = ", ".join(f":{name}" for name in unknown)
        noun = "parameter" if len(unknown) == 1 else "parameters"
        problems.append(f"unknown bind {noun} {listed}; allowed: {_ALLOWED}")
    return problems


def procedure_problems(name: str) -> list[str]:
    """What is wrong with a stored procedure name: anything but `[schema].[name]`, `schema.name` or `name`
    (each part a plain identifier, or bracketed or double-quoted)."""
    if _PROCEDURE.fullmatch(name):
        return []
    return [
        "must be a procedure name with an optional schema, such as [stats].[stp_Monitor], "
        "monitoring.usp_Monitor or usp_Monitor (no spaces outside brackets, no ';' or parentheses)"
    ]

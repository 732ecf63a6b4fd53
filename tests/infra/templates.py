"""Reading the Bicep templates as data: pycep parses each file into plain dicts and lists, in which an
identifier and a string literal are both Python strings, a function call is `{"function": {"type", ...}}`
and a property access is `{"operator": {"type": "property_accessor", ...}}`. Comments are not in the
parsed form, so a name mentioned in a comment never counts as used."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
BICEP = ROOT / "infra" / "bicep"
MAIN = BICEP / "main.bicep"
MODULES = BICEP / "modules"
SETTINGS_TABLE = re.compile(r"<!-- settings-table:start -->(.*?)<!-- settings-table:end -->", re.DOTALL)


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """The parsed template (cached: tests must not change it)."""
    parsed: dict[str, Any] = _parser().parse(file_path=path)
    return parsed


def module(name: str) -> dict[str, Any]:
    return parse(MODULES / f"{name}.bicep")


def main() -> dict[str, Any]:
    return parse(MAIN)


def bicep_files() -> list[Path]:
    return sorted(BICEP.rglob("*.bicep"))


def variable(template: dict[str, Any], name: str) -> Any:
    return template["variables"][name]["value"]


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    """The body of a resource, looking through a condition (`= if (...)`) or a loop (`= [for ...]`)."""
    config: dict[str, Any] = template["resources"][name]["config"]
    while "condition" in config and "config" in config:
        config = config["config"]
    return config


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource(template, name)
        for name, declared in template["resources"].items()
        if declared["type"] == resource_type
    }


def decorators(declaration: dict[str, Any]) -> dict[str, Any]:
    return {item["type"]: item.get("argument") for item in declaration["decorators"]}


def accessed(expression: Any) -> str:
    """`a.b.c` as text, from pycep's nested property accessors."""
    operator = expression["operator"]
    assert operator["type"] == "property_accessor", expression
    first, rest = operator["operands"]["operand_1"], operator["operands"]["operand_2"]
    return f"{first}.{rest if isinstance(rest, str) else accessed(rest)}"


def function(expression: Any, name: str) -> dict[str, Any]:
    """The parameters of a call to `name`; fails when the expression is something else."""
    assert isinstance(expression, dict), expression
    assert "function" in expression, expression
    assert expression["function"]["type"] == name, expression
    parameters: dict[str, Any] = expression["function"]["parameters"]
    return parameters


def walk(node: Any) -> Iterator[Any]:
    """Every dict, list and scalar inside a parsed template."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def keys(node: Any) -> set[str]:
    return {key for item in walk(node) if isinstance(item, dict) for key in item}


def as_text(node: Any) -> str:
    return json.dumps(node)


def documented_setting_names() -> list[str]:
    """The first column of the settings table (docs/settings.md)."""
    table = SETTINGS_TABLE.search((ROOT / "docs" / "settings.md").read_text(encoding="utf-8"))
    assert table is not None, "docs/settings.md has no settings table"
    return re.findall(r"^\| `([^`]+)` \|", table.group(1), flags=re.MULTILINE)

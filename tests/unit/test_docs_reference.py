"""Every `mgrid` command has its line in the command index of docs/operations.md, and every HTTP route of the
app its row in the route table of docs/api.md, each once: a new command or route without documentation fails
here."""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from shared.api.app import create_app
from shared.cli import _parser
from tests.wiring.bindings import indexed_functions

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: Functions whose routes the management API's OpenAPI document lists (`api` serves them all).
API_FUNCTION = "api"


def section(page: str, heading: str) -> str:
    text = (DOCS / page).read_text(encoding="utf-8")
    _, _, rest = text.partition(f"\n## {heading}\n")
    assert rest, f"{page} has no section {heading!r}"
    return rest.split("\n## ", 1)[0]


def first_cells(table: str) -> list[str]:
    return [line.split(" | ")[0].removeprefix("| ") for line in table.splitlines() if line.startswith("| `")]


def commands() -> list[str]:
    """Every command as typed: `mgrid GROUP [SUBCOMMAND]`."""

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(actions[0].choices) if actions else {}

    found = []
    for group, parser in subcommands(_parser()).items():
        found += [f"mgrid {group} {name}" for name in subcommands(parser)] or [f"mgrid {group}"]
    return found


def normal(path: str) -> str:
    """A route path with its parameters unnamed: `/api/alerts/{}/ack`."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; HEAD and the catch-all's other methods aside."""
    found = {
        (method.upper(), normal(path))
        for path, operations in create_app().openapi()["paths"].items()
        for method in operations
    }
    for name, function in indexed_functions().items():
        for binding in function.get_bindings():
            if binding.type == "httpTrigger" and name != API_FUNCTION:
                path = normal("/api/" + binding.route.replace("{*rest}", "").rstrip("/"))
                found |= {(str(m.value), path) for m in binding.methods if m.value != "HEAD"}
    return found | {("GET", "/api/openapi.json")}


def documented_routes() -> Counter[tuple[str, str]]:
    rows: Counter[tuple[str, str]] = Counter()
    for cell in first_cells(section("api.md", "Routes")):
        path = re.search(r"/api[^\s?\[`]*", cell)
        assert path is not None, cell
        for method in re.findall(r"\b(GET|POST|PUT|PATCH|DELETE)\b", cell[: path.start()]):
            rows[(method, normal(path.group()))] += 1
    return rows


def test_every_command_is_in_the_operations_index_once() -> None:
    index = section("operations.md", "The `mgrid` command")
    rows = [cell.strip("`") for cell in first_cells(index)]
    missing = [command for command in commands() if f"`{command}" not in index]
    assert missing == []
    assert [row for row, count in Counter(rows).items() if count > 1] == []


def test_every_route_has_one_row_in_the_api_route_table() -> None:
    documented = documented_routes()
    assert sorted(routes() - set(documented)) == []
    assert sorted(set(documented) - routes()) == []
    assert [route for route, count in documented.items() if count > 1] == []

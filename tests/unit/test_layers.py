"""Where code may reach: the domain is pure (the standard library and itself), messages and sources do not
touch the monitoring repositories, the services and the CLI write no SQL (the repositories in shared/db do),
and nothing in the domain reads the settings."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


def imports_of(path: Path) -> set[str]:
    """The modules a file imports (absolute names; relative imports are not used here)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def python_files(*parts: str) -> list[Path]:
    target = SHARED.joinpath(*parts)
    return [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("path", python_files("domain"), ids=lambda p: p.name)
def test_the_domain_imports_only_the_standard_library_and_itself(path: Path) -> None:
    impure = {
        name
        for name in imports_of(path)
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("shared.domain")
    }
    assert impure == set()


@pytest.mark.parametrize(
    "path", [*python_files("messages.py"), *python_files("sources")], ids=lambda p: p.name
)
def test_messages_and_sources_do_not_reach_into_the_monitoring_database(path: Path) -> None:
    assert {name for name in imports_of(path) if name.startswith(("shared.db", "shared.settings"))} == set()


def sqlalchemy_names(path: Path) -> set[str]:
    """The names a file takes from the `sqlalchemy` package itself (not from its submodules such as `exc`);
    `import sqlalchemy` counts as taking all of them (`*`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import) and any(alias.name == "sqlalchemy" for alias in node.names):
            names.add("*")
    return names


@pytest.mark.parametrize(
    "path", [*python_files("services"), *python_files("cli")], ids=lambda p: p.relative_to(SHARED).as_posix()
)
def test_services_and_the_cli_write_no_sql(path: Path) -> None:
    # Connections and engines are passed through to the repositories, which build every statement.
    assert sqlalchemy_names(path) <= {"Connection", "Engine"}
    assert not any(name.startswith("shared.db.tables") for name in imports_of(path))


def test_the_connection_plumbing_reads_no_settings() -> None:
    assert not any(name.startswith("shared.settings") for name in imports_of(SHARED / "connections.py"))


def test_one_clock_type_and_one_aware_check_serve_the_whole_package() -> None:
    copies = [
        path.relative_to(SHARED).as_posix()
        for path in sorted(SHARED.rglob("*.py"))
        if path.name != "clock.py"
        and (
            "Clock = Callable[[], datetime]" in (text := path.read_text(encoding="utf-8"))
            or "tzinfo is None or" in text
        )
    ]
    assert copies == []


def test_no_module_of_the_service_grows_past_400_lines() -> None:
    # A ratchet: nothing is over the limit today, and nothing may be.
    over_today: set[str] = set()
    long = {
        path.relative_to(SHARED).as_posix(): lines
        for path in SHARED.rglob("*.py")
        if "migrations" not in path.parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert set(long) <= over_today, long

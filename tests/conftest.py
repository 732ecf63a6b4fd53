"""Shared fixtures: a clean environment for every test, and fresh migrated monitoring databases.

`database` gives each test its own migrated monitoring database, once on SQLite and once on the PostgreSQL
server (its own database, dropped afterwards). The schema is migrated once per session into a template that
each test copies, so a contract test costs a file copy or a `CREATE DATABASE ... TEMPLATE`.

PostgreSQL comes from `MGRID_TEST_POSTGRES_URL` (default: the local server). When CI is set, a missing server
fails the tests that need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from shared import runtime
from shared.db import migrate
from shared.db.engine import create_monitoring_engine
from tests.azurite import azurite_queue

POSTGRES_ADMIN_URL = os.environ.get(
    "MGRID_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Variables a test process may keep; everything else is cleared so no test reads the developer's settings.
_KEEP = {
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "CI",
    "MGRID_TEST_POSTGRES_URL",
    "VIRTUAL_ENV",
    "SYSTEMROOT",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name not in _KEEP:
            monkeypatch.delenv(name)
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The connection string of a real Azurite queue service, running for the whole session."""
    with azurite_queue(tmp_path_factory.mktemp("azurite")) as connection_string:
        yield connection_string


@dataclass(frozen=True)
class Database:
    """A migrated monitoring database of one backend, private to one test."""

    backend: str
    url: str
    engine: Engine


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string()} unreachable: {error}"
    return None


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL server's maintenance database."""
    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI requires PostgreSQL: {problem}")
        pytest.skip(problem)
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def _scratch_postgres(admin: Engine, name: str, *, template: str | None) -> Iterator[str]:
    clause = f" TEMPLATE {template}" if template else ""
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}{clause}"))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: Engine) -> Iterator[str]:
    name = f"mgrid_template_{uuid.uuid4().hex[:12]}"
    for url in _scratch_postgres(postgres_admin, name, template=None):
        engine = create_monitoring_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "monitoring.db"
    engine = create_monitoring_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file we copy
    assert not path.with_name(f"{path.name}-wal").exists()
    return path


def _open_database(request: pytest.FixtureRequest, tmp_path: Path, *, migrated: bool) -> Iterator[Database]:
    backend = request.param
    name = f"mgrid_test_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        path = tmp_path / "monitoring.db"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        urls: Iterator[str] = iter([f"sqlite:///{path}"])
    else:
        template = request.getfixturevalue("postgres_template") if migrated else None
        urls = _scratch_postgres(request.getfixturevalue("postgres_admin"), name, template=template)
    for url in urls:
        engine = create_monitoring_engine(url)
        try:
            yield Database(backend=backend, url=url, engine=engine)
        finally:
            engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated monitoring database on SQLite and on PostgreSQL."""
    yield from _open_database(request, tmp_path, migrated=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh database with no schema at all, on SQLite and on PostgreSQL."""
    yield from _open_database(request, tmp_path, migrated=False)

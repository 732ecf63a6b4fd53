"""Applying the Alembic migrations of the monitoring database from code (`mgrid db ...`, tests)."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

_SCRIPTS = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to `revision` (default: the newest)."""
    with _migrating(engine) as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to `revision` (`base` removes every table)."""
    with _migrating(engine) as connection:
        command.downgrade(_config(connection), revision)


@contextlib.contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One transaction to migrate in. On SQLite its foreign keys are off meanwhile: a migration that rebuilds
    a table (Alembic's batch mode copies it, drops the old one and renames the copy) would otherwise cascade
    the drop to every row that references the table. Before the commit the references are checked."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # outside any transaction: SQLite ignores this pragma inside one
            _pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("the migration left rows that reference missing rows")
        finally:
            if sqlite:
                _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    cursor = connection.connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return current_revision(connection)


def current_revision(connection: Connection) -> str | None:
    """The revision of the database behind `connection`, or None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def head() -> str:
    """The newest revision the code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    if revision is None:
        raise RuntimeError(f"no migrations found in {_SCRIPTS}")
    return revision


def offline_sql(url: str, revision: str = "head") -> str:
    """The DDL a migration to `revision` would run on the database of `url`, rendered without connecting."""
    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision, sql=True)
    return buffer.getvalue()

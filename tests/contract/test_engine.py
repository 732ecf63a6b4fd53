"""Engines: SQLite is configured for concurrent use; PostgreSQL URLs use psycopg 3."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.db.engine import create_monitoring_engine
from shared.errors import UnsupportedDatabaseError
from tests.conftest import Database


def test_sqlite_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_monitoring_engine(f"sqlite:///{tmp_path}/nested/dir/monitoring.db")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert (tmp_path / "nested" / "dir" / "monitoring.db").exists()
    engine.dispose()


def test_sqlite_writers_serialise_instead_of_failing_on_a_lock_upgrade(tmp_path: Path) -> None:
    # With deferred transactions two read-then-write transactions deadlock ("database is locked");
    # BEGIN IMMEDIATE makes the second wait for the first.
    engine = create_monitoring_engine(f"sqlite:///{tmp_path}/counter.db")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []

    def increment() -> None:
        try:
            for _ in range(50):
                with engine.begin() as connection:
                    n = connection.execute(text("SELECT n FROM counter")).scalar_one()
                    connection.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        except BaseException as error:  # collected and re-raised by the test
            errors.append(error)

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counter")).scalar_one() == 200
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_postgresql_urls_are_served_by_psycopg3(database: Database) -> None:
    plain = database.url.replace("postgresql+psycopg://", "postgresql://")
    engine = create_monitoring_engine(plain)
    assert engine.dialect.driver == "psycopg"
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://user@localhost/db", "oracle://scott@host/db"])
def test_unsupported_databases_are_refused_with_the_url_named(url: str) -> None:
    with pytest.raises(UnsupportedDatabaseError, match="unsupported database URL"):
        create_monitoring_engine(url)

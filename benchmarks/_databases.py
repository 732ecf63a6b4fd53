"""Scratch databases for the benchmarks, created for one run and removed at its end.

PostgreSQL: `CREATE DATABASE bench_<run>_<role>` on the local server (`MGRID_BENCH_POSTGRES_URL`, default
the test suite's `postgres@127.0.0.1:5432`), dropped `WITH (FORCE)` on exit. SQLite: files in a temporary
directory. Monitoring databases are migrated with `shared.db.migrate.upgrade`, like production.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Table, create_engine, insert, text
from sqlalchemy.engine import make_url

from shared.db import migrate
from shared.db.engine import create_monitoring_engine

SHARED_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The PostgreSQL server the benchmarks use: `MGRID_BENCH_POSTGRES_URL` (read at each call, so that a
    benchmark may point it at a cluster of its own), by default the test suite's shared server."""
    return os.environ.get("MGRID_BENCH_POSTGRES_URL", SHARED_POSTGRES_URL)


BACKENDS = ("sqlite", "postgresql")


class Scratch:
    """Creates scratch databases of one backend; a context manager that removes them all on exit."""

    def __init__(self, backend: str) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        self.backend = backend
        self._run = uuid.uuid4().hex[:8]
        self._created: list[str] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="mgrid-bench-")
        self._admin = (
            create_engine(admin_url(), isolation_level="AUTOCOMMIT") if backend != "sqlite" else None
        )

    def __enter__(self) -> Scratch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def url(self, role: str) -> str:
        """A new, empty database for `role` (a short identifier); its SQLAlchemy URL."""
        if self._admin is None:
            return f"sqlite:///{Path(self._tmp.name) / role}.db"
        name = f"bench_{self._run}_{role}"
        with self._admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        self._created.append(name)
        return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)

    def monitoring(self, role: str) -> tuple[str, Engine]:
        """A new monitoring database, migrated to head, and its engine (`create_monitoring_engine`)."""
        url = self.url(role)
        engine = create_monitoring_engine(url)
        migrate.upgrade(engine)
        return url, engine

    def close(self) -> None:
        if self._admin is not None:
            with self._admin.connect() as connection:
                for name in self._created:
                    connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            self._admin.dispose()
            self._created.clear()
        self._tmp.cleanup()


def bulk_insert(engine: Engine, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) at once: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    columns = list(rows[0])
    with engine.begin() as connection:
        if engine.dialect.name != "postgresql":
            connection.execute(insert(table), list(rows))
            return
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        names = ", ".join(columns)
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])


def vacuum_analyze(engine: Engine, *tables: str) -> None:
    """Refresh planner statistics after bulk loads (and reclaim dead rows on PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in tables:
                connection.execute(text(f"VACUUM ANALYZE {table}"))
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()

"""Engines for the three supported databases, each configured the way this application needs it.

- SQLite (the embedded default): WAL, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` transactions so
  that concurrent claims serialise instead of failing on a lock upgrade.
- PostgreSQL through psycopg 3 (`postgresql://` URLs are routed to it).
- SQL Server / Azure SQL through `mssql+pyodbc`. Without a user and password in the URL, every new connection
  gets a fresh Entra ID access token from azure-identity, passed to the ODBC driver as a connection attribute
  in a `do_connect` hook. pyodbc is imported only when such an engine is built, so the app imports (and runs
  on SQLite or PostgreSQL) on hosts without libodbc.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from shared.connections import (
    POSTGRES_CONNECT_TIMEOUT_S,
    SQLITE_BUSY_TIMEOUT_S,
    AccessTokenHook,
    LazyAzureCredential,
    TokenCredential,
    uses_token_authentication,
)
from shared.errors import UnsupportedDatabaseError

#: Pooled server connections are replaced after this long. There is no ping before each use (a round trip
#: per checkout): a connection that died anyway fails its first statement, SQLAlchemy then discards the
#: pool's connections, and the executor retries its claim or its recording once on a fresh connection
#: (`Executor.execute`, docs/testing.md); elsewhere the invocation fails and the host retries it.
POOL_RECYCLE_S = 1800


def create_monitoring_engine(url: str, *, credential: TokenCredential | None = None) -> Engine:
    """An engine for `url`; `credential` overrides the default Azure credential for SQL Server tokens."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgresql_engine(parsed)
    if backend == "mssql":
        return _mssql_engine(parsed, credential)
    raise UnsupportedDatabaseError(parsed.render_as_string(hide_password=True))


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take transaction control from the sqlite3 module; `_begin_immediate` issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgresql_engine(url: URL) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(
        url,
        pool_recycle=POOL_RECYCLE_S,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "application_name": "monitoringgrid"},
    )


def _mssql_engine(url: URL, credential: TokenCredential | None) -> Engine:
    import pyodbc

    # Only SQLAlchemy pools connections: a pooled ODBC connection would outlive its access token.
    pyodbc.pooling = False
    engine = create_engine(url, pool_recycle=POOL_RECYCLE_S)
    if uses_token_authentication(url):
        event.listen(engine, "do_connect", AccessTokenHook(credential or LazyAzureCredential()))
    return engine

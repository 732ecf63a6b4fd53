"""Engines for KPI source databases: one per named source, at most `pool_size` connections each.

Built like the monitoring engine (`shared.db.engine`; both use `shared.connections`) for the same three
databases, with these differences:

- every engine has a bounded `QueuePool` (`pool_size`, `max_overflow=0`, `pool_timeout`), so one process
  never opens more than `pool_size` connections to a source;
- SQLite: no WAL or other persistent change to someone else's file, `PRAGMA query_only=ON`, and plain
  deferred `BEGIN` (sources are read, never written, so `BEGIN IMMEDIATE` would only block their writers);
- PostgreSQL (psycopg 3): `prepare_threshold=0`, so every statement goes through the extended protocol,
  which refuses several commands in one string (a KPI cannot smuggle `COMMIT; ...` past the read-only
  transaction); connections are tagged `application_name=monitoringgrid-source-<name>` and start with
  `default_transaction_read_only=on`, so even a transaction the runner did not open is read-only;
- SQL Server: `ApplicationIntent=ReadOnly` in the ODBC connection string unless the URL names an intent
  (a read-only replica where the database has one; a read-only login does the rest), `SET NOCOUNT ON` per
  connection, so row counts of a batch's inner statements are not taken
  for result sets; Entra ID tokens through the same `do_connect` hook as the monitoring engine, and pyodbc
  imported only when such an engine is built.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from shared.connections import (
    POSTGRES_CONNECT_TIMEOUT_S,
    SQLITE_BUSY_TIMEOUT_S,
    AccessTokenHook,
    LazyAzureCredential,
    TokenCredential,
    uses_token_authentication,
)
from shared.errors import UnsupportedDatabaseError

#: How long a run waits for a free pooled connection before the source counts as unavailable.
POOL_TIMEOUT_S = 30
APPLICATION_NAME_PREFIX = "monitoringgrid-source-"
#: The PostgreSQL session option that makes every transaction of a source connection read-only.
READ_ONLY_OPTION = "-c default_transaction_read_only=on"
_INTENT = re.compile(r"(?i)(?:^|;)\s*ApplicationIntent\s*=")


def create_source_engine(
    url: str, *, source: str, pool_size: int, credential: TokenCredential | None = None
) -> Engine:
    """An engine for the source `source` at `url`; `credential` overrides the default Azure credential."""
    parsed = make_url(url)
    pool: dict[str, Any] = {
        "poolclass": QueuePool,
        "pool_size": pool_size,
        "max_overflow": 0,
        "pool_timeout": POOL_TIMEOUT_S,
    }
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, pool)
    if backend == "postgresql":
        return _postgresql_engine(parsed, source, pool)
    if backend == "mssql":
        return _mssql_engine(parsed, pool, credential)
    raise UnsupportedDatabaseError(parsed.render_as_string(hide_password=True))


def application_name(source: str) -> str:
    """The `application_name` of a source's PostgreSQL connections (63 bytes at most on the server)."""
    return f"{APPLICATION_NAME_PREFIX}{source}"[:63]


def _sqlite_engine(url: URL, pool: dict[str, Any]) -> Engine:
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    engine = create_engine(url, connect_args=connect_args, **pool)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_deferred)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take transaction control from the sqlite3 module; `_begin_deferred` issues BEGIN itself.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA query_only=ON")


def _begin_deferred(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _postgresql_engine(url: URL, source: str, pool: dict[str, Any]) -> Engine:
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    if url.get_driver_name() == "psycopg":
        connect_args["prepare_threshold"] = 0
    if "application_name" not in url.query:
        connect_args["application_name"] = application_name(source)
    given = url.query.get("options", "")
    connect_args["options"] = (
        f"{given if isinstance(given, str) else ' '.join(given)} {READ_ONLY_OPTION}".strip()
    )
    # No pre-ping: a connection that went stale fails its first statement, which is a transient error, and
    # the runner retries it on a fresh connection; a ping would cost a round trip on every run.
    return create_engine(url, connect_args=connect_args, **pool)


def _mssql_engine(url: URL, pool: dict[str, Any], credential: TokenCredential | None) -> Engine:
    import pyodbc

    # Only SQLAlchemy pools connections: a pooled ODBC connection would outlive its access token.
    pyodbc.pooling = False
    engine = create_engine(read_only_intent(url), pool_pre_ping=True, **pool)
    event.listen(engine, "connect", _configure_mssql_connection)
    if uses_token_authentication(url):
        event.listen(engine, "do_connect", AccessTokenHook(credential or LazyAzureCredential()))
    return engine


def read_only_intent(url: URL) -> URL:
    """`url` with `ApplicationIntent=ReadOnly` added to its ODBC connection string (inside `odbc_connect`
    when it has one), unless it already names an intent."""
    keys = {key.lower() for key in url.query}
    raw = url.query.get("odbc_connect")
    if isinstance(raw, str):
        if _INTENT.search(raw):
            return url
        return url.update_query_dict({"odbc_connect": f"{raw.rstrip(';')};ApplicationIntent=ReadOnly"})
    if "applicationintent" in keys:
        return url
    return url.update_query_dict({"ApplicationIntent": "ReadOnly"})


def _configure_mssql_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET NOCOUNT ON")
    finally:
        cursor.close()

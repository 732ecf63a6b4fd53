"""What differs per source database: the read-only transaction, the timeout, procedure calls, error kinds.

Every run happens inside `SourceDialect.read_only(connection, timeout_s)`: a transaction that is always
rolled back, with a timeout that cancels the statement on the server.

- **PostgreSQL**: `transaction_read_only`, `statement_timeout` (ms) and `TimeZone = 'UTC'`, set local to
  the transaction in one statement. Window parameters bind as aware UTC timestamps; with the session in UTC
  they compare correctly with both `timestamptz` and UTC `timestamp` columns. Procedure contract 1 is a
  PROCEDURE with INOUT parameters, `CALL name(:minutes, NULL, NULL, NULL)`; contract 2 a set-returning
  FUNCTION, `SELECT * FROM name(:minutes)`; `pg_proc.prokind` of `to_regproc(name)` tells which.
- **SQLite**: `PRAGMA query_only=ON`, an authorizer that permits only reading (SELECT, READ, FUNCTION,
  RECURSIVE), `busy_timeout` = the budget, and a progress handler that aborts the statement once the
  deadline passes (`sqlite3.OperationalError: interrupted`). SQLite has no timestamp type, so window
  parameters bind as UTC text `YYYY-MM-DD HH:MM:SS` (`.ffffff` appended only when there are microseconds),
  which compares correctly with timestamps stored as text in that form. No stored procedures.
- **SQL Server**: see `shared.sources.sql_server`.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Connection, CursorResult, text

from shared.domain.kpi import Kpi
from shared.sources.contracts import MAX_ROWS, ProcedureContract, ProcedureSignature, ResultSet
from shared.sources.errors import SourceQueryError

#: SQLite calls the progress handler every this many virtual-machine instructions.
PROGRESS_STEPS = 1_000
_SQLITE_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
#: SQLSTATEs (or their two-character classes) after which a retry may succeed.
_POSTGRES_TRANSIENT = ("08", "53", "40001", "40P01", "55P03", "57P01", "57P02", "57P03")
_POSTGRES_QUERY_CANCELED = "57014"
_POSTGRES_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"\x00-\x1f:%]+")'
_POSTGRES_ARM = text(
    "SELECT set_config('transaction_read_only', 'on', true), set_config('statement_timeout', :ms, true),"
    " set_config('TimeZone', 'UTC', true)"
)


class Failure(Enum):
    """How a driver error counts: the statement timed out, a retry may help, or it never will."""

    TIMEOUT = "timeout"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class SourceDialect(ABC):
    """The per-database mechanics of running KPI SQL; stateless, one instance per database kind."""

    @contextmanager
    def read_only(self, connection: Connection, timeout_s: float) -> Iterator[None]:
        """A transaction that never writes (rolled back, or committed where it is read-only by the server's
        own rule), its statements cancelled after `timeout_s`."""
        with connection.begin() as transaction:
            try:
                self._arm(connection, timeout_s)
                yield
            finally:
                self._disarm(connection)
            self._end(transaction)

    def _end(self, transaction: Any) -> None:
        transaction.rollback()

    def bind_datetime(self, value: datetime) -> object:
        """How an aware UTC datetime is passed as a bind parameter."""
        return value

    @abstractmethod
    def describe_procedure(self, connection: Connection, kpi: Kpi) -> ProcedureSignature:
        """Read from the database's metadata which contract the KPI's procedure follows."""

    @abstractmethod
    def call_procedure(self, connection: Connection, kpi: Kpi, signature: ProcedureSignature) -> ResultSet:
        """Run the KPI's procedure with its minutes and return the result set its contract reads."""

    @abstractmethod
    def classify(self, error: BaseException) -> Failure:
        """Whether a driver error is a timeout, transient or permanent."""

    def describe_error(self, error: BaseException) -> str:
        """The driver's message, first line only and bounded in length."""
        return first_line(str(error)) or type(error).__name__

    @abstractmethod
    def _arm(self, connection: Connection, timeout_s: float) -> None: ...

    def _disarm(self, connection: Connection) -> None:
        return None


def fetch(indicator: str, result: CursorResult[Any]) -> ResultSet:
    """The columns and (at most MAX_ROWS + 1) rows of a result; a statement without rows is an error."""
    if not result.returns_rows:
        raise SourceQueryError(indicator, "the statement returned no result set")
    rows = tuple(tuple(row) for row in result.fetchmany(MAX_ROWS + 1))
    return ResultSet(columns=tuple(result.keys()), rows=rows)


def first_line(message: str) -> str:
    """The first line of a driver message, at most 300 characters."""
    lines = message.strip().splitlines()
    return lines[0][:300] if lines else ""


def procedure_name(kpi: Kpi, part: str) -> str:
    """The KPI's procedure name, stripped, if it is one or two identifier `part`s joined by a dot."""
    name = kpi.sql_text.strip()
    if not re.fullmatch(rf"{part}(?:\.{part})?", name):
        raise SourceQueryError(
            kpi.indicator, f"{name[:80]!r} is not a procedure name ([schema.]name, optionally quoted)"
        )
    return name


def _timeout_ms(timeout_s: float) -> int:
    return max(1, math.ceil(timeout_s * 1000))


class SqliteDialect(SourceDialect):
    def bind_datetime(self, value: datetime) -> object:
        utc = value.astimezone(UTC).replace(tzinfo=None)
        return utc.isoformat(sep=" ", timespec="microseconds" if utc.microsecond else "seconds")

    def describe_procedure(self, connection: Connection, kpi: Kpi) -> ProcedureSignature:
        raise SourceQueryError(kpi.indicator, "stored procedures are not supported on SQLite")

    def call_procedure(self, connection: Connection, kpi: Kpi, signature: ProcedureSignature) -> ResultSet:
        raise SourceQueryError(kpi.indicator, "stored procedures are not supported on SQLite")

    def classify(self, error: BaseException) -> Failure:
        name = str(getattr(error, "sqlite_errorname", ""))
        message = str(error).lower()
        if name == "SQLITE_INTERRUPT" or message == "interrupted":
            return Failure.TIMEOUT
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in message:
            return Failure.TRANSIENT
        return Failure.PERMANENT

    def describe_error(self, error: BaseException) -> str:
        if getattr(error, "sqlite_errorname", "") == "SQLITE_AUTH":
            return "not authorized: sources are read-only, only SELECT statements may run"
        return super().describe_error(error)

    def _arm(self, connection: Connection, timeout_s: float) -> None:
        raw = _sqlite_connection(connection)
        raw.execute("PRAGMA query_only=ON")
        raw.execute(f"PRAGMA busy_timeout={_timeout_ms(timeout_s)}")
        deadline = time.monotonic() + timeout_s
        raw.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
        raw.set_authorizer(_read_only_authorizer)

    def _disarm(self, connection: Connection) -> None:
        raw = _sqlite_connection(connection)
        raw.set_authorizer(None)
        raw.set_progress_handler(None, PROGRESS_STEPS)


def _sqlite_connection(connection: Connection) -> sqlite3.Connection:
    raw = connection.connection.driver_connection
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"expected a sqlite3 connection, got {type(raw).__name__}")
    return raw


def _read_only_authorizer(action: int, *_details: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _SQLITE_READ_ACTIONS else sqlite3.SQLITE_DENY


class PostgresDialect(SourceDialect):
    def describe_procedure(self, connection: Connection, kpi: Kpi) -> ProcedureSignature:
        name = procedure_name(kpi, _POSTGRES_PART)
        kind = connection.execute(
            text("SELECT p.prokind FROM pg_catalog.pg_proc AS p WHERE p.oid = to_regproc(:name)"),
            {"name": name},
        ).scalar()
        if kind == "p":
            return ProcedureSignature(contract=ProcedureContract.OUTPUT_PARAMETERS)
        if kind == "f":
            return ProcedureSignature(contract=ProcedureContract.ITEM_RESULT_SET)
        problem = "is not a procedure or function" if kind else "does not exist (or is overloaded)"
        raise SourceQueryError(kpi.indicator, f"{name} {problem}")

    def call_procedure(self, connection: Connection, kpi: Kpi, signature: ProcedureSignature) -> ResultSet:
        name = procedure_name(kpi, _POSTGRES_PART)
        if signature.contract is ProcedureContract.OUTPUT_PARAMETERS:
            statement = f"CALL {name}(:minutes, NULL, NULL, NULL)"
        else:
            statement = f"SELECT * FROM {name}(:minutes)"  # noqa: S608 -- a validated identifier
        return fetch(kpi.indicator, connection.execute(text(statement), {"minutes": kpi.last_minutes}))

    def classify(self, error: BaseException) -> Failure:
        from psycopg import InterfaceError, OperationalError

        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate == _POSTGRES_QUERY_CANCELED:
            return Failure.TIMEOUT
        if sqlstate is None and isinstance(error, OperationalError | InterfaceError):
            return Failure.TRANSIENT  # no SQLSTATE: the connection itself failed
        if sqlstate and sqlstate.startswith(_POSTGRES_TRANSIENT):
            return Failure.TRANSIENT
        return Failure.PERMANENT

    def _end(self, transaction: Any) -> None:
        # The transaction is READ ONLY, so COMMIT writes nothing; unlike ROLLBACK it keeps psycopg's prepared
        # statements (a ROLLBACK makes it send DEALLOCATE ALL and prepare everything again next run).
        transaction.commit()

    def _arm(self, connection: Connection, timeout_s: float) -> None:
        # One round trip: read-only (allowed at any point of a transaction), the timeout and UTC, all local
        # to the transaction.
        connection.execute(_POSTGRES_ARM, {"ms": str(_timeout_ms(timeout_s))})

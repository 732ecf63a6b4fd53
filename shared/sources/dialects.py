"""What differs per source database: the read-only transaction, the timeout, procedure calls, error kinds.

Every run happens inside `SourceDialect.read_only(connection, timeout_s)`: a transaction that is always
rolled back, with a timeout that cancels the statement on the server.

- **PostgreSQL**: see `shared.sources.postgres`.
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
from shared.sources.contracts import MAX_ROWS, ProcedureSignature, ResultSet
from shared.sources.errors import SourceQueryError

#: SQLite calls the progress handler every this many virtual-machine instructions.
PROGRESS_STEPS = 1_000
_SQLITE_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
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

    def run_query(
        self, connection: Connection, kpi: Kpi, parameters: dict[str, object], *, timeout_s: float
    ) -> ResultSet:
        """Run a query KPI's SQL with its bind `parameters` in `read_only`: its columns and rows."""
        with self.read_only(connection, timeout_s):
            return fetch(kpi.indicator, connection.execute(text(kpi.sql_text), parameters))

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


def timeout_ms(timeout_s: float) -> int:
    """A timeout in whole milliseconds, rounded up, at least 1."""
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
        raw.execute(f"PRAGMA busy_timeout={timeout_ms(timeout_s)}")
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

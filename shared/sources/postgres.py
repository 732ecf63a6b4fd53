"""PostgreSQL sources through psycopg 3: a query KPI in one round trip, procedures, errors.

- **Read-only, timeout, UTC**: every run is a transaction whose first statement sets
  `transaction_read_only`, `statement_timeout` (ms: the run's remaining budget) and `TimeZone = 'UTC'`, all
  local to the transaction, so they hold for this run whatever an earlier statement did to the session.
- **One round trip per query KPI**: that statement and the KPI's query are sent together in one psycopg
  pipeline (libpq's pipeline mode) ending in one Sync, and answered together. The statements up to a Sync
  are one implicit transaction, to which the settings are local: the server commits it at the Sync (it is
  read-only: nothing is written), or rolls it back when a statement failed (the timeout's cancel among them;
  the server skips the rest). The connection is in autocommit mode for the pipeline only, so that psycopg
  sends no BEGIN and COMMIT of its own (each would cost a Sync and a round trip, and two statements). Were
  the KPI's statement to leave a transaction open (a bare `BEGIN`), it is rolled back before the connection
  returns to the pool. The KPI's text is compiled once per text (bind parameters become psycopg's
  `%(name)s`) and runs on the driver's cursor, in the extended protocol, which refuses a second statement in
  one string; listeners on the engine are told about both statements (`before_cursor_execute`,
  `after_cursor_execute`) like about any other. Without pipeline support (libpq before 14, or a driver
  other than psycopg) the statements go one at a time in an explicit transaction.
- **Explicit transactions** (procedures, and the fallback) end with COMMIT, which writes nothing in a
  read-only transaction and, unlike ROLLBACK, keeps psycopg's prepared statements (a ROLLBACK makes it send
  DEALLOCATE ALL and prepare everything again next run).
- Window parameters bind as aware UTC timestamps; with the session in UTC they compare correctly with both
  `timestamptz` and UTC `timestamp` columns.
- **Procedures**: contract 1 is a PROCEDURE with INOUT parameters, `CALL name(:minutes, NULL, NULL, NULL)`;
  contract 2 a set-returning FUNCTION, `SELECT * FROM name(:minutes)`; `pg_proc.prokind` of
  `to_regproc(name)` tells which. They run in an explicit transaction, one statement at a time.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from shared.domain.kpi import Kpi
from shared.sources.contracts import MAX_ROWS, ProcedureContract, ProcedureSignature, ResultSet
from shared.sources.dialects import Failure, SourceDialect, fetch, procedure_name, timeout_ms
from shared.sources.errors import SourceQueryError

#: SQLSTATEs (or their two-character classes) after which a retry may succeed.
TRANSIENT_SQLSTATES = ("08", "53", "40001", "40P01", "55P03", "57P01", "57P02", "57P03")
QUERY_CANCELED = "57014"
_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"\x00-\x1f:%]+")'
_ARM_SQL = (
    "SELECT set_config('transaction_read_only', 'on', true), set_config('statement_timeout', {ms}, true),"
    " set_config('TimeZone', 'UTC', true)"
)
_ARM = text(_ARM_SQL.format(ms=":ms"))
_ARM_PSYCOPG = _ARM_SQL.format(ms="%(ms)s")
_COMPILER = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
_IDLE = 0  #: psycopg.pq.TransactionStatus.IDLE


class PostgresDialect(SourceDialect):
    def run_query(
        self, connection: Connection, kpi: Kpi, parameters: dict[str, object], *, timeout_s: float
    ) -> ResultSet:
        if connection.dialect.driver != "psycopg" or not _pipeline_supported():
            return super().run_query(connection, kpi, parameters, timeout_s=timeout_s)
        raw: Any = connection.connection.driver_connection
        statement = compiled_query(kpi.sql_text)
        arm: dict[str, object] = {"ms": str(timeout_ms(timeout_s))}
        told = connection.dispatch
        control, cursor = raw.cursor(), raw.cursor()
        raw.autocommit = True  # no BEGIN and COMMIT of psycopg's: the pipeline is one implicit transaction
        try:
            told.before_cursor_execute(connection, control, _ARM_PSYCOPG, arm, None, False)
            told.before_cursor_execute(connection, cursor, statement, parameters, None, False)
            with raw.pipeline():
                control.execute(_ARM_PSYCOPG, arm)
                cursor.execute(statement, parameters)
            told.after_cursor_execute(connection, control, _ARM_PSYCOPG, arm, None, False)
            told.after_cursor_execute(connection, cursor, statement, parameters, None, False)
            return _result_set(kpi.indicator, cursor)
        finally:
            control.close()
            cursor.close()
            _back_to_transactions(connection, raw)

    def describe_procedure(self, connection: Connection, kpi: Kpi) -> ProcedureSignature:
        name = procedure_name(kpi, _PART)
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
        name = procedure_name(kpi, _PART)
        if signature.contract is ProcedureContract.OUTPUT_PARAMETERS:
            statement = f"CALL {name}(:minutes, NULL, NULL, NULL)"
        else:
            statement = f"SELECT * FROM {name}(:minutes)"  # noqa: S608 -- a validated identifier
        return fetch(kpi.indicator, connection.execute(text(statement), {"minutes": kpi.last_minutes}))

    def classify(self, error: BaseException) -> Failure:
        from psycopg import InterfaceError, OperationalError

        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate == QUERY_CANCELED:
            return Failure.TIMEOUT
        if sqlstate is None and isinstance(error, OperationalError | InterfaceError):
            return Failure.TRANSIENT  # no SQLSTATE: the connection itself failed
        if sqlstate and sqlstate.startswith(TRANSIENT_SQLSTATES):
            return Failure.TRANSIENT
        return Failure.PERMANENT

    def _end(self, transaction: Any) -> None:
        transaction.commit()  # read-only: writes nothing, and keeps the prepared statements (see above)

    def _arm(self, connection: Connection, timeout_s: float) -> None:
        # One statement: read-only (allowed at any point of a transaction), the timeout and UTC, all local
        # to the transaction.
        connection.execute(_ARM, {"ms": str(timeout_ms(timeout_s))})


@functools.lru_cache(maxsize=1024)
def compiled_query(sql_text: str) -> str:
    """A KPI's SQL as psycopg runs it: `:name` bind parameters as `%(name)s`, a literal `%` doubled."""
    return str(text(sql_text).compile(dialect=_COMPILER))


def _back_to_transactions(connection: Connection, raw: Any) -> None:
    """Leave the connection as the pool lends it: no transaction open, not in autocommit mode; a broken one
    is invalidated, so that the pool does not lend it again."""
    if raw.broken or raw.closed:
        connection.invalidate()
        return
    if raw.info.transaction_status != _IDLE:  # the KPI's statement opened a transaction block
        raw.rollback()
    raw.autocommit = False


@functools.cache
def _pipeline_supported() -> bool:
    from psycopg import Pipeline

    return bool(Pipeline.is_supported())


def _result_set(indicator: str, cursor: Any) -> ResultSet:
    """`fetch` for a psycopg cursor: its columns and at most MAX_ROWS + 1 rows."""
    if cursor.description is None:
        raise SourceQueryError(indicator, "the statement returned no result set")
    rows = tuple(tuple(row) for row in cursor.fetchmany(MAX_ROWS + 1))
    return ResultSet(columns=tuple(column.name for column in cursor.description), rows=rows)

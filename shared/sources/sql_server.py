"""SQL Server / Azure SQL sources through pyodbc: timeout, procedure contracts and transient errors.

- **Timeout**: pyodbc's query timeout. `dbapi_connection.timeout` (whole seconds, rounded up, at least 1) is
  set for the run; the driver applies it (SQL_ATTR_QUERY_TIMEOUT) to the statements of every cursor opened
  afterwards, cancels a statement on the server when it expires and raises SQLSTATE HYT00. It is reset to 0
  (none) before the connection goes back to the pool.
- **Read-only**: the transaction is always rolled back, but SQL Server has no read-only transaction and a
  batch may contain several statements: give sources a login that can only read and execute the
  monitoring procedures (and `ApplicationIntent=ReadOnly` where there are readable secondaries).
- **Datetimes** bind as naive UTC values (`datetime`/`datetime2` columns carry no zone; by convention UTC).
- **Procedures**: `sys.parameters` of `OBJECT_ID(name)` tells the contract. With output parameters, the
  original's contract 1: one batch declares variables, runs the procedure and selects them as the last
  result set. Otherwise contract 2: the first result set of `EXEC name @ForLastMinutes = ?`. The minutes
  parameter is whichever of `@ForLastMinutes` / `@LastMinutes` the procedure declares (the original used
  both). The name goes into the statement text verbatim, so it must be a plain, `[bracketed]` or
  `"quoted"` identifier, optionally schema-qualified; anything else is refused.
- **Transient errors**: deadlocks, Azure SQL throttling and failover, dropped connections (by native error
  number or a connection-class SQLSTATE); `-2` and HYT00 are timeouts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from shared.domain.kpi import Kpi
from shared.sources.contracts import MAX_ROWS, ProcedureContract, ProcedureSignature, ResultSet
from shared.sources.dialects import Failure, SourceDialect, fetch, first_line, procedure_name
from shared.sources.errors import SourceQueryError

#: Native error numbers after which Microsoft recommends retrying (deadlock victim, Azure SQL throttling,
#: database unavailable during failover or reconfiguration, transport-level failures).
TRANSIENT_ERROR_NUMBERS = frozenset(
    {1205, 40613, 40501, 40197, 49918, 49919, 49920, 4060, 10928, 10929, 10053, 10054, 10060, 233, 64}
)
TIMEOUT_ERROR_NUMBER = -2
_TIMEOUT_SQLSTATES = frozenset({"HYT00"})
_TRANSIENT_SQLSTATES = frozenset({"HYT01", "40001"})
#: pyodbc messages end each diagnostic with "(native number) (SQLFunctionW)".
_NATIVE_ERROR = re.compile(r"\((-?\d+)\)(?=\s*(?:\(SQL\w*\)|;|$))")
_DRIVER_PREFIX = re.compile(r"^(?:\[[^\]]*\]\s*)+")
_PART = r'(?:[A-Za-z_@#][A-Za-z0-9_@#$]*|\[[^\]\x00-\x1f]+\]|"[^"\x00-\x1f]+")'
_MINUTES_PARAMETERS = ("@forlastminutes", "@lastminutes")
_PARAMETERS_SQL = (
    "SELECT o.id, p.name, p.is_output FROM (SELECT OBJECT_ID(?) AS id) AS o "
    "LEFT JOIN sys.parameters AS p ON p.object_id = o.id"
)


class Cursor(Protocol):
    """The part of a DBAPI cursor that reading several result sets needs."""

    @property
    def description(self) -> Sequence[Sequence[Any]] | None: ...

    def execute(self, operation: Any, parameters: Any = ..., /) -> Any: ...

    def fetchmany(self, size: int = ..., /) -> Sequence[Any]: ...

    def nextset(self) -> bool | None: ...


def output_parameters_batch(name: str, minutes_parameter: str) -> str:
    """Contract 1: run the procedure and select its output parameters as the batch's last result set."""
    return (
        "SET NOCOUNT ON; DECLARE @k NVARCHAR(255), @c DECIMAL(38,10), @h DECIMAL(38,10); "
        f"EXEC {name} {minutes_parameter} = ?, @Key = @k OUTPUT, @CurrentValue = @c OUTPUT, "
        "@HistoricalValue = @h OUTPUT; SELECT @k AS [key], @c AS current_value, @h AS historical_value;"
    )


def result_set_batch(name: str, minutes_parameter: str) -> str:
    """Contract 2: run the procedure; its first result set holds the ItemName, Total, Successful rows."""
    return f"EXEC {name} {minutes_parameter} = ?"


def procedure_batch(kpi: Kpi, signature: ProcedureSignature) -> str:
    """The statement that calls the KPI's procedure under its contract; refuses a name that is not an
    identifier with `SourceQueryError`."""
    name = procedure_name(kpi, _PART)
    if signature.contract is ProcedureContract.OUTPUT_PARAMETERS:
        return output_parameters_batch(name, signature.minutes_parameter)
    return result_set_batch(name, signature.minutes_parameter)


def signature_from_parameters(
    indicator: str, name: str, rows: Sequence[tuple[object, object, object]]
) -> ProcedureSignature:
    """The contract from `(object_id, parameter name, is_output)` rows of `sys.parameters`."""
    if not rows or rows[0][0] is None:
        raise SourceQueryError(indicator, f"procedure {name} does not exist")
    declared = {str(row[1]).lower(): str(row[1]) for row in rows if row[1] is not None}
    minutes = next((declared[p] for p in _MINUTES_PARAMETERS if p in declared), None)
    if minutes is None:
        raise SourceQueryError(indicator, f"procedure {name} has neither @ForLastMinutes nor @LastMinutes")
    contract = (
        ProcedureContract.OUTPUT_PARAMETERS
        if any(row[2] for row in rows)
        else ProcedureContract.ITEM_RESULT_SET
    )
    return ProcedureSignature(contract=contract, minutes_parameter=minutes)


def query_timeout_s(timeout_s: float) -> int:
    """pyodbc's timeout in whole seconds: rounded up, at least 1 (0 would mean no timeout)."""
    return max(1, math.ceil(timeout_s))


def apply_query_timeout(dbapi_connection: Any, timeout_s: float) -> None:
    """Give the statements of cursors opened from now on a server-side timeout of `timeout_s`."""
    dbapi_connection.timeout = query_timeout_s(timeout_s)


def clear_query_timeout(dbapi_connection: Any) -> None:
    """Back to no timeout, before the connection returns to the pool."""
    dbapi_connection.timeout = 0


def last_result_set(indicator: str, cursor: Cursor) -> ResultSet:
    """Walk every result set of an executed batch and keep the last one (the procedure's own come first)."""
    last: ResultSet | None = None
    while True:
        if cursor.description:
            columns = tuple(str(column[0]) for column in cursor.description)
            rows = tuple(tuple(row) for row in cursor.fetchmany(MAX_ROWS + 1))
            last = ResultSet(columns=columns, rows=rows)
        if not cursor.nextset():
            break
    if last is None:
        raise SourceQueryError(indicator, "the procedure call returned no output values")
    return last


def classify_sql_server_error(error: BaseException) -> Failure:
    """Timeout, transient or permanent, from pyodbc's SQLSTATE and the native error numbers."""
    sqlstate = str(error.args[0]) if error.args else ""
    numbers = {int(number) for number in _NATIVE_ERROR.findall(" ".join(map(str, error.args)))}
    if sqlstate in _TIMEOUT_SQLSTATES or TIMEOUT_ERROR_NUMBER in numbers:
        return Failure.TIMEOUT
    if numbers & TRANSIENT_ERROR_NUMBERS or sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08"):
        return Failure.TRANSIENT
    return Failure.PERMANENT


class SqlServerDialect(SourceDialect):
    def bind_datetime(self, value: datetime) -> object:
        return value.astimezone(UTC).replace(tzinfo=None)

    def describe_procedure(self, connection: Connection, kpi: Kpi) -> ProcedureSignature:
        name = procedure_name(kpi, _PART)
        rows = connection.exec_driver_sql(_PARAMETERS_SQL, (name,)).all()
        return signature_from_parameters(kpi.indicator, name, [(row[0], row[1], row[2]) for row in rows])

    def call_procedure(self, connection: Connection, kpi: Kpi, signature: ProcedureSignature) -> ResultSet:
        statement = procedure_batch(kpi, signature)
        if signature.contract is ProcedureContract.ITEM_RESULT_SET:
            return fetch(kpi.indicator, connection.exec_driver_sql(statement, (kpi.last_minutes,)))
        cursor = connection.connection.cursor()
        try:
            cursor.execute(statement, (kpi.last_minutes,))
            return last_result_set(kpi.indicator, cursor)
        finally:
            cursor.close()

    def classify(self, error: BaseException) -> Failure:
        return classify_sql_server_error(error)

    def describe_error(self, error: BaseException) -> str:
        message = str(error.args[1]) if len(error.args) > 1 else str(error)
        return first_line(re.sub(r"\s*\(SQL\w*\)\s*$", "", _DRIVER_PREFIX.sub("", message)))

    def _arm(self, connection: Connection, timeout_s: float) -> None:
        apply_query_timeout(connection.connection.dbapi_connection, timeout_s)

    def _disarm(self, connection: Connection) -> None:
        clear_query_timeout(connection.connection.dbapi_connection)

"""SQL Server / Azure SQL sources: statement text, name validation, error classification and timeouts.

No SQL Server and no ODBC driver for it can run here, so nothing in this module executes T-SQL. What is
tested is everything we build or decide ourselves: the batch text of both procedure contracts, the
identifier check that keeps the verbatim procedure name from becoming an injection, the contract read from
`sys.parameters` rows, the timeout/transient/permanent table over real pyodbc exception classes carrying
the driver's message format, and the engine's pool and token hook (stopped right after our hook, as in
`test_sql_server_engine.py`). Two stand-ins, each because only a live driver connection could do better:
an object with a `timeout` attribute for the pyodbc connection, and a scripted cursor for a batch's
result sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyodbc
import pytest
from sqlalchemy import event

from shared.connections import SQL_COPT_SS_ACCESS_TOKEN
from shared.domain.kpi import Kpi, KpiKind
from shared.sources.contracts import ProcedureContract, ProcedureSignature, ResultSet
from shared.sources.dialects import Failure
from shared.sources.engines import POOL_TIMEOUT_S, create_source_engine
from shared.sources.errors import SourceQueryError
from shared.sources.sql_server import (
    SqlServerDialect,
    apply_query_timeout,
    classify_sql_server_error,
    clear_query_timeout,
    last_result_set,
    procedure_batch,
    query_timeout_s,
    signature_from_parameters,
)
from tests.factories import make_kpi

OUTPUTS = ProcedureSignature(contract=ProcedureContract.OUTPUT_PARAMETERS)
ITEMS = ProcedureSignature(contract=ProcedureContract.ITEM_RESULT_SET)
DRIVER = "[Microsoft][ODBC Driver 18 for SQL Server]"
#: Deadlock victim, Azure SQL throttling / failover / reconfiguration, transport-level failures.
AZURE_SQL_TRANSIENT = (1205, 40613, 40501, 40197, 49918, 49919, 49920, 4060, 10928, 10929)
AZURE_SQL_TRANSIENT += (10053, 10054, 10060, 233, 64)


def procedure(name: str) -> Kpi:
    return make_kpi(id=1, kind=KpiKind.PROCEDURE, sql_text=name)


def test_the_output_parameter_batch_declares_runs_and_selects_the_outputs() -> None:
    assert procedure_batch(procedure("monitoring.usp_MonitorDeposits"), OUTPUTS) == (
        "SET NOCOUNT ON; DECLARE @k NVARCHAR(255), @c DECIMAL(38,10), @h DECIMAL(38,10); "
        "EXEC monitoring.usp_MonitorDeposits @ForLastMinutes = ?, @Key = @k OUTPUT, "
        "@CurrentValue = @c OUTPUT, @HistoricalValue = @h OUTPUT; "
        "SELECT @k AS [key], @c AS current_value, @h AS historical_value;"
    )


def test_the_result_set_batch_passes_the_procedures_own_minutes_parameter() -> None:
    signature = ProcedureSignature(
        contract=ProcedureContract.ITEM_RESULT_SET, minutes_parameter="@LastMinutes"
    )
    batch = procedure_batch(procedure("[stats].[stp_MonitorTransactions]"), signature)
    assert batch == "EXEC [stats].[stp_MonitorTransactions] @LastMinutes = ?"


@pytest.mark.parametrize(
    "name",
    [
        "usp_MonitorDeposits",
        "monitoring.usp_MonitorDeposits",
        "[stats].[stp_MonitorTransactions]",
        "[stats].stp_Monitor_BetsByPlayMode",
        '"stats"."stp Monitor Leads"',
        "[dbo].[stp Monitor; odd but bracketed]",
        "  #temp_monitor  ",
    ],
)
def test_bracketed_quoted_and_schema_qualified_names_go_in_verbatim(name: str) -> None:
    for signature in (OUTPUTS, ITEMS):
        assert f"EXEC {name.strip()} @ForLastMinutes = ?" in procedure_batch(procedure(name), signature)


@pytest.mark.parametrize(
    "name",
    [
        "usp_x; DROP TABLE monitoring.kpis",
        "usp_x --",
        "usp_x @ForLastMinutes = 1",
        "[usp_x]]; DROP TABLE t; --]",
        '"usp_x""; DROP TABLE t; --"',
        "db.stats.usp_x",
        "stats..usp_x",
        "usp_x(1)",
        "'usp_x'",
        "usp_x\n; SHUTDOWN",
        "",
        "1usp",
    ],
)
def test_anything_but_an_identifier_is_refused_as_a_procedure_name(name: str) -> None:
    for signature in (OUTPUTS, ITEMS):
        with pytest.raises(SourceQueryError, match="is not a procedure name"):
            procedure_batch(procedure(name), signature)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [(7, "@ForLastMinutes", False), (7, "@Key", True), (7, "@CurrentValue", True)],
            ProcedureSignature(contract=ProcedureContract.OUTPUT_PARAMETERS),
            id="output parameters are contract 1",
        ),
        pytest.param(
            [(7, "@LastMinutes", False)],
            ProcedureSignature(contract=ProcedureContract.ITEM_RESULT_SET, minutes_parameter="@LastMinutes"),
            id="no output parameters is contract 2, with @LastMinutes",
        ),
        pytest.param(
            [(7, "@forlastminutes", False)],
            ProcedureSignature(
                contract=ProcedureContract.ITEM_RESULT_SET, minutes_parameter="@forlastminutes"
            ),
            id="the declared spelling is kept",
        ),
    ],
)
def test_the_contract_is_read_from_sys_parameters(
    rows: list[tuple[object, object, object]], expected: ProcedureSignature
) -> None:
    assert signature_from_parameters("Deposits", "x", rows) == expected


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([(None, None, None)], "does not exist"),
        ([], "does not exist"),
        ([(7, None, None)], "neither @ForLastMinutes nor @LastMinutes"),
        ([(7, "@Minutes", False), (7, "@Key", True)], "neither @ForLastMinutes nor @LastMinutes"),
    ],
)
def test_a_missing_procedure_or_minutes_parameter_is_a_query_error(
    rows: list[tuple[object, object, object]], problem: str
) -> None:
    with pytest.raises(SourceQueryError, match=problem):
        signature_from_parameters("Deposits", "stats.x", rows)


def _error(kind: type[pyodbc.Error], sqlstate: str, message: str, number: int, function: str) -> Exception:
    return kind(sqlstate, f"[{sqlstate}] {DRIVER}[SQL Server]{message} ({number}) ({function})")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_error(pyodbc.OperationalError, "HYT00", "Query timeout expired", 0, "SQLExecDirectW"), "timeout"),
        (_error(pyodbc.OperationalError, "HY000", "Timeout expired", -2, "SQLExecDirectW"), "timeout"),
        *(
            (_error(pyodbc.Error, "HY000", "Transient failure.", number, "SQLExecDirectW"), "transient")
            for number in AZURE_SQL_TRANSIENT
        ),
        (
            _error(pyodbc.OperationalError, "40001", "Transaction (Process ID 57) was deadlocked", 1205, "x"),
            "transient",
        ),
        (
            pyodbc.OperationalError(
                "08S01",
                f"[08S01] {DRIVER}TCP Provider: An existing connection was forcibly closed by the remote "
                f"host.\r\n (10054) (SQLExecDirectW); [08S01] {DRIVER}Communication link failure (10054)",
            ),
            "transient",
        ),
        (_error(pyodbc.OperationalError, "08001", "TCP Provider: Timeout error", 258, "x"), "transient"),
        (
            _error(pyodbc.OperationalError, "HYT01", "Login timeout expired", 0, "SQLDriverConnect"),
            "transient",
        ),
        (_error(pyodbc.ProgrammingError, "42000", "Incorrect syntax near 'SELEC'.", 102, "x"), "permanent"),
        (_error(pyodbc.ProgrammingError, "42S02", "Invalid object name 'dbo.t'.", 208, "x"), "permanent"),
        (_error(pyodbc.InterfaceError, "28000", "Login failed for user 'monitor'.", 18456, "x"), "permanent"),
        (
            _error(pyodbc.ProgrammingError, "42000", "Incorrect syntax near '(1205)'.", 102, "x"),
            "permanent",
        ),
    ],
)
def test_errors_are_classified_by_sqlstate_and_native_error_number(error: Exception, expected: str) -> None:
    assert classify_sql_server_error(error) is Failure(expected)


def test_driver_messages_lose_their_odbc_prefixes() -> None:
    error = _error(pyodbc.ProgrammingError, "42S02", "Invalid object name 'dbo.t'.", 208, "SQLExecDirectW")
    assert SqlServerDialect().describe_error(error) == "Invalid object name 'dbo.t'. (208)"


@pytest.mark.parametrize(("timeout_s", "expected"), [(0.001, 1), (0.5, 1), (1.0, 1), (2.1, 3), (300, 300)])
def test_the_query_timeout_is_whole_seconds_rounded_up_and_never_zero(
    timeout_s: float, expected: int
) -> None:
    assert query_timeout_s(timeout_s) == expected


@dataclass
class OdbcConnection:
    """Stands in for a pyodbc connection: only its `timeout` attribute matters, and a real one needs a
    driver and a server. pyodbc applies that attribute to each cursor opened afterwards."""

    timeout: int = 0


def test_the_query_timeout_is_applied_to_the_dbapi_connection_and_cleared_afterwards() -> None:
    connection = OdbcConnection()
    apply_query_timeout(connection, 2.5)
    assert connection.timeout == 3
    clear_query_timeout(connection)
    assert connection.timeout == 0


@dataclass
class ScriptedCursor:
    """Stands in for a pyodbc cursor after a batch ran: a list of (description, rows) result sets."""

    sets: list[tuple[Sequence[Sequence[Any]] | None, list[tuple[object, ...]]]]
    fetched: list[int] = field(default_factory=list)

    @property
    def description(self) -> Sequence[Sequence[Any]] | None:
        return self.sets[0][0]

    def execute(self, operation: Any, parameters: Any = None, /) -> Any:
        return self

    def fetchmany(self, size: int = 1, /) -> Sequence[Any]:
        self.fetched.append(size)
        return self.sets[0][1][:size]

    def nextset(self) -> bool:
        self.sets.pop(0)
        return bool(self.sets)


def test_the_output_values_are_the_batchs_last_result_set() -> None:
    cursor = ScriptedCursor(
        [
            ([("Noise",)], [("selected by the procedure itself",)]),
            (None, []),
            ([("key",), ("current_value",), ("historical_value",)], [("TotalDeposits", 12, 10)]),
        ]
    )
    assert last_result_set("Deposits", cursor) == ResultSet(
        columns=("key", "current_value", "historical_value"), rows=(("TotalDeposits", 12, 10),)
    )


def test_a_batch_without_result_sets_is_a_query_error() -> None:
    with pytest.raises(SourceQueryError, match="no output values"):
        last_result_set("Deposits", ScriptedCursor([(None, [])]))


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=3))])
def test_datetimes_bind_as_naive_utc(zone: timezone) -> None:
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert SqlServerDialect().bind_datetime(moment.astimezone(zone)) == datetime(2026, 3, 29, 1, 30)  # noqa: DTZ001


@dataclass
class Token:
    token: str


class RecordingCredential:
    """Stands in for azure-identity: numbered tokens, recorded scopes."""

    def __init__(self) -> None:
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Token:
        self.calls += 1
        return Token(f"token-{self.calls}")


class Captured(Exception):
    """Raised by the capturing listener once our hook has run, before the driver is called."""


def test_a_sql_server_source_engine_has_a_bounded_pool_and_authenticates_with_a_token() -> None:
    url = "mssql+pyodbc://@example.database.windows.net/sales?driver=ODBC+Driver+18+for+SQL+Server"
    engine = create_source_engine(url, source="sales", pool_size=3, credential=RecordingCredential())
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    assert engine.pool.timeout() == POOL_TIMEOUT_S  # type: ignore[attr-defined]
    assert engine.pool._max_overflow == 0  # type: ignore[attr-defined]
    seen: list[dict[str, Any]] = []

    @event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, _cargs: list[Any], cparams: dict[str, Any]) -> None:
        seen.append(cparams)
        raise Captured

    with pytest.raises(Captured):
        engine.connect()
    assert SQL_COPT_SS_ACCESS_TOKEN in seen[0]["attrs_before"]

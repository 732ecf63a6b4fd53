"""Running a KPI's SQL against its named source database and returning its observations.

`SourceRunner` owns one engine per source (built on first use, at most `pool_size` connections each) and
runs each KPI in a transaction that writes nothing, under a timeout that cancels the statement on the
server (see `shared.sources.dialects`; on PostgreSQL a query KPI takes one round trip:
`shared.sources.postgres`). Transient failures are retried here, bounded by `retry_attempts` and by the run's
time budget; everything else is raised at once.

Query KPIs get the bind parameters they use out of `:window_start`, `:window_end` (aware UTC; UTC text on
SQLite, naive UTC on SQL Server) and `:for_last_minutes` (the KPI's `last_minutes`, also what procedures
get). Which contract a procedure follows is read from the source's metadata once per (source, procedure)
per runner and cached: changing a procedure's contract needs a restart.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from shared.connections import TokenCredential
from shared.domain.clock import require_aware
from shared.domain.kpi import QUERY_PARAMETERS, Kpi, KpiKind
from shared.domain.observation import Observation
from shared.sources.contracts import (
    ProcedureContract,
    ProcedureSignature,
    observations_from_items,
    observations_from_outputs,
    observations_from_rows,
)
from shared.sources.dialects import Failure, SourceDialect, SqliteDialect
from shared.sources.engines import POOL_TIMEOUT_S, create_source_engine
from shared.sources.errors import (
    SourceNotConfigured,
    SourceQueryError,
    SourceTimeout,
    SourceUnavailable,
)
from shared.sources.postgres import PostgresDialect
from shared.sources.sql_server import SqlServerDialect

logger = logging.getLogger(__name__)
#: The errors a retry may fix; nothing else is ever retried.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (SourceUnavailable,)
RETRY_MAX_WAIT_S = 8.0
_DIALECTS: dict[str, SourceDialect] = {
    "sqlite": SqliteDialect(),
    "postgresql": PostgresDialect(),
    "mssql": SqlServerDialect(),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Call:
    """One `run`: what to execute where, with which parameters, until when."""

    kpi: Kpi
    source: str
    engine: Engine
    dialect: SourceDialect
    parameters: dict[str, object]
    timeout_s: float
    deadline: float  #: time.monotonic() value after which the budget is spent

    def remaining_s(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise SourceTimeout(self.kpi.indicator, self.source, self.timeout_s)
        return remaining


class SourceRunner:
    """Runs KPIs against named source databases; thread-safe, meant to live as long as the process."""

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        pool_size: int,
        retry_attempts: int = 3,
        retry_wait_s: float = 0.5,
        credential: TokenCredential | None = None,
    ) -> None:
        """`urls` maps source names (case-insensitive) to SQLAlchemy URLs; `pool_size` caps the connections
        per source; `retry_wait_s` scales the jittered exponential wait between retries (0 in tests);
        `credential` overrides the default Azure credential for SQL Server token authentication."""
        self._urls = {name.lower(): url for name, url in urls.items()}
        self._pool_size = pool_size
        self._retry_attempts = max(1, retry_attempts)
        self._retry_wait_s = retry_wait_s
        self._credential = credential
        self._engines: dict[str, Engine] = {}
        self._signatures: dict[tuple[str, str], ProcedureSignature] = {}
        self._lock = threading.Lock()

    def engine(self, source: str) -> Engine:
        """The engine of `source`, built on first use; `SourceNotConfigured` when it has no URL."""
        name = source.lower()
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                url = self._urls.get(name)
                if url is None:
                    raise SourceNotConfigured(name)
                engine = create_source_engine(
                    url, source=name, pool_size=self._pool_size, credential=self._credential
                )
                self._engines[name] = engine
            return engine

    def run(
        self, kpi: Kpi, *, window_start: datetime, window_end: datetime, timeout_s: float
    ) -> list[Observation]:
        """Run `kpi` on its source for the window `[window_start, window_end)` and return one observation
        per metric key ([] when the source has no data). Raises `SourceNotConfigured`, `SourceQueryError`,
        `SourceTimeout` (cancelled after `timeout_s`, retries included) or `SourceUnavailable` (after the
        bounded retries)."""
        call = self._call(kpi, window_start, window_end, timeout_s)
        for attempt in self._retrying(timeout_s):
            with attempt:
                return self._attempt(call, attempt.retry_state.attempt_number)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def dispose(self) -> None:
        """Close every pooled connection; engines are rebuilt if the runner is used again."""
        with self._lock:
            engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.dispose()

    def _call(self, kpi: Kpi, window_start: datetime, window_end: datetime, timeout_s: float) -> _Call:
        start, end = _utc(window_start, "window_start"), _utc(window_end, "window_end")
        if end <= start:
            raise ValueError(f"empty window: {start.isoformat()} to {end.isoformat()}")
        engine = self.engine(kpi.source)
        dialect = _DIALECTS[engine.dialect.name]
        parameters = _query_parameters(kpi, dialect, start, end) if kpi.kind is KpiKind.QUERY else {}
        return _Call(
            kpi=kpi,
            source=kpi.source.lower(),
            engine=engine,
            dialect=dialect,
            parameters=parameters,
            timeout_s=timeout_s,
            deadline=time.monotonic() + timeout_s,
        )

    def _retrying(self, timeout_s: float) -> Retrying:
        return Retrying(
            retry=retry_if_exception_type(TRANSIENT_ERRORS),
            stop=stop_after_attempt(self._retry_attempts) | stop_before_delay(timeout_s),
            wait=wait_random_exponential(multiplier=self._retry_wait_s, max=RETRY_MAX_WAIT_S),
            before_sleep=before_sleep_log(logger, logging.WARNING),
            reraise=True,
        )

    def _attempt(self, call: _Call, attempt: int) -> list[Observation]:
        driver_error = call.engine.dialect.loaded_dbapi.Error
        try:
            with call.engine.connect() as connection:
                kpi = call.kpi
                if kpi.kind is KpiKind.QUERY:
                    rows = call.dialect.run_query(
                        connection, kpi, call.parameters, timeout_s=call.remaining_s()
                    )
                    return observations_from_rows(kpi.indicator, rows)
                with call.dialect.read_only(connection, call.remaining_s()):
                    return self._call_procedure(connection, call)
        except (DBAPIError, PoolTimeout, driver_error) as error:
            raise _translate(call, error, attempt) from error

    def _call_procedure(self, connection: Connection, call: _Call) -> list[Observation]:
        kpi = call.kpi
        key = (call.source, kpi.sql_text.strip())
        signature = self._signatures.get(key)
        if signature is None:
            signature = self._signatures[key] = call.dialect.describe_procedure(connection, kpi)
        rows = call.dialect.call_procedure(connection, kpi, signature)
        if signature.contract is ProcedureContract.OUTPUT_PARAMETERS:
            return observations_from_outputs(kpi.indicator, rows)
        return observations_from_items(kpi.indicator, rows)


def _translate(call: _Call, error: Exception, attempt: int) -> Exception:
    if isinstance(error, PoolTimeout):
        reason = f"no free pooled connection within {POOL_TIMEOUT_S} s"
        return SourceUnavailable(call.source, reason, attempts=attempt)
    original = (error.orig or error) if isinstance(error, DBAPIError) else error
    invalidated = isinstance(error, DBAPIError) and error.connection_invalidated
    failure = Failure.TRANSIENT if invalidated else call.dialect.classify(original)
    if failure is Failure.TIMEOUT:
        return SourceTimeout(call.kpi.indicator, call.source, call.timeout_s)
    reason = call.dialect.describe_error(original)
    if failure is Failure.TRANSIENT:
        return SourceUnavailable(call.source, reason, attempts=attempt)
    return SourceQueryError(call.kpi.indicator, reason)


def _query_parameters(kpi: Kpi, dialect: SourceDialect, start: datetime, end: datetime) -> dict[str, object]:
    used = bind_parameters(kpi.sql_text)
    unknown = sorted(used - QUERY_PARAMETERS)
    if unknown:
        names = ", ".join(f":{name}" for name in unknown)
        raise SourceQueryError(kpi.indicator, f"unknown bind parameter(s) {names}")
    values: dict[str, object] = {
        "window_start": dialect.bind_datetime(start),
        "window_end": dialect.bind_datetime(end),
        "for_last_minutes": kpi.last_minutes,
    }
    return {name: values[name] for name in used}


@functools.lru_cache(maxsize=1024)
def bind_parameters(sql_text: str) -> frozenset[str]:
    """The bind parameters (`:name`) a query KPI's SQL uses, compiled once per text (dearer than a query)."""
    return frozenset(text(sql_text).compile().params)


def _utc(value: datetime, name: str) -> datetime:
    return require_aware(value, name).astimezone(UTC)

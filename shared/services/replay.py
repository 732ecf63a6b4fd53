"""What `mgrid kpi backtest` and `mgrid kpi backfill` share: the KPIs whose past windows can be re-run, and
re-running one slot's window through the executor's own source path (`SourceRunner`, server-side timeout)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection

from shared.db.kpi_lookup import find_kpi
from shared.db.kpis import load_kpi
from shared.domain.kpi import Kpi, KpiKind
from shared.domain.observation import Observation
from shared.domain.schedule import window
from shared.errors import KpiNotFound, KpiNotReplayable, MonitoringGridError, ReplayStopped
from shared.sources import SourceQueryError, SourceRunner, SourceTimeout, SourceUnavailable
from shared.sources.runner import bind_parameters

_WINDOW_PARAMETERS = frozenset({"window_start", "window_end"})


def load_replayable(connection: Connection, reference: str) -> Kpi:
    """The KPI named by id or indicator, if its query can be re-run for a past window: a query (a stored
    procedure only ever sees the last minutes up to now) that uses `:window_start` or `:window_end`."""
    kpi = load_kpi(connection, find_kpi(connection, reference))
    if kpi is None:
        raise KpiNotFound(reference)
    if kpi.kind is not KpiKind.QUERY:
        raise KpiNotReplayable(
            kpi.indicator, "it runs a stored procedure, which cannot be asked for a past window"
        )
    if not _WINDOW_PARAMETERS & bind_parameters(kpi.sql_text):
        raise KpiNotReplayable(
            kpi.indicator, "its query uses neither :window_start nor :window_end, so a past window reads now"
        )
    return kpi


def observe_slot(
    runner: SourceRunner, kpi: Kpi, slot: datetime, *, timeout_s: float, progress: str
) -> list[Observation]:
    """Run the KPI's query for the window of `slot`, as the executor would have at that slot; a failure
    stops the replay (`progress`: what was done before it, for the message)."""
    start, end = window(slot, kpi.last_minutes)
    try:
        return runner.run(kpi, window_start=start, window_end=end, timeout_s=timeout_s)
    except (SourceTimeout, SourceQueryError, SourceUnavailable, MonitoringGridError) as error:
        raise ReplayStopped(
            kpi.indicator, iso(slot), f"{type(error).__name__}: {error}", progress=progress
        ) from error


def iso(moment: datetime) -> str:
    """An instant as ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat()

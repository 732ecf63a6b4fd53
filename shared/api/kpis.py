"""`/api/kpis`: every KPI with its state and latest metrics, one KPI with its definition, history, run now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from shared.api.errors import ApiError, not_found
from shared.api.models import (
    TEXT_PATTERN,
    History,
    HistoryPoint,
    KpiDetail,
    KpiItem,
    KpiList,
    KpiState,
    Metric,
    RunRequest,
    RunResult,
)
from shared.api.services import ApiServices
from shared.api.state import services
from shared.db import views
from shared.db.definitions import load_definitions
from shared.db.views import KpiSummary
from shared.definitions import definitions_document
from shared.domain.clock import is_aware
from shared.domain.execution import ExecutionStatus
from shared.errors import KpiInactive, KpiNotFound

router = APIRouter(prefix="/api/kpis", tags=["kpis"])
Services = Annotated[ApiServices, Depends(services)]
KpiId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The KPI's id.")]
HISTORY_LIMIT = 20_000
FAILED = {ExecutionStatus.FAILED.value, ExecutionStatus.TIMED_OUT.value}


@router.get("", response_model=KpiList, summary="Every KPI with its state and latest metrics")
def list_kpis(api: Services) -> KpiList:
    with api.engine.connect() as connection:
        summaries = views.kpi_summaries(connection)
    return KpiList(items=[kpi_item(summary) for summary in summaries])


@router.get("/{kpi_id}", response_model=KpiDetail, summary="One KPI with its definitions-file entry")
def get_kpi(kpi_id: KpiId, api: Services) -> KpiDetail:
    with api.engine.connect() as connection:
        found = views.kpi_summaries(connection, kpi_id)
        if not found:
            raise not_found(f"kpi_id: no KPI with id {kpi_id}")
        _, kpis = load_definitions(connection)
    entry = [(kpi, links) for kpi, links in kpis if kpi.id == kpi_id]
    document = definitions_document([], entry)["kpis"][0]
    return KpiDetail(**kpi_item(found[0]).model_dump(), definition=document)


@router.get("/{kpi_id}/history", response_model=History, summary="The KPI's values and bands over a range")
def history(
    kpi_id: KpiId,
    api: Services,
    start: Annotated[
        datetime | None, Query(alias="from", description="ISO 8601; default: 24 h before `to`")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601; default: now")] = None,
    key: Annotated[
        str | None, Query(max_length=255, pattern=TEXT_PATTERN, description="Only this metric key")
    ] = None,
) -> History:
    until = _utc(end, "to") if end is not None else api.clock()
    since = _utc(start, "from") if start is not None else _day_before(until)
    with api.engine.connect() as connection:
        if not views.kpi_exists(connection, kpi_id):
            raise not_found(f"kpi_id: no KPI with id {kpi_id}")
        if since >= until:  # an empty range
            return History(items=[])
        points = views.kpi_history(connection, kpi_id, start=since, end=until, key=key, limit=HISTORY_LIMIT)
    return History(items=[HistoryPoint(slot=p.slot, **_metric(p).model_dump()) for p in points])


@router.post("/{kpi_id}/run", response_model=RunResult, summary="Run the KPI now (the `mgrid kpi run` JSON)")
def run(kpi_id: KpiId, api: Services, body: RunRequest | None = None) -> Any:
    dry_run = body.dry_run if body is not None else False
    with api.engine.connect() as connection:
        if not views.kpi_exists(connection, kpi_id):
            raise not_found(f"kpi_id: no KPI with id {kpi_id}")
    try:
        return api.run_kpi(str(kpi_id), dry=dry_run)
    except KpiNotFound:
        raise not_found(f"kpi_id: no KPI with id {kpi_id}") from None
    except KpiInactive as error:
        raise ApiError(409, f"kpi_id: {error}") from None


def kpi_item(summary: KpiSummary) -> KpiItem:
    return KpiItem(
        id=summary.id,
        indicator=summary.indicator,
        owner=summary.owner,
        priority=summary.priority,
        is_active=summary.is_active,
        next_run_at=summary.next_run_at,
        last_run_at=summary.last_run_at,
        last_status=summary.last_status,
        state=state_of(summary),
        open_alerts=summary.open_alerts,
        metrics=[_metric(point) for point in summary.metrics],
    )


def state_of(summary: KpiSummary) -> KpiState:
    """inactive > never_run > failing > alerting > no_data > ok."""
    if not summary.is_active:
        return KpiState.INACTIVE
    if summary.last_status is None:
        return KpiState.NEVER_RUN
    if summary.consecutive_failures > 0 or summary.last_status in FAILED:
        return KpiState.FAILING
    if summary.open_alerts > 0:
        return KpiState.ALERTING
    if not summary.metrics or summary.last_metric_count == 0:
        return KpiState.NO_DATA
    return KpiState.OK


def _metric(point: views.MetricPoint) -> Metric:
    return Metric(
        key=point.key,
        current=point.current,
        expected=point.expected,
        lower=point.lower,
        upper=point.upper,
        breach=point.breach,
    )


def _day_before(moment: datetime) -> datetime:
    try:
        return moment - timedelta(hours=24)
    except OverflowError:  # within a day of year 1
        return datetime.min.replace(tzinfo=UTC)


def _utc(moment: datetime, field: str) -> datetime:
    if not is_aware(moment):
        raise ApiError(422, f"{field}: give a time zone (such as Z or +00:00)")
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(422, f"{field}: out of range") from None

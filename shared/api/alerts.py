"""`/api/alerts`: pages of alerts (cursor), one alert with its timeline and deliveries, acknowledge and
resolve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import Connection

from shared.api import outbox
from shared.api.auth import actor
from shared.api.errors import ApiError, not_found
from shared.api.models import (
    TEXT_PATTERN,
    AcknowledgeRequest,
    ActionResult,
    AlertDetail,
    AlertItem,
    AlertPage,
    AlertStatusFilter,
    Delivery,
    ResolveRequest,
    TimelineEntry,
)
from shared.api.services import ApiServices
from shared.api.state import services
from shared.db import alert_views
from shared.db.kpi_lookup import find_kpi
from shared.domain.alert import AlertStatus
from shared.errors import KpiNotFound
from shared.services.alerts.actions import ActionResult as Outcome
from shared.services.alerts.actions import AlertConflict, AlertNotFound, InvalidAction

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
Services = Annotated[ApiServices, Depends(services)]
AlertId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The alert's id.")]
CURSOR_PATTERN = "^[0-9a-z]{1,13}$"
MAX_ALERT_ID = 2**63 - 1
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
MAX_KPI_ID = 2_147_483_647


@router.get("", response_model=AlertPage, summary="Alerts, newest first, a page at a time")
def list_alerts(
    api: Services,
    status: AlertStatusFilter | None = None,
    kpi: Annotated[
        str | None, Query(max_length=255, pattern=TEXT_PATTERN, description="The KPI's id or indicator")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page (opaque)")
    ] = None,
) -> AlertPage:
    before = decode_cursor(cursor) if cursor is not None else None
    with api.engine.connect() as connection:
        kpi_id = _kpi_id(connection, kpi) if kpi else None
        rows = alert_views.alert_page(
            connection,
            status=AlertStatus(status.value) if status else None,
            kpi_id=kpi_id,
            before_id=before,
            limit=limit + 1,
        )
    more = len(rows) > limit
    items = [AlertItem(**row) for row in rows[:limit]]
    return AlertPage(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)


@router.get("/{alert_id}", response_model=AlertDetail, summary="One alert with its timeline and deliveries")
def get_alert(alert_id: AlertId, api: Services) -> AlertDetail:
    with api.engine.connect() as connection:
        row = alert_views.alert_row(connection, alert_id)
        if row is None:
            raise not_found(f"alert_id: no alert with id {alert_id}")
        timeline = alert_views.alert_timeline(connection, alert_id)
        deliveries = alert_views.alert_deliveries(connection, alert_id)
    return AlertDetail(
        **row,
        timeline=[TimelineEntry(**entry) for entry in timeline],
        deliveries=[Delivery(**delivery) for delivery in deliveries],
    )


@router.post("/{alert_id}/acknowledge", response_model=ActionResult, summary="Acknowledge: escalation stops")
def acknowledge(alert_id: AlertId, request: Request, api: Services, body: AcknowledgeRequest) -> ActionResult:
    who = actor(request, body.by)
    return _act(lambda: api.alert_actions().acknowledge(alert_id, by=who, note=body.note))


@router.post(
    "/{alert_id}/resolve", response_model=ActionResult, summary="Resolve, and send the resolved notice"
)
def resolve(alert_id: AlertId, request: Request, api: Services, body: ResolveRequest) -> ActionResult:
    who = actor(request, body.by)
    return _act(lambda: api.alert_actions().resolve(alert_id, by=who, reason=body.reason))


def _act(action: Callable[[], Outcome]) -> ActionResult:
    try:
        outcome: Outcome = action()
    except AlertNotFound as error:
        raise not_found(f"alert_id: {error}") from None
    except AlertConflict as error:
        raise ApiError(409, f"status: {error}") from None
    except InvalidAction as error:
        raise ApiError(400, f"by: {error}") from None
    outbox.add(outcome.event)
    return ActionResult(**outcome.as_json())


def _kpi_id(connection: Connection, reference: str) -> int:
    if reference.isdigit() and (not reference.isascii() or int(reference) > MAX_KPI_ID):
        raise not_found(f"kpi: no KPI {reference!r}")
    try:
        return find_kpi(connection, reference)
    except KpiNotFound:
        raise not_found(f"kpi: no KPI {reference!r}") from None


def encode_cursor(last_id: int) -> str:
    """The next page starts below `last_id`: the id in base 36 (opaque to clients; every string of the
    cursor's pattern is a position, so no well-formed cursor is refused)."""
    text = ""
    while True:
        last_id, digit = divmod(last_id, 36)
        text = DIGITS[digit] + text
        if last_id == 0:
            return text


def decode_cursor(cursor: str) -> int:
    return min(int(cursor, 36), MAX_ALERT_ID)

"""HTTP `GET /api/health` (anonymous: counts, never KPI names) and `GET /api/health/details` (function key:
the same JSON with the names of stale KPIs): the service's health; 503 when Unhealthy."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared import runtime
from shared.domain.health import HealthStatus
from shared.services.health import check_health
from shared.settings import get_settings

log = logging.getLogger("mgrid.triggers.health")
bp = func.Blueprint()  # type: ignore[no-untyped-call]  # the library leaves __init__ unannotated


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(names=False)


@bp.function_name("health_details")
@bp.route(route="health/details", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health_details(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(names=True)


def _answer(*, names: bool) -> func.HttpResponse:
    report = check_health(get_settings, runtime.monitoring_engine)
    log.info("health %s in %d checks", report.status.value, len(report.checks))
    return func.HttpResponse(
        json.dumps(report.to_dict(names=names)),
        status_code=503 if report.status is HealthStatus.UNHEALTHY else 200,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )

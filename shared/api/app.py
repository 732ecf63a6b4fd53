"""The FastAPI app of the management API. `create_app()` does no I/O: services are built on first use."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, FastAPI

from shared.api import ack, alerts, errors, kpis, silences
from shared.api.auth import require_caller
from shared.api.models import ErrorBody
from shared.api.services import ApiServices, from_runtime
from shared.api.state import ServicesHolder

OPENAPI_URL = "/api/openapi.json"
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "Bad request (the field is named)",
        401: "Not signed in",
        404: "Not found",
        409: "Conflict with the current state",
        422: "Invalid field (the field is named)",
        503: "Unexpected failure, logged (the database may be unavailable)",
    }.items()
}


def create_app(services: Callable[[], ApiServices] = from_runtime) -> FastAPI:
    """The API app; `services` builds what the routes use, on the first request."""
    app = FastAPI(
        title="MonitoringGrid management API",
        version="1",
        summary="KPIs, their history and alerts; acknowledge, resolve, run now (DESIGN section 9).",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = ServicesHolder(services)
    errors.install(app)
    guarded = [Depends(require_caller)]
    app.include_router(kpis.router, dependencies=guarded, responses=ERROR_RESPONSES)
    app.include_router(alerts.router, dependencies=guarded, responses=ERROR_RESPONSES)
    app.include_router(silences.router, dependencies=guarded, responses=ERROR_RESPONSES)
    app.include_router(ack.router)
    return app

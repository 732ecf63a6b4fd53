"""The status page: `GET /api/dashboard` (the shell) and `/api/dashboard/assets/NAME` (its built script and
styles), anonymous because they hold no data (shared/api/dashboard.py). The literal `dashboard` segment
wins over the API's catch-all route, on the host as on the devhost."""

from __future__ import annotations

from urllib.parse import urlsplit

import azure.functions as func

from shared.api.dashboard import respond

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # the library leaves __init__ unannotated


@bp.function_name("dashboard")
@bp.route(route="dashboard/{*rest}", methods=["GET", "HEAD"], auth_level=func.AuthLevel.ANONYMOUS)
def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    answer = respond(urlsplit(req.url).path, req.route_params.get("rest"))
    return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.all_headers())

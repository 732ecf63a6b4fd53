"""The devhost's router prefers specific routes over a catch-all, as the host does, and `async def`
functions (the API's ASGI functions) are awaited."""

from __future__ import annotations

import azure.functions as func

from devhost.functions import FunctionSpec, invoke
from devhost.http import Route, Router

ROUTES = [
    Route.build("api", "{*route}", None, "FUNCTION"),
    Route.build("health", "health", ["GET"], "ANONYMOUS"),
    Route.build("ack", "alerts/{alert_id}/ack", ["GET", "POST"], "ANONYMOUS"),
    Route.build("dashboard", "dashboard/{*rest}", ["GET"], "ANONYMOUS"),
]


def resolved(
    method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[str, dict[str, str]] | int:
    found = Router(ROUTES, "api", "k").resolve(method, path, {}, headers or {})
    return found if isinstance(found, int) else (found[0].function, found[1])


def test_a_literal_or_longer_route_wins_over_the_catch_all_whatever_the_order() -> None:
    assert resolved("GET", "/api/health") == ("health", {})
    assert resolved("GET", "/api/alerts/7/ack") == ("ack", {"alert_id": "7"})
    assert resolved("GET", "/api/dashboard") == ("dashboard", {})
    assert resolved("GET", "/api/dashboard/app.js") == ("dashboard", {"rest": "app.js"})


def test_the_catch_all_takes_the_rest_with_the_key_checked() -> None:
    assert resolved("GET", "/api/kpis/3") == 401
    assert resolved("GET", "/api/kpis/3", {"x-functions-key": "k"}) == ("api", {"route": "kpis/3"})
    assert resolved("POST", "/api/health", {"x-functions-key": "k"}) == ("api", {"route": "health"})


def test_an_async_function_is_awaited() -> None:
    async def handler(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("done", status_code=201)

    spec = FunctionSpec("handler", {"type": "httpTrigger", "name": "req"}, (), handler)
    request = func.HttpRequest("GET", "http://h/api/x", body=b"")
    outcome = invoke(spec, request, reason="test", output_queues={}, send=None)
    assert outcome.succeeded
    assert outcome.result.status_code == 201

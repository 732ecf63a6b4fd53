"""The management API's HTTP functions: the FastAPI app of `shared.api` behind `func.AsgiMiddleware`.

- `api`: route `{*route}` (every path under the route prefix that no other function claims: the host prefers
  literal routes such as `health`), function key required;
- `alert_ack_link`: `alerts/{alert_id}/ack`, anonymous: the token in the link is the credential.

In Azure behind App Service Authentication (the platform sets `WEBSITE_AUTH_ENABLED=True` for the worker),
`api` is indexed anonymous: the platform's sign-in is then the gate and a browser has no key to send (the
host's key check and Easy Auth are independent layers; docs/api.md, "Trust model"). Everywhere else, with an
empty environment too, the host checks the function key.

Resolving writes an outbox row; the event goes out through the `alert-events` output binding at once.
"""

from __future__ import annotations

import functools
import typing

import azure.functions as func

from shared.api import outbox
from shared.easy_auth import platform_auth_enabled
from shared.messages import ALERT_EVENTS, alert_event_message

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # the library leaves __init__ unannotated
STORAGE = "AzureWebJobsStorage"
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
API_AUTH = func.AuthLevel.ANONYMOUS if platform_auth_enabled() else func.AuthLevel.FUNCTION


@functools.cache
def middleware() -> func.AsgiMiddleware:
    from shared.api.app import create_app  # built on the first request: no I/O at import either way

    return func.AsgiMiddleware(create_app())  # type: ignore[no-untyped-call]  # unannotated __init__


async def _serve(req: func.HttpRequest, alert_events: func.Out[typing.List[str]]) -> func.HttpResponse:
    events = outbox.collect()
    response: func.HttpResponse = await middleware().handle_async(req)
    alert_events.set([alert_event_message(event) for event in events])
    return response


@bp.function_name("api")
@bp.route(route="{*route}", methods=ALL_METHODS, auth_level=API_AUTH)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
async def api(req: func.HttpRequest, alert_events: func.Out[typing.List[str]]) -> func.HttpResponse:
    return await _serve(req, alert_events)


@bp.function_name("alert_ack_link")
@bp.route(route="alerts/{alert_id}/ack", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@bp.queue_output(arg_name="alert_events", queue_name=ALERT_EVENTS, connection=STORAGE)
async def alert_ack_link(
    req: func.HttpRequest, alert_events: func.Out[typing.List[str]]
) -> func.HttpResponse:
    return await _serve(req, alert_events)

"""`/api/alerts/{id}/ack?token=T`: the page behind a notice's one-click link (anonymous; the token is the
credential). GET shows the alert and a button and changes nothing, so mail scanners that fetch links do no
harm; POST acknowledges as the contact the link was made for. Every failure is a page with a 4xx."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from shared.api import outbox
from shared.api.ack_page import alert_page, done_page, problem_page
from shared.api.services import ApiServices
from shared.api.state import services
from shared.db import alert_views
from shared.domain.ack_token import TOKEN_PATTERN, AckGrant, InvalidAckToken, TokenProblem, verify
from shared.services.alerts.actions import AlertConflict, AlertNotFound

router = APIRouter(prefix="/api/alerts", tags=["acknowledgement link"])
Services = Annotated[ApiServices, Depends(services)]
MAX_ID = 2**63 - 1
HTML: dict[str, object] = {"content": {"text/html": {}}}
RESPONSES: dict[int | str, dict[str, object]] = {
    200: HTML,
    400: {"description": "Not a link this service made", **HTML},
    403: {"description": "Expired or altered link, or one made for another alert", **HTML},
    404: {"description": "Unknown alert", **HTML},
    409: {"description": "Alert already resolved", **HTML},
}
AlertIdText = Annotated[str, Path(pattern=r"^[0-9]{1,19}$", description="The alert's id.")]
Token = Annotated[str, Query(pattern=TOKEN_PATTERN, description="The token of the notice's link.")]


@router.get(
    "/{alert_id}/ack", response_class=HTMLResponse, responses=RESPONSES, summary="The ack link's page"
)
def show(alert_id: AlertIdText, token: Token, api: Services) -> HTMLResponse:
    checked = _grant(api, alert_id, token)
    if isinstance(checked, HTMLResponse):
        return checked
    with api.engine.connect() as connection:
        alert = alert_views.alert_row(connection, checked.alert_id)
        contact = alert_views.contact_name(connection, checked.contact_id)
    if alert is None or contact is None:
        return problem_page(404, "This alert no longer exists.")
    return HTMLResponse(alert_page(alert, contact=contact, token=token))


@router.post(
    "/{alert_id}/ack", response_class=HTMLResponse, responses=RESPONSES, summary="Acknowledge by link"
)
async def acknowledge(alert_id: AlertIdText, token: Token, request: Request, api: Services) -> HTMLResponse:
    form = parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
    token = (form.get("token") or [token])[0]
    checked = _grant(api, alert_id, token)
    if isinstance(checked, HTMLResponse):
        return checked
    with api.engine.connect() as connection:
        contact = alert_views.contact_name(connection, checked.contact_id)
    if contact is None:
        return problem_page(404, "The contact this link was made for no longer exists.")
    try:
        result = api.alert_actions().acknowledge(
            checked.alert_id, by=contact, note="acknowledged from a notice link"
        )
    except AlertNotFound:
        return problem_page(404, "This alert no longer exists.")
    except AlertConflict:
        return problem_page(409, "This alert is already resolved: there is nothing to acknowledge.")
    outbox.add(result.event)
    return HTMLResponse(done_page(result.alert, changed=result.changed))


def _grant(api: ApiServices, alert_id: str, token: str) -> AckGrant | HTMLResponse:
    secret = api.settings.notifications.ack_token_secret
    if secret is None:
        return problem_page(404, "Acknowledgement links are not enabled on this service.")
    if not alert_id.isascii() or not alert_id.isdigit() or not 0 < int(alert_id) <= MAX_ID:
        return problem_page(404, "There is no such alert.")
    try:
        return verify(secret, token, alert_id=int(alert_id), now=api.clock())
    except InvalidAckToken as error:
        return problem_page(400 if error.problem is TokenProblem.MALFORMED else 403, _explain(error))


def _explain(error: InvalidAckToken) -> str:
    texts = {
        "expired": "This acknowledgement link has expired. Acknowledge the alert from the status page "
        "or with `mgrid alerts ack`.",
        "wrong_alert": "This acknowledgement link was made for another alert.",
    }
    return texts.get(
        error.problem.value, "This acknowledgement link is not valid (it may have been cut or altered)."
    )

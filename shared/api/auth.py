"""Who is calling. The host checks the function key before a request reaches the app (docs/api.md,
"Trust model"); in Azure, App Service Authentication signs people in and sets `X-MS-CLIENT-PRINCIPAL-*`.
Those headers are trusted only when the platform says its authentication is on (`WEBSITE_AUTH_ENABLED`),
because App Service then strips them from incoming requests; anywhere else anyone could send them.
"""

from __future__ import annotations

from fastapi import Request

from shared.api.errors import ApiError
from shared.easy_auth import platform_auth_enabled

PRINCIPAL_NAME = "x-ms-client-principal-name"
PRINCIPAL_ID = "x-ms-client-principal-id"


def signed_in_user(request: Request) -> str | None:
    """The signed-in user's name, when App Service Authentication set it."""
    if not platform_auth_enabled():
        return None
    name = request.headers.get(PRINCIPAL_NAME) or request.headers.get(PRINCIPAL_ID)
    return name.strip() or None if name else None


def require_caller(request: Request) -> None:
    """With App Service Authentication on, a protected route needs a signed-in caller (the platform already
    refuses others; this holds even if a path was excluded from it by mistake). Without it, the host's
    function-key check has already run."""
    if platform_auth_enabled() and signed_in_user(request) is None:
        raise ApiError(401, "authorization: sign in (App Service Authentication) to use the API")


def actor(request: Request, by: str | None) -> str:
    """Who acts: the signed-in user, else the `by` of the call."""
    return signed_in_user(request) or (by or "")

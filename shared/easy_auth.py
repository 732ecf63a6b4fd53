"""App Service Authentication ("Easy Auth") as the app sees it: whether the platform has it on, and the
sign-in address that brings a browser back to a path afterwards. See docs/api.md, "Trust model"."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote

SIGN_IN_PATH = "/.auth/login/aad"


def platform_auth_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True when App Service Authentication is on: the platform then sets `WEBSITE_AUTH_ENABLED=True`."""
    return (environ if environ is not None else os.environ).get("WEBSITE_AUTH_ENABLED", "").lower() == "true"


def through_sign_in(base: str, path_and_query: str) -> str:
    """`base` + a sign-in that lands on `path_and_query` (the Entra ID provider's login endpoint)."""
    return f"{base}{SIGN_IN_PATH}?post_login_redirect_uri={quote(path_and_query, safe='')}"

"""Entra ID ingestion into Application Insights: the managed identity credential that
`APPLICATIONINSIGHTS_AUTHENTICATION_STRING` names (`Authorization=AAD;ClientId=<client id>` for a
user-assigned identity, `Authorization=AAD` for the system-assigned one). The Functions host reads the same
setting for its own telemetry; `telemetry.configure` passes the credential to the exporter explicitly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"


def authentication_parts(text: str) -> dict[str, str]:
    """`Key=value;...` of an authentication string, keys lower-cased; malformed parts are left out."""
    pairs = (part.split("=", 1) for part in text.split(";") if "=" in part)
    return {key.strip().lower(): value.strip() for key, value in pairs}


def ingestion_credential(environ: Mapping[str, str]) -> TokenCredential | None:
    """The managed identity credential `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` asks for, or None (no
    Entra ID: the connection string alone, which a component with local auth disabled refuses)."""
    parts = authentication_parts(environ.get(AUTHENTICATION_STRING, ""))
    if parts.get("authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = parts.get("clientid") or None  # None: the system-assigned identity
    return ManagedIdentityCredential(client_id=client_id)

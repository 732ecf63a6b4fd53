"""Which credential signs telemetry ingestion, read from `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (the
export itself, through a local ingestion endpoint: tests/integration/test_telemetry_export.py)."""

from __future__ import annotations

import pytest

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("text", "client_id"),
    [
        (f"ClientId={CLIENT_ID};Authorization=AAD", CLIENT_ID),
        (f"Authorization=AAD; ClientId={CLIENT_ID}", CLIENT_ID),
        ("Authorization=AAD", None),
    ],
)
def test_the_authentication_string_names_the_managed_identity(text: str, client_id: str | None) -> None:
    from azure.identity import ManagedIdentityCredential

    from shared.telemetry_auth import authentication_parts, ingestion_credential

    credential = ingestion_credential({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": text})
    assert isinstance(credential, ManagedIdentityCredential)
    assert authentication_parts(text).get("clientid") == client_id


@pytest.mark.parametrize("text", ["", "Authorization=Key", "ClientId=x", "garbage"])
def test_without_aad_in_the_authentication_string_there_is_no_credential(text: str) -> None:
    from shared.telemetry_auth import ingestion_credential

    assert ingestion_credential({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": text}) is None
    assert ingestion_credential({}) is None

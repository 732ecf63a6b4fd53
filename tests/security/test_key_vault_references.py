"""An app setting still holding `@Microsoft.KeyVault(...)` (the platform leaves the reference when it cannot
resolve it) is refused as missing, by name, and never used as a secret; `GET /api/health` says which."""

from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.settings.model import Settings
from tests.wiring.test_health_http import get_health

REFERENCE = "@Microsoft.KeyVault(SecretUri=https://mgrid-kv.vault.azure.net/secrets/smtp-password/)"
SETTINGS = [
    "Notifications__Smtp__Password",
    "Notifications__WebhookSecret",
    "Notifications__Acs__ConnectionString",
    "ConnectionStrings__Monitoring",
    "ConnectionStrings__Sources__main",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "AzureWebJobsStorage",
    "Notifications__Smtp__Host",
]


def _problems(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> tuple[str, ...]:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    return caught.value.problems


@pytest.mark.parametrize("name", SETTINGS)
def test_an_unresolved_reference_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    (problem,) = _problems(monkeypatch, name, REFERENCE)

    assert problem.startswith(name)
    assert "unresolved Key Vault reference (treated as missing)" in problem


@pytest.mark.parametrize(
    "value", [REFERENCE.lower(), f"  {REFERENCE}", "@MICROSOFT.KEYVAULT(VaultName=v;SecretName=s)"]
)
def test_any_spelling_of_a_reference_is_recognised(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    (problem,) = _problems(monkeypatch, "Notifications__Smtp__Password", value)
    assert "Key Vault reference" in problem


def test_a_secret_that_merely_contains_the_text_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Notifications__Smtp__Password", "pw@Microsoft.KeyVault(x)")
    assert Settings.load().notifications.smtp.password == "pw@Microsoft.KeyVault(x)"


def test_health_reports_the_reference_as_unhealthy_configuration_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Notifications__Acs__ConnectionString", REFERENCE)

    status, body, _ = get_health()

    assert status == 503
    check = body["checks"]["configuration"]
    assert check["status"] == "Unhealthy"
    (problem,) = check["detail"]["problems"]
    assert problem.startswith(
        "Notifications__Acs__ConnectionString = ***: is an unresolved Key Vault reference"
    )

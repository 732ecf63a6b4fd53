"""An app setting still holding `@Microsoft.KeyVault(...)` (the platform leaves the reference when it cannot
resolve it) is never used as a value: an optional secret is treated as unset, its channel as not configured,
and health names it; any other setting is invalid, named by the settings error and by health."""

from __future__ import annotations

import pytest

from shared.domain.notification import Channel
from shared.errors import SettingsError
from shared.notify import build_senders, unusable_reason
from shared.settings.model import Settings
from tests.wiring.test_health_http import get_health

REFERENCE = "@Microsoft.KeyVault(SecretUri=https://mgrid-kv.vault.azure.net/secrets/some-secret/)"
REQUIRED = [
    "ConnectionStrings__Monitoring",
    "AzureWebJobsStorage",
    "Notifications__Smtp__Host",
    "Notifications__Smtp__Username",
    "Worker__Logging__MinimumLevel",
]
OPTIONAL = [
    "Notifications__Smtp__Password",
    "Notifications__Acs__ConnectionString",
    "Notifications__WebhookSecret",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
]


def _problems(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> tuple[str, ...]:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        Settings.load()
    return caught.value.problems


@pytest.mark.parametrize("name", REQUIRED)
def test_an_unresolved_reference_in_a_setting_is_an_invalid_setting_named_by_the_error(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    (problem,) = _problems(monkeypatch, name, REFERENCE)

    assert problem.startswith(name)
    assert "unresolved Key Vault reference (treated as missing)" in problem


def test_an_unresolved_source_url_is_named_by_its_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Sources__billing", REFERENCE)
    (problem,) = _problems(monkeypatch, "ConnectionStrings__Sources__main", "sqlite:///x.db")
    assert problem.startswith("ConnectionStrings__Sources__billing is an unresolved Key Vault reference")


@pytest.mark.parametrize("name", OPTIONAL)
def test_an_unresolved_optional_secret_is_treated_as_unset_and_listed(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, REFERENCE)

    settings = Settings.load()

    assert settings.unresolved_references == (name,)
    assert "KeyVault" not in settings.model_dump_json()


@pytest.mark.parametrize(
    "value", [REFERENCE.lower(), f"  {REFERENCE}", "@MICROSOFT.KEYVAULT(VaultName=v;SecretName=s)"]
)
def test_any_spelling_of_a_reference_is_recognised(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("Notifications__Smtp__Password", value)
    settings = Settings.load()
    assert settings.notifications.smtp.password is None
    assert settings.unresolved_references == ("Notifications__Smtp__Password",)


def test_a_secret_that_merely_contains_the_text_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Notifications__Smtp__Password", "pw@Microsoft.KeyVault(x)")
    assert Settings.load().notifications.smtp.password == "pw@Microsoft.KeyVault(x)"


def test_a_channel_whose_secret_did_not_resolve_is_not_configured_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Notifications__Smtp__Host", "mail.example.test")
    monkeypatch.setenv("Notifications__Smtp__Username", "mgrid")
    for name in ("Notifications__Smtp__Password", "Notifications__WebhookSecret"):
        monkeypatch.setenv(name, REFERENCE)
    monkeypatch.setenv("Notifications__Acs__From", "+18005550100")
    monkeypatch.setenv("Notifications__Acs__ConnectionString", REFERENCE)
    settings = Settings.load()

    assert unusable_reason(Channel.EMAIL, settings) == (
        "Notifications__Smtp__Password is an unresolved Key Vault reference"
    )
    assert unusable_reason(Channel.WEBHOOK, settings) == (
        "Notifications__WebhookSecret is an unresolved Key Vault reference"
    )
    assert unusable_reason(Channel.SMS, settings) == (
        "Notifications__Acs__ConnectionString is an unresolved Key Vault reference"
        " (Notifications__Sms__Mode is acs)"
    )
    assert set(build_senders(settings)) == {Channel.TEAMS, Channel.SLACK}


def test_health_names_an_unresolved_optional_secret_as_degraded_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Notifications__Acs__ConnectionString", REFERENCE)

    _, body, _ = get_health()

    check = body["checks"]["configuration"]
    assert check["status"] == "Degraded"
    assert check["detail"]["problems"] == [
        "Notifications__Acs__ConnectionString is an unresolved Key Vault reference (treated as unset)"
    ]


def test_health_reports_an_unresolved_required_setting_as_unhealthy_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", REFERENCE)

    status, body, _ = get_health()

    assert status == 503
    check = body["checks"]["configuration"]
    assert check["status"] == "Unhealthy"
    (problem,) = check["detail"]["problems"]
    assert problem.startswith("ConnectionStrings__Monitoring = ***: is an unresolved Key Vault reference")

"""App Service Authentication (`authsettingsV2`) on the function app: Entra ID from parameters, sign-in
required with 401 for unauthenticated calls, the health endpoint and the status page's shell excluded."""

from __future__ import annotations

from typing import Any

from tests.infra.templates import main, module, resource


def _auth() -> dict[str, Any]:
    template = module("functionapp")
    declared = template["resources"]["authSettings"]
    assert declared["type"] == "Microsoft.Web/sites/config"
    config = resource(template, "authSettings")
    assert config["name"] == "authsettingsV2"
    return dict(config["properties"])


def test_sign_in_is_required_and_unauthenticated_calls_get_401() -> None:
    validation = _auth()["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "Return401"


def test_health_and_the_page_shell_are_excluded_and_nothing_else() -> None:
    assert _auth()["globalValidation"]["excludedPaths"] == [
        "/api/health",
        "/api/dashboard",
        "/api/dashboard/*",
    ]


def test_entra_id_comes_from_the_client_id_and_tenant_parameters() -> None:
    provider = _auth()["identityProviders"]["azureActiveDirectory"]
    assert provider["enabled"] is True
    assert provider["registration"]["clientId"] == "authClientId"
    assert "authTenantId" in str(provider["registration"]["openIdIssuer"])
    assert provider["validation"]["allowedAudiences"][0] == "authClientId"
    assert "clientSecretSettingName" not in provider["registration"]  # no secret in the deployment


def test_the_sign_in_is_deployed_only_with_a_client_id_and_main_passes_both_parameters() -> None:
    declared = module("functionapp")["resources"]["authSettings"]["config"]
    assert "condition" in declared
    params = main()["modules"]["functionApp"]["config"]["params"]
    assert params["authClientId"] == "authClientId"
    assert "authTenantId" in str(params["authTenantId"])
    assert _auth()["httpSettings"]["requireHttps"] is True

"""The function app's settings in `functionapp.bicep`: every setting of docs/settings.md's table under
its own name, with the code's default unless Azure needs its own value; identity-based host storage; Key
Vault references for the secrets; no key or password anywhere in the deployment files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from shared.connections import uses_token_authentication
from shared.settings import catalog
from shared.settings.schedules import FLAT_BY_OLD_NAME, SCHEDULE_SETTINGS
from shared.telemetry_auth import authentication_parts
from tests.infra.templates import (
    BICEP,
    ROOT,
    accessed,
    bicep_files,
    decorators,
    documented_setting_names,
    function,
    main,
    module,
    resource,
    variable,
)

#: Settings whose Azure value is not the code's default.
AZURE_VALUES = {
    "ConnectionStrings__Monitoring": (
        "mssql+pyodbc://@${sqlServerFqdn}/${sqlDatabaseName}?driver=ODBC+Driver+18+for+SQL+Server"
    ),
    "AZURE_CLIENT_ID": "identityClientId",
    "AzureWebJobsStorage__credential": "managedidentity",
    "AzureWebJobsStorage__clientId": "identityClientId",
    "AzureWebJobsStorage__blobServiceUri": "storageBlobEndpoint",
    "AzureWebJobsStorage__queueServiceUri": "storageQueueEndpoint",
    "AzureWebJobsStorage__tableServiceUri": "storageTableEndpoint",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "applicationInsightsConnectionString",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=${identityClientId};Authorization=AAD",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "false",
}
SECRETS = {
    "Notifications__Smtp__Password": "smtpPassword",
    "Notifications__Acs__ConnectionString": "acsConnectionString",
    "Notifications__WebhookSecret": "webhookSecret",
    "Notifications__AckTokenSecret": "ackTokenSecret",
}
SOURCES = "ConnectionStrings__Sources__<name>"
#: Text that only a key, a password or a key-bearing connection string would contain.
SECRET_LITERALS = re.compile(
    r"(?i)AccountKey=|Password=|listKeys\(|SharedAccessKey=|accesskey=|DefaultEndpointsProtocol=|"
    r"InstrumentationKey=|administratorLoginPassword|UseDevelopmentStorage"
)


def _named_settings() -> dict[str, Any]:
    template = module("functionapp")
    return {**variable(template, "defaultSettings"), **variable(template, "azureSettings")}


def _default_text(value: object) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_readme_setting_is_an_app_setting_with_the_same_name() -> None:
    named = _named_settings()
    for name in documented_setting_names():
        if name == SOURCES:
            continue  # test_source_urls_become_one_setting_per_source
        if name == "AzureWebJobsStorage":
            assert name not in named  # test_host_storage_is_reached_with_the_identity
            continue
        assert name in named, f"{name} is not set in infra/bicep/modules/functionapp.bicep"


def test_the_readme_table_and_the_settings_model_name_the_same_settings() -> None:
    assert documented_setting_names() == [spec.name for spec in catalog()]


def test_settings_keep_the_code_defaults_unless_azure_needs_its_own_value() -> None:
    named = _named_settings()
    for spec in catalog():
        if spec.name in AZURE_VALUES or spec.name in SECRETS or spec.name in {SOURCES, "AzureWebJobsStorage"}:
            continue
        assert named[spec.name] == _default_text(spec.default), spec.name


def test_azure_values_point_at_the_deployed_resources() -> None:
    named = _named_settings()
    for name, value in AZURE_VALUES.items():
        assert named[name] == value, name


def test_the_monitoring_database_url_has_no_login_so_the_identity_signs_in() -> None:
    url = make_url(AZURE_VALUES["ConnectionStrings__Monitoring"].replace("${", "").replace("}", ""))
    assert url.drivername == "mssql+pyodbc"
    assert url.query == {"driver": "ODBC Driver 18 for SQL Server"}
    assert uses_token_authentication(url)


def test_host_storage_is_reached_with_the_identity() -> None:
    named = _named_settings()
    assert "AzureWebJobsStorage" not in named
    assert named["AzureWebJobsStorage__credential"] == "managedidentity"
    params = main()["modules"]["functionApp"]["config"]["params"]
    for service in ("blob", "queue", "table"):
        endpoint = params[f"storage{service.title()}Endpoint"]
        assert accessed(endpoint) == f"storage.outputs.{service}Endpoint"


@pytest.mark.parametrize(("setting", "secret"), SECRETS.items())
def test_secrets_are_key_vault_references_resolved_by_the_identity(setting: str, secret: str) -> None:
    reference = f"@Microsoft.KeyVault(VaultName=${{keyVaultName}};SecretName=${{secretNames.{secret}}})"
    assert _named_settings()[setting] == reference
    assert secret in variable(module("keyvault"), "secretNames")
    assert resource(module("functionapp"), "site")["properties"]["keyVaultReferenceIdentity"] == "identityId"


def test_source_urls_become_one_setting_per_source() -> None:
    template = module("functionapp")
    declared = template["variables"]["sourceSettingList"]["value"]
    loop = declared["loop_type"]["detail"]
    assert function(loop["array_name"], "items") == {"arg_1": "sourceConnectionStrings"}
    assert declared["config"]["name"] == "ConnectionStrings__Sources__${source.key}"
    assert "secure" in decorators(template["parameters"]["sourceConnectionStrings"])
    assert template["parameters"]["sourceConnectionStrings"]["type"] == "object"
    assert main()["modules"]["functionApp"]["config"]["params"]["sourceConnectionStrings"] == (
        "sourceConnectionStrings"
    )


def test_the_site_gets_every_named_setting_and_every_source() -> None:
    template = module("functionapp")
    union = function(variable(template, "namedSettings"), "union")
    assert list(union.values()) == ["defaultSettings", "azureSettings", "appSettingOverrides"]
    assert variable(template, "namedSettingList")["loop_type"]["detail"]["array_name"] == {
        "function": {"type": "items", "parameters": {"arg_1": "namedSettings"}}
    }
    app_settings = resource(template, "site")["properties"]["siteConfig"]["appSettings"]
    assert function(app_settings, "concat") == {"arg_1": "namedSettingList", "arg_2": "sourceSettingList"}


@pytest.mark.parametrize(
    "path",
    [*bicep_files(), BICEP / "main.parameters.json", ROOT / "azure.yaml"],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_no_deployment_file_holds_a_key_or_a_password(path: Path) -> None:
    assert not SECRET_LITERALS.search(path.read_text(encoding="utf-8"))


def _bound_setting_names() -> set[str]:
    """Every `%name%` an indexed function's bindings reference (timer schedules, queue names)."""
    from tests.wiring.bindings import indexed_functions

    text = "".join(function.get_function_json() for function in indexed_functions().values())
    return set(re.findall(r"%([^%\"]+)%", text))


def test_the_timers_bind_flat_setting_names_that_azure_and_local_runs_set() -> None:
    bound = _bound_setting_names()
    assert bound == set(SCHEDULE_SETTINGS)
    example = json.loads((ROOT / "local.settings.json.example").read_text(encoding="utf-8"))["Values"]
    named = _named_settings()
    for name in bound:
        # Azure/azure-functions-host#8649: a %Worker:X:Y% name may not fire while scaled to zero.
        assert ":" not in name, name
        assert "__" not in name, name
        assert name in named, f"{name} is not an app setting in functionapp.bicep"
        assert name in example, f"{name} is not in local.settings.json.example"
        assert name in documented_setting_names(), name


def test_no_deployment_file_sets_a_schedule_under_its_old_name() -> None:
    named = _named_settings()
    assert not set(FLAT_BY_OLD_NAME) & set(named)


def test_telemetry_takes_one_path_with_entra_id_ingestion() -> None:
    named = _named_settings()
    # The host ingests with the identity; the app's exporter gets its credential from the same setting.
    parts = authentication_parts(named["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"])
    assert parts == {"clientid": "${identityClientId}", "authorization": "AAD"}
    # The worker does not set up a second exporter, and the host stays in its classic telemetry mode, in which
    # it does not export the worker's OpenTelemetry (shared/telemetry.py exports the app's own).
    assert named["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "false"
    assert "PYTHON_ENABLE_OPENTELEMETRY" not in named
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert "telemetryMode" not in host

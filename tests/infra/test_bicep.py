"""The Bicep templates, parsed with pycep: they parse, compose local modules with pinned API versions, and
hold the platform facts of the deployment (identity-only storage, Entra-only SQL, RBAC-mode Key Vault,
Flex Consumption on Python 3.11, the role assignments). `bicep build` and what-if need the Bicep CLI and
Azure access, which this CI does not have; these tests read the templates instead."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from shared.messages import ALERT_EVENTS, KPI_EXECUTIONS
from tests.infra.templates import (
    BICEP,
    accessed,
    as_text,
    bicep_files,
    decorators,
    function,
    keys,
    main,
    module,
    parse,
    resource,
    resources_of_type,
    variable,
    walk,
)

OWN_MODULES = ("identity", "storage", "monitoring", "functionapp", "sql", "keyvault", "rbac")
ROLE_IDS = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
}
# Not an address to bind: in a SQL firewall rule, 0.0.0.0-0.0.0.0 means "Azure services".
AZURE_SERVICES = "0.0.0.0"  # noqa: S104
DASHBOARD_PARAMS = {
    "location",
    "tags",
    "name",
    "applicationInsightsId",
    "logAnalyticsWorkspaceId",
    "functionAppId",
    "functionAppName",
    "alertEmail",
}


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: str(path.relative_to(BICEP)))
def test_every_bicep_file_parses(path: Path) -> None:
    assert parse(path)["resources"]


def test_main_creates_the_resource_group_at_subscription_scope() -> None:
    template = main()
    assert template["globals"]["scope"]["value"] == "subscription"
    assert [declared["type"] for declared in template["resources"].values()] == [
        "Microsoft.Resources/resourceGroups"
    ]
    assert {declared["config"]["scope"] for declared in template["modules"].values()} == {"rg"}


def test_main_composes_local_modules_only() -> None:
    paths = {declared["detail"]["path"] for declared in main()["modules"].values()}
    assert paths == {f"modules/{name}.bicep" for name in (*OWN_MODULES, "dashboard")}
    assert {declared["type"] for declared in main()["modules"].values()} == {"local"}
    for path in paths:
        assert (BICEP / path).is_file(), path


@pytest.mark.parametrize("symbol", list(main()["modules"]))
def test_main_passes_each_module_the_parameters_it_declares(symbol: str) -> None:
    declared = main()["modules"][symbol]
    template = parse(BICEP / declared["detail"]["path"])
    passed = set(declared["config"]["params"])
    assert passed <= set(template["parameters"])
    required = {name for name, parameter in template["parameters"].items() if parameter["default"] is None}
    assert required <= passed


def _output_references(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(module, output) pairs read as `module.outputs.name`, in expressions and in interpolated strings."""
    found = set()
    for node in walk(template):
        if isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor":
            text = accessed(node)
        elif isinstance(node, str):
            text = node
        else:
            continue
        found |= set(re.findall(r"(\w+)\.outputs\.(\w+)", text))
    return found


def test_main_reads_only_outputs_its_modules_declare() -> None:
    modules = main()["modules"]
    references = _output_references(main())
    assert ("functionApp", "defaultHostName") in references
    for symbol, output in references:
        assert output in parse(BICEP / modules[symbol]["detail"]["path"])["outputs"], (
            f"{symbol}.outputs.{output}"
        )


@pytest.mark.parametrize("path", bicep_files(), ids=lambda path: str(path.relative_to(BICEP)))
def test_every_resource_pins_a_dated_api_version(path: Path) -> None:
    for name, declared in parse(path)["resources"].items():
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", declared["api_version"]), name


def test_main_passes_the_dashboard_exactly_the_agreed_parameters() -> None:
    params = main()["modules"]["dashboard"]["config"]["params"]
    assert set(params) == DASHBOARD_PARAMS
    assert params["alertEmail"] == "alertEmail"
    assert "alertEmail" in main()["parameters"]


def test_storage_accepts_entra_id_only_over_tls_1_2_without_public_blobs() -> None:
    properties = resource(module("storage"), "storage")["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True


def test_storage_holds_the_work_queues_their_poison_queues_and_the_deployment_container() -> None:
    template = module("storage")
    names = [KPI_EXECUTIONS, ALERT_EVENTS, f"{KPI_EXECUTIONS}-poison", f"{ALERT_EVENTS}-poison"]
    assert variable(template, "queueNames") == names
    assert resource(template, "queues")["parent"] == "queueService"
    loop = template["resources"]["queues"]["config"]["loop_type"]["detail"]
    assert loop == {"item_name": "queueName", "array_name": "queueNames"}
    assert resource(template, "deploymentContainer")["properties"] == {"publicAccess": "None"}


def test_application_insights_is_workspace_based_with_local_auth_disabled() -> None:
    properties = resource(module("monitoring"), "applicationInsights")["properties"]
    assert properties["DisableLocalAuth"] is True
    assert properties["WorkspaceResourceId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "workspace", "operand_2": "id"}}
    }


def test_the_function_app_runs_python_3_11_on_flex_consumption_with_its_identity() -> None:
    template = module("functionapp")
    assert resource(template, "plan")["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    site = resource(template, "site")
    assert site["kind"] == "functionapp,linux"
    assert site["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {"'${identityId}'": {}}}
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["scaleAndConcurrency"] == {
        "instanceMemoryMB": "instanceMemoryMB",
        "maximumInstanceCount": "maximumInstanceCount",
    }
    assert config["deployment"]["storage"]["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }


def test_instance_memory_and_instance_count_are_parameters_of_main() -> None:
    params = main()["modules"]["functionApp"]["config"]["params"]
    assert params["instanceMemoryMB"] == "instanceMemoryMB"
    assert params["maximumInstanceCount"] == "maximumInstanceCount"
    memory = decorators(main()["parameters"]["instanceMemoryMB"])
    assert memory["allowed"] == [512, 2048, 4096]
    count = decorators(main()["parameters"]["maximumInstanceCount"])
    assert (count["min_value"], count["max_value"]) == (40, 1000)


def test_azd_deploys_to_the_site_tagged_functions() -> None:
    tags = function(resource(module("functionapp"), "site")["tags"], "union")
    assert tags == {"arg_1": "tags", "arg_2": {"'azd-service-name'": "functions"}}


def test_no_template_sets_what_flex_consumption_rejects() -> None:
    parsed = as_text([parse(path) for path in bicep_files()])
    for name in (
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENT",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    ):
        assert name not in parsed
    site_keys = keys(resource(module("functionapp"), "site"))
    assert not site_keys & {"alwaysOn", "linuxFxVersion", "functionAppScaleLimit"}


def test_sql_server_authenticates_with_entra_id_only_and_the_deployer_as_admin() -> None:
    server = resource(module("sql"), "server")
    administrators = server["properties"]["administrators"]
    assert administrators["azureADOnlyAuthentication"] is True
    assert administrators["administratorType"] == "ActiveDirectory"
    assert (administrators["sid"], administrators["login"]) == ("adminObjectId", "adminLogin")
    assert not keys(module("sql")) & {"administratorLogin", "administratorLoginPassword"}
    assert server["properties"]["minimalTlsVersion"] == "1.2"
    params = main()["modules"]["sql"]["config"]["params"]
    assert (params["adminObjectId"], params["adminLogin"]) == ("principalId", "sqlAdminLogin")


def test_the_monitoring_database_sku_is_a_parameter_basic_or_serverless() -> None:
    template = module("sql")
    assert decorators(template["parameters"]["databaseSku"])["allowed"] == ["Basic", "Serverless"]
    skus = variable(template, "skus")
    assert skus["Basic"]["tier"] == "Basic"
    assert skus["Serverless"]["name"] == "GP_S_Gen5_1"
    assert main()["modules"]["sql"]["config"]["params"]["databaseSku"] == "sqlDatabaseSku"


def test_the_sql_firewall_admits_azure_services_and_only_the_named_client() -> None:
    rules = resources_of_type(module("sql"), "Microsoft.Sql/servers/firewallRules")
    azure = rules["allowAzureServices"]
    assert azure["name"] == "AllowAllWindowsAzureIps"
    assert azure["properties"] == {"startIpAddress": AZURE_SERVICES, "endIpAddress": AZURE_SERVICES}
    client = rules["allowClient"]["properties"]
    assert client == {"startIpAddress": "clientIpAddress", "endIpAddress": "clientIpAddress"}


def test_the_sql_server_audits_to_log_analytics() -> None:
    auditing = resource(module("sql"), "auditing")["properties"]
    assert (auditing["state"], auditing["isAzureMonitorTargetEnabled"]) == ("Enabled", True)
    diagnostics = resource(module("sql"), "auditDiagnostics")
    assert diagnostics["properties"]["logs"] == [{"category": "SQLSecurityAuditEvents", "enabled": True}]


def test_key_vault_uses_rbac_with_soft_delete_and_purge_protection() -> None:
    properties = resource(module("keyvault"), "vault")["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True


def test_secret_parameters_are_secure_and_written_only_when_given() -> None:
    template = module("keyvault")
    for name in ("smtpPassword", "acsConnectionString", "webhookSecret"):
        assert "secure" in decorators(template["parameters"][name])
        assert "secure" in decorators(main()["parameters"][name])
    for declared in resources_of_type(template, "Microsoft.KeyVault/vaults/secrets"):
        condition = template["resources"][declared]["config"]["condition"]
        assert "empty" in as_text(condition)


def _role_assignments() -> dict[str, dict[str, Any]]:
    return resources_of_type(module("rbac"), "Microsoft.Authorization/roleAssignments")


def _assigned_role_ids(assignment_name: str) -> set[str]:
    """The role ids an assignment grants, through the `roles` variable (and the `storageRoles` loop)."""
    template = module("rbac")
    roles = variable(template, "roles")
    if assignment_name == "storageAssignments":
        references = variable(template, "storageRoles")
    else:
        definition = _role_assignments()[assignment_name]["properties"]["roleDefinitionId"]
        references = [function(definition, "subscription_resource_id")["resource_name_1"]]
    return {roles[accessed(reference).removeprefix("roles.")] for reference in references}


def test_the_identity_gets_the_storage_monitoring_and_key_vault_roles() -> None:
    granted = {
        role
        for name, assignment in _role_assignments().items()
        if assignment["properties"]["principalId"] == "principalId"
        for role in _assigned_role_ids(name)
    }
    assert granted == set(ROLE_IDS.values())


def test_role_assignments_have_guid_names_and_a_principal_type() -> None:
    for name, assignment in _role_assignments().items():
        properties = assignment["properties"]
        assert properties["principalId"] in as_text(function(assignment["name"], "guid")), name
        definition = function(properties["roleDefinitionId"], "subscription_resource_id")
        assert definition["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        if properties["principalId"] == "principalId":
            assert properties["principalType"] == "ServicePrincipal", name
        else:
            assert (properties["principalId"], properties["principalType"]) == (
                "deployerPrincipalId",
                "deployerPrincipalType",
            )


def test_the_location_is_a_flex_consumption_region_that_azd_prompts_for() -> None:
    location = decorators(main()["parameters"]["location"])
    assert location["metadata"] == {"azd": {"type": "location"}}
    allowed = location["allowed"]
    assert len(allowed) == len(set(allowed))
    assert all(re.fullmatch(r"[a-z0-9]+", region) for region in allowed)
    # A few regions the Flex Consumption documentation and samples name, and none of the canary regions.
    assert {"westeurope", "northeurope", "eastus", "eastus2", "swedencentral", "uksouth"} <= set(allowed)
    assert not [region for region in allowed if region.endswith("euap")]


def test_every_location_the_guide_uses_is_allowed() -> None:
    guide = (BICEP / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"(?:AZURE_LOCATION |--location |location=)([a-z0-9]+)", guide))
    assert used
    assert used <= set(decorators(main()["parameters"]["location"])["allowed"])

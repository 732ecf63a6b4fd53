"""What `azd up` reads besides the templates: `azure.yaml`, `main.parameters.json`, the outputs the
postprovision hook uses, and the hook's SQL user step (`create_sql_user.py` rendering
`create-sql-user.sql`). The SQL itself can only run on Azure SQL; here it is rendered and inspected."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from types import ModuleType

import pytest
import yaml

from tests.infra.templates import BICEP, ROOT, main

SCRIPTS = BICEP / "scripts"
IDENTITY = "id-mgrid-abc123"
OBJECT_ID = "0B5F2A3E-1111-2222-3333-444455556666"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("create_sql_user", SCRIPTS / "create_sql_user.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


create_sql_user = _load_script()


def _render(**overrides: str) -> str:
    values = {"identity_name": IDENTITY, "object_id": OBJECT_ID, **overrides}
    rendered: str = create_sql_user.render(create_sql_user.SQL_FILE.read_text(), **values)
    return rendered


def test_azure_yaml_deploys_the_repository_root_as_a_python_function_app() -> None:
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert project["infra"] == {"provider": "bicep", "path": "infra/bicep", "module": "main"}
    assert project["services"] == {"functions": {"project": ".", "language": "python", "host": "function"}}


def test_the_postprovision_hook_runs_the_sql_user_step_then_the_migrations() -> None:
    hooks = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]["postprovision"]
    script = ROOT / hooks["posix"]["run"]
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.index("create_sql_user.py") < text.index("-m shared.cli db upgrade")
    assert 'ConnectionStrings__Monitoring="$MONITORING_DATABASE_URL"' in text
    windows = hooks["windows"]["run"]
    assert windows.index("create_sql_user.py") < windows.index("-m shared.cli db upgrade")


def test_the_hook_reads_only_outputs_main_declares() -> None:
    outputs = set(main()["outputs"])
    used = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"\)', (SCRIPTS / "create_sql_user.py").read_text()))
    used |= set(re.findall(r"\$([A-Z][A-Z_]+)", (SCRIPTS / "postprovision.sh").read_text()))
    assert used
    assert used <= outputs


def test_main_outputs_what_azd_and_the_operator_need() -> None:
    outputs = main()["outputs"]
    for name in (
        "AZURE_LOCATION",
        "AZURE_TENANT_ID",
        "AZURE_RESOURCE_GROUP",
        "AZURE_FUNCTION_APP_NAME",
        "AZURE_KEY_VAULT_NAME",
        "AZURE_SQL_SERVER_FQDN",
        "AZURE_SQL_DATABASE_NAME",
        "MONITORING_DATABASE_URL",
        "APPLICATIONINSIGHTS_NAME",
    ):
        assert outputs[name]["type"] == "string", name


def test_the_parameters_file_feeds_main_from_the_azd_environment() -> None:
    document = json.loads((BICEP / "main.parameters.json").read_text())
    values = {name: entry["value"] for name, entry in document["parameters"].items()}
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["principalId"] == "${AZURE_PRINCIPAL_ID}"
    declared = main()["parameters"]
    assert set(values) <= set(declared)
    required = {name for name, parameter in declared.items() if parameter["default"] is None}
    assert required <= set(values)


def test_the_sql_step_creates_the_identity_from_its_object_id_with_the_app_roles() -> None:
    rendered = _render()
    assert (
        f"CREATE USER [{IDENTITY}] FROM EXTERNAL PROVIDER WITH OBJECT_ID = '{OBJECT_ID.lower()}';" in rendered
    )
    for role in ("db_datareader", "db_datawriter", "db_ddladmin"):
        assert f"ALTER ROLE {role} ADD MEMBER [{IDENTITY}];" in rendered
    assert f"GRANT VIEW DATABASE STATE TO [{IDENTITY}];" in rendered
    assert "db_owner ADD" not in rendered
    assert "$(" not in rendered


@pytest.mark.parametrize("name", ["ab", "x]; DROP USER [dbo", "name with space", "o'brien", "-leading"])
def test_the_sql_step_refuses_a_name_that_is_not_a_managed_identity_name(name: str) -> None:
    with pytest.raises(ValueError, match="managed identity name"):
        _render(identity_name=name)


def test_the_sql_step_refuses_an_object_id_that_is_not_a_guid() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        _render(object_id="1' OR '1'='1")


def test_the_sql_step_takes_its_values_from_the_azd_environment() -> None:
    environment = {
        **os.environ,
        "MONITORING_DATABASE_URL": "mssql+pyodbc://@sql-x.database.windows.net/monitoring",
        "AZURE_MANAGED_IDENTITY_NAME": IDENTITY,
        "AZURE_MANAGED_IDENTITY_PRINCIPAL_ID": OBJECT_ID,
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "create_sql_user.py"), "--dry-run"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == _render()


def test_the_sql_step_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "MONITORING_DATABASE_URL",
        "AZURE_MANAGED_IDENTITY_NAME",
        "AZURE_MANAGED_IDENTITY_PRINCIPAL_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    assert create_sql_user.main(["--identity-name", IDENTITY]) == 2
    assert "missing --url, --object-id" in capsys.readouterr().err

"""What `azd up` reads besides the templates: `azure.yaml`, `main.parameters.json`, the outputs the hooks
use, the preprovision hook (this machine's address for the SQL firewall), the postprovision hook and its SQL
user step (`create_sql_user.py` rendering `create-sql-user.sql`). The SQL itself can only run on Azure SQL;
here it is rendered and inspected, and the shell hooks run against stand-ins for azd, az, curl and Python."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.infra.templates import BICEP, ROOT, main, module, resources_of_type

SCRIPTS = BICEP / "scripts"
IDENTITY = "id-mgrid-abc123"
CLIENT_ID = "0B5F2A3E-1111-2222-3333-444455556666"
#: The same GUID as SQL Server stores it: the first three fields little-endian.
SID = "0x3E2A5F0B111122223333444455556666"
#: Variables the hooks read that are neither outputs of main.bicep nor azd inputs: local overrides.
HOOK_KNOBS = {"MGRID_PYTHON", "PYTHON", "MGRID_IP_LOOKUP_URL"}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("create_sql_user", SCRIPTS / "create_sql_user.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


create_sql_user = _load_script()


def _render(**overrides: str) -> str:
    values = {"identity_name": IDENTITY, "client_id": CLIENT_ID, **overrides}
    rendered: str = create_sql_user.render(create_sql_user.SQL_FILE.read_text(), **values)
    return rendered


def test_azure_yaml_deploys_the_repository_root_as_a_python_function_app() -> None:
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert project["infra"] == {"provider": "bicep", "path": "infra/bicep", "module": "main"}
    assert project["services"] == {"functions": {"project": ".", "language": "python", "host": "function"}}


def _hooks() -> dict[str, Any]:
    hooks: dict[str, Any] = yaml.safe_load((ROOT / "azure.yaml").read_text())["hooks"]
    return hooks


@pytest.mark.parametrize("hook", ["preprovision", "postprovision"])
def test_each_hook_has_a_posix_and_a_windows_script(hook: str) -> None:
    posix, windows = _hooks()[hook]["posix"], _hooks()[hook]["windows"]
    assert (posix["shell"], windows["shell"]) == ("sh", "pwsh")
    assert os.access(ROOT / posix["run"], os.X_OK)
    assert (ROOT / windows["run"]).is_file()
    assert posix["continueOnError"] is windows["continueOnError"] is False


def test_the_postprovision_hook_adds_the_firewall_rule_then_the_sql_user_then_migrates() -> None:
    for script in ("postprovision.sh", "postprovision.ps1"):
        text = (SCRIPTS / script).read_text()
        assert text.index("firewall-rule create") < text.index("create_sql_user.py"), script
        assert text.index("create_sql_user.py") < text.index("-m shared.cli db upgrade"), script
        assert "requirements.txt" in text, script  # a clean checkout gets a virtualenv
        assert "-e ." not in text, script
    assert (
        'ConnectionStrings__Monitoring="$MONITORING_DATABASE_URL"'
        in (SCRIPTS / "postprovision.sh").read_text()
    )


def test_the_hooks_read_only_outputs_azd_inputs_and_local_overrides() -> None:
    outputs = set(main()["outputs"])
    parameters = (BICEP / "main.parameters.json").read_text()
    inputs = set(re.findall(r"\$\{([A-Z][A-Z_]+)", parameters))
    assert "CLIENT_IP_ADDRESS" in inputs
    used = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"\)', (SCRIPTS / "create_sql_user.py").read_text()))
    for script in ("preprovision.sh", "postprovision.sh"):
        used |= set(re.findall(r"\$\{?([A-Z][A-Z_]+)", (SCRIPTS / script).read_text()))
    for script in ("preprovision.ps1", "postprovision.ps1"):
        used |= set(re.findall(r"\$env:([A-Z][A-Z_a-z]+)", (SCRIPTS / script).read_text()))
    used.discard("ConnectionStrings__Monitoring")  # set by the hook for `mgrid`, not read
    assert {"AZURE_MANAGED_IDENTITY_CLIENT_ID", "AZURE_SQL_SERVER_NAME", "CLIENT_IP_ADDRESS"} <= used
    assert used <= outputs | inputs | HOOK_KNOBS


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


def test_the_sql_step_creates_the_identity_from_its_sid_with_the_app_roles() -> None:
    rendered = _render()
    assert f"CREATE USER [{IDENTITY}] WITH SID = {SID}, TYPE = E;" in rendered
    statements = "\n".join(line for line in rendered.splitlines() if not line.startswith("--"))
    assert "EXTERNAL PROVIDER" not in statements  # that would need a directory lookup
    assert f"name = N'{IDENTITY}' AND sid <> {SID})" in rendered
    for role in ("db_datareader", "db_datawriter", "db_ddladmin"):
        assert f"ALTER ROLE {role} ADD MEMBER [{IDENTITY}];" in rendered
    assert f"GRANT VIEW DATABASE STATE TO [{IDENTITY}];" in rendered
    assert "db_owner ADD" not in rendered
    assert "$(" not in rendered


@pytest.mark.parametrize(
    ("client_id", "sid"),
    [
        (CLIENT_ID, SID),
        (CLIENT_ID.lower(), SID),
        ("00112233-4455-6677-8899-aabbccddeeff", "0x33221100554477668899AABBCCDDEEFF"),
        ("{00000001-0002-0003-0004-000000000005}", "0x01000000020003000004000000000005"),
    ],
)
def test_the_sid_is_the_client_id_in_sql_servers_guid_byte_order(client_id: str, sid: str) -> None:
    assert create_sql_user.sid_literal(client_id) == sid
    assert len(bytes.fromhex(sid[2:])) == 16


@pytest.mark.parametrize("name", ["ab", "x]; DROP USER [dbo", "name with space", "o'brien", "-leading"])
def test_the_sql_step_refuses_a_name_that_is_not_a_managed_identity_name(name: str) -> None:
    with pytest.raises(ValueError, match="managed identity name"):
        _render(identity_name=name)


def test_the_sql_step_refuses_a_client_id_that_is_not_a_guid() -> None:
    with pytest.raises(ValueError, match="badly formed"):
        _render(client_id="1' OR '1'='1")


def test_the_sql_step_takes_its_values_from_the_azd_environment() -> None:
    environment = {
        **os.environ,
        "MONITORING_DATABASE_URL": "mssql+pyodbc://@sql-x.database.windows.net/monitoring",
        "AZURE_MANAGED_IDENTITY_NAME": IDENTITY,
        "AZURE_MANAGED_IDENTITY_CLIENT_ID": CLIENT_ID,
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
        "AZURE_MANAGED_IDENTITY_CLIENT_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    assert create_sql_user.main(["--identity-name", IDENTITY]) == 2
    assert "missing --url, --client-id" in capsys.readouterr().err


def test_the_sql_step_runs_with_only_the_requirements_installed(tmp_path: Path) -> None:
    """`python -S` skips the site module, so no .pth file (an editable install of the project) is read;
    PYTHONPATH still offers the installed requirements. From another directory, the script must find the
    app's engine in its own checkout: against SQLite the T-SQL then fails as SQL, not as an import."""
    site_packages = sysconfig.get_paths()["purelib"]
    arguments = [
        "--url",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--identity-name",
        IDENTITY,
        "--client-id",
        CLIENT_ID,
    ]
    result = subprocess.run(
        [sys.executable, "-S", str(SCRIPTS / "create_sql_user.py"), *arguments],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": site_packages},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ModuleNotFoundError" not in result.stderr
    assert "sqlite3.OperationalError" in result.stderr
    no_project = subprocess.run(
        [sys.executable, "-S", "-c", "import shared"],
        cwd=tmp_path,
        env={"PYTHONPATH": site_packages},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "ModuleNotFoundError" in no_project.stderr  # the project itself is not importable there


def _stand_ins(directory: Path, **scripts: str) -> dict[str, str]:
    """Executables named after the keyword arguments, with those shell bodies; the environment to run with."""
    directory.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = directory / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return {"PATH": f"{directory}:/usr/bin:/bin", "HOME": str(directory)}


def _preprovision(tmp_path: Path, answer: str, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    calls = tmp_path / "azd-calls"
    environment = _stand_ins(
        tmp_path / "bin",
        curl=f"printf '%s' '{answer}'",
        azd=f'echo "$@" >> {calls}',
    )
    result = subprocess.run(
        [str(SCRIPTS / "preprovision.sh")],
        cwd=ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return result, calls.read_text() if calls.exists() else ""


def test_preprovision_stores_this_machines_address_for_the_sql_firewall(tmp_path: Path) -> None:
    result, calls = _preprovision(tmp_path, "198.51.100.23")
    assert result.returncode == 0, result.stderr
    assert calls == "env set CLIENT_IP_ADDRESS 198.51.100.23\n"


@pytest.mark.parametrize("given", ["203.0.113.7"])
def test_preprovision_keeps_an_address_the_operator_set(tmp_path: Path, given: str) -> None:
    result, calls = _preprovision(tmp_path, "198.51.100.23", CLIENT_IP_ADDRESS=given)
    assert result.returncode == 0, result.stderr
    assert calls == ""
    assert given in result.stdout
    result, calls = _preprovision(tmp_path, "198.51.100.23", CLIENT_IP_ADDRESS="auto")
    assert calls == "env set CLIENT_IP_ADDRESS 198.51.100.23\n"


@pytest.mark.parametrize("answer", ["", "<html>rate limited</html>", "2001:db8::1", "1.2.3"])
def test_preprovision_without_a_usable_answer_warns_and_goes_on(tmp_path: Path, answer: str) -> None:
    result, calls = _preprovision(tmp_path, answer)
    assert result.returncode == 0
    assert calls == ""
    assert "azd env set CLIENT_IP_ADDRESS <address>" in result.stderr


def test_postprovision_adds_the_rule_then_creates_the_user_then_migrates(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    environment = _stand_ins(
        tmp_path / "bin",
        az=f'echo "az $*" >> {log}',
        python=f'echo "python $* url=$ConnectionStrings__Monitoring" >> {log}',
    )
    outputs = {
        "AZURE_RESOURCE_GROUP": "rg-prod",
        "AZURE_SQL_SERVER_NAME": "sql-mgrid-x",
        "MONITORING_DATABASE_URL": "mssql+pyodbc://@sql-mgrid-x.database.windows.net/monitoring",
        "CLIENT_IP_ADDRESS": "198.51.100.23",
        "MGRID_PYTHON": str(tmp_path / "bin" / "python"),
    }
    result = subprocess.run(
        [str(SCRIPTS / "postprovision.sh")],
        cwd=ROOT,
        env={**environment, **outputs},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rule, user, migrate = log.read_text().splitlines()
    assert rule == (
        "az sql server firewall-rule create --resource-group rg-prod --server sql-mgrid-x "
        "--name post-provision-client --start-ip-address 198.51.100.23 --end-ip-address 198.51.100.23 "
        "--output none"
    )
    assert user.startswith("python infra/bicep/scripts/create_sql_user.py")
    assert migrate == f"python -m shared.cli db upgrade url={outputs['MONITORING_DATABASE_URL']}"


def test_the_firewall_rule_the_hook_adds_is_the_one_the_template_creates() -> None:
    rules = resources_of_type(module("sql"), "Microsoft.Sql/servers/firewallRules")
    assert rules["allowClient"]["name"] == "post-provision-client"
    assert main()["modules"]["sql"]["config"]["params"]["clientIpAddress"] == "clientIpAddress"
    document = json.loads((BICEP / "main.parameters.json").read_text())
    assert document["parameters"]["clientIpAddress"]["value"] == "${CLIENT_IP_ADDRESS}"

"""The project's configuration files say what the code does: one name per setting, host and deploy facts."""

from __future__ import annotations

import json
import re
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path

import pytest

from shared.local_settings import read_values
from shared.settings import Settings, catalog, effective_values

ROOT = Path(__file__).resolve().parents[2]
_loader = SourceFileLoader("render_settings", str(ROOT / "scripts" / "render-settings"))
render = module_from_spec(spec_from_loader("render_settings", _loader))  # type: ignore[arg-type]
_loader.exec_module(render)
SETTING_NAMES = [spec.name for spec in catalog()]


def test_the_settings_table_shows_every_setting_with_its_default_and_range() -> None:
    rows = set((ROOT / "docs" / "settings.md").read_text(encoding="utf-8").splitlines())
    missing = [render.table_row(spec) for spec in catalog() if render.table_row(spec) not in rows]
    assert missing == [], "run scripts/render-settings"


def test_the_example_local_settings_hold_every_setting_at_its_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = read_values(ROOT / "local.settings.json.example")
    for name in SETTING_NAMES:
        prefix = name.removesuffix("<name>")
        assert any(key.startswith(prefix) for key in values), name
    defaults = effective_values(Settings.load())
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    loaded = effective_values(Settings.load())
    assert loaded.pop("ConnectionStrings__Sources__main") == "sqlite:///.data/demo-source.db"
    assert loaded.pop("AzureWebJobsStorage") == "UseDevelopmentStorage=true"
    defaults.pop("AzureWebJobsStorage")
    assert loaded == defaults


def test_requirements_pin_compatible_ranges_and_never_the_worker() -> None:
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert "azure-functions>=1.21,<3" in lines
    for line in lines:
        # tzdata is versioned by date: every newer release is compatible, so it takes a floor only.
        if not line.startswith("tzdata"):
            assert re.search(r">=[\d.]+,<[\d.]+$", line), f"{line}: give a compatible range"
        assert not line.startswith(("azure-functions-worker", "azure-functions-runtime")), line
    named = {re.split(r"[\[<>=]", line)[0] for line in lines}
    assert {
        "azure-functions",
        "sqlalchemy",
        "pyodbc",
        "pydantic",
        "tenacity",
        "azure-identity",
        "azure-monitor-opentelemetry",
    } <= named
    assert "opencensus-ext-azure" not in named


def test_host_json_has_the_runtime_bundle_timeout_and_queue_settings() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    queues = host["extensions"]["queues"]
    assert set(queues) >= {
        "batchSize",
        "newBatchThreshold",
        "maxDequeueCount",
        "visibilityTimeout",
        "messageEncoding",
    }
    assert 1 <= queues["batchSize"] <= 32
    # The function timeout must outlast the longest allowed KPI execution (ExecutionTimeoutSeconds <= 1800).
    hours, minutes, seconds = (int(part) for part in host["functionTimeout"].split(":"))
    assert hours * 3600 + minutes * 60 + seconds > 1800
    assert "Request" in host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"]


def test_package_json_pins_the_azurite_that_runs_on_node_20_and_the_status_pages_tools() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    assert package["devDependencies"]["azurite"] == "3.35.0"
    assert set(package["devDependencies"]) == {"axe-core", "azurite", "esbuild", "uplot"}
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in package["devDependencies"].values())
    assert package["scripts"] == {"build": "node web/build.mjs"}


def test_funcignore_keeps_tests_tooling_and_local_state_out_of_the_deployment() -> None:
    ignored = set((ROOT / ".funcignore").read_text().split())
    assert {"tests", "infra", ".venv", "local.settings.json", "node_modules", ".data", "devhost"} <= ignored
    assert "shared" not in ignored

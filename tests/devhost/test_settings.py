"""Settings of a local run: local.settings.json, `%Name%` references, host.json."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from devhost.settings import (
    HostConfig,
    MissingSettingError,
    hierarchical_references,
    load_settings_file,
    resolve,
)


def test_a_reference_resolves_from_the_environment_with_colons_read_as_double_underscores() -> None:
    environ = {"Worker__KpiMonitoring__Schedule": "0 */5 * * * *", "Queue": "jobs"}
    assert resolve("%Worker:KpiMonitoring:Schedule%", environ) == "0 */5 * * * *"
    assert resolve("%Queue%-poison", environ) == "jobs-poison"
    assert resolve("plain-name", environ) == "plain-name"
    assert resolve("%queue%", environ) == "jobs"  # app settings are case-insensitive


def test_hierarchical_references_are_found_for_a_warning() -> None:
    assert hierarchical_references("%Worker:KpiMonitoring:Schedule%") == ["Worker:KpiMonitoring:Schedule"]
    assert hierarchical_references("%Worker__HealthChecks__Schedule%") == ["Worker__HealthChecks__Schedule"]
    assert hierarchical_references("%KpiSchedulerSchedule%") == []
    assert hierarchical_references("0 * * * * *") == []


def test_a_missing_setting_is_an_error_naming_it() -> None:
    with pytest.raises(MissingSettingError, match=r"'Worker:Missing'.*'Worker__Missing'") as caught:
        resolve("%Worker:Missing%", {})
    assert caught.value.name == "Worker:Missing"


def test_local_settings_fill_only_what_the_environment_does_not_set(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"Values": {"A": "file", "B": "file", "C": True}}), encoding="utf-8")
    environ = {"A": "env"}
    assert load_settings_file(path, environ) == path
    assert environ == {"A": "env", "B": "file", "C": "true"}


def test_an_old_schedule_name_fills_the_flat_name_the_trigger_binds(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    values = {"KpiSchedulerSchedule": "0 * * * * *", "Worker__HealthChecks__Schedule": "0 */10 * * * *"}
    path.write_text(json.dumps({"Values": values}), encoding="utf-8")
    # The environment's old name wins over the file's flat default; the file's old name fills its flat name.
    environ = {"Worker__KpiMonitoring__Schedule": "*/10 * * * * *"}
    load_settings_file(path, environ)
    assert resolve("%KpiSchedulerSchedule%", environ) == "*/10 * * * * *"
    assert resolve("%HealthCheckSchedule%", environ) == "0 */10 * * * *"


def test_a_flat_schedule_name_in_the_environment_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    values = {"Worker__KpiMonitoring__Schedule": "0 * * * * *"}
    path.write_text(json.dumps({"Values": values}), encoding="utf-8")
    environ = {"KpiSchedulerSchedule": "*/10 * * * * *"}
    load_settings_file(path, environ)
    assert environ["KpiSchedulerSchedule"] == "*/10 * * * * *"


def test_without_a_file_the_example_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    environ: dict[str, str] = {}
    assert load_settings_file(None, environ) is None
    (tmp_path / "local.settings.json.example").write_text('{"Values": {"X": "example"}}', encoding="utf-8")
    assert load_settings_file(None, environ) == Path("local.settings.json.example")
    (tmp_path / "local.settings.json").write_text('{"Values": {"Y": "local"}}', encoding="utf-8")
    assert load_settings_file(None, environ) == Path("local.settings.json")
    assert environ == {"X": "example", "Y": "local"}


def test_host_json_queue_and_http_settings_with_the_hosts_defaults() -> None:
    root = Path(__file__).resolve().parents[2]
    config = HostConfig.from_json(json.loads((root / "host.json").read_text(encoding="utf-8")))
    assert config.queues.batch_size == 8
    assert config.queues.max_in_flight == 12
    assert config.queues.max_dequeue_count == 5
    assert config.queues.visibility_timeout == timedelta(seconds=30)
    assert config.queues.max_polling_interval == timedelta(seconds=5)
    assert config.queues.message_encoding == "base64"
    assert config.route_prefix == "api"
    assert config.function_timeout == timedelta(minutes=35)
    defaults = HostConfig.from_json({})
    assert (defaults.queues.batch_size, defaults.queues.new_batch_threshold) == (16, 8)
    assert defaults.queues.visibility_timeout == timedelta(0)
    assert HostConfig.from_json({"functionTimeout": "1.02:03:04.5"}).function_timeout == timedelta(
        days=1, hours=2, minutes=3, seconds=4.5
    )
    with pytest.raises(ValueError, match="messageEncoding"):
        HostConfig.from_json({"extensions": {"queues": {"messageEncoding": "utf8"}}})

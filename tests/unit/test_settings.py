"""Settings: seed names and defaults, `__` nesting, validation messages, masking, lazy caching."""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import SettingsError
from shared.settings import (
    DEFAULT_MONITORING_URL,
    Settings,
    catalog,
    effective_values,
    get_settings,
    mask_secret,
    reset_settings,
)

SEED_DEFAULTS = {
    "Worker__KpiMonitoring__IntervalSeconds": 60,
    "Worker__KpiMonitoring__MaxParallelKpis": 5,
    "Worker__KpiMonitoring__ExecutionTimeoutSeconds": 300,
    "Worker__KpiMonitoring__ProcessOnlyActiveKpis": True,
    "Worker__KpiMonitoring__SkipRunningKpis": True,
    "Worker__KpiMonitoring__ResendAfterSeconds": 600,
    "Worker__KpiMonitoring__MaxAttempts": 3,
    "Worker__KpiMonitoring__ExecutionBatchSize": None,
    "Worker__KpiMonitoring__ExecutionBatchParallelism": 16,
    "KpiSchedulerSchedule": "0 * * * * *",
    "Worker__ScheduledTasks__Enabled": True,
    "CleanupSchedule": "0 0 2 * * *",
    "MaintenanceSchedule": "0 0 3 * * 0",
    "Worker__ScheduledTasks__HistoricalDataRetentionDays": 90,
    "Worker__ScheduledTasks__LogRetentionDays": 30,
    "Worker__ScheduledTasks__CleanupBatchSize": 5000,
    "Worker__ScheduledTasks__CleanupTimeBudgetSeconds": 600,
    "Worker__ScheduledTasks__MaintenanceTimeBudgetSeconds": 1800,
    "Worker__HealthChecks__IntervalSeconds": 300,
    "Worker__HealthChecks__TimeoutSeconds": 30,
    "Worker__HealthChecks__CheckDatabase": True,
    "Worker__HealthChecks__CheckKpiExecution": True,
    "Worker__HealthChecks__CheckAlertProcessing": True,
    "Worker__HealthChecks__CheckQueues": True,
    "Worker__HealthChecks__StaleGraceMinutes": 10,
    "Worker__HealthChecks__FailureRatioDegradedPercent": 20,
    "Worker__HealthChecks__FailureRatioUnhealthyPercent": 50,
    "Worker__HealthChecks__MinimumExecutions": 5,
    "Worker__HealthChecks__HeartbeatUnhealthySeconds": 300,
    "Worker__HealthChecks__OutboxDegradedSeconds": 300,
    "Worker__HealthChecks__QueueDepthDegraded": 1000,
    "HealthCheckSchedule": "0 */5 * * * *",
    "Worker__AlertProcessing__IntervalSeconds": 30,
    "Worker__AlertProcessing__BatchSize": 100,
    "Worker__AlertProcessing__EnableEscalation": True,
    "Worker__AlertProcessing__EscalationTimeoutMinutes": 60,
    "Worker__AlertProcessing__EnableAutoResolution": True,
    "Worker__AlertProcessing__AutoResolutionTimeoutMinutes": 120,
    "Worker__AlertProcessing__OutboxGraceSeconds": 60,
    "AlertProcessorSchedule": "*/30 * * * * *",
    "Worker__Logging__MinimumLevel": "Information",
    "Worker__Logging__Format": "text",
    "ConnectionStrings__Monitoring": DEFAULT_MONITORING_URL,
    "APPLICATIONINSIGHTS_CONNECTION_STRING": None,
    "AzureWebJobsStorage": None,
    "AzureWebJobsStorage__queueServiceUri": None,
    "AzureWebJobsStorage__clientId": None,
    "AZURE_CLIENT_ID": None,
    # DESIGN section 6's notification settings, and the delivery retries around them.
    "Notifications__Smtp__Host": None,
    "Notifications__Smtp__Port": 587,
    "Notifications__Smtp__Username": None,
    "Notifications__Smtp__Password": None,
    "Notifications__Smtp__From": "monitoringgrid@localhost",
    "Notifications__Smtp__Security": "starttls",
    "Notifications__Smtp__TimeoutSeconds": 30,
    "Notifications__Sms__Mode": "acs",
    "Notifications__Sms__Gateway": None,
    "Notifications__Acs__ConnectionString": None,
    "Notifications__Acs__From": None,
    "Notifications__WebhookSecret": None,
    "Notifications__AdminContact": None,
    "Notifications__HttpTimeoutSeconds": 10,
    # Webhook targets: https and public addresses only unless these allow more (docs/security.md).
    "Notifications__AllowHttpLoopback": False,
    "Notifications__AllowPrivateTargets": False,
    "Notifications__SendAttempts": 3,
    "Notifications__MaxDeliveryAttempts": 9,
    "Notifications__RetryBackoffSeconds": 60,
    # Channel switches (the original's EnableEmail / EnableSms), all on by default.
    "Notifications__Email__Enabled": True,
    "Notifications__Sms__Enabled": True,
    "Notifications__Teams__Enabled": True,
    "Notifications__Slack__Enabled": True,
    "Notifications__Webhook__Enabled": True,
    "Notifications__PublicBaseUrl": None,
    "Notifications__AckTokenSecret": None,
    "Notifications__AckTokenTtlHours": 72,
}


def test_every_seed_setting_has_its_seed_default() -> None:
    values = effective_values(Settings.load())
    assert {name: values[name] for name in SEED_DEFAULTS} == SEED_DEFAULTS


def test_the_catalog_names_every_setting_once() -> None:
    names = [spec.name for spec in catalog()]
    assert len(names) == len(set(names))
    assert set(names) == set(SEED_DEFAULTS) | {"ConnectionStrings__Sources__<name>"}


def test_settings_are_read_from_double_underscore_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Worker__KpiMonitoring__MaxParallelKpis", "12")
    monkeypatch.setenv("Worker__AlertProcessing__EnableEscalation", "false")
    monkeypatch.setenv("Worker__ScheduledTasks__HistoricalDataRetentionDays", "400")
    monkeypatch.setenv("ConnectionStrings__Monitoring", "postgresql://monitor@db/monitoring")
    settings = Settings.load()
    assert settings.worker.kpi_monitoring.max_parallel_kpis == 12
    assert settings.worker.alert_processing.enable_escalation is False
    assert settings.worker.scheduled_tasks.historical_data_retention_days == 400
    assert settings.connection_strings.monitoring == "postgresql://monitor@db/monitoring"


def test_setting_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER__KPIMONITORING__MAXPARALLELKPIS", "7")
    assert Settings.load().worker.kpi_monitoring.max_parallel_kpis == 7


def test_each_source_is_a_connection_string_with_a_case_insensitive_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ConnectionStrings__Sources__Main", "postgresql://reader@db/main")
    monkeypatch.setenv("ConnectionStrings__Sources__reporting", "sqlite:///reporting.db")
    assert Settings.load().connection_strings.sources == {
        "main": "postgresql://reader@db/main",
        "reporting": "sqlite:///reporting.db",
    }


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "Worker__KpiMonitoring__IntervalSeconds",
            "5",
            "= '5': Input should be greater than or equal to 10 (allowed: integer 10..3600)",
        ),
        (
            "Worker__KpiMonitoring__MaxParallelKpis",
            "51",
            "= '51': Input should be less than or equal to 50 (allowed: integer 1..50)",
        ),
        ("Worker__KpiMonitoring__MaxParallelKpis", "many", "= 'many': Input should be a valid integer"),
        ("Worker__KpiMonitoring__ExecutionTimeoutSeconds", "29", "(allowed: integer 30..1800)"),
        (
            "Worker__KpiMonitoring__SkipRunningKpis",
            "maybe",
            "= 'maybe': Input should be a valid boolean, unable to interpret input (allowed: true or false)",
        ),
        ("Worker__ScheduledTasks__HistoricalDataRetentionDays", "0", "(allowed: integer 1..3650)"),
        ("Worker__ScheduledTasks__LogRetentionDays", "4000", "(allowed: integer 1..3650)"),
        ("CleanupSchedule", "0 0 2 * * ?", "Quartz syntax"),
        ("MaintenanceSchedule", "0 3 * *", "expected 5"),
        ("Worker__HealthChecks__TimeoutSeconds", "0", "(allowed: integer 1..120)"),
        ("Worker__AlertProcessing__BatchSize", "0", "(allowed: integer 1..10000)"),
        ("Worker__AlertProcessing__EscalationTimeoutMinutes", "0", "(allowed: integer 1..10080)"),
        ("Worker__AlertProcessing__AutoResolutionTimeoutMinutes", "-1", "(allowed: integer 1..43200)"),
        (
            "Worker__Logging__MinimumLevel",
            "Loud",
            "(allowed: one of Trace, Debug, Information, Warning, Error, Critical)",
        ),
        ("ConnectionStrings__Monitoring", "", "String should have at least 1 character"),
    ],
)
def test_an_invalid_value_names_the_setting_the_value_and_the_allowed_range(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    (problem,) = raised.value.problems
    assert problem.startswith(f"{name} = ")
    assert expected in problem


def test_every_invalid_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Worker__KpiMonitoring__MaxParallelKpis", "0")
    monkeypatch.setenv("Worker__AlertProcessing__BatchSize", "0")
    with pytest.raises(SettingsError, match=r"invalid settings \(2\)"):
        Settings.load()


@pytest.mark.parametrize(
    ("section", "flat", "interval", "schedule", "gap"),
    [
        ("KpiMonitoring", "KpiSchedulerSchedule", "60", "0 */5 * * * *", 300),
        ("AlertProcessing", "AlertProcessorSchedule", "60", "*/30 * * * * *", 30),
        ("HealthChecks", "HealthCheckSchedule", "300", "0 * * * * *", 60),
    ],
)
def test_an_interval_that_disagrees_with_its_timer_schedule_is_refused(
    monkeypatch: pytest.MonkeyPatch, section: str, flat: str, interval: str, schedule: str, gap: int
) -> None:
    monkeypatch.setenv(f"Worker__{section}__IntervalSeconds", interval)
    monkeypatch.setenv(flat, schedule)
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    assert raised.value.problems == (
        f"{flat} {schedule!r} fires every {gap} s but "
        f"Worker__{section}__IntervalSeconds is {interval}: set them to agree",
    )


def test_interval_and_schedule_may_change_together(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Worker__KpiMonitoring__IntervalSeconds", "300")
    monkeypatch.setenv("KpiSchedulerSchedule", "0 */5 * * * *")
    assert Settings.load().worker.kpi_monitoring.interval_seconds == 300


@pytest.mark.parametrize(
    ("flat", "old", "read"),
    [
        ("KpiSchedulerSchedule", "Worker__KpiMonitoring__Schedule", lambda w: w.kpi_monitoring.schedule),
        (
            "AlertProcessorSchedule",
            "Worker__AlertProcessing__Schedule",
            lambda w: w.alert_processing.schedule,
        ),
        ("HealthCheckSchedule", "Worker__HealthChecks__Schedule", lambda w: w.health_checks.schedule),
        (
            "CleanupSchedule",
            "Worker__ScheduledTasks__CleanupCronExpression",
            lambda w: w.scheduled_tasks.cleanup_cron_expression,
        ),
        (
            "MaintenanceSchedule",
            "Worker__ScheduledTasks__MaintenanceCronExpression",
            lambda w: w.scheduled_tasks.maintenance_cron_expression,
        ),
    ],
)
def test_a_schedule_is_read_from_its_flat_name_or_else_its_old_name(
    monkeypatch: pytest.MonkeyPatch, flat: str, old: str, read: Any
) -> None:
    schedule = "0 0 4 * * 1" if "Cleanup" in flat or "Maintenance" in flat else None
    if schedule is None:  # the interval timers: keep IntervalSeconds in agreement
        schedule = "0 */10 * * * *"
        monkeypatch.setenv(old.rsplit("__", 1)[0] + "__IntervalSeconds", "600")
    monkeypatch.setenv(old, schedule)
    assert read(Settings.load().worker) == schedule
    monkeypatch.setenv(flat.upper(), schedule)  # names are case-insensitive; the same value is no conflict
    assert read(Settings.load().worker) == schedule
    monkeypatch.delenv(old)
    assert read(Settings.load().worker) == schedule
    assert effective_values(Settings.load())[flat] == schedule


def test_a_schedule_set_under_both_names_with_different_values_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CleanupSchedule", "0 0 4 * * *")
    monkeypatch.setenv("Worker__ScheduledTasks__CleanupCronExpression", "0 0 2 * * *")
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    (problem,) = raised.value.problems
    assert problem.startswith("CleanupSchedule = '0 0 4 * * *' but its old name ")
    assert "remove Worker__ScheduledTasks__CleanupCronExpression" in problem


def test_a_secret_value_never_appears_in_a_validation_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Sources__main", "")
    monkeypatch.setenv("Worker__KpiMonitoring__MaxParallelKpis", "0")
    monkeypatch.setenv("ConnectionStrings__Monitoring", "")
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    assert "ConnectionStrings__Monitoring = ***" in str(raised.value)


def test_settings_are_built_once_and_rebuilt_after_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Worker__AlertProcessing__BatchSize", "10")
    first = get_settings()
    monkeypatch.setenv("Worker__AlertProcessing__BatchSize", "20")
    assert get_settings() is first
    reset_settings()
    assert get_settings().worker.alert_processing.batch_size == 20


def test_settings_are_immutable() -> None:
    settings = Settings.load()
    with pytest.raises(ValueError, match="frozen"):
        settings.worker.kpi_monitoring.max_parallel_kpis = 9  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("postgresql://monitor:s3cret@db:5432/monitoring", "postgresql://monitor:***@db:5432/monitoring"),
        ("sqlite:///.data/monitoring.db", "sqlite:///.data/monitoring.db"),
        (
            "mssql+pyodbc://@srv/db?driver=ODBC+Driver+18+for+SQL+Server",
            "mssql+pyodbc://@srv/db?driver=ODBC+Driver+18+for+SQL+Server",
        ),
        ("mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BPWD%3Dhunter2%3BEncrypt%3Dyes", None),
        (
            "InstrumentationKey=0000-1111;IngestionEndpoint=https://x/",
            "InstrumentationKey=***;IngestionEndpoint=https://x/",
        ),
        ("Server=tcp:x;Password=p@ss;Database=d", "Server=tcp:x;Password=***;Database=d"),
    ],
)
def test_secrets_are_masked_for_display(value: str, masked: str | None) -> None:
    shown = mask_secret(value)
    if masked is not None:
        assert shown == masked
    for secret in ("s3cret", "hunter2", "0000-1111", "p@ss"):
        assert secret not in shown


def test_settings_show_masks_source_and_monitoring_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", "postgresql://m:topsecret@db/monitoring")
    monkeypatch.setenv("ConnectionStrings__Sources__main", "postgresql://r:alsosecret@db/main")
    shown = str(effective_values(Settings.load()))
    assert "topsecret" not in shown
    assert "alsosecret" not in shown
    assert "ConnectionStrings__Sources__main" in shown


def test_a_batch_whose_worst_case_outlasts_the_function_timeout_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings.load().worker.kpi_monitoring.batch_worst_case_seconds == 1800  # 30 in waves of 5 x 300 s
    monkeypatch.setenv("Worker__KpiMonitoring__ExecutionTimeoutSeconds", "900")
    monkeypatch.setenv("Worker__KpiMonitoring__ExecutionBatchSize", "8")
    monkeypatch.setenv("Worker__KpiMonitoring__MaxParallelKpis", "3")  # a batch of one source: waves of 3
    with pytest.raises(SettingsError) as raised:
        Settings.load()
    (problem,) = raised.value.problems
    assert "ExecutionBatchSize 8" in problem
    assert "MaxParallelKpis 3" in problem
    assert "= 2700 s, must be at most 1800 s" in problem
    monkeypatch.setenv("Worker__KpiMonitoring__MaxParallelKpis", "8")
    assert Settings.load().worker.kpi_monitoring.batch_worst_case_seconds == 900


@pytest.mark.parametrize(
    ("environment", "size"),
    [
        ({}, 30),  # 1800 s / 300 s = 6 waves of min(8, 5)
        ({"Worker__KpiMonitoring__ExecutionTimeoutSeconds": "600"}, 15),  # 3 waves of 5
        ({"Worker__KpiMonitoring__ExecutionTimeoutSeconds": "1800"}, 5),  # one wave
        ({"Worker__KpiMonitoring__MaxParallelKpis": "20"}, 32),  # 6 waves of 8, capped at 32
        ({"Worker__KpiMonitoring__ExecutionBatchParallelism": "1"}, 6),  # 6 waves of 1
        ({"Worker__KpiMonitoring__ExecutionBatchSize": "16"}, 16),  # set: as set
        ({"Worker__KpiMonitoring__ExecutionBatchSize": ""}, 30),  # empty: unset
    ],
)
def test_an_unset_batch_size_is_the_largest_whose_worst_case_fits(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], size: int
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monitoring = Settings.load().worker.kpi_monitoring
    assert monitoring.batch_size == size
    assert monitoring.batch_worst_case_seconds <= 1800

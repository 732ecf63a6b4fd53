"""The `Worker` section: its smaller sections (cleanup and maintenance, alert processing, logging) and the
section that holds them all with the KPI monitoring and health checks sections."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.settings.health_checks import HealthChecksSettings
from shared.settings.kpi_monitoring import KpiMonitoringSettings
from shared.settings.section import Section, check_interval, valid_cron

LogLevel = Literal["Trace", "Debug", "Information", "Warning", "Error", "Critical"]
LogFormat = Literal["text", "json"]


class ScheduledTasksSettings(Section):
    """`Worker__ScheduledTasks__*`: cleanup and weekly maintenance of the monitoring database."""

    enabled: bool = Field(True, alias="Enabled", description="Run the cleanup and maintenance timers' work.")
    cleanup_cron_expression: str = Field(
        "0 0 2 * * *",
        alias="CleanupCronExpression",
        description="NCRONTAB (UTC) of the cleanup timer "
        "(old name Worker__ScheduledTasks__CleanupCronExpression).",
    )
    maintenance_cron_expression: str = Field(
        "0 0 3 * * 0",
        alias="MaintenanceCronExpression",
        description="NCRONTAB (UTC) of the maintenance timer, Sunday 03:00 by default "
        "(old name Worker__ScheduledTasks__MaintenanceCronExpression).",
    )
    historical_data_retention_days: int = Field(
        90, ge=1, le=3650, alias="HistoricalDataRetentionDays", description="Days of KPI history kept."
    )
    log_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        alias="LogRetentionDays",
        description="Days kept of finished executions, sent notifications, audit events, resolved alerts.",
    )
    cleanup_batch_size: int = Field(
        5000,
        ge=100,
        le=100000,
        alias="CleanupBatchSize",
        description="Rows deleted per statement (each its own short transaction) by the cleanup timer.",
    )
    cleanup_time_budget_seconds: int = Field(
        600,
        ge=10,
        le=1800,
        alias="CleanupTimeBudgetSeconds",
        description="Time after which cleanup stops and leaves the rest for its next run.",
    )
    maintenance_time_budget_seconds: int = Field(
        1800,
        ge=60,
        le=1800,
        alias="MaintenanceTimeBudgetSeconds",
        description="Time after which maintenance skips its remaining steps (each is reported).",
    )

    _valid_schedules = field_validator("cleanup_cron_expression", "maintenance_cron_expression")(valid_cron)


class AlertProcessingSettings(Section):
    """`Worker__AlertProcessing__*`: escalation, auto-resolution and redelivery (alert_processor timer)."""

    interval_seconds: int = Field(
        30,
        ge=10,
        le=3600,
        alias="IntervalSeconds",
        description="Period of the alert_processor timer in seconds (must agree with Schedule).",
    )
    batch_size: int = Field(
        100, ge=1, le=10000, alias="BatchSize", description="Rows handled per batch by each processor step."
    )
    enable_escalation: bool = Field(
        True, alias="EnableEscalation", description="Escalate unacknowledged alerts to the next level."
    )
    escalation_timeout_minutes: int = Field(
        60,
        ge=1,
        le=10080,
        alias="EscalationTimeoutMinutes",
        description="Minutes an open alert waits before escalating to the next contact level.",
    )
    enable_auto_resolution: bool = Field(
        True,
        alias="EnableAutoResolution",
        description="Resolve alerts whose KPI stopped evaluating their key, after the timeout.",
    )
    auto_resolution_timeout_minutes: int = Field(
        120,
        ge=1,
        le=43200,
        alias="AutoResolutionTimeoutMinutes",
        description="Minutes after three of its KPI's periods without an evaluation that an alert resolves.",
    )
    outbox_grace_seconds: int = Field(
        60,
        ge=10,
        le=3600,
        alias="OutboxGraceSeconds",
        description="Seconds an alert event waits for alert_escalation before alert_processor delivers it.",
    )
    schedule: str = Field(
        "*/30 * * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the alert_processor timer "
        "(old name Worker__AlertProcessing__Schedule).",
    )

    _valid_schedule = field_validator("schedule")(valid_cron)

    @model_validator(mode="after")
    def _agree(self) -> AlertProcessingSettings:
        check_interval("AlertProcessing", self.interval_seconds, self.schedule)
        return self


class LoggingSettings(Section):
    """`Worker__Logging__*`: the level of the application's own logger tree, and the local log format."""

    minimum_level: LogLevel = Field(
        "Information",
        alias="MinimumLevel",
        description="Level of the `mgrid` loggers (.NET level names): Functions host, devhost and `mgrid`.",
    )
    format: LogFormat = Field(
        "text",
        alias="Format",
        description="Local console logs (devhost, `mgrid`): text, or json lines with the invocation, "
        "execution, KPI and alert ids.",
    )


class WorkerSettings(Section):
    """The seed's `Worker` section."""

    kpi_monitoring: KpiMonitoringSettings = Field(
        default_factory=KpiMonitoringSettings, alias="KpiMonitoring"
    )
    scheduled_tasks: ScheduledTasksSettings = Field(
        default_factory=ScheduledTasksSettings, alias="ScheduledTasks"
    )
    health_checks: HealthChecksSettings = Field(default_factory=HealthChecksSettings, alias="HealthChecks")
    alert_processing: AlertProcessingSettings = Field(
        default_factory=AlertProcessingSettings, alias="AlertProcessing"
    )
    logging: LoggingSettings = Field(default_factory=LoggingSettings, alias="Logging")

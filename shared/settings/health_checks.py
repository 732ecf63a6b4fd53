"""`Worker__HealthChecks__*`: the health_check timer and the /api/health endpoint."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from shared.settings.section import Section, check_interval, valid_cron


class HealthChecksSettings(Section):
    """`Worker__HealthChecks__*`: the health_check timer and the /api/health endpoint."""

    interval_seconds: int = Field(
        300,
        ge=10,
        le=86400,
        alias="IntervalSeconds",
        description="Period of the health_check timer in seconds (must agree with Schedule).",
    )
    timeout_seconds: int = Field(
        30, ge=1, le=120, alias="TimeoutSeconds", description="Bound on each health check."
    )
    check_database: bool = Field(True, alias="CheckDatabase", description="Run the database check.")
    check_kpi_execution: bool = Field(
        True, alias="CheckKpiExecution", description="Run the kpi-execution check."
    )
    check_alert_processing: bool = Field(
        True, alias="CheckAlertProcessing", description="Run the alert-processing check."
    )
    check_queues: bool = Field(
        True, alias="CheckQueues", description="Run the queues check (when host storage is configured)."
    )
    stale_grace_minutes: int = Field(
        10,
        ge=0,
        le=1440,
        alias="StaleGraceMinutes",
        description="Grace added to twice a KPI's period before its last success counts as stale.",
    )
    failure_ratio_degraded_percent: int = Field(
        20,
        ge=1,
        le=100,
        alias="FailureRatioDegradedPercent",
        description="Share of failed executions in the last hour at which kpi-execution is Degraded.",
    )
    failure_ratio_unhealthy_percent: int = Field(
        50,
        ge=1,
        le=100,
        alias="FailureRatioUnhealthyPercent",
        description="Share of failed executions in the last hour at which kpi-execution is Unhealthy.",
    )
    minimum_executions: int = Field(
        5,
        ge=1,
        le=100000,
        alias="MinimumExecutions",
        description="Executions finished in the last hour before their failure ratio can degrade health.",
    )
    heartbeat_unhealthy_seconds: int = Field(
        300,
        ge=30,
        le=86400,
        alias="HeartbeatUnhealthySeconds",
        description="Age of the alert processor's heartbeat at which alert-processing is Unhealthy.",
    )
    outbox_degraded_seconds: int = Field(
        300,
        ge=30,
        le=86400,
        alias="OutboxDegradedSeconds",
        description="Age of the oldest undispatched alert event at which alert-processing is Degraded.",
    )
    queue_depth_degraded: int = Field(
        1000,
        ge=1,
        le=10000000,
        alias="QueueDepthDegraded",
        description="Messages waiting in kpi-executions or alert-events at which queues is Degraded.",
    )
    schedule: str = Field(
        "0 */5 * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the health_check timer (old name Worker__HealthChecks__Schedule).",
    )

    _valid_schedule = field_validator("schedule")(valid_cron)

    @model_validator(mode="after")
    def _agree(self) -> HealthChecksSettings:
        check_interval("HealthChecks", self.interval_seconds, self.schedule)
        return self

"""The one settings model of the application.

Every setting is an app setting (an environment variable) whose name keeps the seed's configuration key, with
`__` for nesting: `Worker__KpiMonitoring__MaxParallelKpis`. The timer schedules are the exception: the
triggers bind them by flat names (`%KpiSchedulerSchedule%`, see `schedules.py`), which fill the same fields
and win over the older `Worker__Section__Key` names, still read as aliases.

`get_settings()` builds the model once, on first use, never at import time: an import-time failure would make
every function of the app disappear. Invalid values raise `SettingsError`, naming each setting, the value and
what is allowed.
"""

from __future__ import annotations

import functools
import itertools
import os
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.domain.ncrontab import CronExpression, InvalidCronExpression
from shared.errors import SettingsError
from shared.settings.schedules import SCHEDULE_SETTINGS, FlatScheduleSource, conflicts

DEFAULT_MONITORING_URL = "sqlite:///.data/monitoring.db"
LogLevel = Literal["Trace", "Debug", "Information", "Warning", "Error", "Critical"]
LogFormat = Literal["text", "json"]

# The reference week used to measure how often a schedule fires (any fixed Monday works).
_SCHEDULE_PROBE_START = datetime(2026, 1, 5, tzinfo=UTC)


def _cron(text: str) -> str:
    try:
        CronExpression.parse(text)
    except InvalidCronExpression as error:
        raise ValueError(error.reason) from None
    return text


def _shortest_gap_s(schedule: str) -> int:
    """Shortest gap in seconds between firings of `schedule` over a probe window of 20 firings."""
    expression = CronExpression.parse(schedule)
    moments = [expression.next_after(_SCHEDULE_PROBE_START)]
    for _ in range(20):
        moments.append(expression.next_after(moments[-1]))
    return int(min((later - earlier).total_seconds() for earlier, later in itertools.pairwise(moments)))


def _check_interval(section: str, interval_s: int, schedule: str) -> None:
    gap_s = _shortest_gap_s(schedule)
    if gap_s != interval_s:
        name = next(flat for flat, place in SCHEDULE_SETTINGS.items() if place == (section, "Schedule"))
        raise ValueError(
            f"{name} {schedule!r} fires every {gap_s} s but "
            f"Worker__{section}__IntervalSeconds is {interval_s}: set them to agree"
        )


KEY_VAULT_PREFIX = "@microsoft.keyvault("


def _resolved(value: object) -> object:
    """Refuse a value still holding a Key Vault reference: the platform leaves `@Microsoft.KeyVault(...)` in
    place when it cannot resolve it, and that text must never be used as a password or connection string."""
    if is_key_vault_reference(value):
        raise ValueError(_UNRESOLVED)
    return value


_UNRESOLVED = (
    "is an unresolved Key Vault reference (treated as missing): check that the secret exists and that the "
    "app's identity may read it"
)


def is_key_vault_reference(value: object) -> bool:
    """Whether `value` is the literal text of a Key Vault reference (`@Microsoft.KeyVault(...)`)."""
    return isinstance(value, str) and value.strip().lower().startswith(KEY_VAULT_PREFIX)


#: Optional secrets the deployment always sets as Key Vault references, whether or not their channel is used:
#: an unresolved one is treated as unset (its channel is not configured) and listed in
#: `Settings.unresolved_references`. An unresolved reference in any other setting is an invalid setting.
OPTIONAL_SECRETS = (
    ("Notifications", "Smtp", "Password"),
    ("Notifications", "Acs", "ConnectionString"),
    ("Notifications", "WebhookSecret"),
    ("APPLICATIONINSIGHTS_CONNECTION_STRING",),
)


def _drop_unresolved(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (the raw settings) with each unresolved optional secret removed, and their names listed under
    `unresolved_references`."""
    found: list[str] = []
    for path in OPTIONAL_SECRETS:
        if _pop_reference(data, path):
            found.append("__".join(path))
    return {**data, "unresolved_references": tuple(found)} if found else data


def _pop_reference(data: dict[str, Any], path: tuple[str, ...]) -> bool:
    """Replace `path` (matched ignoring case) by None where it holds a Key Vault reference; whether it did."""
    key = next((key for key in data if isinstance(key, str) and key.lower() == path[0].lower()), None)
    if key is None:
        return False
    value = data[key]
    if len(path) == 1:
        if is_key_vault_reference(value):
            data[key] = None
            return True
        return False
    if isinstance(value, dict):
        data[key] = dict(value)
        return _pop_reference(data[key], path[1:])
    return False


def _empty_is_none(value: object) -> object:
    """App settings and local.settings.json cannot hold null: an empty value means "not set"."""
    return None if isinstance(value, str) and not value.strip() else value


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    _no_key_vault_reference = field_validator("*", mode="before")(_resolved)


#: Most execution ids in one `kpi-executions` message (about 1.5 KB of JSON, far below the 64 KB limit).
MAX_EXECUTION_BATCH = 32
#: Bound on a batch's worst case (every execution running into its timeout, wave after wave): host.json's
#: functionTimeout (35 min) less 5 min for claiming and recording; the host keeps the message invisible
#: (renewing its visibility) while the invocation runs, so the function timeout is the binding limit.
MAX_BATCH_SECONDS = 1800


class KpiMonitoringSettings(_Section):
    """`Worker__KpiMonitoring__*`: the scheduler timer and the executor."""

    interval_seconds: int = Field(
        60,
        ge=10,
        le=3600,
        alias="IntervalSeconds",
        description="Period of the kpi_scheduler timer in seconds (must agree with Schedule).",
    )
    max_parallel_kpis: int = Field(
        5,
        ge=1,
        le=50,
        alias="MaxParallelKpis",
        description="Concurrent KPI queries per source, across all instances.",
    )
    execution_timeout_seconds: int = Field(
        300,
        ge=30,
        le=1800,
        alias="ExecutionTimeoutSeconds",
        description="Bound on one KPI execution; the statement is cancelled on the server.",
    )
    process_only_active_kpis: bool = Field(
        True, alias="ProcessOnlyActiveKpis", description="Schedule only KPIs marked active."
    )
    skip_running_kpis: bool = Field(
        True,
        alias="SkipRunningKpis",
        description="Do not queue a new slot while the KPI's previous execution still holds a live lease.",
    )
    resend_after_seconds: int = Field(
        600,
        ge=60,
        le=86400,
        alias="ResendAfterSeconds",
        description="Seconds before a queued execution not yet picked up has its message sent again.",
    )
    max_attempts: int = Field(
        3,
        ge=1,
        le=10,
        alias="MaxAttempts",
        description="Attempts at an execution whose executor died (lease expired) before it is failed.",
    )
    execution_batch_size: int = Field(
        16,
        ge=1,
        le=MAX_EXECUTION_BATCH,
        alias="ExecutionBatchSize",
        description="Most executions per kpi-executions message (packed per source); 1: a message each.",
    )
    execution_batch_parallelism: int = Field(
        8,
        ge=1,
        le=MAX_EXECUTION_BATCH,
        alias="ExecutionBatchParallelism",
        description="Executions of one message that run at once. A batch's worst case, "
        "ceil(ExecutionBatchSize / min(this, MaxParallelKpis)) x ExecutionTimeoutSeconds, is at most 1800 s.",
    )
    schedule: str = Field(
        "0 * * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the kpi_scheduler timer (old name Worker__KpiMonitoring__Schedule).",
    )

    _valid_schedule = field_validator("schedule")(_cron)

    @model_validator(mode="after")
    def _agree(self) -> KpiMonitoringSettings:
        _check_interval("KpiMonitoring", self.interval_seconds, self.schedule)
        worst = self.batch_worst_case_seconds
        if worst > MAX_BATCH_SECONDS:
            raise ValueError(
                f"a batch's worst case, ceil(ExecutionBatchSize {self.execution_batch_size} / min("
                f"ExecutionBatchParallelism {self.execution_batch_parallelism}, MaxParallelKpis "
                f"{self.max_parallel_kpis})) x ExecutionTimeoutSeconds {self.execution_timeout_seconds} = "
                f"{worst} s, must be at most {MAX_BATCH_SECONDS} s (host.json functionTimeout is 35 min): "
                "lower the batch size or the timeout, or raise the parallelism"
            )
        return self

    @property
    def batch_worst_case_seconds(self) -> int:
        """The longest one message's executions can take when each runs into its timeout: in waves of at most
        ExecutionBatchParallelism, and of at most MaxParallelKpis when they share a source."""
        at_once = min(self.execution_batch_parallelism, self.max_parallel_kpis)
        waves = -(-self.execution_batch_size // at_once)
        return waves * self.execution_timeout_seconds


class ScheduledTasksSettings(_Section):
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

    _valid_schedules = field_validator("cleanup_cron_expression", "maintenance_cron_expression")(_cron)


class HealthChecksSettings(_Section):
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

    _valid_schedule = field_validator("schedule")(_cron)

    @model_validator(mode="after")
    def _agree(self) -> HealthChecksSettings:
        _check_interval("HealthChecks", self.interval_seconds, self.schedule)
        return self


class AlertProcessingSettings(_Section):
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

    _valid_schedule = field_validator("schedule")(_cron)

    @model_validator(mode="after")
    def _agree(self) -> AlertProcessingSettings:
        _check_interval("AlertProcessing", self.interval_seconds, self.schedule)
        return self


class LoggingSettings(_Section):
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


class WorkerSettings(_Section):
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


SmtpSecurity = Literal["none", "starttls", "tls"]
SmsMode = Literal["acs", "gateway"]


def _switch(channel: str) -> Any:
    """The `Enabled` switch of a notification channel (default on)."""
    return Field(
        True,
        alias="Enabled",
        description=f"Send {channel}; while false its deliveries are recorded as skipped, never failed.",
    )


class EmailSettings(_Section):
    """`Notifications__Email__*`: the email channel's switch (the server is `Notifications__Smtp__*`)."""

    enabled: bool = _switch("email")


class SmtpSettings(_Section):
    """`Notifications__Smtp__*`: the mail server for email (and for SMS through an email gateway)."""

    host: str | None = Field(None, alias="Host", description="SMTP server; email is not sent while unset.")
    port: int = Field(587, ge=1, le=65535, alias="Port", description="SMTP port (587 STARTTLS, 465 TLS).")
    username: str | None = Field(None, alias="Username", description="SMTP user; no login while unset.")
    password: str | None = Field(
        None,
        alias="Password",
        description="SMTP password.",
        json_schema_extra={"secret": True, "mask": "whole"},
    )
    from_address: str = Field(
        "monitoringgrid@localhost", alias="From", description="Sender address of alert email."
    )
    security: SmtpSecurity = Field(
        "starttls", alias="Security", description="Transport security: none, starttls or tls (implicit)."
    )
    timeout_seconds: int = Field(
        30, ge=1, le=300, alias="TimeoutSeconds", description="Bound on one SMTP conversation."
    )

    _unset = field_validator("host", "username", "password", mode="before")(_empty_is_none)


class SmsSettings(_Section):
    """`Notifications__Sms__*`: how SMS leave (Azure Communication Services or an email-to-SMS gateway)."""

    enabled: bool = _switch("SMS")
    mode: SmsMode = Field(
        "acs", alias="Mode", description="acs (Azure Communication Services) or gateway (email-to-SMS)."
    )
    gateway: str | None = Field(
        None, alias="Gateway", description="Email-to-SMS gateway domain: SMS go to <digits>@<gateway>."
    )

    _unset = field_validator("gateway", mode="before")(_empty_is_none)


class AcsSettings(_Section):
    """`Notifications__Acs__*`: Azure Communication Services for SMS."""

    connection_string: str | None = Field(
        None,
        alias="ConnectionString",
        description="ACS connection string (endpoint=...;accesskey=...); a Key Vault reference in Azure.",
        json_schema_extra={"secret": True},
    )
    from_number: str | None = Field(
        None, alias="From", description="ACS phone number SMS are sent from (E.164, e.g. +18005550100)."
    )

    _unset = field_validator("connection_string", "from_number", mode="before")(_empty_is_none)


class TeamsSettings(_Section):
    """`Notifications__Teams__*`: the Microsoft Teams channel's switch."""

    enabled: bool = _switch("Microsoft Teams cards")


class SlackSettings(_Section):
    """`Notifications__Slack__*`: the Slack channel's switch."""

    enabled: bool = _switch("Slack messages")


class WebhookSettings(_Section):
    """`Notifications__Webhook__*`: the generic webhook channel's switch."""

    enabled: bool = _switch("generic webhook calls")


class NotificationsSettings(_Section):
    """`Notifications__*`: channels, signing and delivery retries."""

    email: EmailSettings = Field(default_factory=EmailSettings, alias="Email")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, alias="Smtp")
    sms: SmsSettings = Field(default_factory=SmsSettings, alias="Sms")
    teams: TeamsSettings = Field(default_factory=TeamsSettings, alias="Teams")
    slack: SlackSettings = Field(default_factory=SlackSettings, alias="Slack")
    webhook: WebhookSettings = Field(default_factory=WebhookSettings, alias="Webhook")
    acs: AcsSettings = Field(default_factory=AcsSettings, alias="Acs")
    webhook_secret: str | None = Field(
        None,
        alias="WebhookSecret",
        description="HMAC-SHA256 key signing generic webhook bodies (X-MonitoringGrid-Signature).",
        json_schema_extra={"secret": True, "mask": "whole"},
    )
    admin_contact: str | None = Field(
        None,
        alias="AdminContact",
        description="Name of the contact told about lost alert events and the service's own health alerts.",
    )
    allow_http_loopback: bool = Field(
        False,
        alias="AllowHttpLoopback",
        description="Allow Teams, Slack and webhook targets on loopback, over plain http too (local runs).",
    )
    allow_private_targets: bool = Field(
        False,
        alias="AllowPrivateTargets",
        description="Allow webhook targets resolving to private or link-local addresses (never metadata).",
    )
    http_timeout_seconds: int = Field(
        10, ge=1, le=120, alias="HttpTimeoutSeconds", description="Bound on one Teams, Slack or webhook call."
    )
    send_attempts: int = Field(
        3,
        ge=1,
        le=10,
        alias="SendAttempts",
        description="Tries of one delivery within an invocation before it is left to alert_processor.",
    )
    max_delivery_attempts: int = Field(
        9,
        ge=1,
        le=100,
        alias="MaxDeliveryAttempts",
        description="Tries of one delivery in all; after the last it is marked failed with its error.",
    )
    retry_backoff_seconds: int = Field(
        60,
        ge=1,
        le=86400,
        alias="RetryBackoffSeconds",
        description="First wait before alert_processor retries a delivery; doubles per round.",
    )

    public_base_url: str | None = Field(
        None,
        alias="PublicBaseUrl",
        description="Public address of the app (https://host) for links in notices; unset: no links.",
    )
    ack_token_secret: str | None = Field(
        None,
        alias="AckTokenSecret",
        description="HMAC-SHA256 key signing one-click acknowledgement links; unset: no ack links.",
        json_schema_extra={"secret": True},
    )
    ack_token_ttl_hours: int = Field(
        72, ge=1, le=720, alias="AckTokenTtlHours", description="Hours an acknowledgement link stays valid."
    )

    _unset = field_validator(
        "webhook_secret", "admin_contact", "public_base_url", "ack_token_secret", mode="before"
    )(_empty_is_none)

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError("must be an absolute http(s) URL, such as https://mgrid.example.com")
        return url.rstrip("/") if url is not None else None


class ConnectionStringsSettings(_Section):
    """`ConnectionStrings__*`: SQLAlchemy URLs of the monitoring database and of each KPI source."""

    monitoring: str = Field(
        DEFAULT_MONITORING_URL,
        min_length=1,
        alias="Monitoring",
        description="SQLAlchemy URL of the monitoring database (SQLite file, PostgreSQL or Azure SQL).",
        json_schema_extra={"secret": True},
    )
    sources: dict[str, str] = Field(
        default_factory=dict,
        alias="Sources",
        description="SQLAlchemy URL of the KPI source <name>; names are case-insensitive.",
        json_schema_extra={"secret": True, "env_suffix": "<name>"},
    )

    @field_validator("sources")
    @classmethod
    def _lower_names(cls, sources: dict[str, str]) -> dict[str, str]:
        unresolved = sorted(name for name, url in sources.items() if is_key_vault_reference(url))
        if unresolved:
            names = " and ".join(f"ConnectionStrings__Sources__{name}" for name in unresolved)
            raise ValueError(f"{names} {_UNRESOLVED}")
        return {name.lower(): url for name, url in sources.items()}


class Settings(BaseSettings):
    """Everything the application reads from its environment."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="__", case_sensitive=False, extra="ignore", frozen=True, populate_by_name=True
    )

    worker: WorkerSettings = Field(default_factory=WorkerSettings, alias="Worker")
    connection_strings: ConnectionStringsSettings = Field(
        default_factory=ConnectionStringsSettings, alias="ConnectionStrings"
    )
    notifications: NotificationsSettings = Field(default_factory=NotificationsSettings, alias="Notifications")
    applicationinsights_connection_string: str | None = Field(
        None,
        alias="APPLICATIONINSIGHTS_CONNECTION_STRING",
        description="Application Insights connection string; telemetry export is off when unset.",
        json_schema_extra={"secret": True},
    )
    azure_webjobs_storage: str | None = Field(
        None,
        alias="AzureWebJobsStorage",
        description="Host storage connection (queues, timer locks); UseDevelopmentStorage=true locally.",
        json_schema_extra={"secret": True},
    )
    azure_webjobs_storage_queue_service_uri: str | None = Field(
        None,
        alias="AzureWebJobsStorage__queueServiceUri",
        description="Queue endpoint of the host storage when it is reached with a managed identity.",
    )
    azure_webjobs_storage_client_id: str | None = Field(
        None,
        alias="AzureWebJobsStorage__clientId",
        description="Client id of the managed identity used for the host storage.",
    )
    azure_client_id: str | None = Field(
        None,
        alias="AZURE_CLIENT_ID",
        description="Client id of the user-assigned managed identity used for Azure SQL tokens.",
    )
    #: Not an app setting: the optional secrets whose Key Vault reference did not resolve (treated as unset).
    unresolved_references: tuple[str, ...] = Field((), exclude=True, json_schema_extra={"internal": True})

    _no_key_vault_reference = field_validator("*", mode="before")(_resolved)

    @model_validator(mode="before")
    @classmethod
    def _optional_secrets_unresolved(cls, data: Any) -> Any:
        return _drop_unresolved(dict(data)) if isinstance(data, dict) else data

    @field_validator(
        "applicationinsights_connection_string",
        "azure_client_id",
        "azure_webjobs_storage",
        "azure_webjobs_storage_queue_service_uri",
        "azure_webjobs_storage_client_id",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return _empty_is_none(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The flat schedule names come before the environment's nested names (earlier sources win)."""
        flat = FlatScheduleSource(settings_cls)
        return init_settings, flat, env_settings, dotenv_settings, file_secret_settings

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build from the environment; raise `SettingsError` listing every invalid setting."""
        problems = conflicts(os.environ)
        try:
            settings = cls(**overrides)
        except ValidationError as error:
            from shared.settings.reference import describe  # the reference module builds on this one

            problems += [describe(detail) for detail in error.errors()]
        if problems:
            raise SettingsError(problems) from None
        return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return Settings.load()


def reset_settings() -> None:
    """Forget the cached settings (tests, and a CLI that changed its environment)."""
    get_settings.cache_clear()

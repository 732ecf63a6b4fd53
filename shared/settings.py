"""The one settings model of the application.

Every setting is an app setting (an environment variable) whose name keeps the seed's configuration key, with
`__` for nesting: `Worker__KpiMonitoring__MaxParallelKpis`. Timer functions read their schedules from the
same names through `%Worker:Section:Key%` binding expressions (the Functions host resolves them through .NET
configuration, where `__` in an environment variable becomes `:`).

`get_settings()` builds the model once, on first use, never at import time: an import-time failure would make
every function of the app disappear. Invalid values raise `SettingsError`, naming each setting, the value and
what is allowed.
"""

from __future__ import annotations

import functools
import itertools
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from shared.domain.ncrontab import CronExpression, InvalidCronExpression
from shared.errors import SettingsError

DEFAULT_MONITORING_URL = "sqlite:///.data/monitoring.db"
LogLevel = Literal["Trace", "Debug", "Information", "Warning", "Error", "Critical"]

# The reference week used to measure how often a schedule fires (any fixed Monday works).
_SCHEDULE_PROBE_START = datetime(2026, 1, 5, tzinfo=UTC)
# `Name=value` parts that hold secrets, plain or URL-encoded (`%3D`, `%3B`) as in an `odbc_connect` query.
_URL = re.compile(r"^[A-Za-z][\w+.-]*://")
_SECRET_PART = re.compile(r"(?i)\b(\w*(?:key|password|pwd|secret|token|sig)\w*)(=|%3D)(.*?)(?=;|%3B|&|$)")


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
        raise ValueError(
            f"Worker__{section}__Schedule {schedule!r} fires every {gap_s} s but "
            f"Worker__{section}__IntervalSeconds is {interval_s}: set them to agree"
        )


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


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
    schedule: str = Field(
        "0 * * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the kpi_scheduler timer, bound as %Worker:KpiMonitoring:Schedule%.",
    )

    _valid_schedule = field_validator("schedule")(_cron)

    @model_validator(mode="after")
    def _agree(self) -> KpiMonitoringSettings:
        _check_interval("KpiMonitoring", self.interval_seconds, self.schedule)
        return self


class ScheduledTasksSettings(_Section):
    """`Worker__ScheduledTasks__*`: cleanup and weekly maintenance of the monitoring database."""

    enabled: bool = Field(True, alias="Enabled", description="Run the cleanup and maintenance timers' work.")
    cleanup_cron_expression: str = Field(
        "0 0 2 * * *",
        alias="CleanupCronExpression",
        description="NCRONTAB (UTC) of the cleanup timer (%Worker:ScheduledTasks:CleanupCronExpression%).",
    )
    maintenance_cron_expression: str = Field(
        "0 0 3 * * 0",
        alias="MaintenanceCronExpression",
        description="NCRONTAB (UTC) of the maintenance timer (Sunday 03:00 by default).",
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
    schedule: str = Field(
        "0 */5 * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the health_check timer, bound as %Worker:HealthChecks:Schedule%.",
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
        True, alias="EnableAutoResolution", description="Resolve alerts with no new breach for the timeout."
    )
    auto_resolution_timeout_minutes: int = Field(
        120,
        ge=1,
        le=43200,
        alias="AutoResolutionTimeoutMinutes",
        description="Minutes without a breach after which an alert resolves itself.",
    )
    schedule: str = Field(
        "*/30 * * * * *",
        alias="Schedule",
        description="NCRONTAB (UTC) of the alert_processor timer (%Worker:AlertProcessing:Schedule%).",
    )

    _valid_schedule = field_validator("schedule")(_cron)

    @model_validator(mode="after")
    def _agree(self) -> AlertProcessingSettings:
        _check_interval("AlertProcessing", self.interval_seconds, self.schedule)
        return self


class LoggingSettings(_Section):
    """`Worker__Logging__*`: the level of the application's own logger tree."""

    minimum_level: LogLevel = Field(
        "Information", alias="MinimumLevel", description="Level of the `mgrid` loggers (.NET level names)."
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
        # App settings and local.settings.json cannot hold null: an empty value means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build from the environment; raise `SettingsError` listing every invalid setting."""
        try:
            return cls(**overrides)
        except ValidationError as error:
            raise SettingsError([_describe(detail) for detail in error.errors()]) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return Settings.load()


def reset_settings() -> None:
    """Forget the cached settings (tests, and a CLI that changed its environment)."""
    get_settings.cache_clear()


@dataclass(frozen=True, kw_only=True, slots=True)
class SettingSpec:
    """One app setting: its name, default, what it accepts and what it does."""

    name: str
    default: Any
    allowed: str
    description: str
    secret: bool


def catalog() -> Iterator[SettingSpec]:
    """Every app setting the model reads, in declaration order."""
    yield from _walk(Settings, "")


def _walk(model: type[BaseModel], prefix: str) -> Iterator[SettingSpec]:
    for info in model.model_fields.values():
        name = f"{prefix}{info.alias}"
        submodel = _submodel(info)
        if submodel is not None:
            yield from _walk(submodel, f"{name}__")
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        suffix = extra.get("env_suffix")
        yield SettingSpec(
            name=f"{name}__{suffix}" if suffix else name,
            default=None if suffix else info.get_default(call_default_factory=True),
            allowed=_allowed(info),
            description=info.description or "",
            secret=bool(extra.get("secret")),
        )


def _allowed(info: FieldInfo) -> str:
    low = next((item.ge for item in info.metadata if isinstance(item, Ge)), None)
    high = next((item.le for item in info.metadata if isinstance(item, Le)), None)
    if low is not None and high is not None:
        return f"integer {low}..{high}"
    if info.annotation is bool:
        return "true or false"
    if typing.get_origin(info.annotation) is Literal:
        return "one of " + ", ".join(map(str, typing.get_args(info.annotation)))
    if isinstance(info.default, str) and info.alias and ("Schedule" in info.alias or "Cron" in info.alias):
        return "six-field NCRONTAB, UTC"
    if info.alias in {"Monitoring", "Sources"}:
        return "SQLAlchemy URL"
    return "text"


def _describe(detail: ErrorDetails) -> str:
    """One line per invalid setting: name, value and what is allowed, never a secret value."""
    name = _setting_name(detail["loc"])
    spec = _spec_by_name().get(name.lower())
    if detail["type"] == "value_error" and spec is None:
        # A cross-field check: its message already names the settings involved.
        return str(detail["ctx"]["error"]) if "ctx" in detail else detail["msg"]
    value = "***" if spec is not None and spec.secret else repr(detail.get("input"))
    if spec is None:
        return f"{name} = {value}: {detail['msg']}"
    reason = str(detail["ctx"]["error"]) if detail["type"] == "value_error" else detail["msg"]
    return f"{spec.name} = {value}: {reason} (allowed: {spec.allowed})"


def _setting_name(location: tuple[int | str, ...]) -> str:
    """The app-setting name of an error location, whether pydantic reports field names or aliases."""
    parts: list[str] = []
    model: type[BaseModel] | None = Settings
    for part in map(str, location):
        info = _field(model, part) if model is not None else None
        parts.append(info.alias if info is not None and info.alias else part)
        model = _submodel(info)
    return "__".join(parts)


def _field(model: type[BaseModel], part: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if part.lower() in {name.lower(), str(info.alias).lower()}:
            return info
    return None


def _submodel(info: FieldInfo | None) -> type[BaseModel] | None:
    annotation = info.annotation if info is not None else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


@functools.cache
def _spec_by_name() -> dict[str, SettingSpec]:
    return {spec.name.lower(): spec for spec in catalog()}


def effective_values(settings: Settings) -> dict[str, Any]:
    """Every setting's effective value by its app-setting name, secrets masked (`mgrid settings show`)."""
    return dict(_values(settings, ""))


def _values(model: BaseModel, prefix: str) -> Iterator[tuple[str, Any]]:
    for field_name, info in type(model).model_fields.items():
        name = f"{prefix}{info.alias}"
        value = getattr(model, field_name)
        if isinstance(value, BaseModel):
            yield from _values(value, f"{name}__")
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        secret = bool(extra.get("secret"))
        if isinstance(value, dict):
            for key, item in sorted(value.items()):
                yield f"{name}__{key}", mask_secret(item) if secret else item
        else:
            yield name, mask_secret(value) if secret and isinstance(value, str) else value


def mask_secret(value: str) -> str:
    """Hide the secret parts of a connection URL or `Key=Value;` string, keep the rest readable."""
    value = _SECRET_PART.sub(lambda match: f"{match.group(1)}{match.group(2)}***", value)
    if not _URL.match(value):
        return value
    try:
        return make_url(value).render_as_string(hide_password=True)
    except ArgumentError:
        return "***"

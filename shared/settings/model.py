"""The one settings model of the application.

Every setting is an app setting (an environment variable) whose name keeps the seed's configuration key, with
`__` for nesting: `Worker__KpiMonitoring__MaxParallelKpis`. The timer schedules are the exception: the
triggers bind them by flat names (`%KpiSchedulerSchedule%`, see `schedules.py`), which fill the same fields
and win over the older `Worker__Section__Key` names, still read as aliases.

`get_settings()` builds the model once, on first use, never at import time: an import-time failure would make
every function of the app disappear. Invalid values raise `SettingsError`, naming each setting, the value and
what is allowed.

Each section is a model of its own module (`kpi_monitoring`, `health_checks`, `worker` for the rest of
`Worker`, `notifications`); `section` holds what they share and `key_vault` the handling of unresolved Key
Vault references. This module builds the whole from them and exports every section, as before the split.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.errors import SettingsError
from shared.settings.health_checks import HealthChecksSettings
from shared.settings.key_vault import (
    KEY_VAULT_PREFIX,
    OPTIONAL_SECRETS,
    UNRESOLVED,
    drop_unresolved,
    is_key_vault_reference,
    resolved,
)
from shared.settings.kpi_monitoring import MAX_BATCH_SECONDS, MAX_EXECUTION_BATCH, KpiMonitoringSettings
from shared.settings.notifications import (
    AcsSettings,
    EmailSettings,
    NotificationsSettings,
    SlackSettings,
    SmsSettings,
    SmtpSettings,
    TeamsSettings,
    WebhookSettings,
)
from shared.settings.schedules import FlatScheduleSource, conflicts
from shared.settings.section import Section, empty_is_none
from shared.settings.worker import (
    AlertProcessingSettings,
    LoggingSettings,
    ScheduledTasksSettings,
    WorkerSettings,
)

__all__ = [
    "DEFAULT_MONITORING_URL",
    "KEY_VAULT_PREFIX",
    "MAX_BATCH_SECONDS",
    "MAX_EXECUTION_BATCH",
    "OPTIONAL_SECRETS",
    "AcsSettings",
    "AlertProcessingSettings",
    "ConnectionStringsSettings",
    "EmailSettings",
    "HealthChecksSettings",
    "KpiMonitoringSettings",
    "LoggingSettings",
    "NotificationsSettings",
    "ScheduledTasksSettings",
    "Settings",
    "SlackSettings",
    "SmsSettings",
    "SmtpSettings",
    "TeamsSettings",
    "WebhookSettings",
    "WorkerSettings",
    "get_settings",
    "is_key_vault_reference",
    "reset_settings",
]

DEFAULT_MONITORING_URL = "sqlite:///.data/monitoring.db"


class ConnectionStringsSettings(Section):
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
            raise ValueError(f"{names} {UNRESOLVED}")
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

    _no_key_vault_reference = field_validator("*", mode="before")(resolved)

    @model_validator(mode="before")
    @classmethod
    def _optional_secrets_unresolved(cls, data: Any) -> Any:
        return drop_unresolved(dict(data)) if isinstance(data, dict) else data

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
        return empty_is_none(value)

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

"""The one settings model of the application (`model`) and its reference: catalog, display, masking."""

from shared.settings.model import (
    DEFAULT_MONITORING_URL,
    MAX_BATCH_SECONDS,
    AlertProcessingSettings,
    ConnectionStringsSettings,
    HealthChecksSettings,
    KpiMonitoringSettings,
    LoggingSettings,
    ScheduledTasksSettings,
    Settings,
    WorkerSettings,
    get_settings,
    reset_settings,
)
from shared.settings.reference import SettingSpec, catalog, effective_values, mask_secret

__all__ = [
    "DEFAULT_MONITORING_URL",
    "MAX_BATCH_SECONDS",
    "AlertProcessingSettings",
    "ConnectionStringsSettings",
    "HealthChecksSettings",
    "KpiMonitoringSettings",
    "LoggingSettings",
    "ScheduledTasksSettings",
    "SettingSpec",
    "Settings",
    "WorkerSettings",
    "catalog",
    "effective_values",
    "get_settings",
    "mask_secret",
    "reset_settings",
]

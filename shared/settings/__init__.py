"""The one settings model of the application (`model`, built from one module per section) and its reference:
catalog, display, masking."""

from shared.settings.health_checks import HealthChecksSettings
from shared.settings.kpi_monitoring import MAX_BATCH_SECONDS, KpiMonitoringSettings
from shared.settings.model import (
    DEFAULT_MONITORING_URL,
    ConnectionStringsSettings,
    Settings,
    get_settings,
    reset_settings,
)
from shared.settings.reference import SettingSpec, catalog, effective_values, mask_secret
from shared.settings.worker import (
    AlertProcessingSettings,
    LoggingSettings,
    ScheduledTasksSettings,
    WorkerSettings,
)

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

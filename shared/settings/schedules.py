"""Timer schedules: flat app-setting names, and the older `Worker__Section__Key` names read as aliases.

The timer triggers bind their schedules as `%KpiSchedulerSchedule%` and so on. A flat name is the one form
the Functions host (and the platform that wakes a scaled-in app for its timers) resolves as a plain app
setting in every case; a hierarchical `%Worker:KpiMonitoring:Schedule%` depends on the host's .NET
configuration keys and has been reported not to fire on Linux consumption while the app is scaled to zero
(Azure/azure-functions-host#8649). The older names are still read: by the settings model, and by local runs,
where `alias_old_names` copies an old name's value to the flat name the trigger binds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

#: Flat app-setting name -> (section of `Worker`, key in that section) of the model field it fills.
SCHEDULE_SETTINGS: dict[str, tuple[str, str]] = {
    "KpiSchedulerSchedule": ("KpiMonitoring", "Schedule"),
    "CleanupSchedule": ("ScheduledTasks", "CleanupCronExpression"),
    "MaintenanceSchedule": ("ScheduledTasks", "MaintenanceCronExpression"),
    "HealthCheckSchedule": ("HealthChecks", "Schedule"),
    "AlertProcessorSchedule": ("AlertProcessing", "Schedule"),
}


def old_name(flat: str) -> str:
    """The `Worker__Section__Key` name a schedule had before it was bound by its flat name."""
    section, key = SCHEDULE_SETTINGS[flat]
    return f"Worker__{section}__{key}"


#: Old name -> flat name.
FLAT_BY_OLD_NAME = {old_name(flat): flat for flat in SCHEDULE_SETTINGS}


def _get(environ: Mapping[str, str], name: str) -> str | None:
    """An app setting by name, case-insensitively (like app settings); None when unset or empty."""
    value = environ.get(name)
    if value is None:
        folded = name.casefold()
        value = next((item for key, item in environ.items() if key.casefold() == folded), None)
    return value if value is not None and value.strip() else None


def conflicts(environ: Mapping[str, str]) -> list[str]:
    """One problem per schedule set under both names with different values."""
    problems = []
    for flat in SCHEDULE_SETTINGS:
        new, old = _get(environ, flat), _get(environ, old_name(flat))
        if new is not None and old is not None and new.strip() != old.strip():
            problems.append(
                f"{flat} = {new!r} but its old name {old_name(flat)} = {old!r}: the timer binds "
                f"{flat}; remove {old_name(flat)} or give both the same value"
            )
    return problems


def alias_old_names(environ: MutableMapping[str, str]) -> list[str]:
    """Set each unset flat schedule name from its old name; return the flat names set."""
    filled = []
    for flat in SCHEDULE_SETTINGS:
        old = _get(environ, old_name(flat))
        if old is not None and _get(environ, flat) is None:
            environ[flat] = old
            filled.append(flat)
    return filled


class FlatScheduleSource(PydanticBaseSettingsSource):
    """Reads the flat schedule names into the `Worker` sections; ahead of the environment source, so a flat
    name wins over its old name (which the environment source still reads through the nested fields)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # every value comes from __call__

    def __call__(self) -> dict[str, Any]:
        worker: dict[str, dict[str, str]] = {}
        for flat, (section, key) in SCHEDULE_SETTINGS.items():
            value = _get(self._environ, flat)
            if value is not None:
                worker.setdefault(section, {})[key] = value
        # Keyed like the environment source (case-insensitive: lower-case field alias), so the two merge.
        return {"worker": worker} if worker else {}

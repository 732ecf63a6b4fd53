"""`local.settings.json`: the `Values` of a local run, applied to the environment the way Core Tools does.

Variables already set in the environment win, so a developer can override one value for one command. A
timer schedule under its old name (`Worker__KpiMonitoring__Schedule`) also fills its flat name
(`KpiSchedulerSchedule`), the one the trigger binds, unless the flat name is set: first from the
environment, then from the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

from shared.errors import SettingsError
from shared.settings.schedules import alias_old_names


def read_values(path: Path) -> dict[str, str]:
    """The `Values` of `path`, each as text (numbers and booleans as Core Tools renders them)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise SettingsError([f"{path}: cannot read local settings ({error})"]) from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsError([f"{path}: expected an object with a 'Values' object"])
    return {str(name): _text(value) for name, value in values.items()}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def apply(values: dict[str, str], environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Set each value not already in `environ`; return the names that were set."""
    applied = alias_old_names(environ)
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied + alias_old_names(environ)

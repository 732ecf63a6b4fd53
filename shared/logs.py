"""The level and format of the app's logs (`Worker__Logging__MinimumLevel`, `Worker__Logging__Format`).

`apply_level` sets the level of the `mgrid` logger tree; the Functions host process gets it when the app's
services are first built (`shared.runtime`), the devhost and `mgrid` through `configure_console`, which also
installs the local console handler: text lines, or JSON lines (`JsonFormatter`) that carry the timestamp,
level, logger, message and the ids of the current `telemetry.log_context` (invocation, execution, KPI, alert,
event). Third-party libraries stay at Information or above, so `Debug` shows the app's detail, not every
library's. `mgrid.events` (alert custom events) keeps its own Information level: they are telemetry.
In Azure the host and Application Insights format the logs; the ids travel as custom dimensions.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from shared.settings import Settings
from shared.telemetry import CONTEXT_IDS, LOGGER_NAME, current_log_context

#: The .NET level names of the settings, as Python levels (Trace has no Python level of its own).
LEVELS = {
    "Trace": logging.DEBUG,
    "Debug": logging.DEBUG,
    "Information": logging.INFO,
    "Warning": logging.WARNING,
    "Error": logging.ERROR,
    "Critical": logging.CRITICAL,
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers of this codebase that follow the minimum level (the devhost plays the Functions host locally).
APP_LOGGERS = (LOGGER_NAME, "devhost")


def level_of(settings: Settings) -> int:
    """The Python level of `Worker__Logging__MinimumLevel`."""
    return LEVELS[settings.worker.logging.minimum_level]


def apply_level(settings: Settings) -> None:
    """Set the app's loggers to `Worker__Logging__MinimumLevel`."""
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(level_of(settings))


def configure_console(settings: Settings, *, stream: IO[str] | None = None) -> logging.Handler:
    """Log to `stream` (stderr) in the format of `Worker__Logging__Format` at the minimum level, replacing
    the root logger's handlers; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    json_lines = settings.worker.logging.format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=max(level_of(settings), logging.INFO), handlers=[handler], force=True)
    apply_level(settings)
    return handler


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `timestamp` (ISO 8601 UTC), `level`, `logger`, `message`, the context
    ids present (`invocation_id`, `execution_id`, `kpi_id`, `alert_id`, `event_id`) and `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_log_context()
        for name in CONTEXT_IDS:
            value = getattr(record, name, context.get(name))
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)

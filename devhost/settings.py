"""Settings of a local run: `local.settings.json` into the environment, `%Name%` references, host.json."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from shared.local_settings import apply, read_values

DEFAULT_SETTINGS_FILE = Path("local.settings.json")
_REFERENCE = re.compile(r"%([^%]+)%")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


class MissingSettingError(LookupError):
    """A binding names an app setting that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the app setting '{name}' is not set (looked up as '{env_name(name)}')")
        self.name = name


def load_settings_file(path: Path | None, environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Apply the `Values` of `path` (default local.settings.json, else its .example) to `environ`.

    Variables already set win, like Core Tools. Returns the file read, or None when there was none.
    """
    if path is None:
        candidates = [DEFAULT_SETTINGS_FILE, DEFAULT_SETTINGS_FILE.with_name("local.settings.json.example")]
        path = next((candidate for candidate in candidates if candidate.exists()), None)
        if path is None:
            return None
    apply(read_values(path), environ)
    return path


def env_name(name: str) -> str:
    """The environment variable of a .NET configuration key: `A:B:C` is `A__B__C`."""
    return name.replace(":", "__")


def lookup(name: str, environ: Mapping[str, str]) -> str:
    """The value of app setting `name` (case-insensitive, like app settings); MissingSettingError if unset."""
    key = env_name(name)
    if key in environ:
        return environ[key]
    folded = key.casefold()
    for candidate, value in environ.items():
        if candidate.casefold() == folded:
            return value
    raise MissingSettingError(name)


def resolve(value: str, environ: Mapping[str, str]) -> str:
    """`value` with each `%Name%` replaced by that app setting's value."""
    return _REFERENCE.sub(lambda match: lookup(match.group(1), environ), value)


def hierarchical_references(value: str) -> list[str]:
    """The `%Name%` references in `value` whose name is hierarchical (`A:B` or `A__B`). The devhost resolves
    them, but a timer bound that way in Azure has been reported not to fire while the app is scaled in
    (Azure/azure-functions-host#8649): the app binds flat names (`%KpiSchedulerSchedule%`)."""
    return [name for name in _REFERENCE.findall(value) if ":" in name or "__" in name]


def parse_timespan(text: str) -> timedelta:
    """A .NET TimeSpan as host.json writes it: `hh:mm:ss`, optionally `d.` before and `.fff` after."""
    match = _TIMESPAN.match(text.strip())
    if match is None:
        raise ValueError(f"not a TimeSpan (expected [d.]hh:mm:ss): {text!r}")
    days, hours, minutes, seconds = match.groups()
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds))


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the host's defaults (maxPollingInterval as when run locally)."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: timedelta = timedelta(0)
    max_polling_interval: timedelta = timedelta(seconds=2)
    message_encoding: str = "base64"

    @property
    def max_in_flight(self) -> int:
        return self.batch_size + self.new_batch_threshold


@dataclass(frozen=True)
class HostConfig:
    """What the devhost reads from host.json."""

    queues: QueueOptions = QueueOptions()
    route_prefix: str = "api"
    function_timeout: timedelta = timedelta(minutes=30)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> HostConfig:
        extensions = document.get("extensions") or {}
        queues = extensions.get("queues") or {}
        http = extensions.get("http") or {}
        batch_size = int(queues.get("batchSize", 16))
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in {"base64", "none"}:
            raise ValueError(f"host.json messageEncoding must be base64 or none, not {encoding!r}")
        options = QueueOptions(
            batch_size=batch_size,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch_size // 2)),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(str(queues.get("visibilityTimeout", "00:00:00"))),
            max_polling_interval=parse_timespan(str(queues.get("maxPollingInterval", "00:00:02"))),
            message_encoding=encoding,
        )
        timeout = document.get("functionTimeout")
        return cls(
            queues=options,
            route_prefix=str(http.get("routePrefix", "api")).strip("/"),
            function_timeout=parse_timespan(str(timeout)) if timeout else timedelta(minutes=30),
        )

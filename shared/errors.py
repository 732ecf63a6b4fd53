"""The small, typed error tree of the application.

Retry decisions key on the branch: a `TransientError` may succeed when tried again (a dropped connection, a
deadlock, a throttled service), a `PermanentError` never will (bad configuration, invalid input, a missing
row). Leaves keep the data that identifies what failed and build their own message.
"""

from __future__ import annotations

from collections.abc import Sequence


class MonitoringGridError(Exception):
    """Root of every error this application raises on purpose."""


class TransientError(MonitoringGridError):
    """A failure that may go away when the operation is retried."""


class PermanentError(MonitoringGridError):
    """A failure that retrying cannot fix."""


class SettingsError(PermanentError, ValueError):
    """One or more settings are missing or invalid; `problems` lists each, naming the setting."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid settings ({len(self.problems)}):\n{lines}")


class DefinitionsError(PermanentError, ValueError):
    """A KPI definitions file is unreadable or invalid; `problems` lists each, naming its entry and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"invalid definitions ({len(self.problems)}):\n{lines}")


class UnsupportedDatabaseError(PermanentError, ValueError):
    """A connection URL names a database this application does not support."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"unsupported database URL {url!r}: use sqlite:///PATH, postgresql://... or mssql+pyodbc://..."
        )


class InvalidMessage(PermanentError, ValueError):
    """A queue message that can never be processed: not JSON, or missing or malformed fields."""

    def __init__(self, queue: str, reason: str) -> None:
        self.queue = queue
        self.reason = reason
        super().__init__(f"invalid message on {queue}: {reason}")


class KpiNotFound(PermanentError, LookupError):
    """No KPI has this id or indicator."""

    def __init__(self, reference: str) -> None:
        self.reference = reference
        super().__init__(f"no KPI with id or indicator {reference!r}")


class KpiInactive(PermanentError):
    """A plain manual run of an inactive KPI: it would be skipped, so it is refused up front."""

    def __init__(self, indicator: str) -> None:
        self.indicator = indicator
        super().__init__(f"KPI {indicator} is inactive: activate it, or use --dry-run")


class KpiNotReplayable(PermanentError, ValueError):
    """A KPI whose past windows cannot be re-run (`mgrid kpi backtest` / `backfill`), with why."""

    def __init__(self, indicator: str, reason: str) -> None:
        self.indicator = indicator
        self.reason = reason
        super().__init__(f"KPI {indicator} cannot be replayed: {reason}")


class InvalidRange(PermanentError, ValueError):
    """A time range (or number of weeks) an operator asked for that cannot be used, with why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ReplayStopped(PermanentError):
    """A backtest or backfill stopped at a slot whose query failed; what was done before it stays done."""

    def __init__(self, indicator: str, slot: str, error: str, *, progress: str) -> None:
        self.indicator = indicator
        self.slot = slot
        self.error = error
        self.progress = progress
        super().__init__(f"KPI {indicator} stopped at slot {slot} ({progress}): {error}")


class ContactNotFound(PermanentError, LookupError):
    """No contact has this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no contact named {name!r}")

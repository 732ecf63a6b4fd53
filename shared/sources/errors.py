"""What can go wrong when a KPI runs against its source, as a small typed tree.

The executor decides on the branch: `SourceUnavailable` is transient (already retried inside the runner, may
succeed on a later run), `SourceNotConfigured` and `SourceQueryError` are permanent (the KPI or the settings
must change), and `SourceTimeout` is its own outcome (the execution is recorded as timed out). Messages name
the source or the KPI and the problem, never a connection URL or password.
"""

from __future__ import annotations

from shared.errors import MonitoringGridError, PermanentError, TransientError


class SourceNotConfigured(PermanentError):
    """A KPI names a source that has no `ConnectionStrings__Sources__<name>` setting."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__(
            f"source {source!r} is not configured: set ConnectionStrings__Sources__{source} to its URL"
        )


class SourceTimeout(MonitoringGridError):
    """The statement was cancelled on the server after `timeout_s` seconds."""

    def __init__(self, indicator: str, source: str, timeout_s: float) -> None:
        self.indicator = indicator
        self.source = source
        self.timeout_s = timeout_s
        super().__init__(f"KPI {indicator!r} on source {source!r} was cancelled after {timeout_s:g} s")


class SourceQueryError(PermanentError):
    """The KPI's SQL failed (syntax, missing object, write attempt) or returned an unusable result."""

    def __init__(self, indicator: str, problem: str) -> None:
        self.indicator = indicator
        self.problem = problem
        super().__init__(f"KPI {indicator!r}: {problem}")


class SourceUnavailable(TransientError):
    """The source could not serve the query (refused or dropped connection, deadlock, throttling, a full
    pool); `attempts` counts the tries made before giving up."""

    def __init__(self, source: str, reason: str, *, attempts: int = 1) -> None:
        self.source = source
        self.reason = reason
        self.attempts = attempts
        super().__init__(f"source {source!r} unavailable after {attempts} attempt(s): {reason}")

"""Process-wide services, built lazily on first use and shared by every invocation of a worker process.

Nothing here runs at import time. `reset()` disposes and forgets everything (tests, or a CLI command that
changed its environment).
"""

from __future__ import annotations

import functools

from sqlalchemy import Engine

from shared.db.engine import create_monitoring_engine
from shared.settings import get_settings, reset_settings


@functools.cache
def monitoring_engine() -> Engine:
    """The engine of the monitoring database named by `ConnectionStrings__Monitoring`."""
    return create_monitoring_engine(get_settings().connection_strings.monitoring)


def reset() -> None:
    """Dispose the cached engine and forget the cached settings."""
    if monitoring_engine.cache_info().currsize:
        monitoring_engine().dispose()
    monitoring_engine.cache_clear()
    reset_settings()

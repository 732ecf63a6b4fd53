"""Server-side timeouts of a PostgreSQL session: set for one piece of work (a maintenance step), reset before
the connection goes back to the pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text


@contextmanager
def postgres_timeouts(connection: Connection, *, timeout_s: float, lock_timeout_s: float) -> Iterator[None]:
    """`statement_timeout` (at least 1 s) and `lock_timeout` (at most the statement's) for the session while
    the block runs; reset after it, or the connection is invalidated so it is never pooled with them."""
    timeout_ms = max(1000, int(timeout_s * 1000))
    connection.execute(
        text("SELECT set_config('statement_timeout', :s, false), set_config('lock_timeout', :l, false)"),
        {"s": str(timeout_ms), "l": str(min(timeout_ms, int(lock_timeout_s * 1000)))},
    )
    try:
        yield
    finally:
        try:
            connection.exec_driver_sql("RESET statement_timeout; RESET lock_timeout")
        except Exception:
            connection.invalidate()  # never pool a connection that may keep the timeouts

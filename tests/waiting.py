"""The one bounded poll the tests wait with, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.25) -> bool:
    """Poll `condition` until it holds or `timeout_s` passes; whether it held (callers assert it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()

"""`python -m devhost` under cProfile in every thread, for `benchmarks.e2e`.

cProfile follows only the thread that enables it and devhost runs each invocation on a pool thread, so a
profile hook installed with `threading.setprofile` starts one profiler per new thread, timed by that thread's
CPU time (`time.thread_time`: blocking waits on Azurite or PostgreSQL are excluded). At shutdown the
profiles are merged and written to `$E2E_PROFILE_OUT` (pstats format). Arguments are devhost's.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from types import FrameType
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_profiler(frame: FrameType, event: str, arg: Any) -> None:
    sys.setprofile(None)
    profiler = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profiler)
    profiler.enable()


def main() -> int:
    threading.setprofile(_start_profiler)
    from devhost.__main__ import main as devhost_main

    code = devhost_main(sys.argv[1:])
    threading.setprofile(None)  # type: ignore[arg-type]
    out = os.environ.get("E2E_PROFILE_OUT")
    with _lock:
        profiles = [profiler for profiler in _profiles if profiler.getstats()]
    if out and profiles:
        stats = pstats.Stats(profiles[0])
        for profiler in profiles[1:]:
            try:
                stats.add(profiler)
            except Exception as error:  # a pool thread still running at exit; its share is lost
                sys.stderr.write(f"profile of one thread skipped: {error}\n")
        stats.dump_stats(out)
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)

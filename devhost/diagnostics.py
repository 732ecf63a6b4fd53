"""Opt-in memory diagnostics for a devhost: where does its memory go over a run?

`MGRID_TRACEMALLOC=1 python -m devhost ...` starts `tracemalloc` at start-up (`MGRID_TRACEMALLOC_FRAMES`
frames per allocation, default 8) and writes the largest growths since a baseline snapshot, by line
(`Snapshot.compare_to(baseline, "lineno")`) and, for the top few, by traceback, to a text file in
`MGRID_TRACEMALLOC_DIR` (default the working directory): `tracemalloc-<pid>-<n>.txt`. It writes one every
`MGRID_TRACEMALLOC_INTERVAL` seconds (default 60; 0 for none) and on SIGUSR1. The baseline is taken
`MGRID_TRACEMALLOC_BASELINE` seconds after start (default 60: imports, pools and caches filled), or on
SIGUSR2. Tracing costs CPU and memory: never on by default, never in Azure (devhost is local only).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

log = logging.getLogger("devhost")

TOP_LINES = 40
TOP_TRACEBACKS = 8


class MemoryTracer:
    def __init__(self, directory: Path, *, frames: int, interval_s: float, baseline_s: float) -> None:
        self.directory = directory
        self.frames = frames
        self.interval_s = interval_s
        self.baseline_s = baseline_s
        self.baseline: tracemalloc.Snapshot | None = None
        self.written = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._began = time.monotonic()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> MemoryTracer | None:
        if environ.get("MGRID_TRACEMALLOC", "") not in ("1", "true", "yes"):
            return None
        return cls(
            Path(environ.get("MGRID_TRACEMALLOC_DIR") or "."),
            frames=int(environ.get("MGRID_TRACEMALLOC_FRAMES") or 8),
            interval_s=float(environ.get("MGRID_TRACEMALLOC_INTERVAL") or 60),
            baseline_s=float(environ.get("MGRID_TRACEMALLOC_BASELINE") or 60),
        )

    def start(self) -> None:
        tracemalloc.start(self.frames)
        self.directory.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGUSR1, self._on_signal)
        signal.signal(signal.SIGUSR2, self._on_signal)
        threading.Thread(target=self._loop, name="tracemalloc", daemon=True).start()
        log.info("tracemalloc on (%d frames); reports in %s", self.frames, self.directory)

    def stop(self) -> None:
        self._stopping.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Not in the handler itself: a snapshot takes a while and the handler runs on the main thread.
        action = self.take_baseline if signum == signal.SIGUSR2 else self.write
        threading.Thread(target=action, name="tracemalloc-signal", daemon=True).start()

    def _loop(self) -> None:
        if self._stopping.wait(self.baseline_s):
            return
        self.take_baseline()
        while self.interval_s > 0 and not self._stopping.wait(self.interval_s):
            self.write()

    def _snapshot(self) -> tracemalloc.Snapshot:
        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
        )

    def take_baseline(self) -> None:
        with self._lock:
            self.baseline = self._snapshot()
        log.info("tracemalloc baseline taken")

    def write(self) -> Path | None:
        with self._lock:
            if self.baseline is None:
                self.baseline = self._snapshot()
                return None
            snapshot = self._snapshot()
            self.written += 1
            path = self.directory / f"tracemalloc-{os.getpid()}-{self.written:03d}.txt"
            path.write_text(report(snapshot, self.baseline, time.monotonic() - self._began), encoding="utf-8")
        return path


def report(snapshot: tracemalloc.Snapshot, baseline: tracemalloc.Snapshot, elapsed_s: float) -> str:
    current, peak = tracemalloc.get_traced_memory()
    lines = [
        f"# {elapsed_s:.0f} s after start; traced {current / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB);"
        f" {_resident()}; {threading.active_count()} threads",
        f"# top {TOP_LINES} growths since the baseline, by line",
    ]
    lines += [str(stat) for stat in snapshot.compare_to(baseline, "lineno")[:TOP_LINES]]
    lines.append(f"# top {TOP_TRACEBACKS} growths since the baseline, by traceback")
    for stat in snapshot.compare_to(baseline, "traceback")[:TOP_TRACEBACKS]:
        lines.append(f"{stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
        lines += [f"    {line}" for line in stat.traceback.format(most_recent_first=True)]
    return "\n".join(lines) + "\n"


def _resident() -> str:
    """The process's resident memory (Linux), to set against the traced Python allocations."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return "resident memory unknown"
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return f"VmRSS {fields.get('VmRSS', '?').strip()}, RssAnon {fields.get('RssAnon', '?').strip()}"

"""The devhost's opt-in memory diagnostics: off unless asked for, and a report names the growing line."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from devhost.diagnostics import MemoryTracer

HELD: list[bytes] = []


def test_the_tracer_is_off_unless_mgrid_tracemalloc_is_set(tmp_path: Path) -> None:
    assert MemoryTracer.from_environment({}) is None
    assert MemoryTracer.from_environment({"MGRID_TRACEMALLOC": "0"}) is None
    tracer = MemoryTracer.from_environment(
        {"MGRID_TRACEMALLOC": "1", "MGRID_TRACEMALLOC_DIR": str(tmp_path), "MGRID_TRACEMALLOC_INTERVAL": "5"}
    )
    assert tracer is not None
    assert (tracer.directory, tracer.interval_s, tracer.baseline_s, tracer.frames) == (tmp_path, 5.0, 60.0, 8)


def test_a_report_names_the_line_that_grew_since_the_baseline(tmp_path: Path) -> None:
    tracer = MemoryTracer(tmp_path, frames=4, interval_s=0, baseline_s=0)
    tracemalloc.start(4)
    try:
        tracer.take_baseline()
        HELD.extend(bytes(1000) + bytes([n % 256]) for n in range(2000))  # about 2 MB held
        path = tracer.write()
    finally:
        tracemalloc.stop()
        HELD.clear()
    assert path is not None
    text = path.read_text(encoding="utf-8")
    assert "VmRSS" in text
    top = text.splitlines()[2]
    assert "test_diagnostics.py" in top, text[:2000]

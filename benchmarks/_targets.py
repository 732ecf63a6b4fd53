"""The targets of the issue, and the summary table that checks the PostgreSQL results against them."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from benchmarks._executor import THREADS
from benchmarks._throughput import PROCESSES, THREADS_PER_PROCESS, Throughput

if TYPE_CHECKING:
    from benchmarks._report import Results

TICK_TARGETS = {"10k all due": 2.0, "1k due of 100k": 0.3}
GROWTH_LIMIT = 1.5  #: 1k-of-100k over 1k-of-10k: "must not grow with the total"
RATIO_TARGET, ADDED_MS_TARGET, RATE_TARGET = 2.0, 3.0, 500.0


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def best(result: Throughput) -> tuple[float, str]:
    """The better of the two executor configurations: (median rate, which)."""
    threads = statistics.median(result.threads.per_second())
    processes = statistics.median(result.processes.per_second()) if result.processes.rounds else 0.0
    if processes > threads:
        return processes, f"{PROCESSES} processes x {THREADS_PER_PROCESS} threads"
    return threads, f"1 process x {THREADS} threads"


def summary(results: Results) -> str:
    """Each PostgreSQL target with its measured median and verdict."""
    rows = [
        "## Targets (PostgreSQL)\n",
        "| Benchmark | Target | Measured (median) | Result |",
        "|---|---|---|---|",
    ]
    cases = {case.name: case for case in results.ticks.get("postgresql", [])}
    for name, target in TICK_TARGETS.items():
        if name in cases:
            measured = statistics.median(cases[name].seconds)
            rows.append(f"| tick, {name} | < {target} s | {measured:.3f} s | {verdict(measured < target)} |")
    if "1k due of 100k" in cases and "1k due of 10k" in cases:
        ratios = [
            b / s
            for b, s in zip(cases["1k due of 100k"].seconds, cases["1k due of 10k"].seconds, strict=True)
        ]
        growth = statistics.median(ratios)
        rows.append(
            f"| tick, 1k due: 100k vs 10k KPIs | no growth (< {GROWTH_LIMIT}x) | {growth:.2f}x "
            f"| {verdict(growth < GROWTH_LIMIT)} |"
        )
    for kind in ("realistic", "trivial"):
        overhead = results.overhead.get(("postgresql", kind))
        if overhead is None:
            continue
        ratio, added = statistics.median(overhead.ratios()), statistics.median(overhead.added_ms())
        if kind == "realistic":
            rows.append(
                f"| executor overhead ratio, realistic | <= {RATIO_TARGET} | {ratio:.2f} "
                f"| {verdict(ratio <= RATIO_TARGET)} |"
            )
        else:
            rows.append(f"| executor overhead ratio, trivial | reported | {ratio:.2f} | - |")
        rows.append(
            f"| added time per execution, {kind} | < {ADDED_MS_TARGET} ms | {added:.2f} ms "
            f"| {verdict(added < ADDED_MS_TARGET)} |"
        )
    for result in results.throughput:
        rate, how = best(result)
        rows.append(
            f"| throughput, {result.kind} query | >= {RATE_TARGET:.0f}/s | {rate:.0f}/s ({how}) "
            f"| {verdict(rate >= RATE_TARGET)} |"
        )
    return "\n".join(rows) + "\n"

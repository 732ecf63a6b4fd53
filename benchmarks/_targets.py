"""The targets of the issue, and the summary table that checks the PostgreSQL results against them."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from benchmarks._executor import THREADS
from benchmarks._throughput import (
    BATCH_THREADS,
    BATCH_THREADS_PER_PROCESS,
    PROCESSES,
    THREADS_PER_PROCESS,
    Rates,
    Throughput,
)

if TYPE_CHECKING:
    from benchmarks._report import Results

TICK_TARGETS = {"10k all due": 2.0, "1k due of 100k": 0.3}
GROWTH_LIMIT = 1.5  #: 1k-of-100k over 1k-of-10k: "must not grow with the total"
RATIO_TARGET, ADDED_MS_TARGET, RATE_TARGET = 2.0, 3.0, 500.0
#: Issue 15, against query-exporter in the same run (trivial query), and round trips per execution.
CLIENT_CPU_VS_EXPORTER, SERVER_CPU_VS_EXPORTER, ROUND_TRIPS_TARGET = 1.5, 3.0, 3.0
#: Issue 15: throughput against query-exporter's sustained rate (realistic query, same run).
RATE_VS_EXPORTER = 2.0


def verdict(ok: bool) -> str:
    return "pass" if ok else "**FAIL**"


def best(result: Throughput) -> tuple[float, str]:
    """The best of the executor configurations: (median rate, which)."""
    return max(
        (statistics.median(rates.per_second()), name)
        for name, rates in _configurations(result)
        if rates.rounds
    )


def _configurations(result: Throughput) -> list[tuple[str, Rates]]:
    return [
        (f"1 process x {THREADS} threads", result.threads),
        (f"{PROCESSES} processes x {THREADS_PER_PROCESS} threads", result.processes),
        (f"batched, 1 process x {BATCH_THREADS} threads", result.batched_threads),
        (f"batched, {PROCESSES} processes x {BATCH_THREADS_PER_PROCESS} thread", result.batched_processes),
    ]


def _cheapest(result: Throughput) -> tuple[float, float, str] | None:
    """The batched configuration with the least client CPU per execution: (client ms, server ms, which)."""
    found = [
        (statistics.median(rates.cpu_ms()), statistics.median(rates.server_ms()), name)
        for name, rates in _configurations(result)[2:]
        if rates.rounds
    ]
    return min(found) if found else None


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
    rows += _issue_15(results)
    return "\n".join(rows) + "\n"


def _issue_15(results: Results) -> list[str]:
    """Batched executions against query-exporter (same run, trivial query) and round trips per execution."""
    rows = []
    counts = results.counts.get(("postgresql", "trivial"))
    if counts is not None and counts.batched is not None:
        trips = sum(cell[1] or 0.0 for cell in counts.batched.get("monitoring", {}).values())
        rows.append(
            f"| monitoring round trips per execution, batched, trivial | <= {ROUND_TRIPS_TARGET:.0f} "
            f"| {trips:.2f} | {verdict(trips <= ROUND_TRIPS_TARGET)} |"
        )
    for result in results.throughput:
        kept = result.ladder.highest() if result.ladder is not None else None
        if result.ladder is None or not result.ladder.ours.rounds:
            continue
        ours = statistics.median(result.ladder.ours.per_second())
        how = f"batched, {PROCESSES} processes x {BATCH_THREADS_PER_PROCESS} thread"
        if kept is None:
            rows.append(
                f"| throughput vs query-exporter's sustained rate, {result.kind} | >= {RATE_VS_EXPORTER}x "
                f"| - (it kept up with no step; ours {ours:.0f}/s) | - |"
            )
            continue
        rows.append(
            f"| throughput vs query-exporter's sustained rate, {result.kind} | >= {RATE_VS_EXPORTER}x "
            f"| {ours / kept.rate:.2f}x ({ours:.0f}/s, {how}, / {kept.rate:.0f}/s; its ceiling "
            f"{result.ladder.ceiling():.0f}/s: {ours / result.ladder.ceiling():.2f}x) "
            f"| {verdict(ours / kept.rate >= RATE_VS_EXPORTER)} |"
        )
    for result in results.throughput:
        cheapest = _cheapest(result)
        if result.kind != "trivial" or result.exporter is None or not result.exporter.rounds or not cheapest:
            continue
        client, server, how = cheapest
        exporter_client = statistics.median(result.exporter.cpu_ms())
        exporter_server = statistics.median(result.exporter.server_ms())
        rows += [
            f"| client CPU per execution vs query-exporter, trivial | <= {CLIENT_CPU_VS_EXPORTER}x "
            f"| {client / exporter_client:.2f}x ({client:.2f} / {exporter_client:.2f} ms, {how}) "
            f"| {verdict(client / exporter_client <= CLIENT_CPU_VS_EXPORTER)} |",
            f"| server CPU per execution vs query-exporter, trivial | <= {SERVER_CPU_VS_EXPORTER}x "
            f"| {server / exporter_server:.2f}x ({server:.2f} / {exporter_server:.2f} ms, {how}) "
            f"| {verdict(server / exporter_server <= SERVER_CPU_VS_EXPORTER)} |",
        ]
    return rows

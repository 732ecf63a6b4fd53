"""Rendering the pipeline benchmark's part of `benchmarks/RESULTS.md`: the machine, the command, one table per
benchmark with its targets, the statement and round-trip counts and the profile, between
`<!-- pipeline:start -->` and `<!-- pipeline:end -->`. `merge` puts it into the file and leaves everything
else as it was, byte for byte: the hand-written Notes and the sections other benchmarks write."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from benchmarks._counting import BARE_PHASES, CONTROL, GLUE, PHASES
from benchmarks._executor import BATCH, THREADS, Overhead
from benchmarks._passes import Counts, PerPhase, Profile
from benchmarks._scheduler import TickCase
from benchmarks._targets import (
    ADDED_MS_TARGET,
    GROWTH_LIMIT,
    RATE_TARGET,
    RATIO_TARGET,
    TICK_TARGETS,
    best,
    summary,
    verdict,
)
from benchmarks._throughput import (
    BATCH_THREADS,
    BATCH_THREADS_PER_PROCESS,
    LADDER_FACTOR,
    LADDER_START,
    PROCESSES,
    ROUND_S,
    SUSTAINED,
    THREADS_PER_PROCESS,
    Ladder,
    Rates,
    Throughput,
)

NOTES_START, NOTES_END = "<!-- notes:start -->", "<!-- notes:end -->"
START, END = "<!-- pipeline:start -->", "<!-- pipeline:end -->"
NOTES_HEADING = "## Notes\n"
NOTES_PLACEHOLDER = "(Interpretation written after reading a run; kept when the file is regenerated.)"


@dataclass
class Results:
    command: str
    started: datetime
    machine: dict[str, str]
    duration_s: float = 0.0
    ticks: dict[str, list[TickCase]] = field(default_factory=dict)
    overhead: dict[tuple[str, str], Overhead] = field(default_factory=dict)
    counts: dict[tuple[str, str], Counts] = field(default_factory=dict)
    phase_ms: dict[tuple[str, str], tuple[dict[str, float], dict[str, float]]] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    profile_kind: str = "realistic"
    throughput: list[Throughput] = field(default_factory=list)


def spread(values: Sequence[float], digits: int = 2) -> str:
    """`median (min-max)` of `values`."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def render(results: Results) -> str:
    """The generated section, its markers included."""
    parts = [
        "# Benchmarks: scheduler tick, executor overhead, throughput\n",
        f"Run {results.started:%Y-%m-%d %H:%M} UTC, {results.duration_s / 60:.1f} min, with:\n",
        f"```sh\n{results.command}\n```\n",
        "Figures are `median (min-max)` over rounds; every comparison was measured side by side in the same "
        "run (alternated rounds), because the machine is shared and noisy: read the ratios, not the absolute "
        "times alone. Targets apply to PostgreSQL; SQLite is reported for comparison.\n",
        summary(results),
        "## Machine\n",
        "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in results.machine.items()),
        _ticks(results),
        _overhead(results),
        _counts(results),
        _throughput(results),
        _profile(results),
    ]
    return f"{START}\n" + "\n".join(parts) + f"{END}\n"


def merge(previous: str | None, section: str) -> str:
    """`previous` (the file as it is, or None) with `section` in place of the generated one; everything
    else kept byte for byte. A file from before the markers had the generated tables from its top down to
    the Notes heading: they are replaced, the Notes and what follows them kept. A file without either gets
    the section on top, then Notes to fill in (new file) or the file as it was."""
    if not previous:
        notes = f"{NOTES_HEADING}\n{NOTES_START}\n{NOTES_PLACEHOLDER}\n{NOTES_END}\n"
        return f"{section}\n{notes}"
    if START in previous and END in previous.partition(START)[2]:
        head, _, rest = previous.partition(START)
        return head + section + rest.partition(END)[2].removeprefix("\n")
    if NOTES_START in previous:
        before = previous.partition(NOTES_START)[0]
        heading = ("\n" + before).rfind("\n" + NOTES_HEADING)  # a line of its own, not "### Notes"
        kept = previous[heading:] if heading >= 0 else previous[len(before) :]
        return f"{section}\n{kept}"
    return f"{section}\n{previous}"


def _ticks(results: Results) -> str:
    lines = [
        "## Scheduler tick\n",
        "`Scheduler.tick(now=...)` end to end (due KPIs in batches of 500, sweep, heartbeat); every KPI "
        "every 5 minutes.\n",
        "| Backend | Case | Tick seconds | Target (PostgreSQL) | Result |",
        "|---|---|---|---|---|",
    ]
    for backend, cases in results.ticks.items():
        by_name = {case.name: case for case in cases}
        for case in cases:
            target = TICK_TARGETS.get(case.name)
            ok = target is None or statistics.median(case.seconds) < target
            shown = f"< {target} s" if target else "control"
            result = verdict(ok) if backend == "postgresql" and target else "-"
            lines.append(f"| {backend} | {case.name} | {spread(case.seconds, 3)} | {shown} | {result} |")
        big, small = by_name.get("1k due of 100k"), by_name.get("1k due of 10k")
        if big and small:
            ratios = [b / s for b, s in zip(big.seconds, small.seconds, strict=True)]
            ok = statistics.median(ratios) < GROWTH_LIMIT
            result = verdict(ok) if backend == "postgresql" else "-"
            lines.append(
                f"| {backend} | 1k of 100k / 1k of 10k (same round) | ratio {spread(ratios)} | "
                f"< {GROWTH_LIMIT} (no growth with the total) | {result} |"
            )
    return "\n".join(lines) + "\n"


def _overhead(results: Results) -> str:
    lines = [
        "## Executor overhead\n",
        "One thread. Pipeline: `Executor.execute` (claim, slot, source query through `SourceRunner`, "
        "history baseline, evaluation, history, streaks and alert bookkeeping, slot release). Bare: the same "
        "query for the same window on a plain engine, then one INSERT. Rounds alternate the order (ABBA). "
        "Ratio and added time are computed per round from the round's medians. CPU is this process's, per "
        f"execution. Batched: the same pipeline, messages of {BATCH} executions (`Executor.execute_batch`, "
        "its queries on worker threads), time and CPU per execution = the batch's / "
        f"{BATCH}; rounds alternate the three sides (ABC, CBA).\n",
        "| Backend | Query | Pipeline ms | Bare ms | Ratio | Added ms | CPU ms pipeline / bare | Targets "
        "| Result | Batched ms | Batched ratio | CPU ms batched |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (backend, kind), result in results.overhead.items():
        pipe = [statistics.median(r) * 1000 for r in result.pipeline]
        bare = [statistics.median(r) * 1000 for r in result.bare]
        ratio, added = result.ratios(), result.added_ms()
        cpu = f"{spread(result.cpu_ms('pipeline'))} / {spread(result.cpu_ms('bare'))}"
        if kind == "realistic":
            targets = f"ratio <= {RATIO_TARGET}, added < {ADDED_MS_TARGET} ms"
            ok = statistics.median(ratio) <= RATIO_TARGET and statistics.median(added) < ADDED_MS_TARGET
        else:
            targets = f"added < {ADDED_MS_TARGET} ms (ratio reported)"
            ok = statistics.median(added) < ADDED_MS_TARGET
        shown = verdict(ok) if backend == "postgresql" else "-"
        batched = [statistics.median(r) * 1000 for r in result.batched]
        lines.append(
            f"| {backend} | {kind} | {spread(pipe)} | {spread(bare)} | {spread(ratio)} | {spread(added)} "
            f"| {cpu} | {targets} | {shown} | {spread(batched)} | {spread(result.batched_ratios())} "
            f"| {spread(result.cpu_ms('batched'))} |"
        )
    lines.append(
        f"\n{len(next(iter(results.overhead.values())).pipeline)} rounds of "
        f"{len(next(iter(results.overhead.values())).pipeline[0])} executions per side.\n"
        if results.overhead
        else ""
    )
    return "\n".join(lines) + "\n"


def _counts(results: Results) -> str:
    lines = [
        "## Statements and round trips per execution\n",
        "Statements: `before_cursor_execute` listeners on the monitoring and the source engine; a "
        "statement's phase follows from what it touches and whether the source query has run yet (see "
        "`benchmarks/_counting.py`), so the counts do not depend on how the executor is written inside. "
        "Round trips (PostgreSQL): a loopback proxy that parses the wire protocol and counts each client "
        "turn: statements in their phase, and the driver's own turns on their own rows (BEGIN, COMMIT, "
        "ROLLBACK, pre-ping on pool checkout, prepare, DEALLOCATE). SQLite is in-process: no round trips. "
        "Wall ms (engines without the proxy): each statement's phase gets the time since the previous "
        "statement or source run ended (building it, checkout, BEGIN included); the rest, COMMITs and the "
        f"code between, is `{GLUE}`.\n",
    ]
    for (backend, kind), counts in results.counts.items():
        wall = results.phase_ms.get((backend, kind), ({}, {}))
        lines += [f"**{backend}, {kind} query**\n", *_count_table(counts.pipeline, PHASES, wall[0]), ""]
        lines += [f"Bare loop, {backend}, {kind}:\n", *_count_table(counts.bare, BARE_PHASES, wall[1]), ""]
        if counts.batched is not None:
            lines += [
                f"Batched, {backend}, {kind}: messages of {BATCH} executions, per execution (the totals are "
                "exact; the split between phases is approximate, since the batch records some executions "
                "while others still query the source; no wall times):\n",
                *_count_table(counts.batched, PHASES, {}),
                "",
            ]
    return "\n".join(lines) + "\n"


def _count_table(table: PerPhase, phases: Sequence[str], wall: dict[str, float]) -> list[str]:
    rows = [
        "| Phase | Monitoring statements | Monitoring round trips | Source statements | Source round trips "
        "| Wall ms |",
        "|---|---|---|---|---|---|",
    ]
    has_turns = any(cell[1] is not None for database in table.values() for cell in database.values())
    control = [row for row in CONTROL if any(row in database for database in table.values())]
    totals = [0.0] * 5
    for row in [*phases, *control, GLUE]:
        mon = table.get("monitoring", {}).get(row, (0.0, 0.0 if has_turns else None))
        src = table.get("source", {}).get(row, (0.0, 0.0 if has_turns else None))
        values = [mon[0], mon[1], src[0], src[1], wall.get(row, 0.0)]
        if row in control or row == GLUE:
            values[0] = values[2] = None
        if row == GLUE:
            values[1] = values[3] = None
        label = f"{row} (driver)" if row in control else row
        rows.append(f"| {label} | " + " | ".join(_num(v) for v in values[:4]) + f" | {values[4]:.2f} |")
        totals = [t + (v or 0.0) for t, v in zip(totals, values, strict=True)]
    shown = [_num(t) if has_turns or i in (0, 2) else "-" for i, t in enumerate(totals[:4])]
    rows.append("| **total** | " + " | ".join(f"**{v}**" for v in shown) + f" | **{totals[4]:.2f}** |")
    return rows


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.2f}"


def _throughput(results: Results) -> str:
    if not results.throughput:
        return ""
    lines = [
        "## Throughput (PostgreSQL: source and monitoring database on the local server)\n",
        f"Executor, alternated each round: {THREADS} threads in this process, then {PROCESSES} spawned "
        f"processes of {THREADS_PER_PROCESS} threads (one Python process is held to one core by the GIL); "
        f"each thread has its own lease owner and takes queued executions from a queue; windows of "
        f"{ROUND_S:.0f} s. query-exporter: its own process and virtualenv, the same SQL on the same source "
        "database, offered the executor's warm-up rate (that many copies of the query, each every second; "
        f"connection pool of {THREADS}), resumed only for its own windows; its executions come from its "
        "`queries_total` counter. Client CPU: user + system time of the process(es) running the queries, "
        "per execution; server CPU: of the benchmarked cluster's processes, per execution. The target is met "
        "when either configuration meets it.\n",
        "| Query | Who | Executions/s | Client CPU ms/exec | Server CPU ms/exec | Target | Result |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results.throughput:
        rate, how = best(result)
        target = f">= {RATE_TARGET:.0f}/s"
        lines.append(
            _rate_row(result.kind, f"executor, 1 process x {THREADS} threads", result.threads, target, "-")
        )
        who = f"executor, {PROCESSES} processes x {THREADS_PER_PROCESS} threads"
        lines.append(_rate_row(result.kind, who, result.processes, target, "-"))
        if result.batched_threads.rounds:
            who = f"batched ({BATCH}/message), 1 process x {BATCH_THREADS} threads"
            lines.append(_rate_row(result.kind, who, result.batched_threads, target, "-"))
            who = f"batched ({BATCH}/message), {PROCESSES} processes x {BATCH_THREADS_PER_PROCESS} thread"
            lines.append(_rate_row(result.kind, who, result.batched_processes, target, "-"))
        lines.append(
            f"| {result.kind} | best: {how} | {rate:.0f} | | | {target} | {verdict(rate >= RATE_TARGET)} |"
        )
        if result.exporter is not None:
            who = f"query-exporter (offered {result.offered}/s)"
            lines.append(_rate_row(result.kind, who, result.exporter, "-", "-"))
            if result.exporter.failures:
                lines.append(f"| | query-exporter errors | {result.exporter.failures:.0f} | | | | |")
        elif result.exporter_problem:
            lines.append(f"| {result.kind} | query-exporter | {result.exporter_problem} | | | | |")
    for result in results.throughput:
        if result.ladder is not None:
            lines.append(_ladder(result.kind, result.ladder))
    return "\n".join(lines) + "\n"


def _ladder(kind: str, ladder: Ladder) -> str:
    lines = [
        f"\n**query-exporter's sustained rate, {kind} query.** Each step a new query-exporter is offered a "
        f"higher rate ({LADDER_START}/s, then {LADDER_FACTOR}x the last: that many copies of the query, each "
        f"every second, connection pool of {THREADS}) and measured over a window of {ROUND_S:.0f} s after "
        f"settling; it keeps up while it finishes at least {SUSTAINED:.0%} of the offered rate, and the "
        "steps stop at the first it does not (past that its backlog of due queries grows without bound). "
        f"Before each step, a window of ours: batched ({BATCH}/message), {PROCESSES} processes x "
        f"{BATCH_THREADS_PER_PROCESS} thread, closed-loop (as many queued executions as it takes).\n",
        "| Step | Offered/s | query-exporter finished/s | Kept up | Client CPU ms/exec | Server CPU ms/exec "
        "| Ours: executions/s | Ours: client / server CPU ms/exec |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, (step, ours) in enumerate(zip(ladder.steps, ladder.ours.rounds, strict=False), start=1):
        count, wall, cpu, server = ours
        done = max(step.executions, 1)
        lines.append(
            f"| {number} | {step.offered} | {step.rate:.0f} | {'yes' if step.sustained else 'no'} "
            f"| {step.cpu / done * 1000:.2f} | {step.server / done * 1000:.2f} "
            f"| {count / wall:.0f} | {cpu / count * 1000:.2f} / {server / count * 1000:.2f} |"
        )
    return "\n".join(lines)


def _rate_row(kind: str, who: str, rates: Rates, target: str, result: str) -> str:
    return (
        f"| {kind} | {who} | {spread(rates.per_second(), 0)} | {spread(rates.cpu_ms())} | "
        f"{spread(rates.server_ms())} | {target} | {result} |"
    )


def _profile(results: Results) -> str:
    lines = [
        "## Profile of the executor\n",
        f"cProfile with a CPU-time clock (`time.process_time`), one thread, the {results.profile_kind} "
        "query: where the client's CPU goes, blocking waits excluded. Shares are of the profiled CPU time "
        "(the profiler inflates Python-heavy code); CPU ms is measured without the profiler just before.\n",
    ]
    for backend, profile in results.profiles.items():
        shares = ", ".join(f"{name} {share:.0%}" for name, share in profile.by_package if share >= 0.01)
        lines += [
            f"**{backend}**: {profile.cpu_ms:.2f} CPU ms per execution; {shares}.\n",
            f"<details><summary>{backend}: top functions by own CPU time; shared/ by cumulative</summary>\n",
            "```text",
            profile.top,
            "",
            profile.ours,
            "```\n</details>\n",
        ]
    return "\n".join(lines) + "\n"

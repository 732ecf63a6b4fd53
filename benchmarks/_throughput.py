"""Throughput: executions per second through the production executor, alternated in rounds with
query-exporter running the same SQL on the same source database.

Two configurations of ours, each round: 4 threads in this process, and 2 spawned processes of 2 threads
(a single Python process is bound to one core by the GIL; the machine has two). Client CPU is that of the
process(es) running executors; server CPU that of every `postgres` process over the window.
"""

from __future__ import annotations

import logging
import queue
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._databases import vacuum_analyze
from benchmarks._executor import BATCH, THREADS, Bench, Item, Workload, grow
from benchmarks._exporter import QueryExporter
from benchmarks._workers import run_processes, run_threads, server_stopwatch

log = logging.getLogger("bench")
ROUND_S = 5.0
MIN_WINDOW = 5000  #: executions queued per window at least
WARMUP_S = 2.0
PROCESSES = 2
THREADS_PER_PROCESS = 2
#: Batched: each thread runs a message of BATCH executions at a time, whose queries run on BATCH worker
#: threads, so fewer threads keep as much work in flight (and the shared server's connections in bounds).
BATCH_THREADS, BATCH_THREADS_PER_PROCESS = 2, 1
#: query-exporter's sustained rate: offered rates from LADDER_START_S's, each LADDER_FACTOR times the last,
#: until it finishes less than SUSTAINED of the offered rate (or LADDER_STEPS steps).
LADDER_FACTOR, LADDER_STEPS, SUSTAINED = 1.4, 9, 0.95
LADDER_START = 150


@dataclass
class Rates:
    """Per round: (executions, wall seconds, client CPU seconds, server CPU seconds)."""

    rounds: list[tuple[float, float, float, float]] = field(default_factory=list)
    failures: float = 0.0

    def per_second(self) -> list[float]:
        return [count / wall for count, wall, _cpu, _server in self.rounds]

    def cpu_ms(self) -> list[float]:
        return [cpu / count * 1000 for count, _wall, cpu, _server in self.rounds]

    def server_ms(self) -> list[float]:
        return [server / count * 1000 for count, _wall, _cpu, server in self.rounds]


@dataclass
class Throughput:
    kind: str
    threads: Rates = field(default_factory=Rates)  #: 1 process x THREADS threads
    processes: Rates = field(default_factory=Rates)  #: PROCESSES processes x THREADS_PER_PROCESS threads
    batched_threads: Rates = field(default_factory=Rates)  #: the same, messages of BATCH executions
    batched_processes: Rates = field(default_factory=Rates)
    exporter: Rates | None = None
    offered: int = 0  #: queries per second configured for query-exporter (our warm-up rate)
    exporter_problem: str | None = None
    ladder: Ladder | None = None  #: query-exporter's sustained rate (the realistic query)


@dataclass(frozen=True)
class Step:
    """One query-exporter run at a fixed offered rate: what it finished in the window."""

    offered: int
    executions: float
    wall: float
    cpu: float  #: its process's CPU seconds
    server: float  #: server CPU seconds
    failures: float

    @property
    def rate(self) -> float:
        return self.executions / self.wall

    @property
    def sustained(self) -> bool:
        return self.failures == 0 and self.rate >= SUSTAINED * self.offered


@dataclass
class Ladder:
    """query-exporter offered ever higher rates, each step alternated with a window of ours (batched,
    PROCESSES processes x BATCH_THREADS_PER_PROCESS thread), until it falls behind."""

    steps: list[Step] = field(default_factory=list)
    ours: Rates = field(default_factory=Rates)

    def highest(self) -> Step | None:
        """The highest step it kept up with."""
        kept = [step for step in self.steps if step.sustained]
        return max(kept, key=lambda step: step.offered) if kept else None

    def ceiling(self) -> float:
        """The most it finished per second in any step (past its sustained rate: its backlog grows)."""
        return max((step.rate for step in self.steps), default=0.0)


def measure(bench: Bench, kind: str, *, rounds: int, exporter: Path | None, workdir: Path) -> Throughput:
    """Warm up, then per round a window of each of ours and one of query-exporter's, ROUND_S seconds each."""
    workload = bench.workloads[kind]
    grow(bench, workload, 1500)
    settle(bench)
    warm = run_threads(
        bench.executor, _queue(workload.take(workload.left)), THREADS, WARMUP_S, must_fill=False
    )
    rate = warm[0] / warm[1]
    grow(bench, workload, 8000)  # enough that the batched warm-up does not run dry (it would look slower)
    settle(bench)
    warm = run_threads(
        bench.executor,
        _queue(workload.take(workload.left)),
        BATCH_THREADS,
        WARMUP_S,
        must_fill=False,
        batch=BATCH,
    )
    # Margins: processes may be faster than threads, and a busy machine's warm-up slower than its windows.
    per_window = max(int(rate * ROUND_S * 2.5) + 300, MIN_WINDOW)
    per_batched = max(int(warm[0] / warm[1] * ROUND_S * 2.5) + 300, MIN_WINDOW)
    log.info("%s: warm-up %.0f/s, batched %.0f/s", kind, rate, warm[0] / warm[1])
    grow(bench, workload, rounds * 2 * (per_window + per_batched))
    result = Throughput(kind=kind, offered=max(1, round(rate)))
    runner = _exporter(bench, workload.sql, result, exporter, workdir)
    urls = (bench.monitoring_url, bench.source_url)
    try:
        for _ in range(rounds):
            settle(bench)
            result.threads.rounds.append(_threads_window(bench, workload.take(per_window)))
            ids = [item[0] for item in workload.take(per_window)]
            result.processes.rounds.append(
                run_processes(urls, ids, processes=PROCESSES, threads=THREADS_PER_PROCESS, seconds=ROUND_S)
            )
            result.batched_threads.rounds.append(
                _threads_window(bench, workload.take(per_batched), batch=BATCH)
            )
            result.batched_processes.rounds.append(
                _batched_processes_window(bench, workload.take(per_batched))
            )
            if runner is not None and result.exporter is not None:
                ok, failed, wall, cpu, spent = runner.measure(ROUND_S, server_stopwatch)
                result.exporter.rounds.append((ok, wall, cpu, spent))
                result.exporter.failures += failed
    finally:
        if runner is not None:
            runner.close()
    if kind == "realistic" and result.exporter is not None and exporter is not None:
        result.ladder = ladder(bench, workload, exporter, workdir, per_batched)
    return result


def ladder(bench: Bench, workload: Workload, exporter: Path, workdir: Path, per_window: int) -> Ladder:
    """query-exporter's highest sustained rate on the workload's query: each step a new query-exporter
    offered a higher rate (that many copies of the query, each every second), run for a window after
    settling; it keeps up when it finishes at least SUSTAINED of that per second. Before each step, a
    window of ours (batched, closed-loop: queued executions as fast as it takes them), so the two are
    measured side by side."""
    result = Ladder()
    offered = float(LADDER_START)
    for _ in range(LADDER_STEPS):
        grow(bench, workload, per_window)
        settle(bench)
        result.ours.rounds.append(_batched_processes_window(bench, workload.take(per_window)))
        runner = QueryExporter(
            exporter, bench.source_url, workload.sql, per_second=round(offered), pool=THREADS, workdir=workdir
        )
        try:
            ok, failed, wall, cpu, spent = runner.measure(ROUND_S, server_stopwatch)
        finally:
            runner.close()
        step = Step(round(offered), ok, wall, cpu, spent, failed)
        result.steps.append(step)
        log.info("query-exporter offered %d/s: %.0f/s", step.offered, step.rate)
        if not step.sustained:
            break
        offered *= LADDER_FACTOR
    return result


def settle(bench: Bench) -> None:
    """VACUUM ANALYZE the monitoring tables the executor reads and writes, outside any measured window.

    The benchmark's server may run without autovacuum (the shared one does), and executions are seeded in
    bulk right before the windows: without fresh statistics the planner estimated the batch claim's
    `status` test as selective and read every queued row through the status indexes (about 800 buffers a
    call instead of 33), which doubled the server CPU per execution of a short run; and each window leaves
    two dead row versions per execution in `kpi_executions`. Production runs autovacuum; this stands in
    for it, so every round starts from the same state."""
    vacuum_analyze(bench.engine, "kpis", "kpi_executions", "historical_data")


def _threads_window(bench: Bench, items: list[Item], *, batch: int = 1) -> tuple[float, float, float, float]:
    server = server_stopwatch()
    threads = THREADS if batch == 1 else BATCH_THREADS
    count, wall, cpu = run_threads(
        bench.executor, _queue(items), threads, ROUND_S, must_fill=True, batch=batch
    )
    return count, wall, cpu, server()


def _batched_processes_window(bench: Bench, items: list[Item]) -> tuple[float, float, float, float]:
    """One window of ours in PROCESSES processes, each taking batches of BATCH ids."""
    return run_processes(
        (bench.monitoring_url, bench.source_url),
        [item[0] for item in items],
        processes=PROCESSES,
        threads=BATCH_THREADS_PER_PROCESS,
        seconds=ROUND_S,
        batch=BATCH,
    )


def _exporter(
    bench: Bench, sql: str, result: Throughput, exporter: Path | None, workdir: Path
) -> QueryExporter | None:
    if exporter is None:
        result.exporter_problem = "not run: --query-exporter was not given"
        return None
    if not exporter.exists():
        result.exporter_problem = (
            f"not run: {exporter} does not exist (`make bench` installs query-exporter into .venv-bench; "
            "that step failed, see its output)"
        )
        return None
    try:
        runner = QueryExporter(
            exporter, bench.source_url, sql, per_second=result.offered, pool=THREADS, workdir=workdir
        )
    except (OSError, RuntimeError) as error:
        result.exporter_problem = f"query-exporter could not run: {error}"
        return None
    result.exporter = Rates()
    return runner


def _queue(items: list[Item]) -> queue.SimpleQueue[uuid.UUID]:
    pending: queue.SimpleQueue[uuid.UUID] = queue.SimpleQueue()
    for item in items:
        pending.put(item[0])
    return pending

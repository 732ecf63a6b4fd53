"""Single-threaded passes over the executor that explain its cost: statements and round trips per phase,
wall time per phase, and a CPU-time profile of the production path."""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from benchmarks._counting import PhasedRunner, Phases, TurnProxy
from benchmarks._executor import BATCH, THREADS, Bench, run_bare, run_batch, run_pipeline, settings
from shared.db.engine import create_monitoring_engine
from shared.services.execution import Executor

PerPhase = dict[str, dict[str, tuple[float, float | None]]]


@dataclass(frozen=True)
class Counts:
    """Per execution, per database and row (phase or control): (statements, round trips or None)."""

    pipeline: PerPhase
    bare: PerPhase
    batched: PerPhase | None = None  #: messages of BATCH executions, per execution


def count_statements(bench: Bench, kind: str, *, executions: int = 40, warmup: int = 10) -> Counts:
    """Run `executions` of each side on counting engines (behind turn-counting proxies on PostgreSQL)."""
    workload = bench.workloads[kind]
    proxies: dict[str, TurnProxy] = {}
    urls = {"monitoring": bench.monitoring_url, "source": bench.source_url}
    if bench.backend == "postgresql":
        for name, url in urls.items():
            parsed = make_url(url)
            proxies[name] = TurnProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        urls = {name: proxies[name].url(url) for name, url in urls.items()}
    engine = create_monitoring_engine(urls["monitoring"])
    runner = PhasedRunner({"main": urls["source"]}, pool_size=THREADS * BATCH)
    bare_engines = (create_engine(urls["source"]), create_engine(urls["monitoring"]))
    try:
        phases = Phases(proxies)
        runner.phases = phases
        executor = Executor(engine, runner, settings(max_parallel_kpis=THREADS * BATCH))
        pipeline = _count(
            phases,
            [(engine, "monitoring"), (runner.engine("main"), "source")],
            (warmup, executions),
            lambda item: run_pipeline(executor, item, "counting"),
            workload.take,
        )
        bare = Phases(proxies, bare=True)
        counted = _count(
            bare,
            [(bare_engines[1], "monitoring"), (bare_engines[0], "source")],
            (warmup, executions),
            lambda item: run_bare(bench, bare_engines, workload.sql, item),
            workload.take,
        )
        batched = Phases(proxies)
        runner.phases = batched
        batches = _count(
            batched,
            [(engine, "monitoring"), (runner.engine("main"), "source")],
            (max(1, warmup // BATCH), max(1, executions // BATCH)),
            lambda items: run_batch(executor, items, "counting"),
            lambda count: [workload.take(BATCH) for _ in range(count)],
            per=BATCH,
        )
        return Counts(pipeline=pipeline, bare=counted, batched=batches)
    finally:
        runner.dispose()
        for each in (engine, *bare_engines):
            each.dispose()
        for proxy in proxies.values():
            proxy.close()


def _count(
    phases: Phases,
    engines: list[tuple[Engine, str]],
    sizes: tuple[int, int],
    run: Callable[[Any], None],
    take: Callable[[int], list[Any]],
    *,
    per: int = 1,
) -> PerPhase:
    """Count `sizes[1]` runs after `sizes[0]` warm-up runs; a run is one execution, or a batch of `per`."""
    warmup, executions = sizes
    stops = [phases.listen(engine, name) for engine, name in engines]
    try:
        for item in take(warmup):
            run(item)
        phases.reset()
        for item in take(executions):
            phases.new_execution()
            run(item)
            phases.end_execution()
        return phases.per_execution(executions * per)
    finally:
        for stop in stops:
            stop()


def phase_times(
    bench: Bench, kind: str, *, executions: int = 200
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean wall milliseconds per phase and execution, (pipeline, bare), on engines built like the
    benchmark's (no proxy)."""
    workload = bench.workloads[kind]
    engine = create_monitoring_engine(bench.monitoring_url)
    runner = PhasedRunner({"main": bench.source_url}, pool_size=THREADS)
    executor = Executor(engine, runner, settings(max_parallel_kpis=THREADS * 2))
    engines = (bench.bare_source, bench.bare_monitoring)
    phases, bare = Phases(), Phases(bare=True)
    runner.phases = phases
    stops = [
        phases.listen(engine, "monitoring"),
        phases.listen(runner.engine("main"), "source"),
        bare.listen(engines[1], "monitoring"),
        bare.listen(engines[0], "source"),
    ]
    try:
        for item in workload.take(executions // 10):
            run_pipeline(executor, item, "timing")
            run_bare(bench, engines, workload.sql, item)
        phases.reset()
        bare.reset()
        for item in workload.take(executions):
            phases.new_execution()
            run_pipeline(executor, item, "timing")
            phases.end_execution()
            bare.new_execution()
            run_bare(bench, engines, workload.sql, item)
            bare.end_execution()
    finally:
        for stop in stops:
            stop()
        runner.dispose()
        engine.dispose()
    return (
        {row: seconds * 1000 / executions for row, seconds in phases.seconds.items()},
        {row: seconds * 1000 / executions for row, seconds in bare.seconds.items()},
    )


@dataclass(frozen=True)
class Profile:
    executions: int
    cpu_ms: float  #: unprofiled CPU milliseconds per execution, measured just before
    by_package: list[tuple[str, float]]  #: share of the profiled CPU time per package
    top: str  #: pstats listing by own CPU time
    ours: str  #: pstats listing of shared/ functions by cumulative CPU time


def profile(bench: Bench, kind: str, *, executions: int = 300, top: int = 22) -> Profile:
    """cProfile `executions` production executions on one thread, timed by CPU time (not wall): where the
    client's CPU goes, blocking waits excluded."""
    workload = bench.workloads[kind]
    plain = workload.take(executions)
    cpu = time.process_time()
    for item in plain:
        run_pipeline(bench.executor, item, "profiled")
    cpu_ms = (time.process_time() - cpu) * 1000 / executions
    profiler = cProfile.Profile(time.process_time)
    batch = workload.take(executions)
    profiler.enable()
    for item in batch:
        run_pipeline(bench.executor, item, "profiled")
    profiler.disable()
    stats = pstats.Stats(profiler)
    packages: dict[str, float] = defaultdict(float)
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        packages[_package(filename, name)] += row[2]
    total = sum(packages.values())
    ranked = sorted(((name, own / total) for name, own in packages.items()), key=lambda pair: -pair[1])
    return Profile(
        executions=executions,
        cpu_ms=cpu_ms,
        by_package=ranked,
        top=_listing(profiler, "tottime", top),
        ours=_listing(profiler, "cumulative", top, "shared"),
    )


def _listing(profiler: cProfile.Profile, order: str, top: int, *restrict: str) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer).sort_stats(order)
    stats.print_stats(*restrict, top)
    lines = buffer.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(_short(line) for line in lines[start:] if line.strip())


def _short(line: str) -> str:
    for prefix in ("site-packages/", "/work/main/"):
        if prefix in line:
            head, _, tail = line.partition(prefix)
            line = head[: head.rfind(" ") + 1] + tail
    return line


def _package(filename: str, name: str) -> str:
    if filename == "~":  # built-ins and C extensions, psycopg's wait and libpq calls among them
        return "C built-ins (incl. psycopg C, sqlite3)"
    for marker, label in (
        ("/sqlalchemy/", "sqlalchemy"),
        ("/psycopg/", "psycopg (Python part)"),
        ("/tenacity/", "tenacity"),
        ("/pydantic", "pydantic"),
        ("/shared/", "shared/ (ours)"),
        ("/benchmarks/", "benchmark harness"),
    ):
        if marker in filename:
            return label
    return "stdlib"

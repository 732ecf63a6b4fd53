"""The executor benchmark's environment, and the overhead measurement: the production path against a bare
loop, alternated in rounds within one run.

The pipeline side is `Executor.execute` exactly as the `kpi_executor` function calls it: claim, concurrency
slot, source query through `SourceRunner`, history baseline, evaluation, history, streaks and alert
bookkeeping, slot release. The bare side runs the same query with the same window on a plain engine and
inserts one row into the monitoring database: the least any persisting monitor must do.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
)
from sqlalchemy import text as sql_text

from benchmarks import _seed
from benchmarks._databases import Scratch, vacuum_analyze
from shared.domain.schedule import window
from shared.services.execution import Executor
from shared.settings import Settings
from shared.sources import SourceRunner

THREADS = 4
#: Executions per message on the batched side: the default ExecutionBatchSize (run 8 at a time by default).
BATCH = 16
bare_metadata = MetaData()
BARE_RESULTS = Table(
    "bench_bare_results",
    bare_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kpi_id", Integer, nullable=False),
    Column("metric_key", String(255), nullable=False),
    Column("value", Float, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)


def settings(*, max_parallel_kpis: int) -> Settings:
    """Default settings, with enough concurrency slots per source for the benchmark's threads."""
    base = Settings.load()
    monitoring = base.worker.kpi_monitoring.model_copy(update={"max_parallel_kpis": max_parallel_kpis})
    worker = base.worker.model_copy(update={"kpi_monitoring": monitoring})
    return base.model_copy(update={"worker": worker})


Item = tuple[uuid.UUID, int, datetime]  #: a queued execution: (id, KPI id, slot)


@dataclass
class Workload:
    """Queued executions of KPIs running one query, consumed in order; `grow` seeds more."""

    kind: str
    sql: str
    kpi_ids: list[int]
    value: float  #: what the query returns for a typical window: the baselines are seeded around it
    items: list[Item] = field(default_factory=list)
    _next: int = 0

    def take(self, count: int) -> list[Item]:
        if self._next + count > len(self.items):
            raise RuntimeError(f"{self.kind} workload exhausted: seed more executions")
        start, self._next = self._next, self._next + count
        return self.items[start : start + count]

    @property
    def left(self) -> int:
        return len(self.items) - self._next


@dataclass
class Bench:
    """One backend's monitoring and source databases, the production executor and the bare engines."""

    backend: str
    monitoring_url: str
    source_url: str
    engine: Engine
    runner: SourceRunner
    executor: Executor
    bare_source: Engine
    bare_monitoring: Engine
    workloads: dict[str, Workload] = field(default_factory=dict)

    def close(self) -> None:
        self.runner.dispose()
        for engine in (self.engine, self.bare_source, self.bare_monitoring):
            engine.dispose()

    def params(self, sql: str, slot: datetime) -> dict[str, Any]:
        """The bind parameters the runner passes for `slot`'s window, in this backend's form."""
        if ":window_start" not in sql:
            return {}
        start, end = window(slot, 60)
        if self.backend == "sqlite":
            return {
                name: value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
                for name, value in (("window_start", start), ("window_end", end))
            }
        return {"window_start": start, "window_end": end}


def open_bench(scratch: Scratch, *, sizes: dict[str, int], kpis_per_kind: int) -> Bench:
    """Create and seed the databases: payments in the source, `sizes[kind]` queued executions (with
    their four weeks of baseline history) of `kpis_per_kind` KPIs per query kind."""
    source_url = scratch.url("source")
    seeding = create_engine(source_url)
    _seed.seed_payments(seeding)
    vacuum_analyze(seeding, "payments")
    seeding.dispose()
    monitoring_url, engine = scratch.monitoring("executor")
    bare_metadata.create_all(engine)
    runner = SourceRunner({"main": source_url}, pool_size=THREADS * BATCH)
    bench = Bench(
        backend=scratch.backend,
        monitoring_url=monitoring_url,
        source_url=source_url,
        engine=engine,
        runner=runner,
        executor=Executor(engine, runner, settings(max_parallel_kpis=THREADS * BATCH)),
        bare_source=create_engine(source_url),
        bare_monitoring=create_engine(monitoring_url),
    )
    for kind, count in sizes.items():
        bench.workloads[kind] = _workload(bench, kind, count, kpis_per_kind)
    vacuum_analyze(engine, "kpis", "kpi_executions", "historical_data")
    return bench


def _workload(bench: Bench, kind: str, count: int, kpi_count: int) -> Workload:
    sql = _seed.QUERIES[kind]
    kpi_ids = _seed.seed_kpis(bench.engine, kpi_count, sql=sql, prefix=kind, next_run_at=[None] * kpi_count)
    workload = Workload(kind=kind, sql=sql, kpi_ids=kpi_ids, value=_typical_value(bench, sql))
    grow(bench, workload, count)
    return workload


def grow(bench: Bench, workload: Workload, count: int) -> None:
    """Queue `count` more executions (round-robin over the KPIs, each round one slot later), with the history
    their baselines read. Slots move forward in time, as in production: every execution is its KPI's newest
    so far and takes the full path (history, baseline, alert evaluation), never the one of a slot that
    finished after a newer slot of its KPI (which skips the alert evaluation). The first slot is the first
    whose window lies within the payments data."""
    step = timedelta(minutes=_seed.FREQUENCY_MINUTES)
    first = _seed.NOW - timedelta(days=_seed.PAYMENT_DAYS) + timedelta(minutes=60)
    kpis, done = workload.kpi_ids, len(workload.items)
    work = [(kpis[i % len(kpis)], first + (i // len(kpis)) * step) for i in range(done, done + count)]
    if work and work[-1][1] > _seed.NOW:
        raise RuntimeError("more executions than the payments data has windows for: add KPIs")
    ids = _seed.queue_executions(bench.engine, work)
    _seed.seed_baselines(bench.engine, work, key=_seed.METRIC_KEYS[workload.kind], value=workload.value)
    workload.items.extend(
        (execution_id, kpi_id, slot) for execution_id, (kpi_id, slot) in zip(ids, work, strict=True)
    )


def _typical_value(bench: Bench, sql: str) -> float:
    with bench.bare_source.connect() as connection:
        row = connection.execute(sql_text(sql), bench.params(sql, _seed.NOW)).one()
    return float(row[1])


def run_pipeline(executor: Executor, item: Item, owner: str) -> None:
    report = executor.execute(item[0], owner=owner)
    if report.status != "succeeded":
        raise RuntimeError(f"execution {item[0]} ended {report.status}: {report.error}")


def run_batch(executor: Executor, items: list[Item], owner: str) -> None:
    """The batched side: the executions of one message, as the `kpi_executor` function runs them."""
    for report in executor.execute_batch([item[0] for item in items], owner=owner):
        if report.status != "succeeded":
            raise RuntimeError(f"execution {report.execution_id} ended {report.status}: {report.error}")


def run_bare(
    bench: Bench,
    engines: tuple[Engine, Engine],
    sql: str,
    item: Item,
) -> None:
    """The bare loop's body: the same query for the same window, then one inserted row."""
    source, monitoring = engines
    with source.connect() as connection:
        key, value = connection.execute(sql_text(sql), bench.params(sql, item[2])).one()
    with monitoring.begin() as connection:
        connection.execute(
            insert(BARE_RESULTS).values(
                kpi_id=item[1], metric_key=key, value=float(value), recorded_at=datetime.now(UTC)
            )
        )


@dataclass(frozen=True)
class Overhead:
    """Per round and side: the per-execution wall times (s), and the CPU seconds of the whole round."""

    pipeline: list[list[float]]
    bare: list[list[float]]
    pipeline_cpu: list[float]
    bare_cpu: list[float]
    batched: list[list[float]] = field(default_factory=list)  #: per execution: its batch's time / BATCH
    batched_cpu: list[float] = field(default_factory=list)

    def ratios(self) -> list[float]:
        return [
            statistics.median(p) / statistics.median(b) for p, b in zip(self.pipeline, self.bare, strict=True)
        ]

    def added_ms(self) -> list[float]:
        return [
            (statistics.median(p) - statistics.median(b)) * 1000
            for p, b in zip(self.pipeline, self.bare, strict=True)
        ]

    def batched_ratios(self) -> list[float]:
        return [
            statistics.median(p) / statistics.median(b) for p, b in zip(self.batched, self.bare, strict=True)
        ]

    def cpu_ms(self, side: str) -> list[float]:
        cpu, times = {
            "pipeline": (self.pipeline_cpu, self.pipeline),
            "bare": (self.bare_cpu, self.bare),
            "batched": (self.batched_cpu, self.batched),
        }[side]
        return [seconds / len(each) * 1000 for seconds, each in zip(cpu, times, strict=True)]


def measure_overhead(bench: Bench, kind: str, *, rounds: int, per_round: int, warmup: int = 20) -> Overhead:
    """Alternate `rounds` rounds of `per_round` executions per side, in ABC / CBA order: one message per
    execution, the bare loop, and messages of BATCH executions (each run by `execute_batch`, which queries
    them on its worker threads; their time per execution is the batch's over BATCH)."""
    workload = bench.workloads[kind]
    engines = (bench.bare_source, bench.bare_monitoring)
    for item in workload.take(warmup):
        run_pipeline(bench.executor, item, "bench")
        run_bare(bench, engines, workload.sql, item)
    run_batch(bench.executor, workload.take(BATCH), "bench")
    result = Overhead(pipeline=[], bare=[], pipeline_cpu=[], bare_cpu=[])
    sides = ("pipeline", "bare", "batched")
    for round_no in range(rounds):
        plain = workload.take(per_round)  # the bare loop changes nothing: it reruns the pipeline's items
        items = {"pipeline": plain, "bare": plain, "batched": workload.take(per_round)}
        for side in sides if round_no % 2 == 0 else sides[::-1]:
            times = []
            cpu = time.process_time()
            if side == "batched":
                for start in range(0, per_round, BATCH):
                    chunk = items[side][start : start + BATCH]
                    began = time.perf_counter()
                    run_batch(bench.executor, chunk, "bench")
                    times += [(time.perf_counter() - began) / len(chunk)] * len(chunk)
            for item in items[side] if side != "batched" else ():
                started = time.perf_counter()
                if side == "pipeline":
                    run_pipeline(bench.executor, item, "bench")
                else:
                    run_bare(bench, engines, workload.sql, item)
                times.append(time.perf_counter() - started)
            cpu = time.process_time() - cpu
            getattr(result, side).append(times)
            getattr(result, f"{side}_cpu").append(cpu)
    return result

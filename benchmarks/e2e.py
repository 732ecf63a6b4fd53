"""End to end: executions per second through `python -m devhost` and Azurite, with 1 and 3 host processes,
batching off and on.

`python -m benchmarks.e2e [--output benchmarks/RESULTS.md] [--depth 300] [--batch-sizes 1,30]`
(`make bench-e2e`; about 6 minutes). Each process count runs with messages of one execution
(`ExecutionBatchSize` 1: batching off) and of 30 (the default batch), the feeder
keeping as many messages queued.
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; another server: `MGRID_BENCH_POSTGRES_URL`) and
Azurite from `npm ci`.

A scratch monitoring database (migrated like production) is also the source `main`; its KPIs run the trivial
`SELECT 'k' AS key, 1 AS current_value`, so the rate measures the pipeline and its queue, not a query. Each
round runs on a fresh Azurite in memory, as the tests start it: its garbage collection, a minute after start,
blocks it for long (timed at the end), and a round is over before. A feeder thread plays the scheduler (at a
higher priority, so that the hosts never wait for it): every 50 ms it tops the executions not finished (queued
or running) up to `--depth`, each inserted in `kpi_executions` (`enqueued_at` now, so the resend sweep leaves
it alone; no KPI is due, so the scheduler's ticks are harmless) and sent to `kpi-executions` as the
scheduler's output binding sends it in devhost. Azurite scans every message of the queue on each call, so the
depth is part of the result: in production the timer sends each tick's due KPIs as they come, not tens of
thousands at once. The depth seen over the measured windows is reported. 1 or 3 devhosts (`MaxParallelKpis`
50, the maximum, so slots never defer) consume the queue, in rounds ordered 1, 3, 3, 1 so that both
configurations meet the same conditions on the shared machine; the rate is the growth of succeeded executions
over fixed windows after a warm-up (median of the windows). CPU is read from /proc over the same spans per
process kind: devhosts, Azurite's node process, PostgreSQL's backends of the scratch database, this script
(the feeder: the scheduler's share of the work in production), the rest of the machine, and the idle time.

The verdict compares each kind's CPU with what it can use: Azurite and each devhost do their work on one
thread at a time (Node's event loop; Python's GIL), so one at `SATURATED` of a core or more limits; else, on a
busy machine, the component with the most CPU per execution does. Then one devhost runs under cProfile in
every thread, against an Azurite under `node --cpu-prof`, to show where each spends its CPU; last, two
Azurites in memory (as the tests start it) time the pause of that store's garbage collection
(`_e2e_profiled.py`). The section is written between `<!-- e2e:start -->` and `<!-- e2e:end -->` in
RESULTS.md; the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

import psutil
from sqlalchemy import Engine, text

from benchmarks._databases import Scratch, bulk_insert
from benchmarks._e2e_profiled import (
    Pause,
    Summary,
    azurite,
    azurite_summary,
    host_summary,
    memory_gc_pauses,
)
from benchmarks._seed import TRIVIAL_SQL, seed_kpis
from benchmarks._workers import database_stopwatch
from devhost.functions import queue_messages
from devhost.queues import Storage
from devhost.settings import HostConfig
from shared.db.tables import kpi_executions
from shared.messages import execution_messages

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- e2e:start -->", "<!-- e2e:end -->"
QUEUE = "kpi-executions"
KPIS = 200
TARGET = 300.0  #: executions per second with 3 processes (batched)
SATURATED = 0.75  #: of a core: a single-threaded process (an event loop, the GIL) at its ceiling
MACHINE_BUSY = 0.85  #: of all cores: the machine is the ceiling
OTHERS = 0.25  #: cores taken by other work worth naming in the verdict
STARVED = 0.1  #: share of depth samples below the hosts' in-flight capacity past which the feeder limits
SENDERS = 16  #: the feeder's sending threads
FEEDER_NICE = -5  #: the feeder's threads go first, so that the hosts never wait for it
GC_PROBE = (2000, 4000)  #: messages through in-memory Azurites before their first collection
QUEUES = HostConfig.from_json(json.loads((ROOT / "host.json").read_text(encoding="utf-8"))).queues
_now = datetime.now(UTC)
SLOT_BASE = _now.replace(second=0, microsecond=0) - timedelta(minutes=_now.minute % 5)
NAMES = {"azurite": "Azurite", "devhost": "our code (the devhosts)", "postgres": "PostgreSQL"}
PIPELINE = ("devhost", "azurite", "postgres", "benchmark")  #: the feeder stands for the scheduler
Config = tuple[int, int]  #: (host processes, executions per message)


@dataclass
class Run:
    """One configuration, summed over its rounds."""

    processes: int
    batch: int = 1  #: ExecutionBatchSize: executions per message
    rounds: list[list[float]] = field(default_factory=list)  #: window rates, per round
    wall: float = 0.0
    executions: int = 0  #: succeeded over the measured spans
    cpu: dict[str, float] = field(default_factory=dict)  #: CPU seconds per kind over the spans
    busy_s: float = 0.0  #: machine CPU seconds used over the spans
    failed: int = 0
    depths: list[int] = field(default_factory=list)  #: unfinished executions, sampled by the feeder

    @property
    def rate(self) -> float:
        rates = list(itertools.chain.from_iterable(self.rounds))
        return statistics.median(rates) if rates else 0.0

    @property
    def busy(self) -> float:
        return self.busy_s / self.wall if self.wall else 0.0

    @property
    def starved(self) -> float:
        """Share of the depth samples below what the hosts can hold in flight: they may have waited."""
        capacity = self.processes * QUEUES.max_in_flight * self.batch
        return sum(depth < capacity for depth in self.depths) / len(self.depths) if self.depths else 0.0

    def idle(self, cpus: int) -> float:
        return max(0.0, cpus - self.busy)

    def cores(self, kind: str) -> float:
        return self.cpu.get(kind, 0.0) / self.wall if self.wall else 0.0

    def ms(self, kind: str) -> float:
        return self.cpu.get(kind, 0.0) * 1000 / self.executions if self.executions else 0.0

    def ceiling(self, cpus: int) -> tuple[float, float]:
        """CPU ms per execution of all the pipeline's processes, and the rate that `cpus` free cores allow."""
        spent = sum(self.ms(kind) for kind in PIPELINE)
        return spent, cpus * 1000 / spent if spent else 0.0

    def add(self, other: Run) -> None:
        self.rounds += other.rounds
        self.wall += other.wall
        self.executions += other.executions
        for kind, seconds in other.cpu.items():
            self.cpu[kind] = self.cpu.get(kind, 0.0) + seconds
        self.busy_s += other.busy_s
        self.failed += other.failed
        self.depths += other.depths


@dataclass
class Profiles:
    rate: float
    host: Summary
    azurite: Summary | None


class Bench:
    """The scratch database and the queue of one Azurite (`use`): queueing executions, counting outcomes."""

    def __init__(self, url: str, engine: Engine, workdir: Path, kpi_ids: list[int]) -> None:
        self.url, self.engine, self.workdir, self.kpi_ids = url, engine, workdir, kpi_ids
        self.storage = ""
        self.batch = 1  #: executions per message, as the scheduler packs them (ExecutionBatchSize)
        self._next = 0  #: slots handed out so far, per KPI round robin
        self._queues: Storage | None = None
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="sender", initializer=ahead)
        self.settings = workdir / "settings.json"
        self.settings.write_text(json.dumps({"Values": {}}), encoding="utf-8")

    def use(self, storage: str) -> None:
        """Queue to the Azurite of `storage` from now on; executions left queued for the previous one go."""
        with self.engine.begin() as connection:
            connection.execute(text("DELETE FROM kpi_executions WHERE status IN ('queued', 'running')"))
        if self._queues is not None:
            self._queues.close()
        self.storage = storage
        self._queues = Storage(storage, connections=SENDERS)
        self._queues.ensure(QUEUE)

    def close(self) -> None:
        self._senders.shutdown()
        if self._queues is not None:
            self._queues.close()

    def stock(self, count: int) -> None:
        """Queue `count` executions and send their messages, as the scheduler does."""
        now = datetime.now(UTC)
        ids = [uuid.uuid4() for _ in range(count)]
        rows = [
            {
                "id": execution_id,
                "kpi_id": self.kpi_ids[index % len(self.kpi_ids)],
                "slot": SLOT_BASE - timedelta(minutes=5 * (index // len(self.kpi_ids))),
                "triggered_by": "scheduled",
                "status": "queued",
                "attempt": 0,
                "created_at": now,
                "enqueued_at": now,
            }
            for index, execution_id in enumerate(ids, start=self._next)
        ]
        self._next += count
        bulk_insert(self.engine, kpi_executions, rows)
        messages = [queue_messages(body)[0] for body in execution_messages(ids, self.batch)]
        list(self._senders.map(self._send, [messages[start::SENDERS] for start in range(SENDERS)]))

    def _send(self, messages: list[str]) -> None:
        if self._queues is not None:
            self._queues.send(QUEUE, messages)

    def pending(self) -> int:
        """Executions queued or running (through the partial index of unfinished executions)."""
        with self.engine.connect() as connection:
            query = text("SELECT count(*) FROM kpi_executions WHERE status IN ('queued', 'running')")
            return int(connection.execute(query).scalar_one())

    def outcomes(self) -> tuple[int, int]:
        """(succeeded, failed or timed out)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'succeeded'),"
                    " count(*) FILTER (WHERE status IN ('failed', 'timed_out')) FROM kpi_executions"
                )
            ).one()
        return int(row[0]), int(row[1])

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "ConnectionStrings__Monitoring": self.url,
            "ConnectionStrings__Sources__main": self.url,
            "AzureWebJobsStorage": self.storage,
            "Worker__KpiMonitoring__MaxParallelKpis": "50",
            "Worker__KpiMonitoring__ExecutionBatchSize": str(self.batch),
            "PYTHONUNBUFFERED": "1",
        }

    @contextmanager
    def hosts(
        self, count: int, *, module: str = "devhost", extra: dict[str, str] | None = None
    ) -> Iterator[list[psutil.Process]]:
        """`count` devhost processes on free ports until the block ends; SIGTERM, then wait for the drain."""
        started: list[tuple[int, subprocess.Popen[bytes]]] = []
        try:
            for number in range(count):
                port = _free_port()
                command = [sys.executable, "-m", module, "--port", str(port)]
                command += ["--settings-file", str(self.settings), "--drain-timeout", "15"]
                with (self.workdir / f"{module}-{count}-{number}.log").open("ab") as log:
                    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
                        command, cwd=ROOT, env={**self.environment(), **(extra or {})}, stdout=log, stderr=log
                    )
                started.append((port, process))
            for port, process in started:
                _wait_for(port, process)
            yield [psutil.Process(process.pid) for _, process in started]
        finally:
            for _, process in started:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for _, process in started:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Feeder:
    """Plays the scheduler: keeps `depth` executions unfinished, topping up every `interval_s`."""

    def __init__(self, bench: Bench, depth: int, interval_s: float = 0.05) -> None:
        self._bench, self._depth, self._interval_s = bench, depth, interval_s
        self.recording = False
        self.depths: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="feeder", daemon=True)
        self._error: Exception | None = None

    def __enter__(self) -> Feeder:
        self._top_up()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is not None and error is None:
            raise RuntimeError(f"the feeder failed: {self._error}") from self._error

    def _loop(self) -> None:
        ahead()
        try:
            while not self._stop.wait(self._interval_s):
                self._top_up()
        except Exception as error:  # re-raised by __exit__ in the benchmark's thread
            self._error = error

    def _top_up(self) -> None:
        pending = self._bench.pending()
        if self.recording:
            self.depths.append(pending)
        if pending < self._depth:
            self._bench.stock(self._depth - pending)


def ahead() -> None:
    """Run the calling thread at `FEEDER_NICE` (on Linux a thread has its own priority), where allowed."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), FEEDER_NICE)


def measure(
    bench: Bench,
    service: psutil.Process,
    processes: int,
    *,
    batch: int,
    depth: int,
    warmup: float,
    windows: int,
    window: float,
) -> Run:
    """One round of `processes` hosts, messages of `batch` executions; the feeder keeps `depth` messages'
    worth of executions unfinished (the same queue depth in messages whatever the batch)."""
    run = Run(processes=processes, batch=batch)
    bench.batch = batch
    with Feeder(bench, depth * batch) as feeder, bench.hosts(processes) as hosts:
        _wait_for_progress(bench, start=bench.outcomes()[0])
        time.sleep(warmup)
        clocks = _cpu_clocks({"devhost": hosts, "azurite": [service], "benchmark": [psutil.Process()]})
        postgres = database_stopwatch(bench.engine)
        machine = psutil.cpu_times()
        feeder.recording = True
        started = time.monotonic()
        first, failed_before = bench.outcomes()
        marks = [(started, first)]
        for number in range(1, windows + 1):
            time.sleep(max(0.0, started + number * window - time.monotonic()))
            marks.append((time.monotonic(), bench.outcomes()[0]))
        feeder.recording = False
        run.cpu = {kind: clock() for kind, clock in clocks.items()}
        run.cpu["postgres"] = postgres()
        run.busy_s = _busy(psutil.cpu_times()) - _busy(machine)
        run.wall = marks[-1][0] - started
        run.executions = marks[-1][1] - first
        run.failed = bench.outcomes()[1] - failed_before
        run.rounds = [[(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(marks)]]
        run.depths = feeder.depths
    return run


def profile(bench: Bench, *, depth: int, seconds: float) -> Profiles:
    """One devhost under cProfile against an Azurite under Node's profiler, fed at `depth`."""
    out = bench.workdir / "devhost.prof"
    launched = time.monotonic()
    with azurite(bench.workdir / "azurite-profiled", profile=True) as service:
        bench.use(service.connection)
        extra = {"E2E_PROFILE_OUT": str(out)}
        with Feeder(bench, depth), bench.hosts(1, module="benchmarks._e2e_profiled", extra=extra):
            _wait_for_progress(bench, start=bench.outcomes()[0])
            time.sleep(2.0)
            first, began = bench.outcomes()[0], time.monotonic()
            time.sleep(seconds)
            ended = time.monotonic()
            rate = (bench.outcomes()[0] - first) / (ended - began)
    node = service.profile
    span = (began - launched, ended - launched)
    summary = azurite_summary(node, span=span) if node is not None and node.exists() else None
    return Profiles(rate, host_summary(out), summary)


def _cpu_clocks(groups: dict[str, list[psutil.Process]]) -> dict[str, Callable[[], float]]:
    def clock(processes: list[psutil.Process]) -> Callable[[], float]:
        before = [_cpu(process) for process in processes]
        return lambda: sum(_cpu(process) - start for process, start in zip(processes, before, strict=True))

    return {kind: clock(processes) for kind, processes in groups.items()}


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def _busy(times: object) -> float:
    idle = getattr(times, "idle", 0.0) + getattr(times, "iowait", 0.0)
    return float(sum(times) - idle)  # type: ignore[call-overload]


def _wait_for_progress(bench: Bench, *, start: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bench.outcomes()[0] > start:
            return
        time.sleep(0.2)
    raise RuntimeError(f"no execution succeeded within {timeout:.0f} s; see the devhost logs")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"devhost exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"devhost did not listen on port {port} within 60 s")


def limiter(run: Run, cpus: int) -> tuple[str, str]:
    """The component that limits `run`, and why, from its CPU against what each kind can use."""
    azurite, host = run.cores("azurite"), run.cores("devhost") / run.processes
    if run.starved > STARVED:
        return "the feeder", (
            f"the queue fell below what the hosts hold in flight in {run.starved:.0%} of the samples, so "
            "they waited for work: the rate is the feeder's, not the pipeline's"
        )
    if max(azurite, host) >= SATURATED:
        if azurite >= host:
            return "Azurite", (
                f"its single Node process uses {azurite:.2f} of a core (>= {SATURATED}: at its ceiling; one "
                "event loop)"
            )
        return NAMES["devhost"], (
            f"each devhost uses {host:.2f} of a core (>= {SATURATED}: at its ceiling; one Python process "
            "runs on one core at a time, the GIL)"
        )
    dearest = max(NAMES, key=run.ms)
    if run.busy >= MACHINE_BUSY * cpus:
        others, ours = run.cores("other"), sum(run.cores(kind) for kind in PIPELINE)
        if others > ours:
            return "other work on this shared machine", (
                f"the machine's {cpus} cores are busy ({run.busy:.2f}) and other work took {others:.2f} "
                f"of them, more than the pipeline's {ours:.2f}; of the pipeline, {NAMES[dearest]} takes the "
                "most CPU per execution"
            )
        shared = f" (other work on this shared machine took {others:.2f} of them)"
        return NAMES[dearest], (
            f"the machine's {cpus} cores are busy ({run.busy:.2f}, >= {MACHINE_BUSY:.0%})"
            f"{shared if others >= OTHERS else ''} with no process at its ceiling (Azurite {azurite:.2f} "
            f"of a core, each devhost {host:.2f}), and {NAMES[dearest]} takes the most CPU per execution"
        )
    return "latency (the in-flight cap)", (
        f"no CPU ceiling is reached ({run.busy:.2f} of {cpus} cores busy, Azurite at {azurite:.2f} of a "
        f"core, each devhost at {host:.2f}): the {QUEUES.max_in_flight} invocations in flight per host over "
        f"the round trips hold the rate; {NAMES[dearest]} takes the most CPU per execution"
    )


def verdict(run: Run, cpus: int) -> str:
    name, reason = limiter(run, cpus)
    per_host = run.cores("devhost") / run.processes
    figures = [
        f"Azurite {run.ms('azurite'):.2f} ms ({run.cores('azurite'):.2f} of a core)",
        f"devhosts {run.ms('devhost'):.2f} ms ({run.cores('devhost'):.2f} cores, {per_host:.2f} each)",
        f"PostgreSQL {run.ms('postgres'):.2f} ms ({run.cores('postgres'):.2f})",
        f"feeder {run.ms('benchmark'):.2f} ms ({run.cores('benchmark'):.2f})",
    ]
    spent, ceiling = run.ceiling(cpus)
    return (
        f"**{name[0].upper()}{name[1:]} limits** ({run.rate:.0f}/s): {reason}. CPU per execution: "
        f"{'; '.join(figures)}; rest of the machine {run.cores('other'):.2f} cores, idle "
        f"{run.idle(cpus):.2f} of {cpus}. The pipeline's processes together take {spent:.1f} ms per "
        f"execution: {cpus} cores of their own would allow about {ceiling:.0f}/s."
    )


def _depth(run: Run) -> str:
    if not run.depths:
        return "-"
    low, middle, high = min(run.depths), statistics.median(run.depths), max(run.depths)
    return f"{low}-{middle:.0f}-{high}" + (f" (short {run.starved:.0%})" if run.starved else "")


def _table(runs: list[Run], cpus: int) -> list[str]:
    lines = [
        "| Processes | Batch | Executions/s (median) | Windows, per round | Failed "
        "| Queue depth (min-median-max) "
        "| Devhost CPU | Azurite CPU | PostgreSQL CPU | Feeder (this script) | Pipeline, all "
        "| Rest of the machine | Idle |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        windows = " / ".join(", ".join(f"{rate:.0f}" for rate in rates) for rates in run.rounds)
        cells = " | ".join(f"{run.cores(kind):.2f} ({run.ms(kind):.2f} ms)" for kind in PIPELINE)
        spent, ceiling = run.ceiling(cpus)
        lines.append(
            f"| {run.processes} | {run.batch} | **{run.rate:.0f}** | {windows} | {run.failed} "
            f"| {_depth(run)} | {cells} | "
            f"{spent:.1f} ms (up to {ceiling:.0f}/s on {cpus} cores) | {run.cores('other'):.2f} | "
            f"{run.idle(cpus):.2f} |"
        )
    return lines


def _profile_lines(title: str, summary: Summary) -> list[str]:
    lines = [title, "", "| Package | Share of its CPU |", "|---|---|"]
    lines += [f"| {name} | {share * 100:.1f} % |" for name, share in summary.shares[:10]]
    if summary.work:
        lines += ["", "| Work (inclusive) | Share of its CPU |", "|---|---|"]
        lines += [f"| {name} | {share * 100:.1f} % |" for name, share in summary.work]
    lines += ["", "<details><summary>Top functions by own time</summary>", "", "```", summary.top, "```"]
    return [*lines, "", "</details>", ""]


def _profiles(profiles: Profiles | None, problem: str | None) -> list[str]:
    if profiles is None:
        return [f"Profiles: not taken ({problem}); the CPU per process kind above stands for them.", ""]
    host, azurite = profiles.host, profiles.azurite
    lines = _profile_lines(
        f"**Profile of one devhost** (cProfile in every thread, thread CPU clock; {host.cpu_s:.1f} s of CPU, "
        f"{profiles.rate:.0f} executions/s: the profiler slows the host, so its shares, not its rate, are "
        "the point).",
        host,
    )
    if azurite is None:
        return [*lines, "Azurite's profile was not written (its process did not shut down cleanly).", ""]
    return lines + _profile_lines(
        f"**Profile of Azurite** over the same span (`node --cpu-prof`, 1 ms samples; {azurite.cpu_s:.1f} s "
        "busy, idle left out).",
        azurite,
    )


@dataclass(frozen=True)
class Outcome:
    """Everything a run of the benchmark measured, for the report."""

    runs: list[Run]
    order: list[Config]
    depth: int
    profiles: Profiles | None
    problem: str | None  #: why there are no profiles
    pauses: list[Pause]
    total_s: float


def report(outcome: Outcome) -> str:
    cpus = psutil.cpu_count() or 2
    runs = outcome.runs
    three = max(
        (run for run in runs if run.processes == 3), key=lambda run: (run.batch, run.rate), default=runs[-1]
    )
    lines = [
        START,
        "## End to end: devhost + Azurite (`make bench-e2e`)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.e2e` in "
        f"{outcome.total_s:.0f} s on {cpus} CPUs shared with other work. Trivial query on PostgreSQL (the "
        f"monitoring database is the source), {KPIS} KPIs, `MaxParallelKpis` 50, host.json as shipped "
        f"(batchSize {QUEUES.batch_size} + newBatchThreshold {QUEUES.new_batch_threshold} in flight per "
        "host), a fresh Azurite in memory per round. A feeder thread plays the scheduler (its "
        f"threads at nice {FEEDER_NICE}, so that the hosts never wait for it): it keeps "
        f"{outcome.depth} messages' worth of executions unfinished (queued in the database and sent in "
        "base64 messages of `batch` ids each, as the scheduler packs them with `ExecutionBatchSize`; batch 1 "
        "is batching off, one message per execution; or running), topping up every 50 ms. Rounds "
        f"(processes x batch) ordered {', '.join(f'{p}x{b}' for p, b in outcome.order)}; "
        "rate = growth of succeeded executions over fixed windows after a warm-up, median of the windows. "
        "CPU over the windows in cores (1.00 = one core busy) and in ms per execution; PostgreSQL = the "
        "backends of the scratch database; the feeder's sends are Azurite's work as the scheduler's would "
        "be.",
        "",
        f"**Target: at least {TARGET:.0f} executions/s with 3 processes (batch {three.batch}): "
        f"{'PASS' if three.rate >= TARGET else 'FAIL'} ({three.rate:.0f}/s).**",
        "",
        *_table(runs, cpus),
        "",
        f"**Verdict** (3 processes, batch {three.batch}): {verdict(three, cpus)}",
    ]
    for run in (run for run in runs if run is not three):
        plural = "es" if run.processes > 1 else ""
        lines += ["", f"With {run.processes} process{plural}, batch {run.batch}: {verdict(run, cpus)}"]
    lines += [
        "",
        f"Rule: the feeder limits when the queue is below the hosts' in-flight capacity in more than "
        f"{STARVED:.0%} of the samples; else a single-threaded process (Azurite's event loop; a devhost, "
        f"held to a core by the GIL) at {SATURATED} of a core or more does; else, with the machine at "
        f"{MACHINE_BUSY:.0%} of its cores or more, other work when it took more of them than the "
        "pipeline, else the pipeline's component with the most CPU per execution; else the in-flight cap "
        "and latency do.",
        "",
        *_pauses(outcome.pauses),
        *_profiles(outcome.profiles, outcome.problem),
        END,
    ]
    return "\n".join(lines) + "\n"


def _pauses(pauses: list[Pause]) -> list[str]:
    if len(pauses) < 2 or min(pause.cpu_s for pause in pauses) <= 0:
        return []
    low, high = pauses[0], pauses[-1]
    exponent = math.log(high.cpu_s / low.cpu_s) / math.log(high.messages / low.messages)
    minute = int(TARGET * 60)
    projected = high.cpu_s * (minute / high.messages) ** exponent
    measured = "; ".join(
        f"after {pause.messages:,} messages it answered nothing for {pause.longest_s:.1f} s "
        f"({pause.cpu_s:.1f} s of CPU)"
        for pause in pauses
    )
    return [
        "**Why each round has a fresh Azurite.** In memory (`--inMemoryPersistence`, as the tests start "
        "it) Azurite keeps one extent per message and removes the unreferenced ones in a garbage collection "
        f"a minute after the previous one, which blocks it. Timed side by side: {measured}. Its CPU grows as "
        f"the number of messages to the power {exponent:.1f}, so at {TARGET:.0f} executions/s ({minute:,} "
        f"messages a minute) each collection would take about {projected:.0f} s of its minute "
        "(extrapolated): in memory, Azurite cannot hold the target for more than a minute, and each round "
        "here ends before its first collection.",
        "",
    ]


def write_section(path: Path, section: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, _, rest = current.partition(START)
        _, _, tail = rest.partition(END)
        tail = tail[1:] if tail.startswith("\n") else tail
        path.write_text(head + section + tail, encoding="utf-8")
    else:
        separator = (
            "" if not current or current.endswith("\n\n") else ("\n" if current.endswith("\n") else "\n\n")
        )
        path.write_text(current + separator + section, encoding="utf-8")


def rounds(counts: list[Config], repeats: int) -> list[Config]:
    """The configurations in order: forward, then backward, alternately (1, 3, 3, 1 for two rounds)."""
    return list(itertools.chain.from_iterable(counts[:: 1 if n % 2 == 0 else -1] for n in range(repeats)))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    began = time.monotonic()
    configs = [
        (int(count), int(batch))
        for batch in args.batch_sizes.split(",")
        for count in args.processes.split(",")
    ]
    order = rounds(configs, args.rounds)
    with Scratch("postgresql") as scratch, tempfile.TemporaryDirectory(prefix="mgrid-e2e-") as tmp:
        url, engine = scratch.monitoring("e2e")
        ids = seed_kpis(engine, KPIS, sql=TRIVIAL_SQL, prefix="e2e", next_run_at=[None] * KPIS)
        bench = Bench(url, engine, Path(tmp), ids)
        try:
            runs = measure_all(bench, order, args)
            profiles: Profiles | None = None
            problem: str | None = "--no-profile"
            if not args.no_profile:
                bench.batch = max(batch for _, batch in order)
                try:
                    profiles, problem = profile(bench, depth=args.depth, seconds=8.0), None
                except (OSError, RuntimeError) as error:
                    problem = str(error)
        finally:
            bench.close()
            engine.dispose()
        pauses = [] if args.no_gc_probe else memory_gc_pauses(Path(tmp), GC_PROBE)
    outcome = Outcome(runs, order, args.depth, profiles, problem, pauses, time.monotonic() - began)
    section = report(outcome)
    write_section(args.output, section)
    sys.stdout.write(section)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--processes", default="1,3", help="host process counts, comma separated")
    parser.add_argument(
        "--batch-sizes", default="1,30", help="ExecutionBatchSize values, comma separated (1: batching off)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds per configuration, alternated")
    parser.add_argument("--depth", type=int, default=300, help="unfinished executions the feeder keeps")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the first success")
    parser.add_argument("--windows", type=int, default=3, help="windows per round")
    parser.add_argument("--window", type=float, default=4.0, help="seconds per window")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--no-gc-probe", action="store_true", help="skip timing in-memory Azurite's collection"
    )
    return parser


def measure_all(bench: Bench, order: list[Config], args: argparse.Namespace) -> list[Run]:
    """Every round in `order`, each against a fresh Azurite; the runs per (process count, batch size)."""
    runs = {(count, batch): Run(processes=count, batch=batch) for count, batch in order}
    for number, (count, batch) in enumerate(order):
        with azurite(bench.workdir / f"azurite-{number}") as service:
            bench.use(service.connection)
            run = measure(
                bench,
                psutil.Process(service.pid),
                count,
                batch=batch,
                depth=args.depth,
                warmup=args.warmup,
                windows=args.windows,
                window=args.window,
            )
        _progress(run)
        runs[(count, batch)].add(run)
    for run in runs.values():
        run.cpu["other"] = max(0.0, run.busy_s - sum(run.cpu.values()))
    return list(runs.values())


def _progress(run: Run) -> None:
    sys.stdout.write(
        f"{run.processes} process(es), batch {run.batch}: {run.rate:.0f}/s "
        f"{[round(rate) for rate in run.rounds[0]]}; depth "
        f"{_depth(run)}; cores devhost {run.cores('devhost'):.2f} azurite {run.cores('azurite'):.2f} "
        f"postgres {run.cores('postgres'):.2f} feeder {run.cores('benchmark'):.2f} busy {run.busy:.2f}\n"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())

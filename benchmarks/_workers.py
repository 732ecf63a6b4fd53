"""Running the production executor for a fixed window: on threads of this process, or in worker processes
(spawned, each with its own engines and runner, as separate Functions worker processes would be).

Each thread has its own lease owner and takes queued execution ids from a shared queue until the window
closes. CPU is user + system time of the process(es) that ran the executors; PostgreSQL's is measured by
`server_stopwatch` over the same window (`database_stopwatch`: only the backends of one database).
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

from benchmarks._databases import admin_url
from benchmarks._executor import BATCH, THREADS, settings
from shared.db.engine import create_monitoring_engine
from shared.services.execution import Executor
from shared.sources import SourceRunner

_TICKS = os.sysconf("SC_CLK_TCK")
Window = tuple[float, float, float]  #: (executions finished, wall seconds, client CPU seconds)


def run_threads(
    executor: Executor,
    pending: queue.SimpleQueue[uuid.UUID],
    threads: int,
    seconds: float,
    *,
    must_fill: bool,
    batch: int = 1,
) -> Window:
    """`threads` threads running executions from `pending` for `seconds`, `batch` ids at a time (a message's
    worth: `execute_batch`; 1 is `execute`, a message per execution)."""
    stop = threading.Event()
    done = [0] * threads
    errors: list[BaseException] = []

    def work(number: int) -> None:
        owner = f"bench-{os.getpid()}-{number}"
        try:
            while not stop.is_set():
                ids = _take(pending, batch)
                if not ids:
                    return
                if batch == 1:
                    reports = [executor.execute(ids[0], owner=owner)]
                else:
                    reports = executor.execute_batch(ids, owner=owner)
                for report in reports:
                    if report.deferred:
                        pending.put(report.execution_id)
                    elif report.status != "succeeded":
                        raise RuntimeError(
                            f"execution {report.execution_id} ended {report.status}: {report.error}"
                        )
                    else:
                        done[number] += 1
        except BaseException as error:  # re-raised by the caller's thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,), name=f"executor-{n}") for n in range(threads)]
    cpu, wall = time.process_time(), time.perf_counter()
    for worker in workers:
        worker.start()
    stop.wait(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    measured = (float(sum(done)), time.perf_counter() - wall, time.process_time() - cpu)
    if errors:
        raise errors[0]
    if must_fill and pending.empty():
        raise RuntimeError("the queue ran dry inside the window: seed more executions")
    return measured


def _take(pending: queue.SimpleQueue[uuid.UUID], count: int) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    while len(ids) < count:
        try:
            ids.append(pending.get_nowait())
        except queue.Empty:
            break
    return ids


def run_processes(
    urls: tuple[str, str],
    ids: list[uuid.UUID],
    *,
    processes: int,
    threads: int,
    seconds: float,
    batch: int = 1,
) -> tuple[float, float, float, float]:
    """`processes` spawned workers, each with `threads` threads over its share of `ids`, started together
    once all are connected and warm: (executions, longest window s, CPU s of all workers, server CPU s)."""
    context = multiprocessing.get_context("spawn")
    ready, start, finish = context.Barrier(processes + 1), context.Event(), context.Event()
    results: multiprocessing.Queue[Any] = context.Queue()
    shares = [[str(execution_id) for execution_id in ids[n::processes]] for n in range(processes)]
    workers = [
        context.Process(
            target=_worker, args=(urls, shares[n], threads, seconds, batch, (ready, start, finish), results)
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        try:
            ready.wait(timeout=120)
        except threading.BrokenBarrierError:
            failure = results.get(timeout=30)
            raise RuntimeError(f"an executor process failed: {failure[1]}") from None
        server = server_stopwatch()
        start.set()
        outcomes = [results.get(timeout=seconds + 120) for _ in workers]
        server_s = server()  # before the workers disconnect: their backends' CPU goes with them
    finally:
        finish.set()
        for worker in workers:
            worker.join(timeout=30)
    failures = [outcome[1] for outcome in outcomes if outcome[0] != "ok"]
    if failures:
        raise RuntimeError(f"an executor process failed: {failures[0]}")
    return (
        sum(o[1] for o in outcomes),
        max(o[2] for o in outcomes),
        sum(o[3] for o in outcomes),
        server_s,
    )


def _worker(
    urls: tuple[str, str],
    ids: list[str],
    threads: int,
    seconds: float,
    batch: int,
    signals: tuple[Barrier, Event, Event],
    results: multiprocessing.Queue[Any],
) -> None:
    ready, start, finish = signals
    try:
        engine = create_monitoring_engine(urls[0])
        runner = SourceRunner({"main": urls[1]}, pool_size=threads * batch)
        executor = Executor(engine, runner, settings(max_parallel_kpis=THREADS * BATCH))
        pending: queue.SimpleQueue[uuid.UUID] = queue.SimpleQueue()
        for execution_id in ids:
            pending.put(uuid.UUID(execution_id))
        run_threads(executor, pending, threads, 0.3, must_fill=True, batch=batch)  # connect and warm up
        ready.wait(timeout=120)
        start.wait(timeout=120)
        results.put(("ok", *run_threads(executor, pending, threads, seconds, must_fill=True, batch=batch)))
        finish.wait(timeout=120)
        runner.dispose()
        engine.dispose()
    except BaseException as error:
        ready.abort()
        results.put(("error", f"{type(error).__name__}: {error}"))


def server_stopwatch() -> Callable[[], float]:
    """Starts counting the CPU of the benchmarked PostgreSQL server's processes (postmaster, backends,
    background workers: not those of another cluster on the machine, such as a soak's); the function
    returned gives the CPU seconds they used since. Per process, so that one exiting meanwhile only loses
    its share instead of making the sum negative."""
    postmaster = _postmaster()
    before = _postgres_cpu(postmaster)

    def since() -> float:
        now = _postgres_cpu(postmaster)
        return sum(spent - before.get(pid, 0) for pid, spent in now.items()) / 1e9

    return since


def _postmaster() -> int | None:
    return _postmaster_of(admin_url())


@functools.cache
def _postmaster_of(url: str) -> int | None:
    """The postmaster of the server at `url` (the parent of a backend), or None when it is not a process
    of this machine."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            backend = int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)
            try:
                stat = Path(f"/proc/{backend}/stat").read_text()
            except OSError:
                return None
    finally:
        engine.dispose()
    return int(stat.rpartition(")")[2].split()[1])


def database_stopwatch(engine: Engine) -> Callable[[], float]:
    """Like `server_stopwatch`, for the backends connected to `engine`'s database only, so that other work
    on a shared server is left out. A backend that connects meanwhile counts in full."""

    def backends() -> set[int]:
        with engine.connect() as connection:
            pids = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            ).scalars()
            return {int(pid) for pid in pids}

    started = backends()
    before = {pid: spent for pid, spent in _postgres_cpu().items() if pid in started}

    def since() -> float:
        now = backends()
        spent = (ns - before.get(pid, 0) for pid, ns in _postgres_cpu().items() if pid in now)
        return sum(spent) / 1e9

    return since


def cpu_ns(pid: int) -> int:
    """The CPU time process `pid` has used so far, in nanoseconds, all its threads: the scheduler's own
    account (/proc/<pid>/task/*/schedstat), not utime + stime, which count in clock ticks of 10 ms: over a
    5 s window of a few hundred executions, a tick per process (a pool of backends) was +-0.05 ms per
    execution. Falls back to the ticks where schedstat is missing. OSError when the process is gone."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    if total:
        return total
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _TICKS  # utime, stime


def _postgres_cpu(postmaster: int | None = None) -> dict[int, int]:
    """CPU nanoseconds of each `postgres` process (of `postmaster` and its children only, when given)."""
    spent = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name, _, rest = stat.partition(" (")[2].partition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            pid = int(entry.name)
            if postmaster is None or postmaster in (pid, int(fields[1])):  # fields[1]: the parent
                with contextlib.suppress(OSError):  # gone meanwhile
                    spent[pid] = cpu_ns(pid)
    return spent

"""End to end: executions per second through `python -m devhost` and Azurite, with 1 and 3 host processes.

`python -m benchmarks.e2e [--output benchmarks/RESULTS.md]` (`make bench-e2e`; about 3 minutes). Needs
PostgreSQL on 127.0.0.1:5432 (user postgres, trust; another server: `MGRID_BENCH_POSTGRES_URL`) and Azurite
from `npm ci`.

A scratch monitoring database (migrated like production) is also the source `main`; its KPIs run the trivial
`SELECT 'k' AS key, 1 AS current_value`, so the rate measures the pipeline and its queue, not a query. Before
each configuration, executions are queued directly in `kpi_executions` (as the scheduler would, `enqueued_at`
now so its resend sweep leaves them alone; no KPI is due, so its ticks are harmless) and one base64 message
per execution is sent to `kpi-executions` on a fresh Azurite. Then 1 or 3 devhosts (`MaxParallelKpis` 50, the
maximum, so slots never defer) consume them; the DB is polled once per second and the rate is the growth of
succeeded executions over fixed windows after a warm-up (median of the windows). CPU is read from /proc over
the same span per process kind: devhosts, Azurite's node process, PostgreSQL; the machine's idle time too.
Last, one devhost runs under cProfile in every thread (`_e2e_profiled.py`, thread CPU clock) to show where a
host's own CPU goes. The verdict names the component that saturates. The section is written between
`<!-- e2e:start -->` and `<!-- e2e:end -->` in RESULTS.md; the rest of the file is left as it is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from sqlalchemy import Engine, text

from benchmarks._databases import Scratch, bulk_insert
from benchmarks._seed import TRIVIAL_SQL, seed_kpis
from benchmarks._workers import server_stopwatch
from shared.db.tables import kpi_executions
from tests.azurite import azurite_queue

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- e2e:start -->", "<!-- e2e:end -->"
QUEUE = "kpi-executions"
KPIS = 200
TARGET = 100.0  #: executions per second with 3 processes
_TICKS = os.sysconf("SC_CLK_TCK")
_now = datetime.now(UTC)
SLOT_BASE = _now.replace(second=0, microsecond=0) - timedelta(minutes=_now.minute % 5)


@dataclass
class Run:
    processes: int
    queued: int = 0
    send_per_s: float = 0.0
    rates: list[float] = field(default_factory=list)
    wall: float = 0.0
    executions: int = 0  #: succeeded over the measured span
    cpu: dict[str, float] = field(default_factory=dict)  #: CPU seconds per kind over the span
    busy: float = 0.0  #: machine CPU used over the span, in cores
    failed: int = 0
    exhausted: bool = False

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def cores(self, kind: str) -> float:
        return self.cpu.get(kind, 0.0) / self.wall if self.wall else 0.0

    def ms(self, kind: str) -> float:
        return self.cpu.get(kind, 0.0) * 1000 / self.executions if self.executions else 0.0


@dataclass
class Profiled:
    rate: float
    shares: list[tuple[str, float]]
    top: str


class Bench:
    def __init__(self, url: str, engine: Engine, storage: str, workdir: Path, kpi_ids: list[int]) -> None:
        self.url, self.engine, self.storage, self.workdir = url, engine, storage, workdir
        self.kpi_ids = kpi_ids
        self._next = 0  #: slots handed out so far, per KPI round robin
        self.settings = workdir / "settings.json"
        self.settings.write_text(json.dumps({"Values": {}}), encoding="utf-8")
        QueueClient.from_connection_string(storage, QUEUE).create_queue()

    def stock(self, count: int) -> tuple[int, float]:
        """Queue `count` executions and send their messages; the send rate Azurite accepted."""
        now = datetime.now(UTC)
        rows, ids = [], []
        for index in range(self._next, self._next + count):
            execution_id = uuid.uuid4()
            kpi_id = self.kpi_ids[index % len(self.kpi_ids)]
            slot = SLOT_BASE - timedelta(minutes=5 * (index // len(self.kpi_ids)))
            rows.append(
                {
                    "id": execution_id,
                    "kpi_id": kpi_id,
                    "slot": slot,
                    "triggered_by": "scheduled",
                    "status": "queued",
                    "attempt": 0,
                    "created_at": now,
                    "enqueued_at": now,
                }
            )
            ids.append(execution_id)
        self._next += count
        bulk_insert(self.engine, kpi_executions, rows)
        started = time.monotonic()
        chunks = [ids[start::16] for start in range(16)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(self._send, chunks))
        return count, count / (time.monotonic() - started)

    def _send(self, ids: list[uuid.UUID]) -> None:
        client = QueueClient.from_connection_string(
            self.storage, QUEUE, message_encode_policy=TextBase64EncodePolicy()
        )
        for execution_id in ids:
            client.send_message(json.dumps({"execution_id": str(execution_id)}))

    def counts(self) -> tuple[int, int, int]:
        """(succeeded, failed or timed out, queued)."""
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT count(*) FILTER (WHERE status = 'succeeded'),"
                    " count(*) FILTER (WHERE status NOT IN ('succeeded', 'queued', 'running')),"
                    " count(*) FILTER (WHERE status = 'queued') FROM kpi_executions"
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "ConnectionStrings__Monitoring": self.url,
            "ConnectionStrings__Sources__main": self.url,
            "AzureWebJobsStorage": self.storage,
            "Worker__KpiMonitoring__MaxParallelKpis": "50",
            "PYTHONUNBUFFERED": "1",
        }

    @contextmanager
    def hosts(
        self, count: int, *, module: str = "devhost", extra: dict[str, str] | None = None
    ) -> Iterator[list[psutil.Process]]:
        """`count` devhost processes on free ports until the block ends; SIGTERM, then wait for the drain."""
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for number in range(count):
                port = _free_port()
                log = (self.workdir / f"{module}-{count}-{number}.log").open("wb")
                processes.append(
                    subprocess.Popen(  # noqa: S603 -- our own interpreter and module
                        [
                            sys.executable,
                            "-m",
                            module,
                            "--port",
                            str(port),
                            "--settings-file",
                            str(self.settings),
                            "--drain-timeout",
                            "15",
                        ],
                        cwd=ROOT,
                        env={**self.environment(), **(extra or {})},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
                log.close()
                _wait_for(port, processes[-1])
            yield [psutil.Process(process.pid) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def measure(bench: Bench, processes: int, *, stock: int, warmup: float, windows: int, window: float) -> Run:
    run = Run(processes=processes)
    run.queued, run.send_per_s = bench.stock(stock)
    azurite = _azurite_process()
    with bench.hosts(processes) as hosts:
        _wait_for_progress(bench, start=bench.counts()[0])
        time.sleep(warmup)
        clocks = _cpu_clocks({"devhost": hosts, "azurite": [azurite], "benchmark": [psutil.Process()]})
        machine = psutil.cpu_times()
        server = server_stopwatch()
        started = time.monotonic()
        first, failed_before, _ = bench.counts()
        marks = [(started, first)]
        for number in range(1, windows + 1):
            while time.monotonic() < started + number * window:
                time.sleep(1.0)
                _done, _failed, queued = bench.counts()
                if queued == 0:
                    run.exhausted = True
            marks.append((time.monotonic(), bench.counts()[0]))
        run.cpu = {kind: clock() for kind, clock in clocks.items()}
        run.cpu["postgres"] = server()
        after = psutil.cpu_times()
        run.busy = (_busy(after) - _busy(machine)) / (marks[-1][0] - started)
        run.wall = marks[-1][0] - started
        run.cpu["other"] = max(0.0, run.busy * run.wall - sum(run.cpu.values()))
        run.executions = marks[-1][1] - first
        run.failed = bench.counts()[1] - failed_before
        run.rates = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(marks)]
    return run


def profile(bench: Bench, *, stock: int, seconds: float, top: int = 18) -> Profiled:
    bench.stock(stock)
    out = bench.workdir / "devhost.prof"
    with bench.hosts(1, module="benchmarks._e2e_profiled", extra={"E2E_PROFILE_OUT": str(out)}):
        start = _wait_for_progress(bench, start=bench.counts()[0])
        time.sleep(2.0)
        first, began = bench.counts()[0], time.monotonic()
        time.sleep(seconds)
        rate = (bench.counts()[0] - first) / (time.monotonic() - began)
    del start
    stats = pstats.Stats(str(out))
    packages: dict[str, float] = defaultdict(float)
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        packages[_package(filename, name)] += row[2]
    total = sum(packages.values()) or 1.0
    shares = sorted(((name, own / total) for name, own in packages.items()), key=lambda pair: -pair[1])
    import io

    buffer = io.StringIO()
    pstats.Stats(str(out), stream=buffer).sort_stats("tottime").print_stats(top)
    lines = buffer.getvalue().splitlines()
    begin = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    listing = "\n".join(_short(line) for line in lines[begin:] if line.strip())
    return Profiled(rate=rate, shares=shares, top=listing)


def _package(filename: str, name: str) -> str:
    if filename == "~":
        if "socket" in name or "ssl" in name or "select" in name or "poll" in name:
            return "sockets (C)"
        return "other C built-ins (incl. psycopg C)"
    for marker, label in (
        ("/sqlalchemy/", "sqlalchemy"),
        ("/psycopg/", "psycopg (Python part)"),
        ("/azure/", "azure SDK (queue client)"),
        ("/urllib3/", "urllib3 / requests (HTTP to Azurite)"),
        ("/requests/", "urllib3 / requests (HTTP to Azurite)"),
        ("/http/client", "http.client (HTTP to Azurite)"),
        ("/logging/", "logging"),
        ("/devhost/", "devhost"),
        ("/shared/", "shared/ (ours)"),
        ("/pydantic", "pydantic"),
        ("/azure_functions", "azure.functions"),
    ):
        if marker in filename:
            return label
    return "stdlib, other"


def _short(line: str) -> str:
    for prefix in ("site-packages/", f"{ROOT}/", "/lib/python3"):
        if prefix in line:
            head, _, tail = line.partition(prefix)
            line = head[: head.rfind(" ") + 1] + tail
    return line


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


def _azurite_process() -> psutil.Process:
    for process in psutil.Process().children(recursive=True):
        try:
            if any("azurite" in part for part in process.cmdline()):
                return process
        except psutil.Error:
            continue
    raise RuntimeError("Azurite's process was not found among this process's children")


def _wait_for_progress(bench: Bench, *, start: int, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bench.counts()[0] > start:
            return time.monotonic()
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


def verdict(run: Run) -> str:
    azurite, hosts, postgres = run.cores("azurite"), run.cores("devhost"), run.cores("postgres")
    cpus = psutil.cpu_count() or 2
    if azurite >= 0.85:
        return (
            f"**Azurite limits**: its single-threaded Node process uses {azurite:.2f} of a core "
            f"({run.ms('azurite'):.2f} ms of CPU per execution), at its ceiling, while the devhosts use "
            f"{hosts:.2f} cores."
        )
    if hosts / run.processes >= 0.85:
        return (
            f"**Our code limits**: each devhost process uses {hosts / run.processes:.2f} of a core (one "
            f"Python process is held to one core by the GIL), {run.ms('devhost'):.2f} ms per execution."
        )
    if run.busy >= 0.9 * cpus:
        ranked = sorted(
            (("the devhosts (our code)", hosts), ("Azurite", azurite), ("PostgreSQL", postgres)),
            key=lambda pair: -pair[1],
        )
        return (
            f"**The machine's {cpus} cores limit** ({run.busy:.2f} busy); no single process is pinned. "
            f"Largest consumer: {ranked[0][0]} at {ranked[0][1]:.2f} cores, then {ranked[1][0]} at "
            f"{ranked[1][1]:.2f} and {ranked[2][0]} at {ranked[2][1]:.2f}; the rest of the machine "
            f"(other processes on this shared host) took {run.cores('other'):.2f}."
        )
    return (
        f"**Neither CPU nor Azurite limits** ({run.busy:.2f} of {cpus} cores busy, "
        f"Azurite at {azurite:.2f}): "
        "latency bound, by the in-flight cap per host (batchSize + newBatchThreshold) and round trips."
    )


def report(runs: list[Run], profiled: Profiled | None, profile_problem: str | None, total: float) -> str:
    three = next((run for run in runs if run.processes == 3), runs[-1])
    passed = three.rate >= TARGET
    lines = [
        START,
        "## End to end: devhost + Azurite (`make bench-e2e`)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m benchmarks.e2e` in {total:.0f} s, "
        f"{psutil.cpu_count()} CPUs. Trivial query on PostgreSQL (the monitoring database is the source), "
        f"{KPIS} KPIs, `MaxParallelKpis` 50, host.json as shipped (batchSize 8 + newBatchThreshold 4 "
        "in flight per host). Executions queued directly with one base64 message each on a fresh in-memory "
        f"Azurite before the hosts start ({runs[0].queued} per configuration, the backlog Azurite holds); "
        "rate = growth of succeeded executions, polled each second, median of the windows after a warm-up. "
        "CPU over the measured span, in cores (1.00 = one core busy) and in ms per execution.",
        "",
        f"**Target: at least {TARGET:.0f} executions/s with 3 processes: "
        f"{'PASS' if passed else 'FAIL'} ({three.rate:.0f}/s).**",
        "",
        "| Processes | Executions/s (median) | Windows | Failed | Devhost CPU | Azurite CPU | PostgreSQL CPU "
        "| This script | Other (rest of the machine) | Machine busy | Azurite accepted sends |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        windows = ", ".join(f"{rate:.0f}" for rate in run.rates)
        note = " (stock ran out)" if run.exhausted else ""
        lines.append(
            f"| {run.processes} | **{run.rate:.0f}**{note} | {windows} | {run.failed} | "
            f"{run.cores('devhost'):.2f} ({run.ms('devhost'):.2f} ms) | "
            f"{run.cores('azurite'):.2f} ({run.ms('azurite'):.2f} ms) | "
            f"{run.cores('postgres'):.2f} ({run.ms('postgres'):.2f} ms) | {run.cores('benchmark'):.2f} | "
            f"{run.cores('other'):.2f} | {run.busy:.2f} | "
            f"{run.send_per_s:.0f}/s (16 threads) |"
        )
    lines += ["", "**Verdict** (3 processes): " + verdict(three)]
    one = next((run for run in runs if run.processes == 1), None)
    if one is not None:
        lines.append("")
        lines.append("With 1 process: " + verdict(one))
    lines.append("")
    if profiled is not None:
        lines += [
            f"**Profile of one devhost** (cProfile in every thread, thread CPU clock; {profiled.rate:.0f} "
            "executions/s under the profiler): own time by package.",
            "",
            "| Package | Share of the host's CPU |",
            "|---|---|",
        ]
        lines += [f"| {name} | {share * 100:.1f} % |" for name, share in profiled.shares[:10]]
        lines += [
            "",
            "<details><summary>Top functions by own time</summary>",
            "",
            "```",
            profiled.top,
            "```",
            "",
            "</details>",
        ]
    else:
        lines.append(
            f"Profile: not taken ({profile_problem}); the per-process CPU shares above stand for it."
        )
    lines += [
        "",
        "py-spy was not available (no package index reachable from the benchmark environment), so the "
        "profile uses cProfile inside the host (`benchmarks/_e2e_profiled.py`), which slows it down; its "
        "shares, not its rate, are the point.",
        END,
    ]
    return "\n".join(lines) + "\n"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--processes", default="1,3", help="host process counts, comma separated")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds after the first success")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--window", type=float, default=4.0, help="seconds per window")
    parser.add_argument("--stock", type=int, default=2500, help="executions queued per configuration")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args(argv)
    began = time.monotonic()
    runs: list[Run] = []
    profiled, problem = None, None
    with Scratch("postgresql") as scratch, tempfile.TemporaryDirectory(prefix="mgrid-e2e-") as tmp:
        workdir = Path(tmp)
        url, engine = scratch.monitoring("e2e")
        try:
            ids = seed_kpis(engine, KPIS, sql=TRIVIAL_SQL, prefix="e2e", next_run_at=[None] * KPIS)
            with azurite_queue(workdir) as storage:
                bench = Bench(url, engine, storage, workdir, ids)
                for count in (int(part) for part in args.processes.split(",")):
                    run = measure(
                        bench,
                        count,
                        stock=args.stock,
                        warmup=args.warmup,
                        windows=args.windows,
                        window=args.window,
                    )
                    sys.stdout.write(
                        f"{count} process(es): {run.rate:.0f}/s {[round(r) for r in run.rates]}; "
                        f"cores devhost {run.cores('devhost'):.2f} azurite {run.cores('azurite'):.2f} "
                        f"postgres {run.cores('postgres'):.2f} "
                        f"other {run.cores('other'):.2f} busy {run.busy:.2f}\n"
                    )
                    sys.stdout.flush()
                    runs.append(run)
                if not args.no_profile:
                    try:
                        profiled = profile(bench, stock=3000, seconds=8.0)
                    except (OSError, RuntimeError) as error:
                        problem = str(error)
                else:
                    problem = "--no-profile"
        finally:
            engine.dispose()
    section = report(runs, profiled, problem, time.monotonic() - began)
    write_section(args.output, section)
    sys.stdout.write(section)
    return 0 if runs else 1


if __name__ == "__main__":
    raise SystemExit(main())

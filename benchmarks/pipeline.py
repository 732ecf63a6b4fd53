"""Benchmarks of the KPI pipeline on SQLite and PostgreSQL; writes `benchmarks/RESULTS.md`.

Run by `make bench` (not by the tests):

    .venv/bin/python -m benchmarks.pipeline --query-exporter .venv-bench/bin/query-exporter

1. Scheduler tick: 10,000 KPIs all due; 1,000 due of 100,000 (and of 10,000, the control).
2. Executor overhead: the production `Executor.execute` against a bare loop (same query, one INSERT),
   alternated in rounds, for a realistic aggregate query and a trivial one; statements and round trips per
   phase; wall time per phase; a CPU-time profile.
3. Throughput (PostgreSQL): executions per second on 4 threads, alternated in rounds with query-exporter
   running the same SQL, with client and server CPU per execution.

Every database is a scratch one (see `benchmarks._databases`), migrated with `shared.db.migrate.upgrade`
and removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from benchmarks import _executor, _exporter, _passes, _scheduler, _throughput
from benchmarks._databases import BACKENDS, Scratch, admin_url
from benchmarks._machine import machine
from benchmarks._report import Results, merge, render
from tests.faults.cluster import Cluster, binaries

log = logging.getLogger("bench")
KINDS = ("realistic", "trivial")


@dataclass(frozen=True)
class Sizes:
    tick_rounds: int = 5
    tick_cases: dict[str, tuple[int, int]] | None = None  #: None: the real ones
    rounds: int = 10
    per_round: int = 60
    counted: int = 40
    timed: int = 200
    profiled: int = 300
    throughput_rounds: int = 3


QUICK = Sizes(
    tick_rounds=2,
    tick_cases={"10k all due": (1_000, 1_000), "1k due of 100k": (2_000, 100), "1k due of 10k": (1_000, 100)},
    rounds=2,
    per_round=10,
    counted=5,
    timed=20,
    profiled=20,
    throughput_rounds=1,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated: sqlite,postgresql")
    parser.add_argument("--query-exporter", type=Path, help="query-exporter's executable (in its own venv)")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that everything runs")
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated queries: realistic,trivial (all by default)"
    )
    parser.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the throughput side by side (PostgreSQL; with --kinds trivial, a short loop;"
        " write it to another --output)",
    )
    parser.add_argument(
        "--own-cluster",
        action="store_true",
        help="PostgreSQL on a cluster of its own (initdb and pg_ctl from the machine's binaries, autovacuum"
        " off like the shared server), so that server CPU is this benchmark's only",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    exporter: Path | None = args.query_exporter
    if exporter is None or not exporter.exists():
        log.warning("query-exporter not found (%s): the comparison is skipped", exporter or "not given")
    with contextlib.ExitStack() as stack:
        if args.own_cluster and "postgresql" in backends:
            stack.enter_context(_own_cluster())
        return _run(args, argv, backends, exporter)


def _run(args: argparse.Namespace, argv: list[str] | None, backends: list[str], exporter: Path | None) -> int:
    sizes = QUICK if args.quick else Sizes()
    kinds = tuple(kind.strip() for kind in args.kinds.split(",") if kind.strip() in KINDS)
    started = time.monotonic()
    results = Results(
        command=_command(argv),
        started=datetime.now(UTC),
        machine=machine(
            _postgres_version() if "postgresql" in backends else None,
            _exporter.version(exporter) if exporter and exporter.exists() else None,
        ),
    )
    for backend in backends:
        with Scratch(backend) as scratch:
            _run_backend(scratch, sizes, exporter, results, Scope(kinds, args.throughput_only))
    results.duration_s = time.monotonic() - started
    previous = args.output.read_text() if args.output.exists() else None
    args.output.write_text(merge(previous, render(results)))
    log.info("wrote %s in %.0f s", args.output, results.duration_s)
    return 0


@dataclass(frozen=True)
class Scope:
    kinds: tuple[str, ...] = KINDS
    throughput_only: bool = False


def _run_backend(
    scratch: Scratch, sizes: Sizes, exporter: Path | None, results: Results, scope: Scope
) -> None:
    backend = scratch.backend
    if not scope.throughput_only:
        log.info("%s: scheduler tick", backend)
        cases = _scheduler.open_cases(scratch, sizes.tick_cases)
        try:
            _scheduler.measure_ticks(cases, rounds=sizes.tick_rounds)
        finally:
            _scheduler.close(cases)
        results.ticks[backend] = cases
    per_kind = (
        20
        + _executor.BATCH
        + 2 * sizes.rounds * sizes.per_round  # overhead: one message per execution, and batched
        + 3 * (10 + sizes.counted + _executor.BATCH)  # counting: pipeline, bare, batched
        + sizes.timed * 11 // 10
    )
    if scope.throughput_only:
        per_kind = 0
    workload = {
        kind: per_kind + (2 * sizes.profiled if kind == results.profile_kind and per_kind else 0)
        for kind in scope.kinds
    }
    log.info("%s: seeding the executor benchmark", backend)
    bench = _executor.open_bench(scratch, sizes=workload, kpis_per_kind=400)
    try:
        for kind in () if scope.throughput_only else scope.kinds:
            log.info("%s: executor overhead, %s query", backend, kind)
            results.overhead[(backend, kind)] = _executor.measure_overhead(
                bench, kind, rounds=sizes.rounds, per_round=sizes.per_round
            )
            results.counts[(backend, kind)] = _passes.count_statements(bench, kind, executions=sizes.counted)
            results.phase_ms[(backend, kind)] = _passes.phase_times(bench, kind, executions=sizes.timed)
        if not scope.throughput_only and results.profile_kind in scope.kinds:
            log.info("%s: profile", backend)
            results.profiles[backend] = _passes.profile(
                bench, results.profile_kind, executions=sizes.profiled
            )
        if backend == "postgresql":
            with tempfile.TemporaryDirectory(prefix="mgrid-bench-qe-") as workdir:
                for kind in [kind for kind in ("trivial", "realistic") if kind in scope.kinds]:
                    log.info("%s: throughput, %s query", backend, kind)
                    results.throughput.append(
                        _throughput.measure(
                            bench,
                            kind,
                            rounds=sizes.throughput_rounds,
                            exporter=exporter,
                            workdir=Path(workdir),
                        )
                    )
    finally:
        bench.close()


@contextlib.contextmanager
def _own_cluster() -> Iterator[None]:
    """A PostgreSQL cluster for this run, `MGRID_BENCH_POSTGRES_URL` pointing at it meanwhile (spawned
    worker processes inherit it); the shared server when the binaries are missing."""
    found = binaries()
    if found is None:
        log.warning("no PostgreSQL server binaries (initdb, pg_ctl): the shared server at %s", admin_url())
        yield
        return
    cluster = Cluster(found)
    previous = os.environ.get("MGRID_BENCH_POSTGRES_URL")
    try:
        cluster.start("autovacuum=off", "max_connections=200")
        os.environ["MGRID_BENCH_POSTGRES_URL"] = cluster.url()
        log.info("postgresql: a cluster of its own on port %d (%s)", cluster.port, found)
        yield
    finally:
        if previous is None:
            os.environ.pop("MGRID_BENCH_POSTGRES_URL", None)
        else:
            os.environ["MGRID_BENCH_POSTGRES_URL"] = previous
        cluster.destroy()


def _command(argv: list[str] | None) -> str:
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    command = shlex.join([python, "-m", "benchmarks.pipeline", *(sys.argv[1:] if argv is None else argv)])
    return f"make bench    # runs: {command}" if "MAKELEVEL" in os.environ else command


def _postgres_version() -> str:
    engine = create_engine(admin_url())
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())

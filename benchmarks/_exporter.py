"""query-exporter (PyPI), run as a subprocess from the benchmark's own virtualenv, for comparison.

query-exporter runs SQL on intervals and exports the values as Prometheus metrics, persisting nothing. It
is given the same SQL on the same source database: `per_second` copies of the query, each on a 1-second
interval (query parameters, when the SQL has them, are windows one 5-minute slot apart, as the KPIs' are),
with a connection pool as large as the executor's thread count. Its executions are read from its own
`queries_total{status="success"}` counter and its CPU from /proc/<pid>/stat. Between its measuring
windows it is stopped (SIGSTOP), so it never competes with the executor for the two cores.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from benchmarks import _seed
from benchmarks._workers import cpu_ns

SETTLE_S = 2.0  #: after SIGCONT: let the scheduler drop the runs it missed while stopped


class QueryExporter:
    """A running query-exporter; `measure` runs it for a window and reports what it did."""

    def __init__(
        self, binary: Path, url: str, sql: str, *, per_second: int, pool: int, workdir: Path
    ) -> None:
        self.port = _free_port()
        config = workdir / f"query-exporter-{self.port}.yaml"
        config.write_text(json.dumps(_config(url, sql, per_second, pool)))  # JSON is YAML
        self._log = (workdir / f"query-exporter-{self.port}.log").open("w")
        self._process = subprocess.Popen(  # noqa: S603 -- our own venv's binary and config
            [str(binary), "--config", str(config), "-H", "127.0.0.1", "-p", str(self.port), "-L", "error"],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self._wait_ready()
        time.sleep(SETTLE_S)  # its first second runs everything at once
        self.pause()

    def pause(self) -> None:
        os.kill(self._process.pid, signal.SIGSTOP)

    def measure(
        self, seconds: float, stopwatch: Callable[[], Callable[[], float]]
    ) -> tuple[float, float, float, float, float]:
        """Resume for a window of `seconds` (after settling): (successes, errors, wall seconds, its CPU
        seconds, the seconds `stopwatch` measured over the window)."""
        os.kill(self._process.pid, signal.SIGCONT)
        time.sleep(SETTLE_S)
        ok0, failed0 = self._counts()
        cpu0, server, wall0 = self._cpu(), stopwatch(), time.perf_counter()
        time.sleep(seconds)
        ok1, failed1 = self._counts()
        cpu1, server_s, wall1 = self._cpu(), server(), time.perf_counter()
        self.pause()
        return ok1 - ok0, failed1 - failed0, wall1 - wall0, cpu1 - cpu0, server_s

    def close(self) -> None:
        os.kill(self._process.pid, signal.SIGCONT)
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"query-exporter exited with {self._process.returncode}; see {self._log.name}"
                )
            try:
                self._counts()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("query-exporter did not answer on /metrics within 60 s")

    def _counts(self) -> tuple[float, float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        ok = failed = 0.0
        for line in body.splitlines():
            if line.startswith("queries_total{"):
                value = float(line.rsplit(" ", 1)[1])
                if 'status="success"' in line:
                    ok += value
                else:
                    failed += value
        return ok, failed

    def _cpu(self) -> float:
        return cpu_ns(self._process.pid) / 1e9


def version(binary: Path) -> str:
    result = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)  # noqa: S603
    return (result.stdout or result.stderr).strip().splitlines()[-1] if result.returncode == 0 else "unknown"


def _config(url: str, sql: str, per_second: int, pool: int) -> dict[str, object]:
    dsn = make_url(url).render_as_string(hide_password=False)
    queries: dict[str, object] = {}
    for index in range(per_second):
        query: dict[str, object] = {
            "interval": 1,
            "databases": ["source"],
            "metrics": ["current_value"],
            "sql": sql,
        }
        if ":window_start" in sql:
            end = _seed.NOW - (index % 288) * timedelta(minutes=_seed.FREQUENCY_MINUTES)  # the last day
            start = end - timedelta(minutes=60)
            query["parameters"] = [
                {"window_start": start.isoformat(sep=" "), "window_end": end.isoformat(sep=" ")}
            ]
        queries[f"kpi{index}"] = query
    return {
        "databases": {"source": {"dsn": dsn, "connection-pool": {"size": pool, "max-overflow": 0}}},
        "metrics": {"current_value": {"type": "gauge", "labels": ["key"]}},
        "queries": queries,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

"""API latency: `GET /api/kpis` with 1,000 KPIs and 90 days of hourly history on PostgreSQL.

`python -m benchmarks.api [--kpis 1000] [--days 90] [--requests 50] [--output benchmarks/RESULTS.md]`
(`make bench-api`; a few minutes, mostly seeding). Needs PostgreSQL on 127.0.0.1:5432 (another server:
`MGRID_BENCH_POSTGRES_URL`) and Azurite from `npm ci` (the devhost binds the API's queue output).

A scratch monitoring database (migrated like production) gets `--kpis` KPIs, each with one metric and a
history row (value, expected, band, breach) per hour for `--days` days, the executions of the last 30 days
(log retention), its `metric_states` row, and an open alert on every tenth KPI; then `VACUUM ANALYZE`.
`GET /api/kpis` is timed `--requests` times (after 3 warm-up requests) two ways: through the ASGI app in
this process (Starlette's TestClient: routing, validation, queries, JSON), and over HTTP through the
devhost serving the real `function_app` with a function key (adds the socket, `func.HttpRequest`, the
ASGI adapter). The target is a median under 200 ms on PostgreSQL. The query plans are shown. Only the
section between `<!-- api:start -->` and `<!-- api:end -->` in RESULTS.md is rewritten.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from benchmarks._databases import Scratch, bulk_insert, vacuum_analyze
from benchmarks._seed import NOW, TRIVIAL_SQL, seed_kpis
from shared.db.tables import alerts, historical_data, kpi_executions, metric_states

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- api:start -->", "<!-- api:end -->"
TARGET_MS = 200.0
HOUR = timedelta(hours=1)
SEEDED = ("kpis", "historical_data", "kpi_executions", "metric_states", "alerts")
KEY = "bench-function-key"


def seed(engine: Engine, kpis: int, days: int) -> None:
    ids = seed_kpis(engine, kpis, sql=TRIVIAL_SQL, prefix="api", next_run_at=[NOW + HOUR] * kpis)
    slots = [NOW - HOUR * hours for hours in range(days * 24, 0, -1)]
    for kpi_id in ids:
        executions = {slot: uuid.uuid4() for slot in slots}
        bulk_insert(engine, historical_data, [_history(kpi_id, slot, executions[slot]) for slot in slots])
        recent = [slot for slot in slots if slot >= NOW - timedelta(days=30)]
        bulk_insert(engine, kpi_executions, [_execution(kpi_id, slot, executions[slot]) for slot in recent])
    bulk_insert(
        engine,
        metric_states,
        [{"kpi_id": kpi_id, "metric_key": "k", "last_evaluated_at": slots[-1]} for kpi_id in ids],
    )
    bulk_insert(engine, alerts, [_alert(kpi_id) for kpi_id in ids[::10]])


def _history(kpi_id: int, slot: datetime, execution_id: uuid.UUID) -> dict[str, Any]:
    value = 100.0 + (slot.hour % 24)
    return {
        "kpi_id": kpi_id,
        "execution_id": execution_id,
        "metric_key": "k",
        "window_start": slot - HOUR,
        "window_end": slot,
        "value": value,
        "baseline_value": 100.0,
        "deviation_percent": value - 100.0,
        "expected": 100.0,
        "lower": 80.0,
        "upper": 120.0,
        "breach": False,
        "recorded_at": slot,
    }


def _execution(kpi_id: int, slot: datetime, execution_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": execution_id,
        "kpi_id": kpi_id,
        "slot": slot,
        "triggered_by": "scheduled",
        "status": "succeeded",
        "attempt": 1,
        "created_at": slot,
        "started_at": slot,
        "finished_at": slot + timedelta(seconds=1),
        "duration_ms": 1000,
        "metric_count": 1,
    }


def _alert(kpi_id: int) -> dict[str, Any]:
    return {
        "kpi_id": kpi_id,
        "metric_key": "k",
        "kind": "breach",
        "status": "open",
        "severity": "critical",
        "opened_at": NOW - HOUR,
        "last_triggered_at": NOW - HOUR,
        "escalation_level": 0,
        "current_value": 200.0,
    }


def timed(call: Callable[[], httpx.Response], requests: int) -> list[float]:
    """Milliseconds of each of `requests` calls, after three warm-up calls; every answer must be 200."""
    for _ in range(3):
        call().raise_for_status()
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - began) * 1000)
        response.raise_for_status()
    return times


def in_process(engine: Engine, requests: int) -> tuple[list[float], int]:
    from fastapi.testclient import TestClient

    from shared.api.app import create_app
    from shared.api.services import ApiServices
    from shared.settings import Settings

    services = ApiServices(engine=engine, settings=Settings.load(), clock=lambda: datetime.now(UTC))
    with TestClient(create_app(lambda: services)) as client:
        items = len(client.get("/api/kpis").json()["items"])
        return timed(lambda: client.get("/api/kpis"), requests), items


def through_devhost(url: str, requests: int) -> list[float]:
    import importlib.util
    import json

    from devhost.host import Host
    from devhost.settings import HostConfig
    from tests.azurite import azurite_queue

    with tempfile.TemporaryDirectory() as workdir, azurite_queue(Path(workdir)) as storage:
        os.environ.update(
            {
                "ConnectionStrings__Monitoring": url,
                "AzureWebJobsStorage": storage,
                "DEVHOST_FUNCTION_KEY": KEY,
            }
        )
        spec = importlib.util.spec_from_file_location("function_app_bench", ROOT / "function_app.py")
        assert spec is not None  # noqa: S101 - the file is ours
        assert spec.loader is not None  # noqa: S101
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        config = HostConfig.from_json(json.loads((ROOT / "host.json").read_text(encoding="utf-8")))
        host = Host(module.app, config, environ=dict(os.environ), port=0, clock=lambda: NOW)
        host.start()
        try:
            base = f"http://127.0.0.1:{host.http_port}"
            with httpx.Client(base_url=base, headers={"x-functions-key": KEY}, timeout=60) as client:
                return timed(lambda: client.get("/api/kpis"), requests)
        finally:
            host.stop(5)


def plans(engine: Engine) -> str:
    """EXPLAIN of each statement of one `GET /api/kpis`, captured as the app sends them."""
    from sqlalchemy import event

    from shared.db import views

    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            captured.append((sql, params))

    event.listen(engine, "before_cursor_execute", capture)
    with engine.connect() as connection:
        views.kpi_summaries(connection)
    event.remove(engine, "before_cursor_execute", capture)
    lines = []
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for sql, params in captured:
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) {sql}", params)
            lines += [row[0] for row in cursor.fetchall()] + [""]
    return "\n".join(lines).rstrip()


def figures(label: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18]
    median = statistics.median(ordered)
    verdict = "pass" if median < TARGET_MS else "**FAIL**"
    cells = [
        label,
        str(len(ordered)),
        *(f"{ms:.1f}" for ms in (median, p95, ordered[0], ordered[-1])),
        verdict,
    ]
    return "| " + " | ".join(cells) + " |"


def section(
    args: argparse.Namespace,
    *,
    seeded_s: float,
    rows: dict[str, int],
    results: list[str],
    plan: str,
    load: float,
) -> str:
    lines = [
        START,
        "## API: `GET /api/kpis` on PostgreSQL (`make bench-api`)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `python -m benchmarks.api`"
        f" (seeding {seeded_s:.0f} s, not measured), {len(os.sched_getaffinity(0))} CPUs shared with other"
        f" work. {args.kpis:,} KPIs with {args.days} days of hourly history: "
        + ", ".join(f"`{table}` {count:,} rows" for table, count in rows.items())
        + ". Each figure over the requests after 3 warm-up requests; milliseconds. Load average (1 min) when"
        f" measuring: {load:.1f}.",
        "",
        f"**Target: median under {TARGET_MS:.0f} ms.**",
        "",
        "| Path | Requests | Median | p95 | Min | Max | Result |",
        "|---|---|---|---|---|---|---|",
        *results,
        "",
        "The statements of one request (`EXPLAIN ANALYZE` after `VACUUM ANALYZE`): the latest execution",
        "and the latest succeeded one are each one backward probe of the unique (kpi_id, slot) index per",
        "KPI, and that execution's values one probe of the unique (execution_id, metric_key) history index.",
        "",
        "```",
        plan,
        "```",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text_: str) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        head, _, rest = current.partition(START)
        tail = rest.partition(END)[2].removeprefix("\n")
        path.write_text(head + text_ + tail, encoding="utf-8")
    else:
        path.write_text(current.rstrip("\n") + "\n\n" + text_ if current else text_, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api", description=__doc__.splitlines()[0])
    parser.add_argument("--kpis", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    with Scratch("postgresql") as scratch:
        url, engine = scratch.monitoring("api")
        try:
            began = time.monotonic()
            seed(engine, args.kpis, args.days)
            vacuum_analyze(engine, *SEEDED)
            seeded_s = time.monotonic() - began
            with engine.connect() as connection:
                rows = {t: int(connection.scalar(text(f"SELECT count(*) FROM {t}")) or 0) for t in SEEDED}  # noqa: S608
            load = os.getloadavg()[0]
            local, items = in_process(engine, args.requests)
            assert items == args.kpis, items  # noqa: S101 - the answer holds every KPI
            served = through_devhost(url, args.requests)
            plan = plans(engine)
        finally:
            engine.dispose()
    results = [figures("ASGI app in process", local), figures("devhost over HTTP (function key)", served)]
    text_ = section(args, seeded_s=seeded_s, rows=rows, results=results, plan=plan, load=load)
    write_section(args.output, text_)
    sys.stdout.write(text_)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

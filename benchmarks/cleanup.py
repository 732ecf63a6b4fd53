"""Cleanup benchmark: 2,000,000 expired history rows deleted on PostgreSQL in short transactions.

`python -m benchmarks.cleanup [--rows 2000000] [--batch 5000] [--output benchmarks/RESULTS.md]`
(`make bench-cleanup`; a few minutes, most of it seeding). Needs PostgreSQL on 127.0.0.1:5432 (user
postgres, trust; another server: `MGRID_BENCH_POSTGRES_URL`).

A scratch monitoring database (migrated like production) is seeded in bulk (COPY): `--rows` history rows
past the 90-day retention spread over 50 KPIs and 100,000 fresh ones; past the 30-day log retention 50,000
finished executions (and 5,000 fresh ones), 5,000 resolved alerts with two events, their outbox entries
and deliveries each, 20,000 dead letters; and an alert opened 120 days ago and still unresolved, with 20
events and their deliveries. After `VACUUM ANALYZE`, the plan of the first history batch is shown, then
`Cleanup.run()` (the production service, default settings but `--batch`) deletes what is due. Each
batch's transaction is timed from BEGIN to the end of COMMIT (`CleanupReport.batch_seconds`); the target
is no transaction longer than 1 s, with the fresh rows and the open alert's audit trail kept. Only the
section between `<!-- cleanup:start -->` and `<!-- cleanup:end -->` in RESULTS.md is rewritten.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, text

from benchmarks._databases import Scratch, bulk_insert, vacuum_analyze
from benchmarks._seed import NOW, TRIVIAL_SQL, seed_kpis
from shared.db import retention
from shared.db.tables import (
    alert_events,
    alerts,
    contacts,
    dead_letters,
    historical_data,
    kpi_executions,
    notifications,
    outbox,
)
from shared.services.cleanup import Cleanup, CleanupReport
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- cleanup:start -->", "<!-- cleanup:end -->"
TARGET_S = 1.0  #: the longest transaction allowed
KPIS = 50
FRESH_HISTORY = 100_000
CHUNK = 100_000
DAY = timedelta(days=1)
SEEDED = (
    "historical_data",
    "kpi_executions",
    "alerts",
    "alert_events",
    "outbox",
    "notifications",
    "dead_letters",
)


def seed(engine: Engine, rows: int) -> int:
    """Everything the docstring lists; the id of the unresolved alert that must survive."""
    kpi_ids = seed_kpis(engine, KPIS, sql=TRIVIAL_SQL, prefix="cleanup", next_run_at=[None] * KPIS)
    step = 109 * DAY / max(rows, 1)
    for first in range(0, rows, CHUNK):
        numbers = range(first, min(rows, first + CHUNK))
        bulk_insert(engine, historical_data, _history(kpi_ids, numbers, NOW - 200 * DAY, step))
    fresh_step = 89 * DAY / FRESH_HISTORY
    bulk_insert(engine, historical_data, _history(kpi_ids, range(FRESH_HISTORY), NOW - 89 * DAY, fresh_step))
    five_minutes = timedelta(minutes=5)
    slots = [NOW - 60 * DAY + i * five_minutes for i in range(1000)] + [
        NOW - DAY + i * five_minutes for i in range(100)
    ]
    bulk_insert(engine, kpi_executions, [_execution(kpi, slot) for kpi in kpi_ids for slot in slots])
    letter = {"queue": "kpi-executions", "reason": "malformed", "received_at": NOW - 40 * DAY}
    bulk_insert(engine, dead_letters, [letter] * 20_000)
    return _seed_alerts(engine, kpi_ids)


def _seed_alerts(engine: Engine, kpi_ids: list[int]) -> int:
    with engine.begin() as connection:
        values = {"name": "Ops", "email": "ops@example.com", "created_at": NOW, "updated_at": NOW}
        contact = int(connection.execute(insert(contacts).values(values)).inserted_primary_key[0])
    old = NOW - 45 * DAY
    resolved = [_alert(kpi_ids[i % KPIS], f"m{i}", old - DAY, resolved=old) for i in range(5_000)]
    bulk_insert(engine, alerts, [*resolved, _alert(kpi_ids[0], "still open", NOW - 120 * DAY, resolved=None)])
    with engine.connect() as connection:
        ids = dict(connection.execute(select(alerts.c.id, alerts.c.resolved_at.is_(None))).all())
    open_id = next(alert_id for alert_id, unresolved in ids.items() if unresolved)
    events = [
        (alert_id, old - DAY * n) for alert_id, unresolved in ids.items() if not unresolved for n in (0, 1)
    ]
    events += [(open_id, NOW - 120 * DAY + n * DAY) for n in range(20)]
    bulk_insert(engine, alert_events, [_event(alert_id, at) for alert_id, at in events])
    with engine.connect() as connection:
        stored = connection.execute(select(alert_events.c.id, alert_events.c.created_at)).all()
    entries = [{"event_id": e, "created_at": at, "dispatched_at": at, "attempts": 1} for e, at in stored]
    bulk_insert(engine, outbox, entries)
    bulk_insert(engine, notifications, [_delivery(e, contact, at) for e, at in stored])
    return open_id


def _event(alert_id: int, at: datetime) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "event_type": "opened",
        "actor": "system",
        "escalation_level": 0,
        "created_at": at,
    }


def _history(kpi_ids: list[int], numbers: range, start: datetime, step: timedelta) -> list[dict[str, Any]]:
    return [
        {
            "kpi_id": kpi_ids[n % KPIS],
            "execution_id": uuid.uuid4(),
            "metric_key": "k",
            "window_start": start + n * step - timedelta(hours=1),
            "window_end": start + n * step,
            "value": float(n % 1000),
            "breach": False,
            "recorded_at": start + n * step,
        }
        for n in numbers
    ]


def _execution(kpi_id: int, slot: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "kpi_id": kpi_id,
        "slot": slot,
        "triggered_by": "scheduled",
        "status": "succeeded",
        "attempt": 1,
        "created_at": slot,
        "finished_at": slot + timedelta(seconds=1),
    }


def _alert(kpi_id: int, key: str, opened: datetime, *, resolved: datetime | None) -> dict[str, Any]:
    return {
        "kpi_id": kpi_id,
        "metric_key": key,
        "kind": "breach",
        "status": "resolved" if resolved else "open",
        "severity": "warning",
        "opened_at": opened,
        "last_triggered_at": opened,
        "resolved_at": resolved,
        "escalation_level": 0,
    }


def _delivery(event_id: int, contact_id: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "contact_id": contact_id,
        "channel": "email",
        "status": "sent",
        "attempts": 1,
        "created_at": at,
        "sent_at": at,
    }


def first_batch_plan(engine: Engine, limit: int) -> str:
    """EXPLAIN of the first history batch, with the bind values the service sends."""
    statement = retention.expired_history(NOW - 90 * DAY, limit, dialect="postgresql")

    def explain(_conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> tuple[str, Any]:
        return "EXPLAIN " + sql, params

    with engine.connect() as connection:
        event.listen(connection, "before_cursor_execute", explain, retval=True)
        cursor = connection.execute(statement).cursor
        plan = "\n".join(row[0] for row in cursor.fetchall()) if cursor is not None else "(no plan)"
        event.remove(connection, "before_cursor_execute", explain)
        connection.rollback()
    return plan


@dataclass(frozen=True)
class Kept:
    """What is left after the run, against what must be."""

    counts: dict[str, int]
    expected: dict[str, int]
    version: str


def survivors(engine: Engine, open_id: int) -> Kept:
    cutoff = NOW - 90 * DAY
    queries = {
        "expired history rows": select(func.count()).where(historical_data.c.window_end < cutoff),
        "fresh history rows": select(func.count()).where(historical_data.c.window_end >= cutoff),
        "unresolved alert": select(func.count()).where(alerts.c.id == open_id),
        "its events": select(func.count()).where(alert_events.c.alert_id == open_id),
        "its deliveries": select(func.count())
        .select_from(notifications.join(alert_events))
        .where(alert_events.c.alert_id == open_id),
    }
    expected = [0, FRESH_HISTORY, 1, 20, 20]
    with engine.connect() as connection:
        counts = {name: int(connection.scalar(query) or 0) for name, query in queries.items()}
        version = str(connection.scalar(text("SHOW server_version")))
    return Kept(counts=counts, expected=dict(zip(queries, expected, strict=True)), version=version)


def section(
    report: CleanupReport, *, args: argparse.Namespace, seeded_s: float, plan: str, kept: Kept
) -> str:
    seconds = sorted(report.batch_seconds)
    longest = seconds[-1] if seconds else 0.0
    p99 = statistics.quantiles(seconds, n=100, method="inclusive")[98] if len(seconds) >= 2 else longest
    total = sum(report.deleted.values())
    passed = longest <= TARGET_S and report.complete and kept.counts == kept.expected
    figures = [
        f"{total:,}",
        f"{report.duration_s:.1f}",
        f"{total / report.duration_s:,.0f}",
        str(len(seconds)),
        f"{longest * 1000:.0f} ms",
        f"{p99 * 1000:.0f} ms",
        f"{statistics.median(seconds) * 1000:.0f} ms",
        str(report.complete),
    ]
    lines = [
        START,
        "## Cleanup: expired history on PostgreSQL (`make bench-cleanup`)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `python -m benchmarks.cleanup` (seeding"
        f" {seeded_s:.0f} s, not measured), PostgreSQL {kept.version}, {len(os.sched_getaffinity(0))} CPUs."
        f" Batch size {args.batch} (`Worker__ScheduledTasks__CleanupBatchSize`), other settings default."
        f" {args.rows:,} history rows past retention among {args.rows + FRESH_HISTORY:,}, expired rows in"
        " the other tables and an alert unresolved for 120 days, as `benchmarks/cleanup.py` describes."
        " Transaction time: each batch from BEGIN to the end of its COMMIT.",
        "",
        f"**Target: no transaction longer than {TARGET_S:.0f} s, fresh rows and the open alert's audit trail"
        f" kept: {'PASS' if passed else 'FAIL'}.**",
        "",
        "| Rows deleted | Seconds | Rows/s | Batches | Longest transaction | p99 | Median | Complete |",
        "|---|---|---|---|---|---|---|---|",
        "| " + " | ".join(figures) + " |",
        "",
        "| Table | Rows deleted |",
        "|---|---|",
        *(f"| `{table}` | {count:,} |" for table, count in report.deleted.items()),
        "",
        "Afterwards: " + ", ".join(f"{name} {count:,}" for name, count in kept.counts.items()) + ".",
        "",
        "Plan of the first history batch (`EXPLAIN` after `VACUUM ANALYZE`):",
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cleanup", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="expired history rows")
    parser.add_argument("--batch", type=int, default=5000, help="CleanupBatchSize")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args(argv)
    with Scratch("postgresql") as scratch:
        _url, engine = scratch.monitoring("cleanup")
        try:
            began = time.monotonic()
            open_id = seed(engine, args.rows)
            vacuum_analyze(engine, *SEEDED)
            seeded_s = time.monotonic() - began
            plan = first_batch_plan(engine, args.batch)
            settings = Settings.load(Worker={"ScheduledTasks": {"CleanupBatchSize": args.batch}})
            report = Cleanup(engine, settings, clock=lambda: NOW).run()
            kept = survivors(engine, open_id)
        finally:
            engine.dispose()
    result = section(report, args=args, seeded_s=seeded_s, plan=plan, kept=kept)
    write_section(args.output, result)
    sys.stdout.write(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How long `mgrid kpi backtest` takes for 8 weeks of hourly slots of one KPI (plus warm-up) on PostgreSQL.

`python -m benchmarks.backtest_speed [--weeks 8] [--rate 100] [--weeks-back 8]` (needs PostgreSQL on
127.0.0.1:5432, user postgres, trust; another server: `MGRID_BENCH_POSTGRES_URL`). Not run by the tests.

Two scratch databases: a monitoring database migrated like production holding one hourly seasonal KPI
(`weeks_back` 8, so 8 weeks and 3 hours of warm-up are replayed as well), and a source with an `events`
table (indexed on `at`) of about `--rate` events an hour, daily shaped, over the range and its warm-up. The
KPI counts the events of its window: `SELECT 'events' AS key, COUNT(*) ... WHERE at >= :window_start AND at <
:window_end`. The command runs as an operator would run it (`python -m shared.cli kpi backtest ...` in a
new process, progress on stderr) and the wall time of the whole process is printed: process start, every
source query, every baseline and band, the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from benchmarks._databases import Scratch, vacuum_analyze
from shared.db.kpis import kpi_values
from shared.db.tables import kpis
from shared.domain.kpi import AlertPolicy, Baseline, BaselineMode, Kpi, KpiKind, Priority, Rule, Schedule

ROOT = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 30, tzinfo=UTC)  # a Monday
QUERY = (
    "SELECT 'events' AS key, COUNT(*) AS current_value FROM events "
    "WHERE at >= :window_start AND at < :window_end"
)
SEED = (
    "INSERT INTO events (at) SELECT hour + random() * interval '1 hour' "
    "FROM generate_series(:since, :end, interval '1 hour') AS hour, "
    "LATERAL generate_series(1, GREATEST(1, round(:rate * (0.55 - 0.45 * "
    "cos(2 * pi() * extract(hour FROM hour AT TIME ZONE 'UTC') / 24)) * (0.8 + 0.4 * random()))::int))"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8, help="weeks of hourly slots to backtest")
    parser.add_argument("--rate", type=int, default=100, help="mean events an hour at the daily peak")
    parser.add_argument("--weeks-back", type=int, default=8, help="the seasonal baseline's weeks_back")
    args = parser.parse_args()
    start = END - timedelta(weeks=args.weeks)
    with Scratch("postgresql") as scratch:
        monitoring_url, monitoring = scratch.monitoring("monitoring")
        source_url = scratch.url("source")
        seeded = _seed_source(source_url, start - timedelta(weeks=args.weeks_back + 1), args.rate)
        with monitoring.begin() as connection:
            connection.execute(insert(kpis).values(_kpi_row(args.weeks_back)))
        monitoring.dispose()
        env = {
            **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}},
            "PYTHONPATH": str(ROOT),
            "ConnectionStrings__Monitoring": monitoring_url,
            "ConnectionStrings__Sources__main": source_url,
        }
        command = [sys.executable, "-m", "shared.cli", "kpi", "backtest", "Events"]
        command += ["--from", start.isoformat(), "--to", END.isoformat()]
        began = time.perf_counter()
        done = subprocess.run(  # noqa: S603  # our own command line, in a child process by design
            command, capture_output=True, text=True, env=env, check=False, cwd=ROOT
        )
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return 1
    result = json.loads(done.stdout)
    sys.stdout.write(
        f"{done.stderr.strip().splitlines()[-1]}\n"
        f"backtest of {result['slots']} hourly slots ({args.weeks} weeks, plus {args.weeks_back} weeks of "
        f"warm-up) over {seeded} source events: {seconds:.1f} s wall, process included; "
        f"{len(result['evaluations'])} evaluations, {len(result['episodes'])} episodes\n"
    )
    return 0


def _seed_source(url: str, since: datetime, rate: int) -> int:
    """Events from `since` to END: each hour about `rate` x a daily shape (quiet nights), spread over it."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE events (id BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL)"))
        connection.execute(text(SEED), {"since": since, "end": END, "rate": rate})
        connection.execute(text("CREATE INDEX ix_events_at ON events (at)"))
        count = int(connection.scalar(text("SELECT count(*) FROM events")) or 0)
    vacuum_analyze(engine, "events")
    engine.dispose()
    return count


def _kpi_row(weeks_back: int) -> dict[str, object]:
    kpi = Kpi(
        id=0,
        indicator="Events",
        owner="Bench",
        priority=Priority.WARNING,
        source="main",
        kind=KpiKind.QUERY,
        sql_text=QUERY,
        schedule=Schedule(frequency_minutes=60),
        last_minutes=60,
        rule=Rule(deviation_percent=0, baseline=Baseline(mode=BaselineMode.SEASONAL, weeks_back=weeks_back)),
        policy=AlertPolicy(fire_after=2, resolve_after=2),
        subject_template="{Indicator}",
        description_template="{CurrentValue}",
    )
    return {**kpi_values(kpi), "next_run_at": END, "created_at": END, "updated_at": END}


if __name__ == "__main__":
    sys.exit(main())

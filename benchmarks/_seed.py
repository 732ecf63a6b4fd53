"""Seeding benchmark data in bulk: KPIs, queued executions, baseline history, and a payments source table.

The payments table is the realistic source: `PAYMENT_ROWS` timestamped rows spread evenly over
`PAYMENT_DAYS` days before `NOW`, with an index on the timestamp; `REALISTIC_SQL` aggregates one KPI window
(an hour, a few thousand rows) through that index.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Engine, MetaData, Table, text

from benchmarks._databases import bulk_insert
from shared.db.kpis import kpi_values
from shared.db.tables import historical_data, kpi_executions, kpis
from shared.domain.kpi import AlertPolicy, Baseline, Kpi, KpiKind, Priority, Rule, Schedule

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FREQUENCY_MINUTES = 5
PAYMENT_ROWS = 500_000
PAYMENT_DAYS = 2
TRIVIAL_SQL = "SELECT 'k' AS key, 1 AS current_value"
REALISTIC_SQL = (
    "SELECT 'settled' AS key, SUM(amount) AS current_value FROM payments"
    " WHERE created_at >= :window_start AND created_at < :window_end AND status = 'settled'"
)
QUERIES = {"realistic": REALISTIC_SQL, "trivial": TRIVIAL_SQL}
METRIC_KEYS = {"realistic": "settled", "trivial": "k"}
# Untyped: the rows carry values already in each backend's form (text timestamps on SQLite).
_PAYMENTS = Table(
    "payments", MetaData(), Column("id"), Column("created_at"), Column("amount"), Column("status")
)


def template(sql: str) -> Kpi:
    """A KPI as operators define them: every 5 minutes over the last hour, history baseline (4 weeks,
    median), 20 % deviation."""
    return Kpi(
        id=0,
        indicator="template",
        owner="Payments",
        priority=Priority.WARNING,
        source="main",
        kind=KpiKind.QUERY,
        sql_text=sql,
        schedule=Schedule(frequency_minutes=FREQUENCY_MINUTES),
        last_minutes=60,
        rule=Rule(deviation_percent=20, baseline=Baseline()),
        policy=AlertPolicy(),
        subject_template="{Indicator} {MetricKey}",
        description_template="{CurrentValue} vs {HistoricalValue}",
    )


def seed_kpis(
    engine: Engine, count: int, *, sql: str, prefix: str, next_run_at: Sequence[datetime | None]
) -> list[int]:
    """Insert `count` KPIs running `sql`, KPI i due at `next_run_at[i]`; their ids in that order."""
    base = kpi_values(template(sql))
    rows: list[dict[str, Any]] = [
        {
            **base,
            "indicator": f"{prefix}-{index}",
            "next_run_at": next_run_at[index],
            "created_at": NOW,
            "updated_at": NOW,
        }
        for index in range(count)
    ]
    bulk_insert(engine, kpis, rows)
    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT id, indicator FROM kpis WHERE indicator LIKE :prefix"), {"prefix": f"{prefix}-%"}
        )
        ids = {indicator: kpi_id for kpi_id, indicator in found}
    return [ids[f"{prefix}-{index}"] for index in range(count)]


def queue_executions(engine: Engine, work: Sequence[tuple[int, datetime]]) -> list[uuid.UUID]:
    """Queued executions for (KPI id, slot) pairs, as the scheduler creates them; their ids in order."""
    ids = [uuid.uuid4() for _ in work]
    rows = [
        {
            "id": execution_id,
            "kpi_id": kpi_id,
            "slot": slot,
            "triggered_by": "scheduled",
            "status": "queued",
            "attempt": 0,
            "created_at": slot,
            "enqueued_at": slot,
        }
        for execution_id, (kpi_id, slot) in zip(ids, work, strict=True)
    ]
    bulk_insert(engine, kpi_executions, rows)
    return ids


def seed_baselines(engine: Engine, work: Sequence[tuple[int, datetime]], *, key: str, value: float) -> None:
    """History for the four baseline weeks of each (KPI, slot): what the KPI recorded back then (its value
    within +-5 %), so every execution evaluates against a real median baseline."""
    rng = random.Random(7)  # noqa: S311 -- benchmark data, not security
    rows = []
    for kpi_id, slot in work:
        for weeks in range(1, 5):
            end = slot - timedelta(weeks=weeks)
            rows.append(
                {
                    "kpi_id": kpi_id,
                    "execution_id": uuid.uuid4(),
                    "metric_key": key,
                    "window_start": end - timedelta(hours=1),
                    "window_end": end,
                    "value": value * rng.uniform(0.95, 1.05),
                    "breach": False,
                    "recorded_at": end,
                }
            )
    bulk_insert(engine, historical_data, rows)


def seed_payments(engine: Engine) -> None:
    """The source table: PAYMENT_ROWS payments over PAYMENT_DAYS days before NOW, indexed by time."""
    postgres = engine.dialect.name == "postgresql"
    amount = "NUMERIC(12, 2)" if postgres else "REAL"
    stamp = "TIMESTAMPTZ" if postgres else "TEXT"
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE payments (id INTEGER PRIMARY KEY, created_at {stamp} NOT NULL,"
                f" amount {amount} NOT NULL, status VARCHAR(16) NOT NULL)"
            )
        )
    rng = random.Random(42)  # noqa: S311 -- benchmark data, not security
    step = timedelta(days=PAYMENT_DAYS) / PAYMENT_ROWS
    start = NOW - timedelta(days=PAYMENT_DAYS)
    rows = []
    for index in range(PAYMENT_ROWS):
        at = start + index * step
        rows.append(
            {
                "id": index + 1,
                "created_at": at if postgres else at.replace(tzinfo=None).isoformat(sep=" "),
                "amount": round(rng.uniform(1, 500), 2),
                "status": "settled" if rng.random() < 0.9 else "refunded",
            }
        )
    bulk_insert(engine, _PAYMENTS, rows)
    with engine.begin() as connection:
        connection.execute(text("CREATE INDEX ix_payments_created_at ON payments (created_at)"))

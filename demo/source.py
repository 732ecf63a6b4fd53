"""The demo source database: a few weeks of payment data with daily and weekly seasonality, seeded noise and
one anomaly in the last hour before `now`.

Shape: hourly counts follow a daily curve (quiet nights, an evening peak) times a weekly one (busier
weekends) times a little seeded noise; the rows of an hour get their categories (country, white label,
settlement company, payment method) by proportional allocation, shuffled, so per-key counts follow their
shares closely and the noise comes from the hourly factor and the window's edges, as in real traffic.
Every deposit is also a `deposit` transaction; bets and bonuses exist only as transactions.

The anomaly (`Anomaly`): during the last `minutes` before `now`, deposits from one country drop by
`country_drop` and one settlement company's success rate falls to `company_success`. The same window in
earlier weeks is normal, so KPIs that compare with those weeks breach now.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
)
from sqlalchemy.engine import make_url

Row = dict[str, Any]

#: code, name, currency, share of deposits
COUNTRIES = (
    ("GB", "United Kingdom", "GBP", 0.30),
    ("DE", "Germany", "EUR", 0.20),
    ("SE", "Sweden", "SEK", 0.17),
    ("CA", "Canada", "CAD", 0.14),
    ("IE", "Ireland", "EUR", 0.11),
    ("NZ", "New Zealand", "NZD", 0.08),
)
#: id, name, share of deposits
WHITE_LABELS = ((1, "LuckyPlay", 0.40), (2, "SpinCity", 0.33), (3, "GoldenBet", 0.27))
#: id, name, share of deposits, normal success rate
SETTLEMENT_COMPANIES = (
    (1, "PayFlow", 0.25, 0.95),
    (2, "NordPay", 0.27, 0.96),
    (3, "CardWorks", 0.26, 0.94),
    (4, "QuickSettle", 0.22, 0.95),
)
PAYMENT_METHODS = (("card", 0.55), ("bank_transfer", 0.20), ("e_wallet", 0.20), ("voucher", 0.05))
#: Relative traffic per hour of the day (UTC): quiet nights, an evening peak.
HOUR_FACTORS = (
    0.45, 0.35, 0.30, 0.28, 0.30, 0.38, 0.50, 0.65, 0.80, 0.90, 0.95, 1.00,
    1.05, 1.05, 1.05, 1.10, 1.20, 1.35, 1.55, 1.75, 1.85, 1.80, 1.45, 0.85,
)  # fmt: skip
#: Relative traffic per weekday, Monday first: busier weekends.
DAY_FACTORS = (0.92, 0.90, 0.93, 0.97, 1.08, 1.25, 1.20)
DEPOSITS_PER_HOUR = 110.0
BETS_PER_HOUR = 200.0
BONUSES_PER_HOUR = 6.0
HOURLY_NOISE = 0.03  # standard deviation of the hourly factor
BET_SUCCESS, BONUS_SUCCESS = 0.99, 0.97

metadata = MetaData()
countries = Table(
    "countries",
    metadata,
    Column("code", String(2), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
)
white_labels = Table(
    "white_labels", metadata, Column("id", Integer, primary_key=True), Column("name", String(100))
)
settlement_companies = Table(
    "settlement_companies", metadata, Column("id", Integer, primary_key=True), Column("name", String(100))
)
deposits = Table(
    "deposits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("amount", Float, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("country_code", String(2), ForeignKey("countries.code"), nullable=False),
    Column("white_label_id", Integer, ForeignKey("white_labels.id"), nullable=False),
    Column("settlement_company_id", Integer, ForeignKey("settlement_companies.id"), nullable=False),
    Column("payment_method", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
transactions = Table(
    "transactions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(10), nullable=False),  # deposit | bet | bonus
    Column("amount", Float, nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Anomaly:
    """What goes wrong in the last `minutes` before `now`."""

    minutes: int = 60
    country: str = "DE"
    country_drop: float = 0.70
    company: str = "PayFlow"
    company_success: float = 0.60


@dataclass(frozen=True, kw_only=True, slots=True)
class Dataset:
    """The generated rows of every table, in insertion order."""

    tables: dict[str, list[Row]]


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildReport:
    """Row counts per table and how long building took."""

    rows: dict[str, int]
    elapsed_s: float


def build(
    url: str, *, now: datetime, seed: int = 0, weeks: int = 5, anomaly: Anomaly | None = None
) -> BuildReport:
    """(Re)create the demo tables at `url` (SQLite or PostgreSQL) and fill them with `weeks` of data ending
    at `now` (aware). Deterministic for a given seed and `now`."""
    started = time.perf_counter()
    dataset = generate(now=now, seed=seed, weeks=weeks, anomaly=anomaly or Anomaly())
    engine = create_engine(_driver_url(url))
    try:
        write(engine, dataset)
    finally:
        engine.dispose()
    rows = {name: len(table_rows) for name, table_rows in dataset.tables.items()}
    return BuildReport(rows=rows, elapsed_s=time.perf_counter() - started)


def _driver_url(url: str) -> str:
    parsed = make_url(url)
    if parsed.drivername == "postgresql":  # psycopg 3 is the driver this project ships
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def write(engine: Engine, dataset: Dataset) -> None:
    """Drop and recreate the demo tables, then bulk-insert `dataset` in one transaction."""
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            rows = dataset.tables[table.name]
            if rows:
                connection.execute(table.insert(), rows)


def generate(*, now: datetime, seed: int, weeks: int, anomaly: Anomaly) -> Dataset:
    """Every row of the demo, computed in memory (pure apart from the seeded RNG)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = random.Random(f"{seed}:{now.isoformat()}")  # noqa: S311  # demo data, reproducible on purpose
    end = now.astimezone(UTC).replace(microsecond=0)
    deposit_rows = list(_deposits(rng, end=end, weeks=weeks, anomaly=anomaly))
    return Dataset(
        tables={
            "countries": [{"code": c, "name": n, "currency": cur} for c, n, cur, _ in COUNTRIES],
            "white_labels": [{"id": i, "name": n} for i, n, _ in WHITE_LABELS],
            "settlement_companies": [{"id": i, "name": n} for i, n, _, _ in SETTLEMENT_COMPANIES],
            "deposits": deposit_rows,
            "transactions": _transactions(rng, deposit_rows, end=end, weeks=weeks),
        }
    )


def _hours(end: datetime, weeks: int) -> Iterator[tuple[datetime, float]]:
    """Each hour from `weeks` before `end` up to `end`, with the part of it that lies before `end`."""
    hour = (end - timedelta(weeks=weeks)).replace(minute=0, second=0)
    while hour < end:
        yield hour, min(1.0, (end - hour).total_seconds() / 3600)
        hour += timedelta(hours=1)


def _count(rng: random.Random, per_hour: float, hour: datetime, part: float) -> int:
    """How many events of a kind happen in (the first `part` of) `hour`."""
    factor = HOUR_FACTORS[hour.hour] * DAY_FACTORS[hour.weekday()]
    noise = max(0.5, rng.gauss(1.0, HOURLY_NOISE))
    return round(per_hour * factor * noise * part)


def _times(rng: random.Random, hour: datetime, part: float, count: int) -> list[datetime]:
    span_s = int(3600 * part)
    return sorted(hour + timedelta(seconds=rng.randrange(max(span_s, 1))) for _ in range(count))


def _allocate(rng: random.Random, values: Sequence[Any], shares: Sequence[float], count: int) -> list[Any]:
    """`count` values in proportion to `shares` (largest remainders, ties broken at random), shuffled."""
    exact = [share * count for share in shares]
    counts = [int(x) for x in exact]
    order = sorted(range(len(values)), key=lambda i: (exact[i] - counts[i], rng.random()), reverse=True)
    for i in order[: count - sum(counts)]:
        counts[i] += 1
    allocated = [value for value, n in zip(values, counts, strict=True) for _ in range(n)]
    rng.shuffle(allocated)
    return allocated


def _deposit_columns(rng: random.Random, hour: datetime, part: float) -> Iterator[tuple[Any, ...]]:
    """Time, country, white label, settlement company and payment method of each deposit of the hour."""
    count = _count(rng, DEPOSITS_PER_HOUR, hour, part)
    return zip(
        _times(rng, hour, part, count),
        _allocate(rng, COUNTRIES, [c[3] for c in COUNTRIES], count),
        _allocate(rng, [w[0] for w in WHITE_LABELS], [w[2] for w in WHITE_LABELS], count),
        _allocate(rng, SETTLEMENT_COMPANIES, [s[2] for s in SETTLEMENT_COMPANIES], count),
        _allocate(rng, [m[0] for m in PAYMENT_METHODS], [m[1] for m in PAYMENT_METHODS], count),
        strict=True,
    )


def _deposits(rng: random.Random, *, end: datetime, weeks: int, anomaly: Anomaly) -> Iterator[Row]:
    anomaly_start = end - timedelta(minutes=anomaly.minutes)
    next_id = 1
    for hour, part in _hours(end, weeks):
        for at, country, label, company, method in _deposit_columns(rng, hour, part):
            in_anomaly = at >= anomaly_start
            if in_anomaly and country[0] == anomaly.country and rng.random() < anomaly.country_drop:
                continue
            success = anomaly.company_success if in_anomaly and company[1] == anomaly.company else company[3]
            yield {
                "id": next_id,
                "amount": round(rng.lognormvariate(3.6, 0.8), 2),
                "currency": country[2],
                "succeeded": rng.random() < success,
                "country_code": country[0],
                "white_label_id": label,
                "settlement_company_id": company[0],
                "payment_method": method,
                "created_at": at,
            }
            next_id += 1


def _transactions(rng: random.Random, deposit_rows: list[Row], *, end: datetime, weeks: int) -> list[Row]:
    """Every deposit as a `deposit` transaction, plus bets and bonuses, ordered by time."""
    rows: list[Row] = [
        {"type": "deposit", "amount": d["amount"], "succeeded": d["succeeded"], "created_at": d["created_at"]}
        for d in deposit_rows
    ]
    kinds = (("bet", BETS_PER_HOUR, BET_SUCCESS, 1.5), ("bonus", BONUSES_PER_HOUR, BONUS_SUCCESS, 2.5))
    for hour, part in _hours(end, weeks):
        for kind, per_hour, success, mu in kinds:
            rows.extend(
                {
                    "type": kind,
                    "amount": round(rng.lognormvariate(mu, 0.9), 2),
                    "succeeded": rng.random() < success,
                    "created_at": at,
                }
                for at in _times(rng, hour, part, _count(rng, per_hour, hour, part))
            )
    rows.sort(key=lambda row: row["created_at"])
    for number, row in enumerate(rows, start=1):
        row["id"] = number
    return rows

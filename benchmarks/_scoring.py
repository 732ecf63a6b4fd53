"""Scoring backtest episodes against labelled anomalies: pure.

An episode (`opened_at`, `resolved_at`: slots; `resolved_at` None when still open at the end) breaches from
`opened_at` up to the slot before `resolved_at`. It is a **true positive** when it overlaps a labelled
anomaly of its KPI, whose slots run from `first_slot` to `last_slot` plus `TOLERANCE` (one slot: an
episode opened at the slot right after an anomaly still counts); otherwise a **false positive**. A labelled
anomaly is **detected** when any episode of its KPI overlaps it. Precision = TP / episodes, recall =
detected / labelled anomalies, F1 their harmonic mean; false alerts per KPI-week = FP / (KPIs x weeks).
The share of KPI slots in alert puts a rule's recall in context: a rule in alert half the time finds about
half the anomalies by chance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from benchmarks._series import HOUR, Anomaly

TOLERANCE = HOUR  #: one hourly slot after an anomaly's last slot
#: Anomaly size buckets by the anomaly's largest hourly change, in sd: (label, low, high).
BUCKETS = (
    ("2-3 sd", 2.0, 3.0),
    ("3-5 sd", 3.0, 5.0),
    ("5-10 sd", 5.0, 10.0),
    (">= 10 sd", 10.0, float("inf")),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Episode:
    kpi: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Score:
    """One rule's figures over the whole dataset."""

    episodes: int
    true_positives: int
    anomalies: int
    detected: int
    kpi_weeks: float
    by_bucket: dict[str, tuple[int, int]]  #: label -> (detected, labelled)
    alerting_share: float  #: share of all scored KPI slots inside an episode
    false_alerts: tuple[Episode, ...]

    @property
    def false_positives(self) -> int:
        return self.episodes - self.true_positives

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.episodes if self.episodes else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.anomalies if self.anomalies else None

    @property
    def f1(self) -> float | None:
        return f1(self.precision, self.recall)

    @property
    def false_per_kpi_week(self) -> float:
        return self.false_positives / self.kpi_weeks


def f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    total = precision + recall
    return 2 * precision * recall / total if total else 0.0


def overlaps(episode: Episode, anomaly: Anomaly, *, to: datetime, tolerance: timedelta = TOLERANCE) -> bool:
    """Whether the episode breached at a slot of the anomaly (or up to `tolerance` after it)."""
    end = episode.resolved_at or to
    return (
        episode.kpi == anomaly.kpi
        and episode.opened_at <= anomaly.last_slot + tolerance
        and end > anomaly.first_slot
    )


def bucket(size_sd: float) -> str:
    for label, low, high in BUCKETS:
        if low <= size_sd < high:
            return label
    raise ValueError(f"anomaly of {size_sd:.2f} sd is below the smallest bucket")


def score(
    episodes: Sequence[Episode], anomalies: Sequence[Anomaly], *, kpis: int, weeks: float, to: datetime
) -> Score:
    """Score `episodes` against the labelled `anomalies` (other anomalies are ignored)."""
    labelled = [a for a in anomalies if a.labelled]
    by_kpi: dict[str, list[Anomaly]] = {}
    for anomaly in labelled:
        by_kpi.setdefault(anomaly.kpi, []).append(anomaly)
    false_alerts = tuple(e for e in episodes if not any(overlaps(e, a, to=to) for a in by_kpi.get(e.kpi, ())))
    found = [any(overlaps(e, a, to=to) for e in episodes if e.kpi == a.kpi) for a in labelled]
    return Score(
        episodes=len(episodes),
        true_positives=len(episodes) - len(false_alerts),
        anomalies=len(labelled),
        detected=sum(found),
        kpi_weeks=kpis * weeks,
        by_bucket=_buckets(labelled, found),
        alerting_share=sum(((e.resolved_at or to) - e.opened_at) / HOUR for e in episodes)
        / (kpis * weeks * 7 * 24),
        false_alerts=false_alerts,
    )


def _buckets(labelled: Iterable[Anomaly], found: Iterable[bool]) -> dict[str, tuple[int, int]]:
    total: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for anomaly, hit in zip(labelled, found, strict=True):
        total[bucket(anomaly.peak_sd)] += 1
        hits[bucket(anomaly.peak_sd)] += hit
    return {label: (hits[label], total[label]) for label, _low, _high in BUCKETS}


def episodes_of(kpi: str, document: dict[str, Any]) -> list[Episode]:
    """The episodes of one `mgrid kpi backtest --json` document, attributed to the benchmark's `kpi`."""
    return [
        Episode(
            kpi=kpi,
            opened_at=_parse(item["opened_at"]),
            resolved_at=_parse(item["resolved_at"]) if item.get("resolved_at") else None,
        )
        for item in document["episodes"]
    ]


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"naive timestamp in backtest output: {text!r}")
    return value

"""Which labelled anomalies a rule missed, with what the rule expected at the anomaly's largest hour: the
evidence for choosing a tolerance. Pure: it reads the backtests' evaluations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from benchmarks._scoring import Episode, overlaps
from benchmarks._series import HOUR, Anomaly, Dataset

#: kpi -> slot -> one `evaluations` item of its backtest
Evaluations = Mapping[str, Mapping[datetime, Mapping[str, Any]]]
MAX_ROWS = 30


def evaluations_of(document: Mapping[str, Any]) -> dict[datetime, Mapping[str, Any]]:
    return {
        datetime.fromisoformat(item["slot"].replace("Z", "+00:00")): item for item in document["evaluations"]
    }


def missed(episodes: Sequence[Episode], dataset: Dataset) -> list[Anomaly]:
    """The labelled anomalies no episode overlaps, largest first."""
    misses = [a for a in dataset.labelled if not any(overlaps(e, a, to=dataset.scored_to) for e in episodes)]
    return sorted(misses, key=lambda a: a.peak_sd, reverse=True)


def missed_lines(
    title: str, misses: Sequence[Anomaly], evaluations: Evaluations, dataset: Dataset
) -> list[str]:
    if not misses:
        return [f"{title}: no labelled anomaly missed."]
    peaks = {s.profile.name: s.profile.peak for s in dataset.series}
    lines = [
        f"{title}: {len(misses)} missed" + (f", the {MAX_ROWS} largest:" if len(misses) > MAX_ROWS else ":"),
        "",
        "| KPI (peak/h) | Kind | Start (UTC) | Hours | Factor | Size sd | Largest hour: value | expected"
        " | band |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for anomaly in misses[:MAX_ROWS]:
        largest = max(range(anomaly.hours), key=lambda offset: anomaly.sizes_sd[offset])
        item = evaluations.get(anomaly.kpi, {}).get(anomaly.start + (largest + 1) * HOUR, {})
        band = f"{_n(item.get('lower'))}..{_n(item.get('upper'))}"
        lines.append(
            f"| {anomaly.kpi} ({peaks[anomaly.kpi]:.0f}) | {anomaly.kind} | {anomaly.start:%a %m-%d %H:%M}"
            f" | {anomaly.hours} | {anomaly.factor:.2f} | {anomaly.peak_sd:.1f} | {_n(item.get('current'))}"
            f" | {_n(item.get('expected'))} | {band} |"
        )
    return lines


def _n(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.1f}"

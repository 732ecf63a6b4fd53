"""The evidence behind a rule's figures: each anomaly it missed and each false alert it raised, with the
value, the expected value and the band the backtest reported (for a miss, at the anomaly's largest hour).
Pure: it reads the backtests' evaluations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from benchmarks._scoring import Episode, overlaps
from benchmarks._series import HOUR, Anomaly, Dataset, Profile

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


def describe(profile: Profile) -> str:
    noise = "NB" if profile.shape_k else "Poisson"
    return f"{profile.name} ({profile.peak:.0f}/h, {noise}, {profile.trend_per_week * 100:+.1f} %/wk)"


def missed_lines(
    title: str, misses: Sequence[Anomaly], evaluations: Evaluations, dataset: Dataset
) -> list[str]:
    if not misses:
        return [f"{title}: no labelled anomaly missed."]
    profiles = {s.profile.name: s.profile for s in dataset.series}
    lines = [
        f"{title}: {len(misses)} missed" + (f", the {MAX_ROWS} largest:" if len(misses) > MAX_ROWS else ":"),
        "",
        "| KPI (peak, noise, trend) | Kind | Start (UTC) | Hours | Factor | Size sd | Largest hour: value"
        " | expected | band |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for anomaly in misses[:MAX_ROWS]:
        largest = max(range(anomaly.hours), key=lambda offset: anomaly.sizes_sd[offset])
        item = evaluations.get(anomaly.kpi, {}).get(anomaly.start + (largest + 1) * HOUR, {})
        lines.append(
            f"| {describe(profiles[anomaly.kpi])} | {anomaly.kind} | {anomaly.start:%a %m-%d %H:%M}"
            f" | {anomaly.hours} | {anomaly.factor:.2f} | {anomaly.peak_sd:.1f} | {_values(item)} |"
        )
    return lines


def false_alert_lines(
    title: str, false_alerts: Sequence[Episode], evaluations: Evaluations, dataset: Dataset
) -> list[str]:
    if not false_alerts:
        return [f"{title}: no false alert."]
    profiles = {s.profile.name: s.profile for s in dataset.series}
    shown = sorted(false_alerts, key=lambda e: (e.kpi, e.opened_at))[:MAX_ROWS]
    lines = [
        f"{title}: {len(false_alerts)} false alerts"
        + (f", the first {MAX_ROWS}:" if len(false_alerts) > MAX_ROWS else ":"),
        "",
        "| KPI (peak, noise, trend) | Window (UTC) | Slots | Value | expected | band |",
        "|---|---|---|---|---|---|",
    ]
    for episode in shown:
        item = evaluations.get(episode.kpi, {}).get(episode.opened_at, {})
        slots = (
            "open at the end"
            if episode.resolved_at is None
            else f"{(episode.resolved_at - episode.opened_at) // HOUR}"
        )
        lines.append(
            f"| {describe(profiles[episode.kpi])} | {episode.opened_at - HOUR:%a %m-%d %H:%M} | {slots}"
            f" | {_values(item)} |"
        )
    return lines


def _values(item: Mapping[str, Any]) -> str:
    band = f"{_n(item.get('lower'))}..{_n(item.get('upper'))}"
    return f"{_n(item.get('current'))} | {_n(item.get('expected'))} | {band}"


def _n(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.1f}"

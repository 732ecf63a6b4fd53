"""Observations: what one execution of a KPI measured, one per metric key."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """One metric of one execution: its key, current value and, in `source` baseline mode, the baseline the
    source returned with it. `current` None means the source returned NULL: no data for that key this run
    (see `shared.domain.no_data`)."""

    key: str
    current: float | None
    source_baseline: float | None = None

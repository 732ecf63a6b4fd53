"""Evaluation: judging one observed value against its rule and baseline. Pure functions, no I/O.

A value breaches when any one of these holds:

1. **Deviation** (only with a baseline): the change `current - baseline` counts when its absolute size is
   at least the rule's `noise_floor` and its sign is allowed by the rule's `direction`; a counting change
   breaches when its deviation is undefined (a zero baseline and a non-zero current) or strictly greater in
   absolute value than `deviation_percent`. With a seasonal band (`shared.domain.seasonal`) instead: a value
   strictly outside `[lower, upper]` on a side `direction` allows breaches.
2. **Minimum**: `current < minimum_threshold`.
3. **Threshold**: `current <operator> threshold.value` (`eq` within a tolerance of 1e-9).

Deviation is `(current - baseline) / |baseline| x 100`, signed and unbounded: 1 -> 20 is +1900 %, an ordinary
float. A zero baseline is explicit: 0 -> 0 is no change (0 %), 0 -> anything else is undefined (None), never a
made-up 100 %.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.clock import require_aware
from shared.domain.kpi import Aggregate, Direction, Rule, Threshold, ThresholdOperator
from shared.domain.observation import Observation
from shared.domain.seasonal import Band, Run

NOT_FINITE = "value is not a finite number"
NO_BASELINE = "no baseline yet"
NO_DATA = "no data"

_WEEK = timedelta(weeks=1)
_EQ_TOLERANCE = 1e-9
_COMPARISONS: dict[ThresholdOperator, Callable[[float, float], bool]] = {
    ThresholdOperator.GT: lambda current, limit: current > limit,
    ThresholdOperator.GTE: lambda current, limit: current >= limit,
    ThresholdOperator.LT: lambda current, limit: current < limit,
    ThresholdOperator.LTE: lambda current, limit: current <= limit,
    ThresholdOperator.EQ: lambda current, limit: math.isclose(
        current, limit, rel_tol=_EQ_TOLERANCE, abs_tol=_EQ_TOLERANCE
    ),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Evaluation:
    """The verdict on one metric: its value, what it was compared against, and why it breached.

    `reasons` lists every breached rule in human-readable form (empty when clean), plus `NO_BASELINE` when
    the deviation rule could not be applied, or `NOT_FINITE` for a NaN or infinite value (never a breach).
    """

    key: str
    current: float
    baseline: float | None
    deviation_percent: float | None
    breach: bool
    reasons: tuple[str, ...]
    #: the seasonal band the value was judged against (None for other baselines)
    band: Band | None = None
    #: no value for the key in this run (see `shared.domain.no_data`): `current` is NaN, shown as null
    no_data: bool = False

    @property
    def expected(self) -> float | None:
        return None if self.band is None else self.band.expected

    @property
    def lower(self) -> float | None:
        return None if self.band is None else self.band.lower

    @property
    def upper(self) -> float | None:
        return None if self.band is None else self.band.upper


def deviation_percent(current: float, baseline: float) -> float | None:
    """The signed change from `baseline` in percent of `|baseline|`.

    A zero baseline gives 0.0 when `current` is 0 too (no change) and None (undefined) otherwise.
    """
    if baseline == 0:
        return 0.0 if current == 0 else None
    return (current - baseline) / abs(baseline) * 100


def aggregate(values: Sequence[float], how: Aggregate) -> float | None:
    """The mean or median of `values`; None when there are none."""
    if not values:
        return None
    if how == Aggregate.MEDIAN:
        return float(statistics.median(values))
    return statistics.fmean(values)


def baseline_slots(slot: datetime, weeks_back: int) -> list[datetime]:
    """The same slot 1..`weeks_back` weeks earlier, newest first: where a history baseline is read.

    Weeks are subtracted on the slot's own clock: a UTC slot steps back 168 hours, a slot in a KPI's time
    zone keeps its wall time across daylight-saving changes.
    """
    require_aware(slot, "slot")
    if weeks_back < 0:
        raise ValueError(f"weeks_back must not be negative, got {weeks_back}")
    return [slot - weeks * _WEEK for weeks in range(1, weeks_back + 1)]


def evaluate(
    observation: Observation,
    rule: Rule,
    *,
    baseline: float | None,
    band: Band | None = None,
    run: Run | None = None,
) -> Evaluation:
    """Judge `observation` by `rule` against `baseline` (the source's or the history aggregate; None when
    there is none yet), or against a seasonal `band` (whose expected value is then the baseline). A breach
    is a return value, never an exception. A NULL value is no data."""
    if observation.current is None:
        return no_data_evaluation(observation.key)
    if band is not None:
        baseline = band.expected
    if baseline is not None and not math.isfinite(baseline):
        baseline = None  # an unusable baseline is no baseline: the other rules still apply
    current = observation.current
    if not math.isfinite(current):
        return Evaluation(
            key=observation.key,
            current=current,
            baseline=baseline,
            deviation_percent=None,
            breach=False,
            reasons=(NOT_FINITE,),
            band=band,
        )
    found = (
        _deviation_reason(current, baseline, rule, band, run),
        _minimum_reason(current, rule.minimum_threshold),
        _threshold_reason(current, rule.threshold),
    )
    breaches = tuple(reason for reason in found if reason is not None)
    return Evaluation(
        key=observation.key,
        current=current,
        baseline=baseline,
        deviation_percent=None if baseline is None else deviation_percent(current, baseline),
        breach=bool(breaches),
        reasons=breaches if baseline is not None else (*breaches, NO_BASELINE),
        band=band,
    )


def _deviation_reason(
    current: float, baseline: float | None, rule: Rule, band: Band | None, run: Run | None
) -> str | None:
    if baseline is None:
        return None
    if band is not None:
        return _band_reason(current, band, rule, run)
    change = current - baseline
    if abs(change) < rule.noise_floor or not _direction_allows(rule.direction, change):
        return None
    way = "up" if change > 0 else "down"
    deviation = deviation_percent(current, baseline)
    if deviation is None:
        return (
            f"{way} from {_number(baseline)} to {_number(current)} (deviation undefined on a zero baseline)"
        )
    if abs(deviation) <= rule.deviation_percent:
        return None
    return f"{way} {abs(deviation):.1f}% from {_number(baseline)} (limit {_number(rule.deviation_percent)}%)"


def _band_reason(current: float, band: Band, rule: Rule, run: Run | None) -> str | None:
    change = current - band.expected
    if band.lower <= current <= band.upper:
        return _run_reason(current, band, rule, run)
    if not _direction_allows(rule.direction, change):
        return None
    side = "above" if current > band.upper else "below"
    deviation = deviation_percent(current, band.expected)
    how_far = "" if deviation is None else f" ({deviation:+.1f}% from expected {_number(band.expected)})"
    return (
        f"{_number(current)} is {side} the expected band {_number(_round(band.lower))} to "
        f"{_number(_round(band.upper))}{how_far}"
    )


def _run_reason(current: float, band: Band, rule: Rule, run: Run | None) -> str | None:
    """A value inside the band still breaches when it ends a run of slots that, together, lie too far on
    one side of their expected values, and its own change is material."""
    if run is None:
        return None
    change = current - band.expected
    material = max(rule.deviation_percent / 100 * abs(band.expected), rule.noise_floor)
    if run.side * change <= 0 or abs(change) < material:
        return None
    side = "above" if run.side > 0 else "below"
    deviation = deviation_percent(current, band.expected)
    how_far = "" if deviation is None else f" ({deviation:+.1f}% from expected {_number(band.expected)})"
    return (
        f"{_number(current)} ends {run.slots} slots {side} the expected values{how_far}: together"
        f" {run.evidence:.1f} noise standard deviations beyond the band's allowance"
    )


def _round(value: float) -> float:
    """A band edge for reading: four significant digits are plenty."""
    return float(f"{value:.4g}")


def _direction_allows(direction: Direction, change: float) -> bool:
    if direction == Direction.UP:
        return change > 0
    if direction == Direction.DOWN:
        return change < 0
    return change != 0


def _minimum_reason(current: float, minimum: float | None) -> str | None:
    if minimum is None or not current < minimum:
        return None
    return f"below minimum {_number(minimum)}"


def _threshold_reason(current: float, threshold: Threshold | None) -> str | None:
    if threshold is None or not _COMPARISONS[threshold.operator](current, threshold.value):
        return None
    return f"value {_number(current)} {threshold.operator.value} {_number(threshold.value)}"


def _number(value: float) -> str:
    """Compact for reasons: 100 not 100.0, and 0.1 + 0.2 shown as 0.3."""
    return f"{value:.15g}"


def no_data_evaluation(key: str) -> Evaluation:
    """The evaluation of a key without a value in this run: no data, never a breach by itself (the KPI's
    `no_data` mode decides what it counts as: `shared.domain.no_data`)."""
    return Evaluation(
        key=key,
        current=math.nan,
        baseline=None,
        deviation_percent=None,
        breach=False,
        reasons=(NO_DATA,),
        no_data=True,
    )

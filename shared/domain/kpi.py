"""KPI definitions: what to run, when, and how to judge the result. Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Priority(IntEnum):
    CRITICAL = 1  #: SMS and email
    WARNING = 2  #: email


class KpiKind(StrEnum):
    PROCEDURE = "procedure"  #: a stored procedure (SQL Server contracts)
    QUERY = "query"  #: a SQL query returning `key, current_value[, historical_value]` rows


class Direction(StrEnum):
    UP = "up"  #: only increases breach
    DOWN = "down"  #: only decreases breach
    BOTH = "both"


class BaselineMode(StrEnum):
    SOURCE = "source"  #: the source returns the historical value
    HISTORY = "history"  #: the same window N weeks back, from our own history
    SEASONAL = "seasonal"  #: the median of the same slot in earlier weeks, with a noise band


class Aggregate(StrEnum):
    MEAN = "mean"
    MEDIAN = "median"


class NoData(StrEnum):
    """What a run without a value for a key (no row, or NULL) does to that key's alert."""

    KEEP = "keep"  #: leave the alert as it is: no resolve, no re-notify
    ALERT = "alert"  #: count it as a breach, with reason "no data"
    OK = "ok"  #: count it as clean


class ThresholdOperator(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"


#: The bind parameters a KPI query may use.
QUERY_PARAMETERS = frozenset({"window_start", "window_end", "for_last_minutes"})
#: The placeholders subject and description templates may use.
TEMPLATE_PLACEHOLDERS = frozenset(
    {
        "Indicator",
        "Owner",
        "MetricKey",
        "CurrentValue",
        "HistoricalValue",
        "DeviationPercent",
        "Threshold",
        "MinimumThreshold",
        "Severity",
        "Timestamp",
        "WindowStart",
        "WindowEnd",
        "Expected",
        "Lower",
        "Upper",
        "AlertUrl",
        "AckUrl",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """Every `frequency_minutes` (aligned to whole multiples since 1970-01-01 00:00 UTC), or a six-field
    NCRONTAB `cron` evaluated on the wall clock of the IANA `timezone`."""

    frequency_minutes: int | None = None
    cron: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True, kw_only=True, slots=True)
class Threshold:
    operator: ThresholdOperator
    value: float


#: The seasonal baseline's defaults (chosen with `benchmarks/detection.py`; see docs).
SEASONAL_WEEKS_BACK = 8
SEASONAL_TOLERANCE = 4.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Baseline:
    mode: BaselineMode = BaselineMode.HISTORY
    weeks_back: int = 4
    aggregate: Aggregate = Aggregate.MEDIAN
    #: seasonal only: the band's half-width in robust standard deviations of the KPI's noise
    tolerance: float = SEASONAL_TOLERANCE


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    """How a value is judged: deviation from the baseline, a floor, and an optional fixed threshold."""

    deviation_percent: float
    direction: Direction = Direction.BOTH
    minimum_threshold: float | None = None
    threshold: Threshold | None = None
    #: the smallest absolute change that counts as a deviation (guards tiny and zero baselines)
    noise_floor: float = 0.0
    baseline: Baseline = Baseline()


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertPolicy:
    """When alerts fire, re-notify and resolve."""

    fire_after: int = 1  #: consecutive breaching evaluations before an alert opens
    resolve_after: int = 1  #: consecutive clean evaluations before it resolves
    cooldown_minutes: int = 30  #: least time between two notifications of one open alert
    failure_alert_after: int = 3  #: consecutive failed executions before an "execution failing" alert
    no_data: NoData = NoData.KEEP  #: what a run without a value for a key does to its alert


@dataclass(frozen=True, kw_only=True, slots=True)
class Kpi:
    """One monitored indicator: a SQL query or stored procedure run against a named source."""

    id: int
    indicator: str
    owner: str
    priority: Priority
    source: str
    kind: KpiKind
    sql_text: str
    schedule: Schedule
    last_minutes: int
    rule: Rule
    policy: AlertPolicy
    subject_template: str
    description_template: str
    is_active: bool = True

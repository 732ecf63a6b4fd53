"""The API's request and response bodies; the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class KpiState(StrEnum):
    OK = "ok"
    ALERTING = "alerting"
    NO_DATA = "no_data"
    FAILING = "failing"
    NEVER_RUN = "never_run"
    INACTIVE = "inactive"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong, naming the field: `field: message`.")


class Metric(BaseModel):
    key: str
    current: float
    expected: float | None
    lower: float | None
    upper: float | None
    breach: bool


class KpiItem(BaseModel):
    id: int
    indicator: str
    owner: str
    priority: int
    is_active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    state: KpiState
    open_alerts: int
    metrics: list[Metric]


class KpiList(BaseModel):
    items: list[KpiItem]


class KpiDetail(KpiItem):
    definition: dict[str, Any] = Field(description="The KPI's entry of the definitions file.")


class HistoryPoint(Metric):
    slot: datetime


class History(BaseModel):
    items: list[HistoryPoint]


class RunRequest(_Body):
    dry_run: bool = False


class RunMetric(BaseModel):
    key: str
    current: float | None
    baseline: float | None
    deviation_percent: float | None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    breach: bool


class RunTransition(BaseModel):
    id: int | None = Field(description="The alert's id; null for an alert a dry run would open.")
    transition: str


class RunResult(BaseModel):
    execution_id: str | None
    kpi: str | None
    status: str
    duration_ms: int | None
    error: str | None
    metrics: list[RunMetric]
    alerts: list[RunTransition]
    dry_run: bool = False


class AlertStatusFilter(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertItem(BaseModel):
    id: int
    kpi_id: int | None
    indicator: str | None
    metric_key: str
    kind: str
    status: str
    severity: str
    escalation_level: int
    opened_at: datetime
    last_triggered_at: datetime
    last_notified_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_reason: str | None
    current_value: float | None
    baseline_value: float | None
    deviation_percent: float | None
    expected_value: float | None
    lower_value: float | None
    upper_value: float | None


class AlertPage(BaseModel):
    items: list[AlertItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class TimelineEntry(BaseModel):
    at: datetime
    type: str
    actor: str
    details: dict[str, Any]


class Delivery(BaseModel):
    contact: str
    channel: str
    status: str
    attempts: int
    sent_at: datetime | None
    error: str | None


class AlertDetail(AlertItem):
    timeline: list[TimelineEntry]
    deliveries: list[Delivery]


#: At least one character that is not white space (as Python's `str.split` sees it, which names are cut by).
ACTOR_PATTERN = r"^[^\x00]*[^\s\x00\x1c-\x1f\x85][^\x00]*$"
#: Text a database can store: no NUL character (PostgreSQL refuses it).
TEXT_PATTERN = r"^[^\x00]*$"
ACTOR_DESCRIPTION = (
    "Who acts; required unless signed in through App Service Authentication, whose user is recorded instead."
)


class AcknowledgeRequest(_Body):
    by: str | None = Field(
        None, min_length=1, max_length=100, pattern=ACTOR_PATTERN, description=ACTOR_DESCRIPTION
    )
    note: str | None = Field(None, max_length=500, pattern=TEXT_PATTERN)


class ResolveRequest(_Body):
    by: str | None = Field(
        None, min_length=1, max_length=100, pattern=ACTOR_PATTERN, description=ACTOR_DESCRIPTION
    )
    reason: str | None = Field(None, max_length=500, pattern=TEXT_PATTERN)


class ActionResult(BaseModel):
    id: int
    indicator: str | None
    metric_key: str
    status: str
    escalation_level: int
    acknowledged_by: str | None
    acknowledged_at: str | None
    resolved_by: str | None
    resolved_at: str | None
    resolution_reason: str | None
    changed: bool


class SilenceRequestBody(_Body):
    """The fields of `mgrid silences add`, for one KPI and/or owner: exactly one of `until`, `for` or
    `weekly` (with `between` and `timezone`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kpi: str | None = Field(None, max_length=255, pattern=TEXT_PATTERN, description="A KPI's indicator.")
    owner: str | None = Field(
        None, max_length=100, pattern=TEXT_PATTERN, description="Every KPI of an owner."
    )
    key: str | None = Field(None, max_length=255, pattern=TEXT_PATTERN, description="Metric keys (a glob).")
    until: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN, description="ISO 8601 with a zone.")
    duration: str | None = Field(
        None, alias="for", max_length=32, pattern=TEXT_PATTERN, description="2h, 1d30m"
    )
    weekly: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN, description="Days: mon,tue,...")
    between: str | None = Field(None, max_length=16, pattern=TEXT_PATTERN, description="HH:MM-HH:MM")
    timezone: str | None = Field(None, max_length=64, pattern=TEXT_PATTERN, description="IANA zone")
    by: str | None = Field(
        None, min_length=1, max_length=100, pattern=ACTOR_PATTERN, description=ACTOR_DESCRIPTION
    )
    reason: str = Field(min_length=1, max_length=500, pattern=ACTOR_PATTERN, description="Why.")


class WeeklyWindow(BaseModel):
    days: str
    between: str
    timezone: str


class SilenceItem(BaseModel):
    id: int
    kpi: str | None
    owner: str | None
    key: str | None
    starts_at: datetime | None
    ends_at: datetime | None
    weekly: WeeklyWindow | None
    by: str
    reason: str
    active: bool
    name: str | None = None
    source: str | None = None
    expired_at: datetime | None = None
    expired_by: str | None = None


class SilenceList(BaseModel):
    items: list[SilenceItem]

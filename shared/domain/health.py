"""Health: the verdict of each check and of the whole service, and the rules that reach it. Pure.

Every rule takes the facts a check gathered and the limits from the settings, and returns a status with a
detail made of numbers and names only (KPI indicators, queue names), never SQL or secrets. A detail that is
not Healthy carries `problems`: one short sentence per reason, which the self-monitoring alert quotes. The
detail keys that name KPIs (`NAMING_KEYS`) appear only in the named form of the report (`GET
/api/health/details` with a function key, `mgrid health`); the anonymous `GET /api/health` gives counts.

- **kpi-execution**: a KPI is *stale* when it has not succeeded for too long (`stale_after`). Degraded when
  there is no active KPI at all (nothing is monitored), any active KPI is stale, any execution is running
  past its lease, or the failure ratio of the executions finished in the last hour reaches the degraded
  percentage; Unhealthy when that ratio reaches the unhealthy percentage or more than half of the active
  KPIs are stale. The ratio counts only from `minimum_executions` finished executions in the hour: one
  failure out of two is reported, but is no verdict.
- **alert-processing**: Unhealthy when the alert processor's heartbeat is at least `heartbeat_unhealthy`
  old; Degraded when it is at least `heartbeat_degraded` old (missed runs), when it has never run (a new
  database: it appears within one processor period), when its last pass had errors, when the oldest
  undispatched alert event is at least `outbox_degraded` old, or when a delivery failed for good in the
  last 24 hours.
- **queues**: Degraded when a work queue holds at least `depth_degraded` messages or any poison queue holds
  a message. (Unreachable storage is an error of the check, hence Unhealthy.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.kpi import Schedule
from shared.domain.schedule import next_slot_after


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    UNHEALTHY = "Unhealthy"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthStatus.HEALTHY: 0, HealthStatus.DEGRADED: 1, HealthStatus.UNHEALTHY: 2}
Verdict = tuple[HealthStatus, dict[str, Any]]
#: At most this many stale indicators are named in a detail; the count is always complete.
NAMED_STALE_KPIS = 20
#: Detail keys whose values name KPIs: left out of the anonymous report.
NAMING_KEYS = frozenset({"stale"})


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckResult:
    """The outcome of one health check; `detail` is safe to show (no secrets, no SQL)."""

    name: str
    status: HealthStatus
    duration_ms: float
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthReport:
    """All checks of one health run; the overall status is the worst of them."""

    checks: tuple[CheckResult, ...]

    @property
    def status(self) -> HealthStatus:
        return worst(check.status for check in self.checks)

    def to_dict(self, *, names: bool = False) -> dict[str, Any]:
        """The JSON shape of `GET /api/health`: counts only; with `names` (`GET /api/health/details`,
        `mgrid health`) also the `NAMING_KEYS` that name KPIs."""
        return {
            "status": self.status.value,
            "checks": {
                check.name: {
                    "status": check.status.value,
                    "duration_ms": round(check.duration_ms, 1),
                    "detail": {
                        key: value for key, value in check.detail.items() if names or key not in NAMING_KEYS
                    },
                }
                for check in self.checks
            },
        }


def worst(statuses: Iterable[HealthStatus]) -> HealthStatus:
    """The most severe status; Healthy when there is none."""
    return max(statuses, key=lambda status: status.rank, default=HealthStatus.HEALTHY)


def _verdict(degraded: list[str], unhealthy: list[str], detail: dict[str, Any]) -> Verdict:
    problems = unhealthy + degraded
    if not problems:
        return HealthStatus.HEALTHY, detail
    status = HealthStatus.UNHEALTHY if unhealthy else HealthStatus.DEGRADED
    return status, {**detail, "problems": problems}


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiClock:
    """An active KPI's schedule, and the moment its staleness counts from: its last success, or its last
    change (creation, edit, re-activation) when that is later or it never succeeded."""

    indicator: str
    schedule: Schedule
    since: datetime


def staleness_since(last_success_at: datetime | None, updated_at: datetime) -> datetime:
    """Where a KPI's staleness counts from: its last success, or its last change when that is later (a KPI
    created, edited or re-activated starts afresh) or when it never succeeded."""
    return max(last_success_at or updated_at, updated_at)


def stale_after(kpi: KpiClock, *, grace: timedelta) -> datetime:
    """When the KPI becomes stale.

    Every N minutes: `since + 2 x N minutes + grace`. Cron: the second firing of its schedule after `since`
    (in its time zone) plus the grace, i.e. two slots in a row passed without a success; quiet hours of the
    schedule (nights, weekends) therefore never count. A schedule that cannot be evaluated is stale at once.
    """
    schedule = kpi.schedule
    if schedule.cron is None:
        return kpi.since + 2 * timedelta(minutes=schedule.frequency_minutes or 0) + grace
    try:
        second = next_slot_after(schedule, next_slot_after(schedule, kpi.since))
    except (ValueError, KeyError):  # an invalid expression, or a time zone unknown to this host
        return kpi.since
    return second + grace


@dataclass(frozen=True, kw_only=True, slots=True)
class ExecutionFacts:
    """What the kpi-execution check found: active KPIs, the stale ones, executions past their lease, and
    executions finished in the last hour (and how many of them failed or timed out)."""

    active: int
    stale: tuple[str, ...]
    stuck: int
    finished: int
    failed: int


def kpi_execution_verdict(
    facts: ExecutionFacts, *, degraded_percent: float, unhealthy_percent: float, minimum_executions: int
) -> Verdict:
    """See the module's rules."""
    ratio = round(100 * facts.failed / facts.finished, 1) if facts.finished else None
    detail: dict[str, Any] = {
        "active_kpis": facts.active,
        "stale_kpis": len(facts.stale),
        "stale": list(facts.stale[:NAMED_STALE_KPIS]),
        "stuck_executions": facts.stuck,
        "finished_last_hour": facts.finished,
        "failed_last_hour": facts.failed,
        "failure_ratio_percent": ratio,
    }
    degraded: list[str] = []
    unhealthy: list[str] = []
    if not facts.active:
        degraded.append("no active KPI: nothing is being monitored")
    if facts.stale:
        stale = f"{len(facts.stale)} of {facts.active} active KPIs have not succeeded in time"
        (unhealthy if 2 * len(facts.stale) > facts.active else degraded).append(stale)
    if facts.stuck:
        degraded.append(f"{_counted(facts.stuck, 'execution')} running past the lease")
    counts = facts.finished >= minimum_executions
    if ratio is not None and counts and ratio >= min(degraded_percent, unhealthy_percent):
        failing = f"{ratio:g}% of the executions of the last hour failed ({facts.failed} of {facts.finished})"
        (unhealthy if ratio >= unhealthy_percent else degraded).append(failing)
    return _verdict(degraded, unhealthy, detail)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessingFacts:
    """What the alert-processing check found. Ages are None when there is nothing to measure."""

    heartbeat_age: timedelta | None
    last_pass_ok: bool
    undispatched: int
    oldest_undispatched_age: timedelta | None
    failed_deliveries: int


def alert_processing_verdict(
    facts: ProcessingFacts,
    *,
    heartbeat_degraded: timedelta,
    heartbeat_unhealthy: timedelta,
    outbox_degraded: timedelta,
) -> Verdict:
    """See the module's rules."""
    detail: dict[str, Any] = {
        "heartbeat_age_s": _seconds(facts.heartbeat_age),
        "undispatched_events": facts.undispatched,
        "oldest_undispatched_age_s": _seconds(facts.oldest_undispatched_age),
        "failed_deliveries_24h": facts.failed_deliveries,
    }
    degraded: list[str] = []
    unhealthy: list[str] = []
    age = facts.heartbeat_age
    if age is None:
        degraded.append("the alert processor has not run yet")
    elif age >= min(heartbeat_degraded, heartbeat_unhealthy):
        late = f"the alert processor last ran {_seconds(age)} s ago"
        (unhealthy if age >= heartbeat_unhealthy else degraded).append(late)
    elif not facts.last_pass_ok:
        degraded.append("the alert processor's last pass had errors")
    oldest = facts.oldest_undispatched_age
    if oldest is not None and oldest >= outbox_degraded:
        degraded.append(f"an alert event has waited {_seconds(oldest)} s to be dispatched")
    if facts.failed_deliveries:
        degraded.append(
            f"{_counted(facts.failed_deliveries, 'delivery', 'deliveries')} failed in the last 24 h"
        )
    return _verdict(degraded, unhealthy, detail)


def queues_verdict(depth: Mapping[str, int], poison: Mapping[str, int], *, depth_degraded: int) -> Verdict:
    """See the module's rules; `depth` are the work queues, `poison` their poison queues."""
    degraded = [
        f"{queue} holds {_counted(count, 'message')}"
        for queue, count in depth.items()
        if count >= depth_degraded
    ]
    degraded += [
        f"{queue} holds {_counted(count, 'message')}" for queue, count in poison.items() if count > 0
    ]
    return _verdict(degraded, [], {"depth": dict(depth), "poison": dict(poison)})


def _counted(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _seconds(age: timedelta | None) -> int | None:
    return None if age is None else max(0, int(age.total_seconds()))

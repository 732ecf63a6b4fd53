"""The `health_check` timer's work: run the health checks, record them, and raise the alarm when the service
is Unhealthy. A dead man's switch: a stopped processor, a pipeline that no longer runs, a lost queue reach
the administrator instead of going unnoticed.

One run, in one transaction after the checks:
- when the overall status is Unhealthy and no system alert of metric key `service-health` is unresolved, open
  one (critical, no KPI) with an `opened` event for dispatch; its notice names the Unhealthy checks in its
  subject and gives one line per check that is not Healthy;
- when the status is no longer Unhealthy and such an alert is unresolved, resolve it (`by` system) with a
  `resolved` event for dispatch; an acknowledged alert is resolved the same way;
- record the report as the heartbeat of component `health` in `system_status`.
While the service stays Unhealthy nothing more is sent. System alerts have no KPI contacts, so the dispatcher
delivers them to the administrator contact (`Notifications__AdminContact`). The database allows one
unresolved system alert per metric key: a monitor that loses the race to open it (two timers at once)
records nothing more. When the monitoring database itself is unreachable nothing can be recorded or sent:
the error propagates and the invocation fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from shared.db import alerts
from shared.db.alerts import AlertValues
from shared.db.health import unresolved_system_alert
from shared.db.status import heartbeat
from shared.domain.alert import SYSTEM_ACTOR, AlertEventType, AlertKind, EventRef, Severity
from shared.domain.alert_text import SERVICE_NAME
from shared.domain.clock import Clock, utc_now
from shared.domain.health import CheckResult, HealthReport, HealthStatus
from shared.services.health import check_health
from shared.settings import Settings

log = logging.getLogger("mgrid.health_monitor")
COMPONENT = "health"
METRIC_KEY = "service-health"


class HealthCheck(Protocol):
    """What `check_health` offers: run the enabled checks at the time `now` tells."""

    def __call__(
        self, load_settings: Callable[[], Settings], engine_for: Callable[[], Engine], *, now: Clock
    ) -> HealthReport: ...


@dataclass(kw_only=True, slots=True)
class MonitorReport:
    """What one run found and did. `events` must be dispatched to `alert-events` by the caller."""

    report: HealthReport
    alert_id: int | None = None
    transition: str | None = None  #: "opened" or "resolved" when this run changed the system alert
    events: list[EventRef] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.report.status.value,
            "checks": {check.name: check.status.value for check in self.report.checks},
            "alert_id": self.alert_id,
            "transition": self.transition,
            "events": len(self.events),
        }


class HealthMonitor:
    """See the module's contract."""

    def __init__(
        self,
        engine: Engine,
        load_settings: Callable[[], Settings],
        *,
        clock: Clock = utc_now,
        check: HealthCheck = check_health,
    ) -> None:
        self._engine = engine
        self._load_settings = load_settings
        self._clock = clock
        self._check = check

    def run(self) -> MonitorReport:
        report = self._check(self._load_settings, lambda: self._engine, now=self._clock)
        result = MonitorReport(report=report)
        with self._engine.begin() as connection:
            now = self._clock()
            result.alert_id = unresolved_system_alert(connection, METRIC_KEY)
            if report.status is HealthStatus.UNHEALTHY and result.alert_id is None:
                self._open(connection, report, result, now=now)
            elif report.status is not HealthStatus.UNHEALTHY and result.alert_id is not None:
                self._resolve(connection, report, result, now=now)
            details = report.to_dict(names=True)
            heartbeat(connection, COMPONENT, status=report.status.value, now=now, details=details)
        if result.transition:
            level = logging.WARNING if result.transition == "opened" else logging.INFO
            log.log(
                level,
                "service %s: system alert %s %s",
                report.status.value,
                result.alert_id,
                result.transition,
            )
        return result

    def _open(
        self, connection: Connection, report: HealthReport, result: MonitorReport, *, now: datetime
    ) -> None:
        try:
            with connection.begin_nested():
                alert_id = alerts.open_alert(
                    connection,
                    kpi_id=None,
                    metric_key=METRIC_KEY,
                    kind=AlertKind.SYSTEM,
                    severity=Severity.CRITICAL,
                    values=AlertValues(),
                    now=now,
                    next_escalation_at=None,
                )
        except IntegrityError:  # another monitor opened it in the meantime; its run tells the administrator
            result.alert_id = unresolved_system_alert(connection, METRIC_KEY)
            return
        failing = ", ".join(c.name for c in report.checks if c.status is HealthStatus.UNHEALTHY)
        details = {
            "subject": f"{SERVICE_NAME} is Unhealthy: {failing}",
            "body": describe(report.checks),
            "reason": f"health checks Unhealthy: {failing}",
            "status": report.status.value,
        }
        self._record(connection, alert_id, AlertEventType.OPENED, details, result, now=now)
        result.alert_id, result.transition = alert_id, "opened"

    def _resolve(
        self, connection: Connection, report: HealthReport, result: MonitorReport, *, now: datetime
    ) -> None:
        alert_id = result.alert_id
        reason = f"health recovered: {report.status.value}"
        if alert_id is None or not alerts.resolve(
            connection, alert_id, now=now, by=SYSTEM_ACTOR, reason=reason
        ):
            return
        details = {
            "subject": f"{SERVICE_NAME} is no longer Unhealthy: {report.status.value}",
            "body": describe(report.checks) or "Every check is Healthy.",
            "reason": reason,
            "by": SYSTEM_ACTOR,
            "status": report.status.value,
        }
        self._record(connection, alert_id, AlertEventType.RESOLVED, details, result, now=now)
        result.transition = "resolved"

    def _record(
        self,
        connection: Connection,
        alert_id: int,
        event_type: AlertEventType,
        details: dict[str, Any],
        result: MonitorReport,
        *,
        now: datetime,
    ) -> None:
        event = alerts.record_event(
            connection,
            alert_id=alert_id,
            event_type=event_type,
            actor=SYSTEM_ACTOR,
            now=now,
            details=details,
            dispatch=True,
        )
        if event is not None:
            result.events.append(event)


def describe(checks: tuple[CheckResult, ...]) -> str:
    """One line per check that is not Healthy: its name, status and problems (or its detail's values)."""
    return "\n".join(
        f"{c.name}: {c.status.value}: {_detail_text(c.detail)}"
        for c in checks
        if c.status is not HealthStatus.HEALTHY
    )


def _detail_text(detail: Mapping[str, Any]) -> str:
    problems = detail.get("problems")
    if isinstance(problems, list) and problems:
        return "; ".join(str(problem) for problem in problems)
    return ", ".join(f"{key} {value}" for key, value in detail.items()) or "no detail"

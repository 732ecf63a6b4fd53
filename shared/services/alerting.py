"""Applying alert decisions after an execution: streaks, open / retrigger / resolve, audit events and outbox.

The decisions themselves are pure (`shared.domain.alerting`); this module reads the state they need and writes
what they decide, inside the caller's transaction. Events that tell someone (an alert opened, re-notified
after its cooldown, resolved) get an outbox entry and are returned for dispatch to `alert-events`; a
re-trigger inside the cooldown only refreshes the alert, so the audit trail stays readable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from shared import telemetry
from shared.db import alerts
from shared.db.alerts import AlertValues, EventRef
from shared.db.executions import Claim
from shared.db.kpis import count_outcome, load_kpi
from shared.db.types import finite_or_none
from shared.domain.alert import AlertEventType, AlertKind
from shared.domain.alerting import (
    Decision,
    OpenAlert,
    Streak,
    Transition,
    auto_resolve_due,
    decide,
    decide_failure,
    severity,
)
from shared.domain.evaluation import Evaluation
from shared.domain.kpi import Kpi
from shared.domain.schedule import window
from shared.settings import Settings

#: The metric key of a KPI's "execution failing" alert.
FAILURE_KEY = "(execution)"
ACTOR = "system"


@dataclass(frozen=True, kw_only=True, slots=True)
class Transitioned:
    alert_id: int
    metric_key: str
    transition: Transition
    event: EventRef | None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Scope:
    """What every write of one recording shares: the transaction, the KPI, the execution and the time."""

    connection: Connection
    kpi: Kpi
    execution_id: uuid.UUID | None
    now: datetime


class AlertRecorder:
    """Writes the alert consequences of executions."""

    def __init__(self, settings: Settings) -> None:
        self._processing = settings.worker.alert_processing

    def after_execution(
        self,
        connection: Connection,
        kpi: Kpi,
        claimed: Claim,
        evaluations: list[Evaluation],
        *,
        failures: int,
        succeeded: bool,
        now: datetime,
    ) -> list[Transitioned]:
        """Apply the breach decisions of each evaluated metric and the KPI's failure decision."""
        scope = _Scope(connection=connection, kpi=kpi, execution_id=claimed.execution_id, now=now)
        open_alerts = alerts.unresolved(connection, kpi.id)
        done: list[Transitioned] = []
        if succeeded:
            done += self._metrics(scope, claimed.slot, evaluations, open_alerts)
            done += self._auto_resolve(scope, open_alerts, {e.key for e in evaluations})
        return done + self._failure(
            scope, failed=not succeeded, failures=failures, alert=open_alerts.get(FAILURE_KEY)
        )

    def record_failure(
        self, connection: Connection, kpi_id: int, execution_id: uuid.UUID, *, error: str, now: datetime
    ) -> list[Transitioned]:
        """Count a failure that happened outside an executor (poisoned message, abandoned lease)."""
        failures = count_outcome(connection, kpi_id, succeeded=False, now=now)
        kpi = load_kpi(connection, kpi_id)
        if kpi is None:
            return []
        scope = _Scope(connection=connection, kpi=kpi, execution_id=execution_id, now=now)
        current = alerts.unresolved(connection, kpi_id).get(FAILURE_KEY)
        return self._failure(scope, failed=True, failures=failures, alert=current, error=error)

    def _failure(
        self, scope: _Scope, *, failed: bool, failures: int, alert: OpenAlert | None, error: str | None = None
    ) -> list[Transitioned]:
        decision = decide_failure(
            failed=failed, consecutive_failures=failures, alert=alert, policy=scope.kpi.policy, now=scope.now
        )
        details: dict[str, Any] = {"consecutive_failures": failures, "execution_id": scope.execution_id}
        if error is not None:
            details["error"] = error
        return self._apply(
            scope, FAILURE_KEY, AlertKind.EXECUTION_FAILURE, decision, alert, AlertValues(), details
        )

    def _metrics(
        self, scope: _Scope, slot: datetime, evaluations: list[Evaluation], open_alerts: dict[str, OpenAlert]
    ) -> list[Transitioned]:
        # Streaks decide only when an alert needs several breaches to open or several clean runs to resolve;
        # with the default 1 / 1 policy they are neither read nor written (one round trip less per run).
        policy = scope.kpi.policy
        tracked = policy.fire_after > 1 or policy.resolve_after > 1
        streaks = alerts.streaks(scope.connection, scope.kpi.id) if tracked else {}
        start, end = window(slot, scope.kpi.last_minutes)
        done: list[Transitioned] = []
        changes: list[alerts.StreakChange] = []
        for e in evaluations:
            alert = open_alerts.get(e.key)
            decision = decide(
                breach=e.breach,
                streak=streaks.get(e.key, Streak()),
                alert=alert,
                policy=scope.kpi.policy,
                now=scope.now,
            )
            changes.append(alerts.StreakChange(metric_key=e.key, streak=decision.streak, breach=e.breach))
            if decision.transition is Transition.NONE:
                continue
            values = AlertValues(
                current=finite_or_none(e.current),
                baseline=e.baseline,
                deviation_percent=finite_or_none(e.deviation_percent),
                expected=e.expected,
                lower=e.lower,
                upper=e.upper,
            )
            details = {
                "current": e.current,
                "baseline": e.baseline,
                "deviation_percent": e.deviation_percent,
                **_band_details(e),
                "reasons": list(e.reasons),
                "window_start": start,
                "window_end": end,
                "slot": slot,
            }
            done += self._apply(scope, e.key, AlertKind.BREACH, decision, alert, values, details)
        if tracked:
            alerts.save_streaks(
                scope.connection, kpi_id=scope.kpi.id, changes=changes, stored=streaks, now=scope.now
            )
        return done

    def _auto_resolve(
        self, scope: _Scope, open_alerts: dict[str, OpenAlert], reported: set[str]
    ) -> list[Transitioned]:
        """Resolve this KPI's breach alerts for metrics no longer reported, once they went without a breach
        for `AutoResolutionTimeoutMinutes` (the alert processor does it for KPIs that stopped running)."""
        if not self._processing.enable_auto_resolution:
            return []
        minutes = self._processing.auto_resolution_timeout_minutes
        done = []
        for key, alert in open_alerts.items():
            due = auto_resolve_due(alert, now=scope.now, timeout=timedelta(minutes=minutes))
            if key != FAILURE_KEY and key not in reported and due:
                reason = f"no breach for {minutes} min"
                done += self._resolve(scope, key, alert, reason, {"metric_key": key, "reason": reason})
        return done

    def _apply(
        self,
        scope: _Scope,
        key: str,
        kind: AlertKind,
        decision: Decision,
        alert: OpenAlert | None,
        values: AlertValues,
        details: dict[str, Any],
    ) -> list[Transitioned]:
        details = {**details, "metric_key": key, "reason": decision.reason}
        if decision.transition is Transition.OPENED:
            return [self._open(scope, key, kind, values, details, notify=decision.notify)]
        if alert is None:
            return []
        if decision.transition is Transition.RETRIGGERED:
            alerts.retrigger(
                scope.connection, alert.id, values=values, now=scope.now, notified=decision.notify
            )
            if decision.notify:
                return [self._event(scope, alert.id, key, Transition.RETRIGGERED, details, dispatch=True)]
        if decision.transition is Transition.RESOLVED:
            return self._resolve(scope, key, alert, decision.reason, details)
        return []

    def _open(
        self,
        scope: _Scope,
        key: str,
        kind: AlertKind,
        values: AlertValues,
        details: dict[str, Any],
        *,
        notify: bool,
    ) -> Transitioned:
        escalate_at = (
            scope.now + timedelta(minutes=self._processing.escalation_timeout_minutes)
            if self._processing.enable_escalation
            else None
        )
        alert_id = alerts.open_alert(
            scope.connection,
            kpi_id=scope.kpi.id,
            metric_key=key,
            kind=kind,
            severity=severity(scope.kpi.priority),
            values=values,
            now=scope.now,
            next_escalation_at=escalate_at,
        )
        return self._event(scope, alert_id, key, Transition.OPENED, details, dispatch=notify)

    def _resolve(
        self, scope: _Scope, key: str, alert: OpenAlert, reason: str, details: dict[str, Any]
    ) -> list[Transitioned]:
        if not alerts.resolve(scope.connection, alert.id, now=scope.now, by=ACTOR, reason=reason):
            return []
        return [self._event(scope, alert.id, key, Transition.RESOLVED, details, dispatch=True)]

    def _event(
        self,
        scope: _Scope,
        alert_id: int,
        key: str,
        transition: Transition,
        details: dict[str, Any],
        *,
        dispatch: bool,
    ) -> Transitioned:
        event = alerts.record_event(
            scope.connection,
            alert_id=alert_id,
            event_type=_EVENT_TYPES[transition],
            actor=ACTOR,
            now=scope.now,
            details=details,
            execution_id=scope.execution_id,
            dispatch=dispatch,
        )
        telemetry.record_alert_transition(
            transition=transition.value,
            severity=severity(scope.kpi.priority).value,
            alert_id=alert_id,
            kpi=scope.kpi.indicator,
            metric_key=key,
        )
        return Transitioned(alert_id=alert_id, metric_key=key, transition=transition, event=event)


def _band_details(evaluation: Evaluation) -> dict[str, Any]:
    """The seasonal band of an evaluation for its event (what a notice says was expected, and from when)."""
    band = evaluation.band
    if band is None:
        return {}
    return {
        "expected": band.expected,
        "lower": band.lower,
        "upper": band.upper,
        "baseline_weeks": [f"{at:%Y-%m-%d}" for at in band.weeks],
    }


_EVENT_TYPES = {
    Transition.OPENED: AlertEventType.OPENED,
    Transition.RETRIGGERED: AlertEventType.RETRIGGERED,
    Transition.RESOLVED: AlertEventType.RESOLVED,
}

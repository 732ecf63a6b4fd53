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
        open_alerts = alerts.unresolved(connection, kpi.id)
        done: list[Transitioned] = []
        if succeeded:
            done += self._metrics(connection, kpi, claimed, evaluations, open_alerts, now)
            done += self._auto_resolve(connection, open_alerts, {e.key for e in evaluations}, now)
        decision = decide_failure(
            failed=not succeeded,
            consecutive_failures=failures,
            alert=open_alerts.get(FAILURE_KEY),
            policy=kpi.policy,
            now=now,
        )
        details = {"consecutive_failures": failures, "execution_id": claimed.execution_id}
        done += self._apply(
            connection,
            kpi,
            FAILURE_KEY,
            decision,
            open_alerts.get(FAILURE_KEY),
            AlertValues(),
            details,
            claimed.execution_id,
            now,
            kind=AlertKind.EXECUTION_FAILURE,
        )
        return done

    def record_failure(
        self, connection: Connection, kpi_id: int, execution_id: uuid.UUID, *, error: str, now: datetime
    ) -> list[Transitioned]:
        """Count a failure that happened outside an executor (poisoned message, abandoned lease)."""
        failures = count_outcome(connection, kpi_id, succeeded=False, now=now)
        kpi = load_kpi(connection, kpi_id)
        if kpi is None:
            return []
        current = alerts.unresolved(connection, kpi_id).get(FAILURE_KEY)
        decision = decide_failure(
            failed=True, consecutive_failures=failures, alert=current, policy=kpi.policy, now=now
        )
        details = {"consecutive_failures": failures, "execution_id": execution_id, "error": error}
        return self._apply(
            connection,
            kpi,
            FAILURE_KEY,
            decision,
            current,
            AlertValues(),
            details,
            execution_id,
            now,
            kind=AlertKind.EXECUTION_FAILURE,
        )

    def _metrics(
        self,
        connection: Connection,
        kpi: Kpi,
        claimed: Claim,
        evaluations: list[Evaluation],
        open_alerts: dict[str, OpenAlert],
        now: datetime,
    ) -> list[Transitioned]:
        streaks = alerts.streaks(connection, kpi.id)
        start, end = window(claimed.slot, kpi.last_minutes)
        done: list[Transitioned] = []
        for evaluation in evaluations:
            decision = decide(
                breach=evaluation.breach,
                streak=streaks.get(evaluation.key, Streak()),
                alert=open_alerts.get(evaluation.key),
                policy=kpi.policy,
                now=now,
            )
            alerts.save_streak(
                connection,
                kpi_id=kpi.id,
                metric_key=evaluation.key,
                streak=decision.streak,
                now=now,
                breach=evaluation.breach,
            )
            values = AlertValues(
                current=finite_or_none(evaluation.current),
                baseline=evaluation.baseline,
                deviation_percent=finite_or_none(evaluation.deviation_percent),
            )
            details = {
                "current": evaluation.current,
                "baseline": evaluation.baseline,
                "deviation_percent": evaluation.deviation_percent,
                "reasons": list(evaluation.reasons),
                "window_start": start,
                "window_end": end,
                "slot": claimed.slot,
            }
            done += self._apply(
                connection,
                kpi,
                evaluation.key,
                decision,
                open_alerts.get(evaluation.key),
                values,
                details,
                claimed.execution_id,
                now,
                kind=AlertKind.BREACH,
            )
        return done

    def _auto_resolve(
        self, connection: Connection, open_alerts: dict[str, OpenAlert], reported: set[str], now: datetime
    ) -> list[Transitioned]:
        """Resolve this KPI's breach alerts for metrics no longer reported, once they went without a breach
        for `AutoResolutionTimeoutMinutes` (the alert processor does it for KPIs that stopped running)."""
        if not self._processing.enable_auto_resolution:
            return []
        timeout = timedelta(minutes=self._processing.auto_resolution_timeout_minutes)
        done = []
        for key, alert in open_alerts.items():
            if (
                key != FAILURE_KEY
                and key not in reported
                and auto_resolve_due(alert, now=now, timeout=timeout)
            ):
                reason = f"no breach for {self._processing.auto_resolution_timeout_minutes} min"
                done += self._resolve(connection, key, alert, reason, {"reason": reason}, None, now)
        return done

    def _apply(
        self,
        connection: Connection,
        kpi: Kpi,
        key: str,
        decision: Decision,
        alert: OpenAlert | None,
        values: AlertValues,
        details: dict[str, Any],
        execution_id: uuid.UUID,
        now: datetime,
        *,
        kind: AlertKind,
    ) -> list[Transitioned]:
        details = {**details, "metric_key": key, "reason": decision.reason}
        if decision.transition is Transition.OPENED:
            return [
                self._open(connection, kpi, key, kind, values, details, execution_id, now, decision.notify)
            ]
        if decision.transition is Transition.RETRIGGERED and alert is not None:
            alerts.retrigger(connection, alert.id, values=values, now=now, notified=decision.notify)
            if not decision.notify:
                return []
            event = alerts.record_event(
                connection,
                alert_id=alert.id,
                event_type=AlertEventType.RETRIGGERED,
                actor=ACTOR,
                now=now,
                details=details,
                execution_id=execution_id,
                dispatch=True,
            )
            return [
                Transitioned(alert_id=alert.id, metric_key=key, transition=decision.transition, event=event)
            ]
        if decision.transition is Transition.RESOLVED and alert is not None:
            return self._resolve(connection, key, alert, decision.reason, details, execution_id, now)
        return []

    def _open(
        self,
        connection: Connection,
        kpi: Kpi,
        key: str,
        kind: AlertKind,
        values: AlertValues,
        details: dict[str, Any],
        execution_id: uuid.UUID,
        now: datetime,
        notify: bool,
    ) -> Transitioned:
        escalate_at = (
            now + timedelta(minutes=self._processing.escalation_timeout_minutes)
            if self._processing.enable_escalation
            else None
        )
        alert_id = alerts.open_alert(
            connection,
            kpi_id=kpi.id,
            metric_key=key,
            kind=kind,
            severity=severity(kpi.priority),
            values=values,
            now=now,
            next_escalation_at=escalate_at,
        )
        event = alerts.record_event(
            connection,
            alert_id=alert_id,
            event_type=AlertEventType.OPENED,
            actor=ACTOR,
            now=now,
            details=details,
            execution_id=execution_id,
            dispatch=notify,
        )
        return Transitioned(alert_id=alert_id, metric_key=key, transition=Transition.OPENED, event=event)

    def _resolve(
        self,
        connection: Connection,
        key: str,
        alert: OpenAlert,
        reason: str,
        details: dict[str, Any],
        execution_id: uuid.UUID | None,
        now: datetime,
    ) -> list[Transitioned]:
        if not alerts.resolve(connection, alert.id, now=now, by=ACTOR, reason=reason):
            return []
        event = alerts.record_event(
            connection,
            alert_id=alert.id,
            event_type=AlertEventType.RESOLVED,
            actor=ACTOR,
            now=now,
            details=details,
            execution_id=execution_id,
            dispatch=True,
        )
        return [Transitioned(alert_id=alert.id, metric_key=key, transition=Transition.RESOLVED, event=event)]

"""Applying alert decisions after an execution: streaks, open / retrigger / resolve, audit events and outbox.

The decisions themselves are pure (`shared.domain.alerting`); this module reads the state they need and writes
what they decide, inside the caller's transaction. Events that tell someone (an alert opened, re-notified
after its cooldown, resolved) get an outbox entry and are returned for dispatch to `alert-events`; a
re-trigger inside the cooldown refreshes the alert and writes its `retriggered` event without an outbox
entry, so every transition is in the audit trail but nobody is told twice within the cooldown.

Every evaluation of a key with an alert moves the alert's `stale_at` to three of the KPI's periods after the
evaluated slot; auto-resolution by timeout takes only alerts past it (`alerting.auto_resolve_due`). A key
with an alert that a successful run did not return is no data (`shared.domain.no_data`): the run's
evaluations gain a no-data evaluation for it, and the KPI's `no_data` mode says whether it counts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from shared import telemetry
from shared.db import alerts
from shared.db.alerts import AlertValues
from shared.db.kpis import Outcome, count_outcome, load_kpi
from shared.db.types import finite_or_none
from shared.domain.alert import SYSTEM_ACTOR, AlertEventType, AlertKind, EventRef
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
from shared.domain.evaluation import Evaluation, no_data_evaluation
from shared.domain.execution import Claim
from shared.domain.kpi import Kpi
from shared.domain.no_data import missing_keys, no_data_breach
from shared.domain.schedule import stale_after, window
from shared.settings import Settings

#: The metric key of a KPI's "execution failing" alert.
FAILURE_KEY = "(execution)"


@dataclass(frozen=True, kw_only=True, slots=True)
class Transitioned:
    alert_id: int
    metric_key: str
    transition: Transition
    event: EventRef | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Recorded:
    """What recording one execution did: every metric as judged (no-data keys included) and the alert
    transitions."""

    evaluations: list[Evaluation]
    transitions: list[Transitioned]
    #: why some transitions were not applied (a newer slot of the KPI came first), or None
    skipped: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class _Scope:
    """What every write of one recording shares: the transaction, the KPI, the execution and the time."""

    connection: Connection
    kpi: Kpi
    execution_id: uuid.UUID | None
    now: datetime
    stale_at: datetime  #: where an evaluation moves its alert's `stale_at`


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
        outcome: Outcome,
        succeeded: bool,
        now: datetime,
        open_alerts: dict[str, OpenAlert] | None = None,
    ) -> Recorded:
        """Apply the breach decisions of each evaluated metric (and of each alerted key the run did not
        return: no data) and the KPI's failure decision.

        A slot that finishes after a newer slot of its KPI (its message was lost and re-sent by the sweep)
        must not undo what the newer one decided: its metric transitions (open, retrigger, resolve, streaks,
        no data, stale marks) are skipped when a newer slot's metrics were already evaluated, and its failure
        decision when a newer slot already finished. Its history is still written by the caller.

        `open_alerts`: the KPI's unresolved alerts when the caller read them already (a batch reads those of
        all its KPIs in one statement)."""
        scope = _Scope(
            connection=connection,
            kpi=kpi,
            execution_id=claimed.execution_id,
            now=now,
            stale_at=stale_after(kpi.schedule, claimed.slot),
        )
        if open_alerts is None:
            open_alerts = alerts.unresolved(connection, kpi.id)
        done: list[Transitioned] = []
        if succeeded:
            alerted = [key for key in open_alerts if key != FAILURE_KEY]
            missing = missing_keys(reported=(e.key for e in evaluations), alerted=alerted)
            evaluations = [*evaluations, *map(no_data_evaluation, missing)]
            if not outcome.newer_evaluation:
                done += self._metrics(scope, claimed.slot, evaluations, open_alerts)
        if not outcome.newer_run:
            done += self._failure(
                scope, failed=not succeeded, failures=outcome.failures, alert=open_alerts.get(FAILURE_KEY)
            )
        return Recorded(evaluations=evaluations, transitions=done, skipped=_skipped(outcome, succeeded))

    def record_failure(
        self, connection: Connection, kpi_id: int, execution_id: uuid.UUID, *, error: str, now: datetime
    ) -> list[Transitioned]:
        """Count a failure that happened outside an executor (poisoned message, abandoned lease)."""
        failures = count_outcome(connection, kpi_id, succeeded=False, now=now)
        kpi = load_kpi(connection, kpi_id)
        if kpi is None:
            return []
        scope = _Scope(
            connection=connection,
            kpi=kpi,
            execution_id=execution_id,
            now=now,
            stale_at=stale_after(kpi.schedule, now),  # the failed slot is not known here; now is later
        )
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
        done: list[Transitioned] = []
        changes: list[alerts.StreakChange] = []
        evaluated: list[int] = []  # alerts whose key was evaluated without a transition
        for e in evaluations:
            breach = no_data_breach(policy.no_data) if e.no_data else e.breach
            if breach is None:  # no data, and the KPI keeps the alert as it is
                continue
            alert = open_alerts.get(e.key)
            decision = decide(
                breach=breach, streak=streaks.get(e.key, Streak()), alert=alert, policy=policy, now=scope.now
            )
            changes.append(alerts.StreakChange(metric_key=e.key, streak=decision.streak, breach=breach))
            if decision.transition is Transition.NONE:
                evaluated += [alert.id] if alert is not None else []
                continue
            done += self._apply(
                scope, e.key, AlertKind.BREACH, decision, alert, _values(e), _details(e, scope.kpi, slot)
            )
        alerts.mark_evaluated(scope.connection, evaluated, stale_at=scope.stale_at)
        if tracked:
            alerts.save_streaks(
                scope.connection, kpi_id=scope.kpi.id, changes=changes, stored=streaks, now=scope.now
            )
        return done + self._auto_resolve(scope, open_alerts, {c.metric_key for c in changes})

    def _auto_resolve(
        self, scope: _Scope, open_alerts: dict[str, OpenAlert], counted: set[str]
    ) -> list[Transitioned]:
        """Resolve this KPI's breach alerts whose keys this run did not count (not returned, or no data kept
        as it is) once they are stale for `AutoResolutionTimeoutMinutes` (the alert processor does it for
        KPIs that stopped running)."""
        if not self._processing.enable_auto_resolution:
            return []
        minutes = self._processing.auto_resolution_timeout_minutes
        done = []
        for key, alert in open_alerts.items():
            due = auto_resolve_due(alert, now=scope.now, timeout=timedelta(minutes=minutes))
            if key != FAILURE_KEY and key not in counted and due:
                reason = f"not evaluated for three periods and {minutes} min"
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
                scope.connection,
                alert.id,
                values=values,
                now=scope.now,
                notified=decision.notify,
                stale_at=scope.stale_at,
            )
            # Every retrigger is audited; only one that notifies (after the cooldown) goes to the outbox.
            return [
                self._event(scope, alert.id, key, Transition.RETRIGGERED, details, dispatch=decision.notify)
            ]
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
            stale_at=scope.stale_at,
        )
        return self._event(scope, alert_id, key, Transition.OPENED, details, dispatch=notify)

    def _resolve(
        self, scope: _Scope, key: str, alert: OpenAlert, reason: str, details: dict[str, Any]
    ) -> list[Transitioned]:
        if not alerts.resolve(scope.connection, alert.id, now=scope.now, by=SYSTEM_ACTOR, reason=reason):
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
            actor=SYSTEM_ACTOR,
            now=scope.now,
            details=details,
            execution_id=scope.execution_id,
            dispatch=dispatch,
        )
        # The execution's ids, also where no enclosing context names them (a batch of several, a manual run).
        with telemetry.log_context(execution_id=scope.execution_id, kpi_id=scope.kpi.id):
            telemetry.record_alert_transition(
                transition=transition.value,
                severity=severity(scope.kpi.priority).value,
                alert_id=alert_id,
                kpi=scope.kpi.indicator,
                metric_key=key,
            )
        return Transitioned(alert_id=alert_id, metric_key=key, transition=transition, event=event)


def _skipped(outcome: Outcome, succeeded: bool) -> str | None:
    """What `after_execution` left out because a newer slot of the KPI came first."""
    parts = []
    if succeeded and outcome.newer_evaluation:
        parts.append("metric alert transitions")
    if outcome.newer_run:
        parts.append("the failure count and its alert")
    if not parts:
        return None
    return f"{' and '.join(parts)} skipped: a newer slot of the KPI was already recorded"


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


def _values(e: Evaluation) -> AlertValues:
    return AlertValues(
        current=finite_or_none(e.current),
        baseline=e.baseline,
        deviation_percent=finite_or_none(e.deviation_percent),
        expected=e.expected,
        lower=e.lower,
        upper=e.upper,
    )


def _details(e: Evaluation, kpi: Kpi, slot: datetime) -> dict[str, Any]:
    """What an event of this evaluation records: its values (null for no data), reasons and window."""
    start, end = window(slot, kpi.last_minutes)
    details: dict[str, Any] = {
        "current": None if e.no_data else e.current,
        "baseline": e.baseline,
        "deviation_percent": e.deviation_percent,
        **_band_details(e),
        "reasons": list(e.reasons),
        "window_start": start,
        "window_end": end,
        "slot": slot,
    }
    if e.no_data:
        details["no_data"] = True
    return details


_EVENT_TYPES = {
    Transition.OPENED: AlertEventType.OPENED,
    Transition.RETRIGGERED: AlertEventType.RETRIGGERED,
    Transition.RESOLVED: AlertEventType.RESOLVED,
}

"""Alerting: the alert state machine of one (KPI, metric key). Pure functions, `now` passed in.

Breaches extend a streak; `fire_after` consecutive breaches open an alert. While the alert is unresolved,
each breach retriggers it, and contacts hear again only if it is still OPEN (acknowledging stops that) and
its last notification is at least `cooldown_minutes` old. Cooldown looks at this alert only: a new episode
after a resolution notifies at once. `resolve_after` consecutive clean evaluations resolve it, with a
resolved notice. Executions that fail `failure_alert_after` times in a row raise their own alert, which the
next success resolves. An alert resolves by timeout only when its KPI has stopped evaluating its key: every
evaluation (a breach, a clean value that does not resolve it yet, a counted no-data run, a failed execution
for the failure alert) moves its `stale_at` to three of the KPI's periods after the evaluated slot
(`schedule.stale_after`), and the alert is due `AutoResolutionTimeoutMinutes` after that, however old it
is. A daily KPI's alert therefore stays open between two runs; a deactivated KPI's, or a key that stopped
reporting under `no_data: keep`, resolves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.domain.alert import UNRESOLVED, AlertStatus, Severity
from shared.domain.clock import require_aware
from shared.domain.kpi import AlertPolicy, Priority

_SEVERITIES = {Priority.CRITICAL: Severity.CRITICAL, Priority.WARNING: Severity.WARNING}


def _require_aware(name: str, moment: datetime) -> None:
    require_aware(moment, name)


@dataclass(frozen=True, kw_only=True, slots=True)
class Streak:
    """How many evaluations in a row breached, or were clean (one of the two is 0)."""

    breaches: int = 0  #: consecutive breaching evaluations
    clean: int = 0  #: consecutive clean evaluations

    def __post_init__(self) -> None:
        if self.breaches < 0 or self.clean < 0:
            raise ValueError(f"a streak counts up from 0, got {self}")


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenAlert:
    """The unresolved alert of a (KPI, metric key), if any: OPEN or ACKNOWLEDGED, with aware times."""

    id: int
    status: AlertStatus
    opened_at: datetime
    last_triggered_at: datetime
    last_notified_at: datetime | None
    #: when the key counts as no longer evaluated (three periods after the slot that last evaluated it);
    #: None for an alert nothing evaluates (a system alert): never resolved by timeout
    stale_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.status not in UNRESOLVED:
            raise ValueError(f"alert {self.id} is {self.status}, not unresolved")
        _require_aware("opened_at", self.opened_at)
        _require_aware("last_triggered_at", self.last_triggered_at)
        if self.last_notified_at is not None:
            _require_aware("last_notified_at", self.last_notified_at)
        if self.stale_at is not None:
            _require_aware("stale_at", self.stale_at)


class Transition(StrEnum):
    NONE = "none"
    OPENED = "opened"
    RETRIGGERED = "retriggered"
    RESOLVED = "resolved"


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    """What one evaluation does to the alert: the new streak, the transition, and whether contacts hear."""

    streak: Streak
    transition: Transition
    notify: bool  #: whether contacts are told about this transition
    reason: str  #: short and human-readable


def decide(
    *, breach: bool, streak: Streak, alert: OpenAlert | None, policy: AlertPolicy, now: datetime
) -> Decision:
    """The next step of the breach state machine after one evaluation of a (KPI, metric key).

    `streak` and `alert` are the state before this evaluation; the returned streak replaces it.
    """
    _require_aware("now", now)
    _check_policy(policy)
    if breach:
        return _on_breach(Streak(breaches=streak.breaches + 1), alert, policy, now)
    return _on_clean(Streak(clean=streak.clean + 1), alert, policy)


def decide_failure(
    *, failed: bool, consecutive_failures: int, alert: OpenAlert | None, policy: AlertPolicy, now: datetime
) -> Decision:
    """The next step of a KPI's "execution failing" alert after one execution.

    `consecutive_failures` already includes this execution when it failed; the caller keeps that count, so
    the returned streak is always empty.
    """
    _require_aware("now", now)
    _check_policy(policy)
    if consecutive_failures < (1 if failed else 0):
        raise ValueError(f"consecutive_failures {consecutive_failures} does not fit failed={failed}")
    if not failed:
        return _on_success(alert)
    if alert is not None:
        return _retrigger(Streak(), alert, policy, now)
    opened = consecutive_failures >= policy.failure_alert_after
    return Decision(
        streak=Streak(),
        transition=Transition.OPENED if opened else Transition.NONE,
        notify=opened,
        reason=f"{_count(consecutive_failures, 'consecutive failure')} "
        f"(failure_alert_after {policy.failure_alert_after})",
    )


def auto_resolve_due(alert: OpenAlert, *, now: datetime, timeout: timedelta) -> bool:
    """Whether `alert`'s key has gone unevaluated for three of its KPI's periods *and* `timeout` since
    (`stale_at + timeout <= now`), whatever the alert's age; never for an alert without `stale_at`."""
    _require_aware("now", now)
    if timeout <= timedelta(0):
        raise ValueError(f"the auto-resolution timeout must be positive, got {timeout}")
    return alert.stale_at is not None and now - alert.stale_at >= timeout


def severity(priority: Priority) -> Severity:
    """The severity of a KPI's alerts: CRITICAL for priority 1, WARNING for priority 2."""
    return _SEVERITIES[Priority(priority)]


def _on_breach(streak: Streak, alert: OpenAlert | None, policy: AlertPolicy, now: datetime) -> Decision:
    if alert is not None:
        return _retrigger(streak, alert, policy, now)
    opened = streak.breaches >= policy.fire_after
    return Decision(
        streak=streak,
        transition=Transition.OPENED if opened else Transition.NONE,
        notify=opened,
        reason=f"{_count(streak.breaches, 'consecutive breach')} (fire_after {policy.fire_after})",
    )


def _on_clean(streak: Streak, alert: OpenAlert | None, policy: AlertPolicy) -> Decision:
    counted = f"{_count(streak.clean, 'clean evaluation')} (resolve_after {policy.resolve_after})"
    if alert is None:
        return Decision(
            streak=streak, transition=Transition.NONE, notify=False, reason=f"{counted}, no alert"
        )
    resolved = streak.clean >= policy.resolve_after
    return Decision(
        streak=streak,
        transition=Transition.RESOLVED if resolved else Transition.NONE,
        notify=resolved,
        reason=counted,
    )


def _on_success(alert: OpenAlert | None) -> Decision:
    if alert is None:
        return Decision(
            streak=Streak(), transition=Transition.NONE, notify=False, reason="execution succeeded"
        )
    return Decision(
        streak=Streak(), transition=Transition.RESOLVED, notify=True, reason="execution succeeded again"
    )


def _retrigger(streak: Streak, alert: OpenAlert, policy: AlertPolicy, now: datetime) -> Decision:
    notify, reason = _renotify(alert, policy, now)
    return Decision(streak=streak, transition=Transition.RETRIGGERED, notify=notify, reason=reason)


def _renotify(alert: OpenAlert, policy: AlertPolicy, now: datetime) -> tuple[bool, str]:
    """Whether a retriggered alert notifies again: only while OPEN, and only after the cooldown."""
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return False, "acknowledged: not re-notified"
    if alert.last_notified_at is None:
        return True, "open alert not notified yet"
    elapsed = now - alert.last_notified_at
    minutes = int(elapsed.total_seconds() // 60)
    detail = f"last notified {minutes} min ago (cooldown {policy.cooldown_minutes} min)"
    if elapsed >= timedelta(minutes=policy.cooldown_minutes):
        return True, f"re-notified: {detail}"
    return False, f"cooldown: {detail}"


def _check_policy(policy: AlertPolicy) -> None:
    counts = {
        "fire_after": policy.fire_after,
        "resolve_after": policy.resolve_after,
        "failure_alert_after": policy.failure_alert_after,
    }
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    if policy.cooldown_minutes < 0:
        raise ValueError(f"cooldown_minutes must not be negative, got {policy.cooldown_minutes}")


def _count(number: int, noun: str) -> str:
    """'1 clean evaluation', '3 consecutive breaches'."""
    plural = noun + ("es" if noun.endswith("ch") else "s")
    return f"{number} {noun if number == 1 else plural}"

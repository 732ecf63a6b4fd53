"""Alert episodes of a replay: the pure `fire_after` / `resolve_after` state machine (`decide`) run over a
sequence of evaluations, per metric key; and the transitions one dry run would make. Pure.

An episode opens at the slot of the evaluation that opened the alert and resolves at the slot of the
evaluation that resolved it. Only breaching and clean evaluations move it: a value that is not a finite
number (no data) leaves the key's alert as it is, and nothing resolves by timeout or waits for a cooldown
(a replay has no wall clock and sends nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.domain.alert import AlertStatus
from shared.domain.alerting import OpenAlert, Streak, Transition, decide, decide_failure
from shared.domain.evaluation import Evaluation
from shared.domain.kpi import AlertPolicy


@dataclass(frozen=True, kw_only=True, slots=True)
class Episode:
    """One alert of one key: when it opened and when it resolved (None: still open)."""

    key: str
    opened_at: datetime
    resolved_at: datetime | None = None


class EpisodeTracker:
    """Follows each key's streak and alert across slots given oldest first."""

    def __init__(self, policy: AlertPolicy) -> None:
        self._policy = policy
        self._streaks: dict[str, Streak] = {}
        self._open: dict[str, OpenAlert] = {}
        self._closed: list[Episode] = []

    def observe(self, slot: datetime, evaluations: Sequence[Evaluation]) -> None:
        """Apply one slot's evaluations."""
        for e in evaluations:
            if math.isfinite(e.current):
                self._step(slot, e.key, breach=e.breach)

    def episodes(self) -> list[Episode]:
        """Every episode so far, resolved or still open, in the order they opened."""
        still_open = [Episode(key=key, opened_at=alert.opened_at) for key, alert in self._open.items()]
        return sorted([*self._closed, *still_open], key=lambda e: (e.opened_at, e.key))

    def _step(self, slot: datetime, key: str, *, breach: bool) -> None:
        alert = self._open.get(key)
        decision = decide(
            breach=breach, streak=self._streaks.get(key, Streak()), alert=alert, policy=self._policy, now=slot
        )
        self._streaks[key] = decision.streak
        if decision.transition is Transition.OPENED:
            self._open[key] = OpenAlert(
                id=0, status=AlertStatus.OPEN, opened_at=slot, last_triggered_at=slot, last_notified_at=slot
            )
        elif decision.transition is Transition.RESOLVED and alert is not None:
            del self._open[key]
            self._closed.append(Episode(key=key, opened_at=alert.opened_at, resolved_at=slot))


@dataclass(frozen=True, kw_only=True, slots=True)
class WouldTransition:
    """A transition a run would make: `alert_id` None for an alert it would open."""

    key: str
    alert_id: int | None
    transition: Transition


def would_transition(
    evaluations: Sequence[Evaluation],
    *,
    streaks: Mapping[str, Streak],
    open_alerts: Mapping[str, OpenAlert],
    policy: AlertPolicy,
    now: datetime,
) -> list[WouldTransition]:
    """The breach alerts one run's evaluations would open, re-notify or resolve, from the stored streaks and
    unresolved alerts (the transitions a real run reports; a re-trigger inside the cooldown tells nobody).
    A value that is not a finite number (no data) changes nothing."""
    found = []
    for e in evaluations:
        if not math.isfinite(e.current):
            continue
        alert = open_alerts.get(e.key)
        decision = decide(
            breach=e.breach, streak=streaks.get(e.key, Streak()), alert=alert, policy=policy, now=now
        )
        if decision.transition is not Transition.NONE and decision.notify:
            found.append(
                WouldTransition(
                    key=e.key, alert_id=None if alert is None else alert.id, transition=decision.transition
                )
            )
    return found


def would_transition_failure(
    key: str, *, failed: bool, failures: int, alert: OpenAlert | None, policy: AlertPolicy, now: datetime
) -> list[WouldTransition]:
    """What one run would do to the KPI's "execution failing" alert (`failures`: in a row before it)."""
    decision = decide_failure(
        failed=failed, consecutive_failures=failures + 1 if failed else 0, alert=alert, policy=policy, now=now
    )
    if decision.transition is Transition.NONE or not decision.notify:
        return []
    return [
        WouldTransition(key=key, alert_id=None if alert is None else alert.id, transition=decision.transition)
    ]

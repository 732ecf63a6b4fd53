"""Alerting: streaks, opening, retriggering under cooldown and acknowledgement, resolution, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.alert import AlertStatus, Severity
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
from shared.domain.kpi import AlertPolicy, Priority, Schedule
from shared.domain.schedule import next_slot_after, stale_after

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NAIVE = datetime(2026, 3, 10, 12, 0)  # noqa: DTZ001 - the naive datetime under test
OPEN, ACKNOWLEDGED = AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED
NONE, OPENED, RETRIGGERED, RESOLVED = (
    Transition.NONE,
    Transition.OPENED,
    Transition.RETRIGGERED,
    Transition.RESOLVED,
)


def minutes(count: float) -> timedelta:
    return timedelta(minutes=count)


def an_alert(
    *,
    status: AlertStatus = OPEN,
    notified_ago: timedelta | None = timedelta(minutes=60),
    triggered_ago: timedelta = timedelta(minutes=5),
    age: timedelta = timedelta(minutes=90),
    stale_ago: timedelta | None = None,
) -> OpenAlert:
    return OpenAlert(
        id=7,
        status=status,
        opened_at=NOW - age,
        last_triggered_at=NOW - triggered_ago,
        last_notified_at=None if notified_ago is None else NOW - notified_ago,
        stale_at=None if stale_ago is None else NOW - stale_ago,
    )


# ------------------------------------------------------------------------------------------------ streaks


@pytest.mark.parametrize(
    ("breach", "before", "after"),
    [
        (True, Streak(), Streak(breaches=1)),
        (True, Streak(breaches=2), Streak(breaches=3)),
        (True, Streak(clean=4), Streak(breaches=1)),  # a breach ends the clean run
        (False, Streak(), Streak(clean=1)),
        (False, Streak(clean=1), Streak(clean=2)),
        (False, Streak(breaches=5), Streak(clean=1)),  # a clean evaluation ends the breach run
    ],
)
def test_each_evaluation_extends_its_own_streak_and_resets_the_other(
    breach: bool, before: Streak, after: Streak
) -> None:
    for alert in (None, an_alert()):
        decision = decide(breach=breach, streak=before, alert=alert, policy=AlertPolicy(), now=NOW)
        assert decision.streak == after


# ------------------------------------------------------------------------------------------------ opening


@pytest.mark.parametrize(
    ("breaches_before", "transition", "reason"),
    [
        (0, NONE, "1 consecutive breach (fire_after 3)"),
        (1, NONE, "2 consecutive breaches (fire_after 3)"),
        (2, OPENED, "3 consecutive breaches (fire_after 3)"),
        (5, OPENED, "6 consecutive breaches (fire_after 3)"),
    ],
)
def test_an_alert_opens_after_fire_after_consecutive_breaches(
    breaches_before: int, transition: Transition, reason: str
) -> None:
    decision = decide(
        breach=True,
        streak=Streak(breaches=breaches_before),
        alert=None,
        policy=AlertPolicy(fire_after=3),
        now=NOW,
    )
    assert decision == Decision(
        streak=Streak(breaches=breaches_before + 1),
        transition=transition,
        notify=transition is OPENED,
        reason=reason,
    )


def test_with_fire_after_one_the_first_breach_opens_and_notifies() -> None:
    decision = decide(breach=True, streak=Streak(), alert=None, policy=AlertPolicy(), now=NOW)
    assert (decision.transition, decision.notify) == (OPENED, True)


# ------------------------------------------------------------------------------- retriggering and cooldown


@pytest.mark.parametrize(
    ("status", "notified_ago", "cooldown", "notify", "reason"),
    [
        (OPEN, None, 30, True, "open alert not notified yet"),
        (OPEN, minutes(10), 30, False, "cooldown: last notified 10 min ago (cooldown 30 min)"),
        (OPEN, minutes(29.99), 30, False, "cooldown: last notified 29 min ago (cooldown 30 min)"),
        (OPEN, minutes(30), 30, True, "re-notified: last notified 30 min ago (cooldown 30 min)"),
        (OPEN, minutes(45), 30, True, "re-notified: last notified 45 min ago (cooldown 30 min)"),
        (OPEN, minutes(0), 0, True, "re-notified: last notified 0 min ago (cooldown 0 min)"),
        (ACKNOWLEDGED, None, 30, False, "acknowledged: not re-notified"),
        (ACKNOWLEDGED, minutes(600), 30, False, "acknowledged: not re-notified"),
    ],
)
def test_a_breach_retriggers_an_unresolved_alert_and_renotifies_only_if_open_and_out_of_cooldown(
    status: AlertStatus, notified_ago: timedelta | None, cooldown: int, notify: bool, reason: str
) -> None:
    decision = decide(
        breach=True,
        streak=Streak(breaches=4),
        alert=an_alert(status=status, notified_ago=notified_ago),
        policy=AlertPolicy(cooldown_minutes=cooldown),
        now=NOW,
    )
    assert decision == Decision(
        streak=Streak(breaches=5), transition=RETRIGGERED, notify=notify, reason=reason
    )


def test_a_breach_retriggers_an_existing_alert_even_below_fire_after() -> None:
    decision = decide(
        breach=True, streak=Streak(clean=1), alert=an_alert(), policy=AlertPolicy(fire_after=3), now=NOW
    )
    assert decision.transition is RETRIGGERED


# ---------------------------------------------------------------------------------------------- resolving


@pytest.mark.parametrize(
    ("clean_before", "status", "transition", "reason"),
    [
        (0, OPEN, NONE, "1 clean evaluation (resolve_after 2)"),
        (1, OPEN, RESOLVED, "2 clean evaluations (resolve_after 2)"),
        (1, ACKNOWLEDGED, RESOLVED, "2 clean evaluations (resolve_after 2)"),
        (6, OPEN, RESOLVED, "7 clean evaluations (resolve_after 2)"),
    ],
)
def test_an_alert_resolves_with_a_notice_after_resolve_after_clean_evaluations(
    clean_before: int, status: AlertStatus, transition: Transition, reason: str
) -> None:
    decision = decide(
        breach=False,
        streak=Streak(clean=clean_before),
        alert=an_alert(status=status),
        policy=AlertPolicy(resolve_after=2),
        now=NOW,
    )
    assert decision == Decision(
        streak=Streak(clean=clean_before + 1),
        transition=transition,
        notify=transition is RESOLVED,
        reason=reason,
    )


def test_a_clean_evaluation_without_an_alert_does_nothing() -> None:
    decision = decide(breach=False, streak=Streak(breaches=2), alert=None, policy=AlertPolicy(), now=NOW)
    assert decision == Decision(
        streak=Streak(clean=1),
        transition=NONE,
        notify=False,
        reason="1 clean evaluation (resolve_after 1), no alert",
    )


# ----------------------------------------------------------------------------------- execution failures


@pytest.mark.parametrize(
    ("failures", "transition", "reason"),
    [
        (1, NONE, "1 consecutive failure (failure_alert_after 3)"),
        (2, NONE, "2 consecutive failures (failure_alert_after 3)"),
        (3, OPENED, "3 consecutive failures (failure_alert_after 3)"),
        (9, OPENED, "9 consecutive failures (failure_alert_after 3)"),
    ],
)
def test_failures_open_an_execution_failing_alert_after_failure_alert_after(
    failures: int, transition: Transition, reason: str
) -> None:
    decision = decide_failure(
        failed=True, consecutive_failures=failures, alert=None, policy=AlertPolicy(), now=NOW
    )
    assert decision == Decision(
        streak=Streak(), transition=transition, notify=transition is OPENED, reason=reason
    )


@pytest.mark.parametrize(
    ("status", "notified_ago", "notify"),
    [
        (OPEN, minutes(5), False),
        (OPEN, minutes(40), True),
        (OPEN, None, True),
        (ACKNOWLEDGED, minutes(40), False),
    ],
)
def test_a_further_failure_retriggers_under_the_same_cooldown_and_acknowledgement_rule(
    status: AlertStatus, notified_ago: timedelta | None, notify: bool
) -> None:
    decision = decide_failure(
        failed=True,
        consecutive_failures=4,
        alert=an_alert(status=status, notified_ago=notified_ago),
        policy=AlertPolicy(cooldown_minutes=30),
        now=NOW,
    )
    assert (decision.streak, decision.transition, decision.notify) == (Streak(), RETRIGGERED, notify)


@pytest.mark.parametrize(
    ("alert", "transition", "notify"),
    [
        (an_alert(), RESOLVED, True),
        (an_alert(status=ACKNOWLEDGED), RESOLVED, True),
        (None, NONE, False),
    ],
)
def test_a_success_resolves_the_execution_failing_alert_with_a_notice(
    alert: OpenAlert | None, transition: Transition, notify: bool
) -> None:
    decision = decide_failure(
        failed=False, consecutive_failures=0, alert=alert, policy=AlertPolicy(), now=NOW
    )
    assert (decision.streak, decision.transition, decision.notify) == (Streak(), transition, notify)


@pytest.mark.parametrize(("failed", "failures"), [(True, 0), (True, -1), (False, -1)])
def test_a_failure_count_that_does_not_fit_the_outcome_is_rejected(failed: bool, failures: int) -> None:
    with pytest.raises(ValueError, match="consecutive_failures"):
        decide_failure(
            failed=failed, consecutive_failures=failures, alert=None, policy=AlertPolicy(), now=NOW
        )


# -------------------------------------------------------------------------------------- auto-resolution


@pytest.mark.parametrize(
    ("stale_ago", "triggered_ago", "age", "due"),
    [
        (minutes(59), minutes(90), minutes(90), False),  # stale, but not yet for the timeout
        (minutes(60), minutes(90), minutes(90), True),
        (minutes(61), minutes(61), minutes(61), True),
        (minutes(-5), timedelta(days=2), timedelta(days=30), False),  # not stale: still being evaluated
        (None, timedelta(days=30), timedelta(days=30), False),  # nothing evaluates it: never by timeout
    ],
)
def test_auto_resolution_is_due_the_timeout_after_the_alert_went_stale(
    stale_ago: timedelta | None, triggered_ago: timedelta, age: timedelta, due: bool
) -> None:
    alert = an_alert(stale_ago=stale_ago, triggered_ago=triggered_ago, age=age)
    assert auto_resolve_due(alert, now=NOW, timeout=minutes(60)) is due


DAILY = Schedule(frequency_minutes=1440)


def test_a_daily_kpis_alert_stays_open_across_24_hours_of_processor_runs() -> None:
    # issue 11: a daily KPI's alert was auto-resolved 120 minutes after its run and re-opened the next day.
    slot = datetime(2026, 3, 10, tzinfo=UTC)
    alert = OpenAlert(
        id=1,
        status=OPEN,
        opened_at=slot,
        last_triggered_at=slot,
        last_notified_at=slot,
        stale_at=stale_after(DAILY, slot),
    )
    runs = [slot + timedelta(seconds=30 * tick) for tick in range(2 * 60 * 24 + 1)]  # every 30 s for a day
    assert not any(auto_resolve_due(alert, now=run, timeout=minutes(120)) for run in runs)


def test_a_deactivated_kpis_alert_resolves_once_three_periods_and_the_timeout_have_passed() -> None:
    slot = datetime(2026, 3, 10, 12, tzinfo=UTC)
    hourly = Schedule(frequency_minutes=60)
    alert = OpenAlert(
        id=1,
        status=OPEN,
        opened_at=slot,
        last_triggered_at=slot,
        last_notified_at=slot,
        stale_at=stale_after(hourly, slot),
    )
    due_at = slot + timedelta(hours=3) + minutes(120)  # nothing evaluates it after `slot`
    assert not auto_resolve_due(alert, now=due_at - timedelta(seconds=1), timeout=minutes(120))
    assert auto_resolve_due(alert, now=due_at, timeout=minutes(120))


def test_a_weekday_cron_kpis_alert_survives_the_weekend() -> None:
    weekdays = Schedule(cron="0 0 9 * * 1-5", timezone="UTC")
    friday = datetime(2026, 3, 13, 9, tzinfo=UTC)
    alert = OpenAlert(
        id=1,
        status=OPEN,
        opened_at=friday,
        last_triggered_at=friday,
        last_notified_at=friday,
        stale_at=stale_after(weekdays, friday),
    )
    monday = next_slot_after(weekdays, friday)
    assert not auto_resolve_due(alert, now=monday - timedelta(seconds=1), timeout=minutes(120))


@pytest.mark.parametrize("timeout", [timedelta(0), minutes(-5)])
def test_a_non_positive_auto_resolution_timeout_is_rejected(timeout: timedelta) -> None:
    with pytest.raises(ValueError, match="timeout"):
        auto_resolve_due(an_alert(), now=NOW, timeout=timeout)


# --------------------------------------------------------------------------------------------- severity


@pytest.mark.parametrize(
    ("priority", "expected"),
    [(Priority.CRITICAL, Severity.CRITICAL), (Priority.WARNING, Severity.WARNING), (1, Severity.CRITICAL)],
)
def test_severity_comes_from_the_kpi_priority_alone(priority: Priority, expected: Severity) -> None:
    # original.md section 7 item 5: four disagreeing deviation-based severity scales, none stored.
    assert severity(priority) is expected


# ----------------------------------------------------------------------------------------- validation


def test_naive_datetimes_are_rejected() -> None:
    policy = AlertPolicy()
    with pytest.raises(ValueError, match="naive"):
        decide(breach=True, streak=Streak(), alert=None, policy=policy, now=NAIVE)
    with pytest.raises(ValueError, match="naive"):
        decide_failure(failed=True, consecutive_failures=1, alert=None, policy=policy, now=NAIVE)
    with pytest.raises(ValueError, match="naive"):
        auto_resolve_due(an_alert(), now=NAIVE, timeout=minutes(60))
    for field in ("opened_at", "last_triggered_at", "last_notified_at", "stale_at"):
        values = {
            "opened_at": NOW,
            "last_triggered_at": NOW,
            "last_notified_at": NOW,
            "stale_at": NOW,
            field: NAIVE,
        }
        with pytest.raises(ValueError, match=field):
            OpenAlert(id=1, status=OPEN, **values)


def test_a_resolved_alert_is_not_an_open_alert() -> None:
    with pytest.raises(ValueError, match="not unresolved"):
        an_alert(status=AlertStatus.RESOLVED)


@pytest.mark.parametrize(
    "policy",
    [
        AlertPolicy(fire_after=0),
        AlertPolicy(resolve_after=0),
        AlertPolicy(failure_alert_after=0),
        AlertPolicy(cooldown_minutes=-1),
    ],
)
def test_a_nonsensical_policy_is_rejected(policy: AlertPolicy) -> None:
    with pytest.raises(ValueError, match="must"):
        decide(breach=True, streak=Streak(), alert=None, policy=policy, now=NOW)


def test_a_negative_streak_is_rejected() -> None:
    with pytest.raises(ValueError, match="streak"):
        Streak(breaches=-1)


# --------------------------------------------------------------------- defects of the original (section 7)


def _apply(decision: Decision, alert: OpenAlert | None, now: datetime) -> OpenAlert | None:
    """What the alert repository does with a decision, reduced to the fields the state machine reads."""
    notified = now if decision.notify else None
    if decision.transition is OPENED:
        return OpenAlert(id=1, status=OPEN, opened_at=now, last_triggered_at=now, last_notified_at=notified)
    if decision.transition is RESOLVED:
        return None
    if decision.transition is RETRIGGERED and alert is not None:
        return OpenAlert(
            id=alert.id,
            status=alert.status,
            opened_at=alert.opened_at,
            last_triggered_at=now,
            last_notified_at=notified or alert.last_notified_at,
        )
    return alert


def test_cooldown_ignores_resolved_alerts_so_a_new_episode_notifies_at_once() -> None:
    # original.md section 7 item 9: cooldown counted resolved alerts; there was no recovery notice.
    policy = AlertPolicy(cooldown_minutes=60)
    streak, alert, notices = Streak(), None, []
    for offset, breach in [(0, True), (5, True), (10, False), (15, True)]:
        now = NOW + minutes(offset)
        decision = decide(breach=breach, streak=streak, alert=alert, policy=policy, now=now)
        streak, alert = decision.streak, _apply(decision, alert, now)
        notices.append((offset, decision.transition, decision.notify))
    assert notices == [
        (0, OPENED, True),
        (5, RETRIGGERED, False),  # within the open alert's cooldown
        (10, RESOLVED, True),  # the resolved notice
        (15, OPENED, True),  # 15 minutes after the last notice, yet a new episode: no cooldown
    ]


def test_an_acknowledged_alert_is_never_renotified_but_still_sends_its_resolved_notice() -> None:
    # original.md section 7 item 9: no open -> acknowledged -> resolved state machine.
    alert = an_alert(status=ACKNOWLEDGED, notified_ago=timedelta(days=1))
    retrigger = decide(breach=True, streak=Streak(breaches=9), alert=alert, policy=AlertPolicy(), now=NOW)
    resolve = decide(breach=False, streak=retrigger.streak, alert=alert, policy=AlertPolicy(), now=NOW)
    assert (retrigger.transition, retrigger.notify) == (RETRIGGERED, False)
    assert (resolve.transition, resolve.notify) == (RESOLVED, True)


def test_failures_alert_after_n_in_a_row() -> None:
    # original.md section 7 item 8: SP failures, timeouts and missing SPs never alerted anyone.
    policy = AlertPolicy(failure_alert_after=3)
    decisions = [
        decide_failure(failed=True, consecutive_failures=count, alert=None, policy=policy, now=NOW)
        for count in (1, 2, 3)
    ]
    assert [(d.transition, d.notify) for d in decisions] == [(NONE, False), (NONE, False), (OPENED, True)]


def test_auto_resolution_considers_alerts_older_than_a_day() -> None:
    # original.md section 7 item 10: auto-resolve and escalation ignored alerts older than 24 h.
    alert = an_alert(age=timedelta(days=3), triggered_ago=timedelta(days=2), stale_ago=timedelta(days=1))
    assert auto_resolve_due(alert, now=NOW, timeout=minutes(60)) is True

"""No data: which keys have none in a run, what a NULL value evaluates to, and what each mode counts it as."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.alert import AlertStatus
from shared.domain.alerting import OpenAlert, Streak, Transition, decide
from shared.domain.evaluation import NO_DATA, evaluate, no_data_evaluation
from shared.domain.kpi import AlertPolicy, NoData, Rule
from shared.domain.no_data import missing_keys, no_data_breach
from shared.domain.observation import Observation

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ALERT = OpenAlert(
    id=1,
    status=AlertStatus.OPEN,
    opened_at=NOW - timedelta(hours=1),
    last_triggered_at=NOW - timedelta(hours=1),
    last_notified_at=NOW - timedelta(hours=1),
)


@pytest.mark.parametrize(
    ("reported", "alerted", "missing"),
    [
        (["a", "b"], ["a"], []),  # every alerted key reported
        (["b"], ["a"], ["a"]),  # a key vanished from a GROUP BY
        ([], ["b", "a"], ["a", "b"]),  # no rows at all: every alerted key
        ([], [], []),  # no rows, no alerts: nothing to track
        (["a"], [], []),  # keys without an alert are never missing
    ],
)
def test_a_key_with_an_alert_and_no_row_is_missing(
    reported: list[str], alerted: list[str], missing: list[str]
) -> None:
    assert missing_keys(reported=reported, alerted=alerted) == missing


@pytest.mark.parametrize(
    ("mode", "counts_as"), [(NoData.KEEP, None), (NoData.ALERT, True), (NoData.OK, False)]
)
def test_each_mode_counts_no_data_as_nothing_a_breach_or_clean(mode: NoData, counts_as: bool | None) -> None:
    assert no_data_breach(mode) is counts_as


def test_a_null_value_evaluates_to_no_data_never_a_breach_by_itself() -> None:
    rule = Rule(deviation_percent=10, minimum_threshold=5)  # a missing value is not "below the minimum"
    judged = evaluate(Observation(key="k", current=None), rule, baseline=100)
    assert judged == no_data_evaluation("k")
    assert (judged.no_data, judged.breach, judged.reasons, judged.baseline) == (True, False, (NO_DATA,), None)
    assert math.isnan(judged.current)


@pytest.mark.parametrize(
    ("mode", "alert", "streak", "transition", "notify"),
    [
        (NoData.ALERT, None, Streak(), Transition.OPENED, True),  # fire_after 1
        (NoData.ALERT, ALERT, Streak(breaches=1), Transition.RETRIGGERED, True),  # cooldown 30 min passed
        (NoData.OK, ALERT, Streak(breaches=1), Transition.RESOLVED, True),  # resolve_after 1
        (NoData.OK, None, Streak(), Transition.NONE, False),
    ],
)
def test_a_counted_no_data_evaluation_drives_the_alert_like_any_other(
    mode: NoData, alert: OpenAlert | None, streak: Streak, transition: Transition, notify: bool
) -> None:
    breach = no_data_breach(mode)
    assert breach is not None
    decision = decide(breach=breach, streak=streak, alert=alert, policy=AlertPolicy(no_data=mode), now=NOW)
    assert (decision.transition, decision.notify) == (transition, notify)

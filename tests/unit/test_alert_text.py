"""What notices say: values formatted for reading, each event kind's subject and body."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.domain.alert import AlertEventType, AlertKind, Severity
from shared.domain.alert_text import (
    AlertFacts,
    EventFacts,
    NoticeLinks,
    compose,
    format_deviation,
    format_number,
    format_time,
    placeholder_values,
)
from shared.domain.kpi import TEMPLATE_PLACEHOLDERS, Threshold, ThresholdOperator

AT = datetime(2026, 11, 28, 19, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "n/a"),
        (float("nan"), "n/a"),
        (float("inf"), "n/a"),
        ("not a number", "n/a"),
        (True, "n/a"),
        (0, "0"),
        (1234567, "1,234,567"),
        (1234.5, "1,234.5"),
        (2.0, "2"),
        (3.14159, "3.14"),
        (-0.000123456, "-0.0001235"),
        (0.5, "0.5"),
        (1e20, "1e+20"),
        (-123456789012345678901234567890.0, "-1.23457e+29"),
        ("42", "42"),
    ],
)
def test_numbers_read_well(value: object, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "n/a"),
        (25.26, "+25.3"),
        (-42, "-42.0"),
        (0, "+0.0"),
        (1e300, "+1e+300"),
        (12345.67, "+12,345.7"),
    ],
)
def test_deviation_is_signed_with_one_decimal(value: object, text: str) -> None:
    assert format_deviation(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (AT, "2026-11-28 19:30 UTC"),
        ("2026-11-28 19:30:00+00:00", "2026-11-28 19:30 UTC"),
        ("2026-11-28T20:30:00+01:00", "2026-11-28 19:30 UTC"),
        ("yesterday", "n/a"),
        (None, "n/a"),
    ],
)
def test_times_are_shown_in_utc(value: object, text: str) -> None:
    assert format_time(value) == text


BREACH = AlertFacts(
    kind=AlertKind.BREACH,
    severity=Severity.CRITICAL,
    metric_key="PayFlow",
    indicator="Settlement Companies",
    owner="Payments",
    subject_template="{Indicator}/{MetricKey}: {CurrentValue} vs {HistoricalValue} ({DeviationPercent}%)",
    description_template="Threshold {Threshold}, minimum {MinimumThreshold}, {Severity}, window "
    "{WindowStart} to {WindowEnd}, at {Timestamp}, owner {Owner}",
    threshold=Threshold(operator=ThresholdOperator.GTE, value=100),
    minimum_threshold=5,
)
DETAILS = {
    "current": 52.0,
    "baseline": 104.5,
    "deviation_percent": -50.239,
    "window_start": "2026-11-28 18:30:00+00:00",
    "window_end": "2026-11-28 19:30:00+00:00",
    "reason": "1 consecutive breach (fire_after 1)",
}


BAND = {"expected": 104.5, "lower": 90.25, "upper": 118.75}


def event(event_type: AlertEventType, level: int = 0, **details: object) -> EventFacts:
    return EventFacts(
        event_type=event_type, escalation_level=level, occurred_at=AT, details={**DETAILS, **details}
    )


def test_every_placeholder_has_a_value() -> None:
    values = placeholder_values(BREACH, event(AlertEventType.OPENED, **BAND))
    assert set(values) == TEMPLATE_PLACEHOLDERS
    assert values == {
        "Indicator": "Settlement Companies",
        "Owner": "Payments",
        "MetricKey": "PayFlow",
        "CurrentValue": "52",
        "HistoricalValue": "104.5",
        "DeviationPercent": "-50.2",
        "Threshold": ">= 100",
        "MinimumThreshold": "5",
        "Severity": "Critical",
        "Timestamp": "2026-11-28 19:30 UTC",
        "WindowStart": "2026-11-28 18:30 UTC",
        "WindowEnd": "2026-11-28 19:30 UTC",
        "Expected": "104.5",
        "Lower": "90.25",
        "Upper": "118.75",
        "AlertUrl": "n/a",
        "AckUrl": "n/a",
    }


def test_the_link_placeholders_take_the_recipient_s_links() -> None:
    links = NoticeLinks(alert_url="https://m.example/api/dashboard?alert=1", ack_url="https://m.example/ack")
    values = placeholder_values(BREACH, event(AlertEventType.OPENED, **BAND), links)
    assert (values["AlertUrl"], values["AckUrl"]) == (links.alert_url, links.ack_url)


def test_a_breach_notice_says_what_was_expected_and_why() -> None:
    facts = event(
        AlertEventType.OPENED,
        **BAND,
        baseline_weeks=["2026-11-21", "2026-11-14", "2026-11-07"],
        reasons=["down 50.2% from 104.5, below the band 90.25 to 118.75"],
    )
    _subject, body = compose(BREACH, facts)
    assert "Value 52; expected 104.5 (band 90.25 to 118.75, from the same slot on 2026-11-21, " in body
    assert "Why: down 50.2% from 104.5, below the band 90.25 to 118.75." in body


def test_an_opened_breach_uses_the_kpis_templates() -> None:
    subject, body = compose(BREACH, event(AlertEventType.OPENED))
    assert subject == "Settlement Companies/PayFlow: 52 vs 104.5 (-50.2%)"
    assert body == (
        "Threshold >= 100, minimum 5, Critical, window 2026-11-28 18:30 UTC to 2026-11-28 19:30 UTC, "
        "at 2026-11-28 19:30 UTC, owner Payments"
    )


@pytest.mark.parametrize(
    ("event_type", "level", "details", "prefix", "preamble"),
    [
        (AlertEventType.RETRIGGERED, 0, {}, "[Still breaching] ", ""),
        (
            AlertEventType.ESCALATED,
            2,
            {},
            "[Escalated to level 2] ",
            "Not acknowledged: escalated to level 2.",
        ),
        (
            AlertEventType.RESOLVED,
            0,
            {"reason": "no breach for 120 min"},
            "[Resolved] ",
            "Resolved: no breach",
        ),
        (
            AlertEventType.RESOLVED,
            0,
            {"by": "alice", "reason": "fixed"},
            "[Resolved] ",
            "Resolved by alice: fixed.",
        ),
        (
            AlertEventType.UNSILENCED,
            0,
            {"reason": "the silence ended", "silence_id": "3"},
            "[Silence ended] ",
            "A silence held this alert's notices; it ended and the alert is still open.",
        ),
        (
            AlertEventType.DELIVERY_FAILED,
            0,
            {"error": "550 no"},
            "[Delivery failed] ",
            "could not be delivered: 550",
        ),
    ],
)
def test_follow_up_events_say_what_happened(
    event_type: AlertEventType, level: int, details: dict[str, str], prefix: str, preamble: str
) -> None:
    subject, body = compose(BREACH, event(event_type, level, **details))
    assert subject == prefix + "Settlement Companies/PayFlow: 52 vs 104.5 (-50.2%)"
    assert preamble in body
    assert body.endswith("owner Payments")


def test_an_execution_failure_is_worded_without_the_value_templates() -> None:
    facts = AlertFacts(
        kind=AlertKind.EXECUTION_FAILURE,
        severity=Severity.WARNING,
        metric_key="(execution)",
        indicator="Deposits",
    )
    subject, body = compose(
        facts,
        EventFacts(
            event_type=AlertEventType.OPENED,
            escalation_level=0,
            occurred_at=AT,
            details={"consecutive_failures": 3, "error": "timeout after 300 s"},
        ),
    )
    assert subject == "Deposits: KPI execution failing"
    assert "Consecutive failures: 3." in body
    assert "Last error: timeout after 300 s" in body


def test_a_subject_is_one_line_whatever_the_values() -> None:
    facts = AlertFacts(
        kind=AlertKind.BREACH,
        severity=Severity.WARNING,
        metric_key="a\r\nBcc: victim@example.com",
        subject_template="{MetricKey}\n{Indicator}",
    )
    subject, _ = compose(facts, event(AlertEventType.OPENED))
    assert "\n" not in subject
    assert "\r" not in subject
    assert subject == "a Bcc: victim@example.com MonitoringGrid"

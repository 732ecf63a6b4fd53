"""What an alert event says to people: placeholder values formatted for reading, and the subject and body of
each kind of event.

Breach alerts use the KPI's own templates. An execution-failure alert has no values to show, and a system
alert belongs to no KPI, so both are worded here. Follow-up events (re-notified, escalated, resolved,
delivery failed) prefix the subject, so a reader tells them from the first notice at a glance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.alert import AlertEventType, AlertKind, Severity
from shared.domain.kpi import Threshold, ThresholdOperator
from shared.domain.template import render

NOT_AVAILABLE = "n/a"
SERVICE_NAME = "MonitoringGrid"
_OPERATORS = {
    ThresholdOperator.GT: ">",
    ThresholdOperator.GTE: ">=",
    ThresholdOperator.LT: "<",
    ThresholdOperator.LTE: "<=",
    ThresholdOperator.EQ: "=",
}
#: Beyond this magnitude numbers are shown in scientific notation rather than as 20 digits.
_HUGE = 1e15


@dataclass(frozen=True, kw_only=True, slots=True)
class AlertFacts:
    """The alert and its KPI, as far as a notice shows them."""

    kind: AlertKind
    severity: Severity
    metric_key: str
    indicator: str = SERVICE_NAME
    owner: str = SERVICE_NAME
    subject_template: str = ""
    description_template: str = ""
    threshold: Threshold | None = None
    minimum_threshold: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NoticeLinks:
    """Links a notice carries for its recipient: the alert on the status page, and a one-click
    acknowledgement. None when the service has no public address (or no ack token secret)."""

    alert_url: str | None = None
    ack_url: str | None = None


NO_LINKS = NoticeLinks()


@dataclass(frozen=True, kw_only=True, slots=True)
class EventFacts:
    """One event of the alert's audit trail; `details` as the event recorded them."""

    event_type: AlertEventType
    escalation_level: int
    occurred_at: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


def format_number(value: object) -> str:
    """A value for reading: thousands separators, at most two decimals (four significant digits below 1),
    scientific notation for huge magnitudes, `n/a` when missing or not finite."""
    number = _finite(value)
    if number is None:
        return NOT_AVAILABLE
    if abs(number) >= _HUGE:
        return f"{number:.6g}"
    if number.is_integer():
        return f"{int(number):,}"
    if abs(number) >= 1:
        return f"{number:,.2f}".rstrip("0").rstrip(".")
    return f"{number:.4g}"


def format_deviation(value: object) -> str:
    """A signed percentage with one decimal (`+25.3`, `-42.0`), `n/a` when there is none."""
    number = _finite(value)
    if number is None:
        return NOT_AVAILABLE
    if abs(number) >= _HUGE:
        return f"{number:+.3g}"
    return f"{number:+,.1f}"


def format_time(value: object) -> str:
    """`2026-11-28 19:30 UTC` for a datetime or an ISO 8601 string; `n/a` otherwise."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return NOT_AVAILABLE
    if not isinstance(moment, datetime):
        return NOT_AVAILABLE
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def placeholder_values(alert: AlertFacts, event: EventFacts, links: NoticeLinks = NO_LINKS) -> dict[str, str]:
    """Every template placeholder's text for this event (and recipient, for the links)."""
    details = event.details
    return {
        "Indicator": alert.indicator,
        "Owner": alert.owner,
        "MetricKey": alert.metric_key,
        "CurrentValue": format_number(details.get("current")),
        "HistoricalValue": format_number(details.get("baseline")),
        "DeviationPercent": format_deviation(details.get("deviation_percent")),
        "Threshold": _threshold(alert.threshold),
        "MinimumThreshold": format_number(alert.minimum_threshold),
        "Severity": alert.severity.value.capitalize(),
        "Timestamp": format_time(event.occurred_at),
        "WindowStart": format_time(details.get("window_start")),
        "WindowEnd": format_time(details.get("window_end")),
        "Expected": format_number(details.get("expected")),
        "Lower": format_number(details.get("lower")),
        "Upper": format_number(details.get("upper")),
        "AlertUrl": links.alert_url or NOT_AVAILABLE,
        "AckUrl": links.ack_url or NOT_AVAILABLE,
    }


def compose(alert: AlertFacts, event: EventFacts, links: NoticeLinks = NO_LINKS) -> tuple[str, str]:
    """The subject (one line) and the plain-text body of the event's notice."""
    values = placeholder_values(alert, event, links)
    subject, body = _first_notice(alert, event, values)
    prefix, preamble = _follow_up(event)
    subject = " ".join(f"{prefix}{subject}".split())
    return subject, f"{preamble}{body}".strip()


def _first_notice(alert: AlertFacts, event: EventFacts, values: dict[str, str]) -> tuple[str, str]:
    details = event.details
    if alert.kind is AlertKind.EXECUTION_FAILURE:
        failures = details.get("consecutive_failures")
        error = details.get("error")
        lines = [f"The KPI {alert.indicator} (owner {alert.owner}) is failing to execute."]
        if failures is not None:
            lines.append(f"Consecutive failures: {failures}.")
        if error:
            lines.append(f"Last error: {error}")
        return f"{alert.indicator}: KPI execution failing", "\n".join(lines)
    if alert.kind is AlertKind.SYSTEM:
        subject = str(details.get("subject") or f"{SERVICE_NAME}: {alert.metric_key}")
        return subject, str(details.get("body") or details.get("reason") or "")
    body = render(alert.description_template, values)
    return render(alert.subject_template, values), _with_explanation(body, details, values)


def _with_explanation(body: str, details: Mapping[str, Any], values: dict[str, str]) -> str:
    """The KPI's own description, then what was expected and why the value breached, when known."""
    lines = []
    if details.get("expected") is not None:
        band = f"band {values['Lower']} to {values['Upper']}"
        weeks = details.get("baseline_weeks") or []
        source = f", from the same slot on {', '.join(map(str, weeks))}" if weeks else ""
        lines.append(f"Value {values['CurrentValue']}; expected {values['Expected']} ({band}{source}).")
    reasons = [str(reason) for reason in details.get("reasons") or []]
    if reasons:
        lines.append("Why: " + "; ".join(reasons) + ".")
    if not lines:
        return body
    return f"{body}\n\n" + "\n".join(lines) if body else "\n".join(lines)


def _follow_up(event: EventFacts) -> tuple[str, str]:
    """The subject prefix and body preamble of an event that follows the first notice."""
    reason = event.details.get("reason")
    because = f": {reason}" if reason else ""
    if event.event_type is AlertEventType.RETRIGGERED:
        return "[Still breaching] ", ""
    if event.event_type is AlertEventType.ESCALATED:
        level = event.escalation_level
        return f"[Escalated to level {level}] ", f"Not acknowledged: escalated to level {level}.\n\n"
    if event.event_type is AlertEventType.RESOLVED:
        by = event.details.get("by")
        who = f" by {by}" if by else ""
        return "[Resolved] ", f"Resolved{who}{because}.\n\n"
    if event.event_type is AlertEventType.UNSILENCED:
        return (
            "[Silence ended] ",
            "A silence held this alert's notices; it ended and the alert is still open.\n\n",
        )
    if event.event_type is AlertEventType.DELIVERY_FAILED:
        error = event.details.get("error") or "unknown error"
        return "[Delivery failed] ", f"This alert's notice could not be delivered: {error}\n\n"
    return "", ""


def _threshold(threshold: Threshold | None) -> str:
    if threshold is None:
        return NOT_AVAILABLE
    return f"{_OPERATORS[threshold.operator]} {format_number(threshold.value)}"


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None

"""Notices for the channel tests: a typical one, and one whose every value is hostile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.domain.targets import TargetRules
from shared.notify import Notice
from shared.notify.targets import TargetPolicy

#: The local receivers listen on loopback over plain http: what `Notifications__AllowHttpLoopback` allows.
LOOPBACK = TargetPolicy(rules=TargetRules(allow_http_loopback=True))
OCCURRED_AT = datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
#: Markup, Slack control sequences, quotes and line breaks, as a KPI's data could hold them.
HOSTILE = "<script>alert('x')</script> & <!channel> <https://evil.test|click> \"q\""


def make_notice(**changes: Any) -> Notice:
    """An opened critical alert on Deposits, with its template fields; `changes` override any attribute."""
    values: dict[str, Any] = {
        "event_id": 42,
        "alert_id": 7,
        "event_type": "opened",
        "severity": "critical",
        "indicator": "Deposits",
        "metric_key": "total",
        "escalation_level": 0,
        "subject": "Deposits total is 40.2% below its baseline",
        "body": "Deposits total is 1,234.5 against a baseline of 2,065.0.\nOwner: Payments team",
        "occurred_at": OCCURRED_AT,
        "fields": {
            "Indicator": "Deposits",
            "CurrentValue": "1,234.5",
            "HistoricalValue": "2,065.0",
            "DeviationPercent": "-40.2%",
            "Owner": "Payments team",
        },
    }
    return Notice(**(values | changes))

"""What every notification channel shares: the notice it delivers, the sender interface and its errors.

A `Notice` is rendered once per alert event (subject and body from the KPI's templates) and handed to each
recipient's channels. A `Sender` delivers one notice to one address and either returns or raises
`DeliveryError`; `permanent` tells the caller that retrying the same delivery cannot succeed (a rejected
address, a webhook that answers 404), so it is marked failed at once instead of being retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.domain.notification import Channel
from shared.domain.recipients import address_of
from shared.errors import MonitoringGridError

__all__ = ["DeliveryError", "Notice", "Sender", "address_of"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """One alert event as its recipients see it."""

    event_id: int
    alert_id: int
    event_type: str  #: an `AlertEventType` value: opened, retriggered, escalated, resolved, ...
    severity: str  #: a `Severity` value: critical or warning
    indicator: str  #: the KPI's indicator ("MonitoringGrid" for the service's own alerts)
    metric_key: str
    escalation_level: int
    subject: str  #: rendered subject, one line
    body: str  #: rendered description, plain text (may hold several lines)
    occurred_at: datetime  #: when the event happened (UTC)
    #: Each placeholder's rendered value ({"CurrentValue": "1,234.5", ...}), for structured channels.
    fields: Mapping[str, str] = field(default_factory=dict)
    alert_url: str | None = None  #: the alert on the status page (Notifications__PublicBaseUrl set)
    ack_url: str | None = None  #: this recipient's one-click acknowledgement link (also AckTokenSecret set)


class DeliveryError(MonitoringGridError):
    """A delivery did not happen. `permanent` when trying again cannot help."""

    def __init__(self, channel: Channel, reason: str, *, permanent: bool = False) -> None:
        self.channel = channel
        self.reason = reason
        self.permanent = permanent
        super().__init__(f"{channel.value}: {reason}")


class Sender(Protocol):
    """Delivers notices through one channel."""

    channel: Channel

    def send(self, notice: Notice, address: str) -> None:
        """Deliver `notice` to `address` (an email address, a phone number or a webhook URL), or raise
        `DeliveryError`."""
        ...

"""A test notice to one contact through its real channels (`mgrid notify test CONTACT [--channel ...]`).

The notice is plainly a test: its subject starts with `[Test]` and its body says it comes from MonitoringGrid
through which channel, and that no alert is open. Each channel the contact has an address on (or the one
asked for) is tried once, through the same senders alerts use, and ends `sent`, `failed` (with the
channel's error) or `skipped` (no address on that channel, or the channel switched off or not configured,
with the reason). Nothing is written: no alert, event, outbox entry or delivery row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine

from shared.db.contacts import contact_named
from shared.domain.contact import Contact
from shared.domain.notification import Channel
from shared.domain.recipients import address_of
from shared.errors import ContactNotFound
from shared.notify import unusable_reason
from shared.notify.base import DeliveryError, Notice, Sender
from shared.settings import Settings

SUBJECT_PREFIX = "[Test]"
_LABELS = {
    Channel.EMAIL: "email",
    Channel.SMS: "SMS",
    Channel.TEAMS: "Microsoft Teams",
    Channel.SLACK: "Slack",
    Channel.WEBHOOK: "webhook",
}


class TrialStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChannelResult:
    channel: Channel
    status: TrialStatus
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TrialReport:
    """What the test did on each channel."""

    contact: str
    results: tuple[ChannelResult, ...]

    @property
    def failed(self) -> bool:
        return any(result.status is TrialStatus.FAILED for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        """`{"contact", "results": [{"channel", "status", "error"}]}`."""
        return {
            "contact": self.contact,
            "results": [
                {"channel": r.channel.value, "status": r.status.value, "error": r.error} for r in self.results
            ],
        }


def send_test_notice(
    engine: Engine,
    settings: Settings,
    senders: Mapping[Channel, Sender],
    name: str,
    *,
    channel: Channel | None,
    now: datetime,
) -> TrialReport:
    """Send the test notice to the contact called `name` (any case) on `channel`, or on every channel it
    has an address on; raises `ContactNotFound`."""
    with engine.connect() as connection:
        stored = contact_named(connection, name)
    if stored is None:
        raise ContactNotFound(name)
    contact = stored.contact
    wanted = [channel] if channel else [c for c in Channel if address_of(contact, c) is not None]
    results = tuple(_try(contact, each, senders, settings, now=now) for each in wanted)
    return TrialReport(contact=contact.name, results=results)


def compose_test_notice(contact: Contact, channel: Channel, *, now: datetime) -> Notice:
    """The test notice for `contact` on `channel`."""
    label = _LABELS[channel]
    return Notice(
        event_id=0,
        alert_id=0,
        event_type="test",
        severity="info",
        indicator="MonitoringGrid",
        metric_key="test",
        escalation_level=0,
        subject=f"{SUBJECT_PREFIX} MonitoringGrid test notice ({label}) for {contact.name}",
        body=(
            f"This is a test notice from MonitoringGrid, sent through the {label} channel to check that "
            "notices reach you. No alert is open and nothing needs doing."
        ),
        occurred_at=now,
        fields={"Channel": label, "Contact": contact.name},
    )


def _try(
    contact: Contact,
    channel: Channel,
    senders: Mapping[Channel, Sender],
    settings: Settings,
    *,
    now: datetime,
) -> ChannelResult:
    address = address_of(contact, channel)
    if address is None:
        reason = f"the contact has no {_LABELS[channel]} address"
        return ChannelResult(channel=channel, status=TrialStatus.SKIPPED, error=reason)
    sender = senders.get(channel)
    if sender is None:
        reason = unusable_reason(channel, settings) or "no sender for this channel"
        return ChannelResult(channel=channel, status=TrialStatus.SKIPPED, error=reason)
    try:
        sender.send(compose_test_notice(contact, channel, now=now), address)
    except DeliveryError as error:
        return ChannelResult(channel=channel, status=TrialStatus.FAILED, error=error.reason)
    except Exception as error:  # a channel's bug is this channel's failure, not the command's
        return ChannelResult(
            channel=channel, status=TrialStatus.FAILED, error=f"{type(error).__name__}: {error}"
        )
    return ChannelResult(channel=channel, status=TrialStatus.SENT)

"""Who hears about an alert event, and through which channels. Pure.

- The first notice (opened), re-notifications and the notice after a silence (unsilenced) go to the
  contacts linked at levels up to the alert's escalation level (level 0 for a new alert); an escalation
  goes to the contacts of the new level only.
- A resolved notice goes to everyone who was told about the alert, on the channels that reached them.
- A lost or undeliverable notice (delivery failed) and the service's own alerts go to the administrator.
- When a notice would reach nobody, the administrator contact receives it instead, so nothing is dropped
  silently; without one the caller records that nobody was told.
- Channels by priority: 1 (critical) SMS and email, 2 (warning) email; Teams, Slack and webhook whenever the
  contact has them. Only channels where the contact has an address count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.domain.alert import AlertEventType
from shared.domain.contact import Contact
from shared.domain.kpi import Priority
from shared.domain.notification import Channel

_CHAT = (Channel.TEAMS, Channel.SLACK, Channel.WEBHOOK)
_BY_PRIORITY = {Priority.CRITICAL: (Channel.SMS, Channel.EMAIL), Priority.WARNING: (Channel.EMAIL,)}
#: Events that notify someone; the others are audit entries only.
NOTIFYING = frozenset(
    {
        AlertEventType.OPENED,
        AlertEventType.RETRIGGERED,
        AlertEventType.ESCALATED,
        AlertEventType.RESOLVED,
        AlertEventType.DELIVERY_FAILED,
        AlertEventType.UNSILENCED,
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    """A stored, active contact (with its id) and the escalation level it is linked at."""

    id: int
    contact: Contact
    level: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Recipient:
    """A contact to tell, and the channels to use."""

    contact_id: int
    contact: Contact
    channels: tuple[Channel, ...]


def address_of(contact: Contact, channel: Channel) -> str | None:
    """The contact's address on `channel`, or None when the contact has none."""
    value = {
        Channel.EMAIL: contact.email,
        Channel.SMS: contact.phone,
        Channel.TEAMS: contact.teams_webhook,
        Channel.SLACK: contact.slack_webhook,
        Channel.WEBHOOK: contact.webhook_url,
    }[channel]
    return value.strip() if value and value.strip() else None


def channels_for(priority: Priority, contact: Contact) -> tuple[Channel, ...]:
    """The channels an alert of `priority` uses to reach `contact`."""
    wanted = (*_BY_PRIORITY[Priority(priority)], *_CHAT)
    return tuple(channel for channel in wanted if address_of(contact, channel) is not None)


def select_recipients(
    *,
    event_type: AlertEventType,
    level: int,
    priority: Priority,
    linked: Sequence[Member],
    notified: Mapping[int, tuple[Member, frozenset[Channel]]],
    admin: Member | None,
) -> list[Recipient]:
    """The recipients of an event at escalation `level` (see the module's rules)."""
    if event_type not in NOTIFYING:
        return []
    if event_type is AlertEventType.RESOLVED:
        return [
            Recipient(contact_id=member.id, contact=member.contact, channels=_ordered(channels))
            for member, channels in notified.values()
            if channels
        ]
    if event_type is AlertEventType.DELIVERY_FAILED:
        members: list[Member] = []
    elif event_type is AlertEventType.ESCALATED:
        members = [member for member in linked if member.level == level]
    else:
        members = [member for member in linked if member.level <= level]
    chosen = [_recipient(member, priority) for member in members]
    chosen = [recipient for recipient in chosen if recipient.channels]
    if not chosen and admin is not None:
        fallback = _recipient(admin, priority)
        return [fallback] if fallback.channels else []
    return chosen


def _recipient(member: Member, priority: Priority) -> Recipient:
    return Recipient(
        contact_id=member.id, contact=member.contact, channels=channels_for(priority, member.contact)
    )


def _ordered(channels: frozenset[Channel]) -> tuple[Channel, ...]:
    return tuple(channel for channel in Channel if channel in channels)

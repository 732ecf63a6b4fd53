"""Who is told about an alert event, and through which channels."""

from __future__ import annotations

import pytest

from shared.domain.alert import AlertEventType
from shared.domain.contact import Contact
from shared.domain.kpi import Priority
from shared.domain.notification import Channel
from shared.domain.recipients import Member, Recipient, channels_for, select_recipients

EVERYTHING = Contact(
    name="all",
    email="all@example.com",
    phone="+441234567890",
    teams_webhook="https://teams.example/hook",
    slack_webhook="https://hooks.slack.example/x",
    webhook_url="https://receiver.example/alerts",
)


@pytest.mark.parametrize(
    ("priority", "contact", "channels"),
    [
        (Priority.CRITICAL, EVERYTHING, ("sms", "email", "teams", "slack", "webhook")),
        (Priority.WARNING, EVERYTHING, ("email", "teams", "slack", "webhook")),
        (Priority.CRITICAL, Contact(name="mail", email="m@example.com"), ("email",)),
        (Priority.WARNING, Contact(name="phone", phone="+441234567890"), ()),
        (Priority.WARNING, Contact(name="chat", slack_webhook="https://hooks.slack.example/x"), ("slack",)),
        (Priority.CRITICAL, Contact(name="blank", email="  ", phone=""), ()),
    ],
)
def test_channels_follow_priority_and_the_addresses_a_contact_has(
    priority: Priority, contact: Contact, channels: tuple[str, ...]
) -> None:
    assert channels_for(priority, contact) == tuple(Channel(c) for c in channels)


def member(contact_id: int, level: int, **channels: str) -> Member:
    return Member(id=contact_id, level=level, contact=Contact(name=f"c{contact_id}", **channels))


LINKED = [
    member(1, 0, email="a@example.com"),
    member(2, 0, email="b@example.com", phone="+441234567891"),
    member(3, 1, email="c@example.com"),
    member(4, 2, slack_webhook="https://hooks.slack.example/d"),
]
ADMIN = member(9, 0, email="admin@example.com")


def chosen(event_type: AlertEventType, level: int = 0, **kwargs: object) -> dict[int, tuple[str, ...]]:
    arguments: dict[str, object] = {
        "priority": Priority.CRITICAL,
        "linked": LINKED,
        "notified": {},
        "admin": ADMIN,
        **kwargs,
    }
    recipients: list[Recipient] = select_recipients(event_type=event_type, level=level, **arguments)  # type: ignore[arg-type]
    return {r.contact_id: tuple(c.value for c in r.channels) for r in recipients}


def test_a_new_alert_goes_to_level_zero() -> None:
    assert chosen(AlertEventType.OPENED) == {1: ("email",), 2: ("sms", "email")}


def test_a_warning_sends_no_sms() -> None:
    assert chosen(AlertEventType.OPENED, priority=Priority.WARNING) == {1: ("email",), 2: ("email",)}


@pytest.mark.parametrize("event_type", [AlertEventType.RETRIGGERED, AlertEventType.UNSILENCED])
def test_a_renotification_goes_to_every_level_reached_so_far(event_type: AlertEventType) -> None:
    assert set(chosen(event_type, level=1)) == {1, 2, 3}


@pytest.mark.parametrize(("level", "ids"), [(1, {3}), (2, {4})])
def test_an_escalation_goes_to_the_new_level_only(level: int, ids: set[int]) -> None:
    assert set(chosen(AlertEventType.ESCALATED, level=level)) == ids


def test_a_resolved_notice_goes_to_whoever_was_reached_on_the_same_channels() -> None:
    notified = {
        2: (LINKED[1], frozenset({Channel.SMS, Channel.EMAIL})),
        4: (LINKED[3], frozenset({Channel.SLACK})),
        3: (LINKED[2], frozenset()),
    }
    assert chosen(AlertEventType.RESOLVED, notified=notified) == {2: ("email", "sms"), 4: ("slack",)}


def test_a_resolved_notice_after_nobody_was_told_goes_to_nobody() -> None:
    assert chosen(AlertEventType.RESOLVED) == {}


@pytest.mark.parametrize(
    "linked", [[], [member(5, 0, phone="+441234567890")], [member(6, 3, email="x@example.com")]]
)
def test_a_notice_that_would_reach_nobody_goes_to_the_administrator(linked: list[Member]) -> None:
    assert chosen(AlertEventType.OPENED, priority=Priority.WARNING, linked=linked) == {9: ("email",)}


def test_without_an_administrator_nobody_is_chosen() -> None:
    assert chosen(AlertEventType.OPENED, linked=[], admin=None) == {}


def test_a_delivery_failure_goes_to_the_administrator_only() -> None:
    assert chosen(AlertEventType.DELIVERY_FAILED) == {9: ("email",)}


@pytest.mark.parametrize(
    "event_type", [AlertEventType.ACKNOWLEDGED, AlertEventType.NOTIFIED, AlertEventType.SILENCED]
)
def test_audit_only_events_tell_nobody(event_type: AlertEventType) -> None:
    assert chosen(event_type) == {}

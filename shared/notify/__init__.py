"""Notification channels: which are configured, which reach a contact, and what every channel shows.

Each channel is a small module behind the `Sender` interface of `base`: `email` (SMTP), `sms` (Azure
Communication Services, or an email-to-SMS gateway), `teams`, `slack` and `webhook` (HTTP through `http`).
`build_senders` builds the configured ones; it imports the channel modules itself, so importing this package
does not load the HTTP, SMTP or Azure clients. `facts` and `one_line` are the rendering every channel shares.
"""

from __future__ import annotations

import re
import ssl

from shared.domain.alert_text import format_time
from shared.domain.notification import Channel
from shared.notify.base import DeliveryError, Notice, Sender, address_of
from shared.settings.model import Settings

__all__ = [
    "DeliveryError",
    "Notice",
    "Sender",
    "address_of",
    "build_senders",
    "facts",
    "not_configured_reason",
    "one_line",
]

#: Template fields already among a notice's own facts, so `facts` does not show them twice.
_OWN_FIELDS = frozenset({"Indicator", "Severity", "MetricKey", "Timestamp", "AlertUrl", "AckUrl"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def build_senders(settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> dict[Channel, Sender]:
    """A sender for every configured channel (see `not_configured_reason`). Teams, Slack and the generic
    webhook need no setting: their address is the contact's URL. `ssl_context` replaces the system trust
    store for SMTP over TLS (a private CA)."""
    from shared.notify.email import EmailSender
    from shared.notify.slack import SlackSender
    from shared.notify.sms import AcsSmsSender, GatewaySmsSender
    from shared.notify.teams import TeamsSender
    from shared.notify.webhook import WebhookSender

    notifications = settings.notifications
    timeout_s = notifications.http_timeout_seconds
    senders: dict[Channel, Sender] = {
        Channel.TEAMS: TeamsSender(timeout_s=timeout_s),
        Channel.SLACK: SlackSender(timeout_s=timeout_s),
        Channel.WEBHOOK: WebhookSender(secret=notifications.webhook_secret, timeout_s=timeout_s),
    }
    if not not_configured_reason(Channel.EMAIL, settings):
        senders[Channel.EMAIL] = EmailSender(notifications.smtp, ssl_context=ssl_context)
    if not not_configured_reason(Channel.SMS, settings):
        gateway = notifications.sms.gateway
        if notifications.sms.mode == "gateway" and gateway is not None:
            senders[Channel.SMS] = GatewaySmsSender(notifications.smtp, gateway, ssl_context=ssl_context)
        else:
            senders[Channel.SMS] = AcsSmsSender(notifications.acs, timeout_s=timeout_s)
    return senders


def not_configured_reason(channel: Channel, settings: Settings) -> str:
    """Why `channel` cannot send, naming the missing app settings ("Notifications__Smtp__Host is not set");
    an empty string when it is configured."""
    notifications = settings.notifications
    missing = _missing_settings(channel, settings)
    if not missing:
        return ""
    verb = "is" if len(missing) == 1 else "are"
    mode = f" (Notifications__Sms__Mode is {notifications.sms.mode})" if channel is Channel.SMS else ""
    return f"{' and '.join(missing)} {verb} not set{mode}"


def _missing_settings(channel: Channel, settings: Settings) -> list[str]:
    notifications = settings.notifications
    smtp_host = [] if notifications.smtp.host else ["Notifications__Smtp__Host"]
    if channel is Channel.EMAIL:
        return smtp_host
    if channel is not Channel.SMS:
        return []
    if notifications.sms.mode == "gateway":
        return smtp_host + ([] if notifications.sms.gateway else ["Notifications__Sms__Gateway"])
    acs = notifications.acs
    wanted = (
        ("Notifications__Acs__ConnectionString", acs.connection_string),
        ("Notifications__Acs__From", acs.from_number),
    )
    return [name for name, value in wanted if value is None]


def facts(notice: Notice) -> list[tuple[str, str]]:
    """The notice as (label, value) pairs in display order, for tables, fact sets and fields: its own
    attributes, then each template field it does not already show ("CurrentValue" as "Current value")."""
    own = [
        ("Indicator", notice.indicator),
        ("Severity", notice.severity),
        ("Event", notice.event_type),
        ("Metric", notice.metric_key),
        ("Escalation level", str(notice.escalation_level)),
        ("Time", format_time(notice.occurred_at)),
    ]
    extra = [(_label(name), value) for name, value in notice.fields.items() if name not in _OWN_FIELDS]
    return own + extra


def links(notice: Notice) -> list[tuple[str, str]]:
    """The notice's links as (label, URL): the alert on the status page, the one-click acknowledgement
    (only while acknowledging still means something: not on a resolved notice)."""
    found = [("View the alert", notice.alert_url)]
    if notice.event_type != "resolved":
        found.append(("Acknowledge", notice.ack_url))
    return [(label, url) for label, url in found if url]


def one_line(text: str) -> str:
    """`text` on one line: line breaks and other control characters become single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _label(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split()
    return " ".join([words[0], *(word.lower() for word in words[1:])]) if words else name

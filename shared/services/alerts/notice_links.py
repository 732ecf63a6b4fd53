"""The links in a notice, per recipient: `{AlertUrl}` (the alert on the status page) and `{AckUrl}` (a signed,
expiring one-click acknowledgement for that contact). Without `Notifications__PublicBaseUrl` there are no
links; without `Notifications__AckTokenSecret` there is no ack link. Placeholders then read `n/a`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import quote

from shared.domain import ack_token
from shared.domain.alert_text import NO_LINKS, NoticeLinks, compose, placeholder_values
from shared.domain.delivery import EventContext
from shared.domain.recipients import Member
from shared.easy_auth import platform_auth_enabled, through_sign_in
from shared.notify.base import Notice
from shared.settings.notifications import NotificationsSettings


def links_for(
    settings: NotificationsSettings, *, alert_id: int, contact_id: int, now: datetime
) -> NoticeLinks:
    base = settings.public_base_url
    if base is None:
        return NO_LINKS
    alert_url = f"{base}/api/dashboard?alert={alert_id}"
    secret = settings.ack_token_secret
    if secret is None:
        return NoticeLinks(alert_url=alert_url)
    token = ack_token.issue(
        secret,
        alert_id=alert_id,
        contact_id=contact_id,
        now=now,
        ttl=timedelta(hours=settings.ack_token_ttl_hours),
    )
    ack_path = f"/api/alerts/{alert_id}/ack?token={quote(token)}"
    # Behind App Service Authentication the ack page needs a signed-in user: the link signs in first.
    ack_url = through_sign_in(base, ack_path) if platform_auth_enabled() else f"{base}{ack_path}"
    return NoticeLinks(alert_url=alert_url, ack_url=ack_url)


def personal(
    notice: Notice | None,
    context: EventContext,
    member: Member | None,
    settings: NotificationsSettings,
    *,
    now: datetime,
) -> Notice | None:
    """The notice as `member` gets it: with their links, its templates rendered again with them."""
    if notice is None or member is None:
        return notice
    links = links_for(settings, alert_id=context.alert_id, contact_id=member.id, now=now)
    if links == NO_LINKS:
        return notice
    subject, body = compose(context.alert, context.event, links)
    fields = placeholder_values(context.alert, context.event, links)
    return replace(
        notice, subject=subject, body=body, fields=fields, alert_url=links.alert_url, ack_url=links.ack_url
    )

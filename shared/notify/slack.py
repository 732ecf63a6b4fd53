"""Slack through an incoming webhook: a Block Kit message with a plain `text` fallback.

Blocks: a header with the subject, a section with the body and the notice's facts as mrkdwn fields (ten per
section, Slack's limit), and a context line naming the alert and the event. Data values are escaped as Slack
asks (`&`, `<`, `>`), so a value cannot mention a channel or forge a link; the header is `plain_text`, which
Slack never parses. Slack answers 200 `ok`, or 4xx with a reason (`invalid_payload`, `no_service`).
"""

from __future__ import annotations

from typing import Any

from shared.domain.alert_text import format_time
from shared.domain.notification import Channel
from shared.notify import facts, links, one_line
from shared.notify.base import Notice
from shared.notify.http import encode_json, post_json

HEADER_LENGTH = 150
SECTION_TEXT_LENGTH = 3000
FIELD_LENGTH = 2000
FIELDS_PER_SECTION = 10


class SlackSender:
    """Posts each notice to a Slack incoming-webhook URL (the contact's address)."""

    channel: Channel = Channel.SLACK

    def __init__(self, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def send(self, notice: Notice, address: str) -> None:
        body = encode_json(slack_message(notice))
        post_json(address, body, channel=self.channel, timeout_s=self._timeout_s, show_path=False)


def escape(text: str) -> str:
    """`text` with Slack's control characters `&`, `<` and `>` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notice: Notice) -> dict[str, Any]:
    """The webhook's JSON: `text` for notifications and clients without blocks, and the blocks."""
    subject = one_line(notice.subject) or "MonitoringGrid alert"
    fields = [
        {"type": "mrkdwn", "text": f"*{escape(label)}*\n{fit(value, FIELD_LENGTH - len(label) - 8)}"}
        for label, value in facts(notice)
    ]
    sections: list[dict[str, Any]] = [
        {"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]}
        for start in range(0, len(fields), FIELDS_PER_SECTION)
    ]
    body = notice.body.strip()
    if body:
        sections[0]["text"] = {"type": "mrkdwn", "text": fit(body, SECTION_TEXT_LENGTH)}
    when = format_time(notice.occurred_at)
    footer = f"MonitoringGrid · alert {notice.alert_id} · event {notice.event_id} · {when}"
    return {
        "text": fit(subject, SECTION_TEXT_LENGTH),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": _cut(subject, HEADER_LENGTH), "emoji": True},
            },
            *sections,
            *_buttons(notice),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
        ],
    }


def _buttons(notice: Notice) -> list[dict[str, Any]]:
    found = links(notice)
    if not found:
        return []
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url} for label, url in found
    ]
    return [{"type": "actions", "elements": buttons}]


def fit(text: str, limit: int) -> str:
    """`text` escaped, cut (with "…") so that the escaped form holds at most `limit` characters."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    pieces: list[str] = []
    used = 0
    for character in text:
        piece = escape(character)
        if used + len(piece) > limit - 1:
            break
        pieces.append(piece)
        used += len(piece)
    return "".join(pieces) + "…"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

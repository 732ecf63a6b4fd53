"""Microsoft Teams through a workflow webhook (Power Automate "When a Teams webhook request is received").

The workflow expects a message with one Adaptive Card attachment, which its "Post card in a chat or channel"
action shows as it is: the subject as the title, a fact set (indicator, severity, event, metric, level, time
and every template field) and the body, one text block per line. The workflow answers 202 Accepted.
"""

from __future__ import annotations

from typing import Any

from shared.domain.notification import Channel
from shared.notify import facts, links, one_line
from shared.notify.base import Notice
from shared.notify.http import encode_json, post_json

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
_TITLE_COLORS = {"critical": "Attention", "warning": "Warning"}


class TeamsSender:
    """Posts each notice as an Adaptive Card to a Teams workflow URL (the contact's address)."""

    channel: Channel = Channel.TEAMS

    def __init__(self, *, timeout_s: float) -> None:
        self._timeout_s = timeout_s

    def send(self, notice: Notice, address: str) -> None:
        body = encode_json(teams_message(notice))
        post_json(address, body, channel=self.channel, timeout_s=self._timeout_s, show_path=False)


def teams_message(notice: Notice) -> dict[str, Any]:
    """The JSON the workflow receives: a message whose only attachment is the notice's card."""
    return {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(notice)}
        ],
    }


def adaptive_card(notice: Notice) -> dict[str, Any]:
    """An Adaptive Card 1.4: title, fact set, then the body."""
    color = "Good" if notice.event_type == "resolved" else _TITLE_COLORS.get(notice.severity, "Default")
    title = {
        "type": "TextBlock",
        "text": one_line(notice.subject) or "MonitoringGrid alert",
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": True,
    }
    fact_set = {
        "type": "FactSet",
        "facts": [{"title": label, "value": value} for label, value in facts(notice)],
    }
    paragraphs = [line for line in notice.body.strip().splitlines() if line.strip()]
    lines = [
        {"type": "TextBlock", "text": line, "wrap": True, "spacing": "None" if index else "Medium"}
        for index, line in enumerate(paragraphs)
    ]
    actions = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links(notice)]
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [title, fact_set, *lines],
        "msteams": {"width": "Full"},
        **({"actions": actions} if actions else {}),
    }

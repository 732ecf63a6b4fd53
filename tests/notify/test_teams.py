"""Teams workflow webhook: the Adaptive Card message a local receiver gets, and its failures."""

from __future__ import annotations

import pytest

from shared.notify.base import DeliveryError
from shared.notify.teams import TeamsSender
from tests.notify.notices import LOOPBACK, make_notice
from tests.receivers import HttpReceiver, Reply


def test_teams_gets_a_message_with_one_adaptive_card(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=202))

    TeamsSender(timeout_s=5, policy=LOOPBACK).send(
        make_notice(), http_receiver.url("/workflows/abc/triggers/manual/paths/invoke")
    )

    (request,) = http_receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    message = request.json()
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    title, fact_set, *lines = card["body"]
    assert title["type"] == "TextBlock"
    assert title["text"] == "Deposits total is 40.2% below its baseline"
    assert title["color"] == "Attention"
    assert fact_set["type"] == "FactSet"
    facts = {fact["title"]: fact["value"] for fact in fact_set["facts"]}
    assert facts["Severity"] == "critical"
    assert facts["Escalation level"] == "0"
    assert facts["Time"] == "2026-01-05 10:15 UTC"
    assert facts["Current value"] == "1,234.5"
    assert [(line["type"], line["text"], line["wrap"]) for line in lines] == [
        ("TextBlock", "Deposits total is 1,234.5 against a baseline of 2,065.0.", True),
        ("TextBlock", "Owner: Payments team", True),
    ]


def test_a_resolved_notice_has_a_green_title(http_receiver: HttpReceiver) -> None:
    TeamsSender(timeout_s=5, policy=LOOPBACK).send(
        make_notice(event_type="resolved"), http_receiver.url("/hook")
    )

    assert http_receiver.requests[0].json()["attachments"][0]["content"]["body"][0]["color"] == "Good"


def test_a_teams_error_names_only_the_host_of_the_workflow_url(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=404, body=b"WorkflowNotFound"))
    url = http_receiver.url("/workflows/SECRET-ID/triggers/manual/paths/invoke?api-version=1&sig=SECRET-SIG")

    with pytest.raises(DeliveryError) as caught:
        TeamsSender(timeout_s=5, policy=LOOPBACK).send(make_notice(), url)

    assert caught.value.permanent
    assert caught.value.reason == f"{http_receiver.base_url} answered 404: WorkflowNotFound"

"""Slack incoming webhook: the Block Kit message a local receiver gets, escaping and limits."""

from __future__ import annotations

from typing import Any

import pytest

from shared.notify.base import DeliveryError
from shared.notify.slack import SlackSender, escape, fit, slack_message
from tests.notify.notices import HOSTILE, LOOPBACK, make_notice
from tests.receivers import HttpReceiver, Reply


def _field_texts(message: dict[str, Any]) -> list[str]:
    return [field["text"] for block in message["blocks"] for field in block.get("fields", [])]


def test_slack_gets_a_header_a_section_with_fields_and_a_context(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=200, body=b"ok"))

    SlackSender(timeout_s=5, policy=LOOPBACK).send(make_notice(), http_receiver.url("/services/T0/B0/xyz"))

    message = http_receiver.requests[0].json()
    assert message["text"] == "Deposits total is 40.2% below its baseline"
    header, section, context = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Deposits total is 40.2% below its baseline", "emoji": True},
    }
    assert section["type"] == "section"
    assert section["text"] == {
        "type": "mrkdwn",
        "text": "Deposits total is 1,234.5 against a baseline of 2,065.0.\nOwner: Payments team",
    }
    assert {"type": "mrkdwn", "text": "*Severity*\ncritical"} in section["fields"]
    assert {"type": "mrkdwn", "text": "*Current value*\n1,234.5"} in section["fields"]
    assert context["type"] == "context"
    assert context["elements"][0]["text"] == "MonitoringGrid · alert 7 · event 42 · 2026-01-05 10:15 UTC"


def test_slack_data_values_are_escaped() -> None:
    notice = make_notice(subject=HOSTILE, body=HOSTILE, fields={"Owner": HOSTILE})

    message = slack_message(notice)

    escaped = "&lt;script&gt;alert('x')&lt;/script&gt; &amp; &lt;!channel&gt; &lt;https://evil.test|click&gt;"
    assert message["text"].startswith(escaped)
    assert message["blocks"][1]["text"]["text"].startswith(escaped)
    assert f'*Owner*\n{escaped} "q"' in _field_texts(message)
    assert "<!channel>" not in str(message["blocks"][1:])


def test_more_than_ten_facts_are_split_into_sections_of_ten() -> None:
    fields = {f"Extra{number}": str(number) for number in range(12)}

    message = slack_message(make_notice(fields=fields))

    sections = [block for block in message["blocks"] if block["type"] == "section"]
    assert [len(section["fields"]) for section in sections] == [10, 8]
    assert len(_field_texts(message)) == 6 + 12


def test_a_long_subject_fits_the_150_character_header() -> None:
    header = slack_message(make_notice(subject="z" * 400))["blocks"][0]["text"]["text"]

    assert len(header) == 150
    assert header.endswith("…")


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("a<b", 10, "a&lt;b"),
        ("<<<<", 10, "&lt;&lt;…"),
        ("abcdef", 4, "abc…"),
        ("&&", 6, "&amp;…"),
        ("&&", 5, "…"),
    ],
)
def test_fit_cuts_before_escaping_so_no_entity_is_split(text: str, limit: int, expected: str) -> None:
    assert fit(text, limit) == expected
    assert len(fit(text, limit)) <= limit


def test_escape_replaces_only_slacks_control_characters() -> None:
    assert escape("a & b < c > d 'e' \"f\" *g*") == "a &amp; b &lt; c &gt; d 'e' \"f\" *g*"


def test_a_slack_error_names_only_the_host_of_the_hook(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=403, body=b"action_prohibited"))

    with pytest.raises(DeliveryError) as caught:
        SlackSender(timeout_s=5, policy=LOOPBACK).send(
            make_notice(), http_receiver.url("/services/T0/B0/SECRET")
        )

    assert caught.value.permanent
    assert caught.value.reason == f"{http_receiver.base_url} answered 403: action_prohibited"

"""Which channels are configured and which reach a contact, what every channel shows, and the senders built
from the app settings delivering to real receivers."""

from __future__ import annotations

import pytest

from shared.domain.contact import Contact
from shared.domain.notification import Channel
from shared.notify import (
    build_senders,
    channel_usability,
    facts,
    not_configured_reason,
    one_line,
    unusable_reason,
)
from shared.notify.email import EmailSender
from shared.notify.sms import AcsSmsSender, GatewaySmsSender
from shared.settings.model import Settings
from tests.notify.notices import make_notice
from tests.receivers import HttpReceiver, SmtpCapture

ACS = {
    "Notifications__Acs__ConnectionString": "endpoint=https://acs.example.test/;accesskey=c2VjcmV0",
    "Notifications__Acs__From": "+18005550100",
}
EVERYWHERE = Contact(
    name="ops",
    email="ops@example.test",
    phone="+447700900123",
    teams_webhook="https://teams.example.test/hook",
    slack_webhook="https://hooks.slack.example.test/x",
    webhook_url="https://hooks.example.test/alerts",
)


def _settings(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings.load()


def test_without_settings_only_teams_slack_and_webhook_are_available(monkeypatch: pytest.MonkeyPatch) -> None:
    senders = build_senders(_settings(monkeypatch, {}))

    assert set(senders) == {Channel.TEAMS, Channel.SLACK, Channel.WEBHOOK}
    assert all(sender.channel is channel for channel, sender in senders.items())


def test_an_smtp_host_enables_email(monkeypatch: pytest.MonkeyPatch) -> None:
    senders = build_senders(_settings(monkeypatch, {"Notifications__Smtp__Host": "mail.example.test"}))

    assert isinstance(senders[Channel.EMAIL], EmailSender)
    assert Channel.SMS not in senders


def test_acs_settings_enable_sms_through_acs(monkeypatch: pytest.MonkeyPatch) -> None:
    senders = build_senders(_settings(monkeypatch, ACS))

    assert isinstance(senders[Channel.SMS], AcsSmsSender)


def test_gateway_mode_needs_the_gateway_and_the_smtp_host(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"Notifications__Sms__Mode": "gateway", "Notifications__Sms__Gateway": "sms.example.test"}
    without_host = build_senders(_settings(monkeypatch, values))
    with_host = build_senders(_settings(monkeypatch, {"Notifications__Smtp__Host": "mail.example.test"}))

    assert Channel.SMS not in without_host
    assert isinstance(with_host[Channel.SMS], GatewaySmsSender)


@pytest.mark.parametrize(
    ("channel", "values", "reason"),
    [
        (Channel.EMAIL, {}, "Notifications__Smtp__Host is not set"),
        (
            Channel.SMS,
            {},
            "Notifications__Acs__ConnectionString and Notifications__Acs__From are not set "
            "(Notifications__Sms__Mode is acs)",
        ),
        (
            Channel.SMS,
            {"Notifications__Acs__ConnectionString": "endpoint=https://a/;accesskey=eA=="},
            "Notifications__Acs__From is not set (Notifications__Sms__Mode is acs)",
        ),
        (
            Channel.SMS,
            {"Notifications__Sms__Mode": "gateway"},
            "Notifications__Smtp__Host and Notifications__Sms__Gateway are not set "
            "(Notifications__Sms__Mode is gateway)",
        ),
        (
            Channel.SMS,
            {"Notifications__Sms__Mode": "gateway", "Notifications__Smtp__Host": "mail.example.test"},
            "Notifications__Sms__Gateway is not set (Notifications__Sms__Mode is gateway)",
        ),
        (Channel.EMAIL, {"Notifications__Smtp__Host": "mail.example.test"}, ""),
        (Channel.SMS, ACS, ""),
        (Channel.TEAMS, {}, ""),
        (Channel.SLACK, {}, ""),
        (Channel.WEBHOOK, {}, ""),
    ],
)
def test_not_configured_reason_names_the_missing_app_settings(
    monkeypatch: pytest.MonkeyPatch, channel: Channel, values: dict[str, str], reason: str
) -> None:
    assert not_configured_reason(channel, _settings(monkeypatch, values)) == reason


def test_facts_list_the_notice_then_its_other_template_fields() -> None:
    assert facts(make_notice()) == [
        ("Indicator", "Deposits"),
        ("Severity", "critical"),
        ("Event", "opened"),
        ("Metric", "total"),
        ("Escalation level", "0"),
        ("Time", "2026-01-05 10:15 UTC"),
        ("Current value", "1,234.5"),
        ("Historical value", "2,065.0"),
        ("Deviation percent", "-40.2%"),
        ("Owner", "Payments team"),
    ]


def test_one_line_turns_line_breaks_and_control_characters_into_single_spaces() -> None:
    assert one_line(" a\r\nb\tc\x00d\u2028e  f ") == "a b c d e f"


def test_senders_built_from_app_settings_deliver_to_real_receivers(
    monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpCapture, http_receiver: HttpReceiver
) -> None:
    settings = _settings(monkeypatch, smtp_server.environment() | {"Notifications__WebhookSecret": "s"})
    senders = build_senders(settings)

    senders[Channel.EMAIL].send(make_notice(), "ops@example.test")
    senders[Channel.WEBHOOK].send(make_notice(), http_receiver.url("/alerts"))

    assert [mail.rcpt_tos for mail in smtp_server.mails] == [("ops@example.test",)]
    assert http_receiver.requests[0].headers["X-MonitoringGrid-Signature"] is not None


@pytest.mark.parametrize("channel", list(Channel))
def test_a_switched_off_channel_has_no_sender_and_says_which_setting_is_off(
    monkeypatch: pytest.MonkeyPatch, channel: Channel
) -> None:
    section = {"email": "Email", "sms": "Sms", "teams": "Teams", "slack": "Slack", "webhook": "Webhook"}
    switch = f"Notifications__{section[channel.value]}__Enabled"
    values = {**ACS, "Notifications__Smtp__Host": "mail.example.test", switch: "false"}
    settings = _settings(monkeypatch, values)

    assert channel not in build_senders(settings)
    assert unusable_reason(channel, settings) == f"{switch} is false"
    assert channel_usability(settings) == {
        other.value: f"{switch} is false" if other is channel else "usable" for other in Channel
    }

"""`send_test_notice` through the real channels on SQLite and PostgreSQL: a real SMTP server (email, and SMS
through an email gateway) and a local HTTP receiver posing as Teams, Slack and a signed webhook endpoint.
Every channel gets one clearly marked test notice, a failing channel is reported as failed, a switched-off
channel as skipped, and nothing is written to the alert tables."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from shared.db.tables import alert_events, alerts, notifications, outbox
from shared.domain.notification import Channel
from shared.errors import ContactNotFound
from shared.notify import build_senders
from shared.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from shared.services.alerts.notify_test import TrialReport, send_test_notice
from shared.settings import Settings
from tests.conftest import Database
from tests.factories import insert_contact
from tests.receivers import HttpReceiver, Reply, SmtpCapture, http_capture, smtp_capture

SECRET = "webhook-signing-secret"


@dataclass
class World:
    database: Database
    smtp: SmtpCapture
    http: HttpReceiver
    monkeypatch: pytest.MonkeyPatch

    def test(self, name: str = "Ops", channel: Channel | None = None, **env: str) -> TrialReport:
        for setting, value in env.items():
            self.monkeypatch.setenv(setting, value)
        settings = Settings.load()
        senders = build_senders(settings)
        now = datetime.now(UTC)
        return send_test_notice(self.database.engine, settings, senders, name, channel=channel, now=now)


@pytest.fixture
def world(database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with smtp_capture() as smtp, http_capture() as http:
        for name, value in smtp.environment().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("Notifications__AllowHttpLoopback", "true")  # the local http receiver
        monkeypatch.setenv("Notifications__Sms__Mode", "gateway")
        monkeypatch.setenv("Notifications__Sms__Gateway", "sms.example.test")
        monkeypatch.setenv("Notifications__WebhookSecret", SECRET)
        monkeypatch.setenv("Notifications__HttpTimeoutSeconds", "5")
        with database.engine.begin() as connection:
            insert_contact(
                connection,
                "Ops",
                email="ops@example.test",
                phone="+44 7700 900001",
                teams_webhook=http.url("/teams"),
                slack_webhook=http.url("/slack"),
                webhook_url=http.url("/hooks/ops?token=secret"),
            )
        yield World(database, smtp, http, monkeypatch)


def alert_rows(database: Database) -> list[int]:
    with database.engine.connect() as connection:
        return [
            int(connection.scalar(select(func.count()).select_from(table)) or 0)
            for table in (alerts, alert_events, outbox, notifications)
        ]


def test_a_test_notice_reaches_every_channel_of_the_contact_and_writes_nothing(world: World) -> None:
    report = world.test("ops")  # names match whatever their case

    assert report.to_dict() == {
        "contact": "Ops",
        "results": [
            {"channel": channel, "status": "sent", "error": None}
            for channel in ("email", "sms", "teams", "slack", "webhook")
        ],
    }
    assert not report.failed
    mails = {mail.rcpt_tos[0]: mail.message for mail in world.smtp.mails}
    assert sorted(mails) == ["447700900001@sms.example.test", "ops@example.test"]
    assert mails["ops@example.test"]["Subject"] == "[Test] MonitoringGrid test notice (email) for Ops"
    plain = mails["ops@example.test"].get_body(preferencelist=("plain",))
    assert plain is not None
    assert "test notice from MonitoringGrid, sent through the email channel" in plain.get_content()
    sms = mails["447700900001@sms.example.test"].get_body(preferencelist=("plain",))
    assert sms is not None
    assert sms.get_content().strip() == "[Test] MonitoringGrid test notice (SMS) for Ops"
    requests = {request.path.split("?")[0]: request for request in world.http.wait_for(3)}
    assert sorted(requests) == ["/hooks/ops", "/slack", "/teams"]
    webhook = requests["/hooks/ops"]
    assert webhook.json()["subject"] == "[Test] MonitoringGrid test notice (webhook) for Ops"
    assert webhook.json()["event_type"] == "test"
    signed = (webhook.headers[TIMESTAMP_HEADER], webhook.body, webhook.headers[SIGNATURE_HEADER])
    assert verify_signature(SECRET, *signed, now=datetime.now(UTC))
    assert "[Test]" in requests["/slack"].body.decode()
    assert "[Test]" in requests["/teams"].body.decode()
    assert alert_rows(world.database) == [0, 0, 0, 0]


def test_a_failing_channel_is_reported_failed_with_its_error_and_the_others_still_go(world: World) -> None:
    world.http.reply_with(Reply(status=200), times=2)  # Teams and Slack
    world.http.reply_with(Reply(status=404))  # the webhook endpoint

    report = world.test()

    statuses = {result["channel"]: result for result in report.to_dict()["results"]}
    assert [statuses[c]["status"] for c in ("email", "sms", "teams", "slack")] == ["sent"] * 4
    assert statuses["webhook"]["status"] == "failed"
    assert "404" in statuses["webhook"]["error"]
    assert "token=secret" not in statuses["webhook"]["error"]
    assert report.failed
    assert alert_rows(world.database) == [0, 0, 0, 0]


def test_one_channel_can_be_tested_alone_and_a_switched_off_one_is_skipped(world: World) -> None:
    only_email = world.test(channel=Channel.EMAIL)
    switched_off = world.test(channel=Channel.SMS, Notifications__Sms__Enabled="false")

    assert [r.status.value for r in only_email.results] == ["sent"]
    assert switched_off.to_dict()["results"] == [
        {"channel": "sms", "status": "skipped", "error": "Notifications__Sms__Enabled is false"}
    ]
    assert not switched_off.failed
    assert [mail.rcpt_tos for mail in world.smtp.mails] == [("ops@example.test",)]
    assert world.http.requests == []


def test_an_unknown_contact_is_an_error_naming_it(world: World) -> None:
    with pytest.raises(ContactNotFound, match="no contact named 'Nobody'"):
        world.test("Nobody")

"""`mgrid notify test`: a real process, a real SMTP server (email, and SMS through an email gateway) and a
local HTTP receiver posing as Teams, Slack and a signed webhook endpoint; the exit code says whether a
channel failed, an unknown contact is an error naming it, and nothing is ever written to the alert tables."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.cli.test_cli import mgrid
from tests.receivers import HttpReceiver, Reply, SmtpCapture, http_capture, smtp_capture

SECRET = "webhook-signing-secret"
CHANNELS = ["email", "sms", "teams", "slack", "webhook"]


@pytest.fixture
def servers() -> Iterator[tuple[SmtpCapture, HttpReceiver]]:
    with smtp_capture() as smtp, http_capture() as http:
        yield smtp, http


@pytest.fixture
def env(servers: tuple[SmtpCapture, HttpReceiver], tmp_path: Path) -> dict[str, str]:
    smtp, http = servers
    settings = {
        "ConnectionStrings__Monitoring": f"sqlite:///{tmp_path / 'monitoring.db'}",
        "Notifications__Sms__Mode": "gateway",
        "Notifications__Sms__Gateway": "sms.example.test",
        "Notifications__WebhookSecret": SECRET,
        "Notifications__HttpTimeoutSeconds": "5",
        **smtp.environment(),
        **http.environment(),
    }
    assert mgrid("db", "upgrade", cwd=tmp_path, **settings).returncode == 0
    (tmp_path / "contacts.yaml").write_text(
        "contacts:\n"
        "  - name: Ops\n"
        "    email: ops@example.test\n"
        "    phone: '+447700900001'\n"
        f"    teams_webhook: '{http.url('/teams')}'\n"
        f"    slack_webhook: '{http.url('/slack')}'\n"
        f"    webhook_url: '{http.url('/hooks/ops?token=secret')}'\n"
        "kpis: []\n",
        encoding="utf-8",
    )
    imported = mgrid("kpi", "import", "contacts.yaml", cwd=tmp_path, **settings)
    assert imported.returncode == 0, imported.stderr
    return settings


def alert_rows(tmp_path: Path) -> dict[str, int]:
    """Rows in each alert table of the monitoring database."""
    tables = ("alerts", "alert_events", "outbox", "notifications")
    with sqlite3.connect(tmp_path / "monitoring.db") as connection:
        return {table: connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in tables}


def test_notify_test_reaches_every_channel_and_exits_0_writing_nothing(
    tmp_path: Path, env: dict[str, str], servers: tuple[SmtpCapture, HttpReceiver]
) -> None:
    result = mgrid("notify", "test", "ops", "--json", cwd=tmp_path, **env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "contact": "Ops",
        "results": [{"channel": channel, "status": "sent", "error": None} for channel in CHANNELS],
    }
    smtp, http = servers
    subjects = {mail.rcpt_tos[0]: str(mail.message["Subject"]) for mail in smtp.mails}
    assert subjects["ops@example.test"] == "[Test] MonitoringGrid test notice (email) for Ops"
    assert sorted(subjects) == ["447700900001@sms.example.test", "ops@example.test"]
    requests = {request.path.split("?")[0]: request for request in http.wait_for(3)}
    assert sorted(requests) == ["/hooks/ops", "/slack", "/teams"]
    webhook = requests["/hooks/ops"]
    assert webhook.json()["event_type"] == "test"
    signed = (webhook.headers[TIMESTAMP_HEADER], webhook.body, webhook.headers[SIGNATURE_HEADER])
    assert verify_signature(SECRET, *signed, now=datetime.now(UTC))
    assert all("[Test]" in requests[path].body.decode() for path in ("/teams", "/slack"))
    assert alert_rows(tmp_path) == dict.fromkeys(("alerts", "alert_events", "outbox", "notifications"), 0)


def test_notify_test_exits_1_when_a_channel_failed_and_still_writes_nothing(
    tmp_path: Path, env: dict[str, str], servers: tuple[SmtpCapture, HttpReceiver]
) -> None:
    smtp, http = servers
    http.reply_with(Reply(status=200), times=2)  # Teams and Slack
    http.reply_with(Reply(status=500))  # the webhook endpoint

    result = mgrid("notify", "test", "Ops", "--json", cwd=tmp_path, **env)

    assert result.returncode == 1
    outcomes = {item["channel"]: item for item in json.loads(result.stdout)["results"]}
    assert [outcomes[channel]["status"] for channel in CHANNELS] == ["sent"] * 4 + ["failed"]
    assert "500" in outcomes["webhook"]["error"]
    assert "token=secret" not in result.stdout + result.stderr
    assert len(smtp.mails) == 2
    assert alert_rows(tmp_path) == dict.fromkeys(("alerts", "alert_events", "outbox", "notifications"), 0)


def test_notify_test_of_one_channel_that_fails_exits_1(
    tmp_path: Path, env: dict[str, str], servers: tuple[SmtpCapture, HttpReceiver]
) -> None:
    servers[1].reply_with(Reply(status=403))

    result = mgrid("notify", "test", "Ops", "--channel", "slack", cwd=tmp_path, **env)

    assert result.returncode == 1
    [outcome] = json.loads(result.stdout)["results"]
    assert (outcome["channel"], outcome["status"]) == ("slack", "failed")
    assert servers[0].mails == []


def test_notify_test_of_a_switched_off_channel_is_skipped_and_exits_0(
    tmp_path: Path, env: dict[str, str], servers: tuple[SmtpCapture, HttpReceiver]
) -> None:
    result = mgrid(
        "notify", "test", "Ops", "--channel", "sms", "--json", cwd=tmp_path,
        **env, Notifications__Sms__Enabled="false",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"] == [
        {"channel": "sms", "status": "skipped", "error": "Notifications__Sms__Enabled is false"}
    ]
    assert servers[0].mails == []


def test_notify_test_of_an_unknown_contact_exits_1_naming_it(tmp_path: Path, env: dict[str, str]) -> None:
    result = mgrid("notify", "test", "Nobody", cwd=tmp_path, **env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "no contact named 'Nobody'" in result.stderr

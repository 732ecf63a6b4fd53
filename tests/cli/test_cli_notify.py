"""`mgrid notify test`: a real process, a real SMTP server and a local HTTP receiver; the exit code says
whether a channel failed, and an unknown contact is an error naming it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import mgrid
from tests.receivers import HttpReceiver, Reply, SmtpCapture, http_capture, smtp_capture


@pytest.fixture
def servers() -> Iterator[tuple[SmtpCapture, HttpReceiver]]:
    with smtp_capture() as smtp, http_capture() as http:
        yield smtp, http


@pytest.fixture
def env(servers: tuple[SmtpCapture, HttpReceiver], tmp_path: Path) -> dict[str, str]:
    smtp, http = servers
    settings = {
        "ConnectionStrings__Monitoring": f"sqlite:///{tmp_path / 'monitoring.db'}",
        **smtp.environment(),
        **http.environment(),
    }
    assert mgrid("db", "upgrade", cwd=tmp_path, **settings).returncode == 0
    (tmp_path / "contacts.yaml").write_text(
        "contacts:\n"
        f"  - {{name: Ops, email: ops@example.test, slack_webhook: '{http.url('/slack')}'}}\n"
        "kpis: []\n",
        encoding="utf-8",
    )
    imported = mgrid("kpi", "import", "contacts.yaml", cwd=tmp_path, **settings)
    assert imported.returncode == 0, imported.stderr
    return settings


def test_notify_test_prints_each_channel_and_exits_0_when_all_were_sent(
    tmp_path: Path, env: dict[str, str], servers: tuple[SmtpCapture, HttpReceiver]
) -> None:
    result = mgrid("notify", "test", "Ops", "--json", cwd=tmp_path, **env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "contact": "Ops",
        "results": [
            {"channel": "email", "status": "sent", "error": None},
            {"channel": "slack", "status": "sent", "error": None},
        ],
    }
    smtp, http = servers
    assert smtp.mails[0].message["Subject"].startswith("[Test] ")
    assert len(http.requests) == 1


def test_notify_test_exits_1_when_a_channel_failed(
    tmp_path: Path, env: dict[str, str], servers: tuple[SmtpCapture, HttpReceiver]
) -> None:
    servers[1].reply_with(Reply(status=403))

    result = mgrid("notify", "test", "Ops", "--channel", "slack", cwd=tmp_path, **env)

    assert result.returncode == 1
    [outcome] = json.loads(result.stdout)["results"]
    assert (outcome["channel"], outcome["status"]) == ("slack", "failed")
    assert servers[0].mails == []


def test_notify_test_of_an_unknown_contact_exits_1_naming_it(tmp_path: Path, env: dict[str, str]) -> None:
    result = mgrid("notify", "test", "Nobody", cwd=tmp_path, **env)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "no contact named 'Nobody'" in result.stderr

"""`mgrid alerts dispatch|ack|resolve|process`: real processes, a real SMTP server, the services' own path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import mgrid
from tests.cli.test_cli_kpi_run import deposits_environment
from tests.receivers import SmtpCapture, smtp_capture

CONTACTS = """\
contacts:
  - {name: Ops, email: ops@example.test}
  - {name: Lead, email: lead@example.test}
"""


@pytest.fixture
def smtp() -> Iterator[SmtpCapture]:
    with smtp_capture() as server:
        yield server


@pytest.fixture
def env(smtp: SmtpCapture, tmp_path: Path) -> dict[str, str]:
    kpi_env = deposits_environment(tmp_path)
    definitions = (tmp_path / "kpis.yaml").read_text(encoding="utf-8")
    linked = definitions.replace(
        '    description_template: "{Indicator} moved {DeviationPercent}%"\n',
        '    description_template: "{Indicator} moved {DeviationPercent}%"\n'
        "    contacts: [{name: Ops, level: 0}, {name: Lead, level: 1}]\n",
    )
    (tmp_path / "kpis.yaml").write_text(CONTACTS + linked, encoding="utf-8")
    settings = {**kpi_env, **smtp.environment()}
    imported = mgrid("kpi", "import", "kpis.yaml", cwd=tmp_path, **settings)
    assert imported.returncode == 0, imported.stderr
    return settings


def run_json(tmp_path: Path, env: dict[str, str], *args: str) -> dict[str, object]:
    result = mgrid(*args, "--json", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_dispatch_ack_resolve_and_process_through_the_cli(
    tmp_path: Path, env: dict[str, str], smtp: SmtpCapture
) -> None:
    opened = json.loads(mgrid("kpi", "run", "Deposits", cwd=tmp_path, **env).stdout)["alerts"][0]["id"]

    dispatched = run_json(tmp_path, env, "alerts", "dispatch")
    assert (dispatched["events"], dispatched["sent"]) == (1, 1)
    assert [mail.rcpt_tos for mail in smtp.mails] == [("ops@example.test",)]
    assert smtp.mails[0].message["Subject"] == "Deposits: 10 vs 100"
    assert run_json(tmp_path, env, "alerts", "dispatch")["events"] == 0  # nothing is left to send

    acknowledged = run_json(tmp_path, env, "alerts", "ack", str(opened), "--by", "alice", "--note", "on it")
    assert (acknowledged["status"], acknowledged["acknowledged_by"], acknowledged["changed"]) == (
        "acknowledged",
        "alice",
        True,
    )

    resolved = run_json(tmp_path, env, "alerts", "resolve", str(opened), "--by", "bob", "--reason", "fixed")
    assert (resolved["status"], resolved["resolved_by"], resolved["resolution_reason"]) == (
        "resolved",
        "bob",
        "fixed",
    )
    assert resolved["notifications"] == {
        "events": 1,
        "missing": 0,
        "sent": 1,
        "retrying": 0,
        "failed": 0,
        "skipped": 0,
        "dropped": 0,
        "held": 0,
    }
    assert [mail.rcpt_tos for mail in smtp.mails] == [("ops@example.test",), ("ops@example.test",)]
    assert smtp.mails[1].message["Subject"] == "[Resolved] Deposits: 10 vs 100"

    processed = run_json(tmp_path, env, "alerts", "process")
    assert processed["errors"] == []
    assert processed["escalated"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("alerts", "ack", "999", "--by", "alice"), "no alert with id 999"),
        (("alerts", "resolve", "999", "--by", "alice"), "no alert with id 999"),
        (("alerts", "ack", "1", "--by", "  "), "say who is acting"),
    ],
)
def test_alert_commands_fail_with_a_message(
    tmp_path: Path, env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = mgrid(*args, cwd=tmp_path, **env)
    assert result.returncode == 1
    assert message in result.stderr

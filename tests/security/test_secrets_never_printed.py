"""No secret ever appears in what the service prints: a realistic run with a distinctive value for every
secret, everything captured and searched.

The run: `mgrid` commands as an operator types them (`settings show`, `health`, `kpi import`, `kpi run` on a
source that refuses connections and whose URL holds a password, `alerts dispatch` through an SMTP server that
rejects the login, an ACS endpoint that is down and a signed webhook, `alerts list`, `notify test`) with logs
at Debug, every stdout and stderr kept; then `GET /api/health`, `/api/health/details` and `/api/metrics`
through the function app's own handlers (what the devhost serves) and the management API (reads, a dry run,
the one-click ack page) through its app, with every log record at DEBUG captured.
On PostgreSQL the monitoring database URL holds a password too (trust authentication ignores it).
Nothing leaves the machine: every server is on 127.0.0.1 and the unreachable ones are closed local ports.
"""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import azure.functions as func
import pytest
from sqlalchemy.engine import make_url

from shared.domain.targets import TargetRules
from shared.notify.slack import SlackSender
from shared.notify.targets import TargetPolicy
from shared.notify.webhook import WebhookSender
from shared.settings import Settings, effective_values, mask_secret
from tests.cli.test_cli import mgrid
from tests.conftest import Database
from tests.notify.notices import make_notice
from tests.receivers import HttpReceiver, SmtpCapture, smtp_capture
from tests.wiring.bindings import indexed_functions

SMTP_PASSWORD = "smtp-pw-Q7x2Lr9"
WEBHOOK_SECRET = "whsec-Zq81Hb3t"
ACS_KEY = "YWNzLXNlY3JldC1rZXktMzE0MTU5"  # base64, as ACS access keys are
SOURCE_PASSWORD = "src-pw-Kt4Nv6w"
MONITORING_PASSWORD = "mon-pw-Jd5Rc8p"
WEBHOOK_TOKEN = "hooktoken-Vb2Mx7"
ACK_TOKEN_SECRET = "acksec-Hn6Wq3z"
SECRETS = [
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    ACS_KEY,
    SOURCE_PASSWORD,
    MONITORING_PASSWORD,
    WEBHOOK_TOKEN,
    ACK_TOKEN_SECRET,
]


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _monitoring_url(database: Database) -> str:
    if database.backend != "postgresql":
        return database.url
    return make_url(database.url).set(password=MONITORING_PASSWORD).render_as_string(hide_password=False)


def _environment(database: Database, smtp: SmtpCapture, port: int) -> dict[str, str]:
    return {
        **smtp.environment(),
        "ConnectionStrings__Monitoring": _monitoring_url(database),
        "ConnectionStrings__Sources__sales": f"postgresql://monitor:{SOURCE_PASSWORD}@127.0.0.1:{port}/sales",
        "Notifications__Smtp__Username": "mgrid",
        "Notifications__Smtp__Password": SMTP_PASSWORD,  # the server expects another one
        "Notifications__WebhookSecret": WEBHOOK_SECRET,
        "Notifications__AckTokenSecret": ACK_TOKEN_SECRET,  # notices carry signed one-click links
        "Notifications__PublicBaseUrl": "http://127.0.0.1:7071",
        "Notifications__Acs__ConnectionString": f"endpoint=https://127.0.0.1:{port}/;accesskey={ACS_KEY}",
        "Notifications__Acs__From": "+18005550100",
        "Notifications__AllowHttpLoopback": "true",
        "Notifications__SendAttempts": "1",
        "Worker__Logging__MinimumLevel": "Debug",
    }


def _definitions(path: Path, http: HttpReceiver) -> Path:
    document = {
        "contacts": [
            {
                "name": "Ops",
                "email": "ops@example.test",
                "phone": "+447700900123",
                "webhook_url": http.url(f"/hooks/ops?token={WEBHOOK_TOKEN}"),
            }
        ],
        "kpis": [
            {
                "indicator": "Deposits",
                "owner": "Payments",
                "priority": 1,
                "source": "sales",
                "query": "SELECT 'k' AS key, COUNT(*) AS current_value FROM deposits",
                "frequency_minutes": 5,
                "last_minutes": 60,
                "deviation_percent": 20,
                "failure_alert_after": 1,
                "subject_template": "{Indicator}: {CurrentValue}",
                "description_template": "{Indicator} moved {DeviationPercent}%",
                "contacts": [{"name": "Ops", "level": 0}],
            }
        ],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


COMMANDS = [
    ("db", "upgrade"),
    ("kpi", "import", "definitions.json"),
    ("settings", "show"),
    ("settings", "show", "--json"),
    ("health",),
    ("health", "--json"),
    ("kpi", "run", "Deposits"),
    ("kpi", "run", "Deposits", "--dry-run"),
    ("alerts", "dispatch"),
    ("alerts", "list", "--json"),
    ("notify", "test", "Ops"),
    ("notify", "test", "Ops", "--json"),
]


def _run_commands(env: dict[str, str], cwd: Path) -> list[str]:
    printed: list[str] = []
    for command in COMMANDS:
        result = mgrid(*command, cwd=cwd, **env)
        printed.append(f"$ mgrid {' '.join(command)} -> {result.returncode}\n{result.stdout}{result.stderr}")
    return printed


def _http_answers() -> list[str]:
    answers = []
    for name, route in (("health", "health"), ("health_details", "health/details"), ("metrics", "metrics")):
        request = func.HttpRequest(method="GET", url=f"http://localhost/api/{route}", body=b"")
        response = indexed_functions()[name].get_user_function()(request)
        answers.append(f"GET /api/{route} -> {response.status_code}\n{response.get_body().decode()}")
    return answers


API_CALLS = [
    ("GET", "/api/kpis", None),
    ("GET", "/api/kpis/1", None),
    ("GET", "/api/kpis/1/history", None),
    ("POST", "/api/kpis/1/run", {"dry_run": True}),
    ("GET", "/api/alerts", None),
    ("GET", "/api/alerts/1", None),
    ("GET", "/api/silences?all=true", None),
    ("GET", "/api/openapi.json", None),
    ("GET", "/api/alerts/1/ack?token=1.1.9999999999.forged", None),
]


def _api_answers() -> list[str]:
    """The management API and the ack page, through the app the `api` function serves."""
    from fastapi.testclient import TestClient

    from shared.api.app import create_app

    answers = []
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        for method, path, body in API_CALLS:
            response = client.request(method, path, json=body)
            answers.append(f"{method} {path} -> {response.status_code}\n{response.text}")
    return answers


def test_no_secret_appears_in_anything_a_full_run_prints(
    database: Database,
    http_receiver: HttpReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = closed_port()
    with smtp_capture(username="mgrid", password="the-right-one") as smtp:
        env = _environment(database, smtp, port)
        _definitions(tmp_path / "definitions.json", http_receiver)
        printed = _run_commands(env, tmp_path)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with caplog.at_level(logging.DEBUG):
            printed += _http_answers()
            printed += _api_answers()
        printed += [
            f"{record.name} {record.levelname} {record.getMessage()} {record.exc_text or ''}"
            for record in caplog.records
        ]

    sent = "\n".join(f"{r.headers.as_string()} {r.body.decode()}" for r in http_receiver.requests)
    assert "/ack?token=" in sent  # the webhook's notice carried a one-click link, signed with the secret
    assert ACK_TOKEN_SECRET not in sent
    everything = "\n".join(printed)
    assert "GET /api/kpis -> 200" in everything
    assert "rejected" in everything or "535" in everything  # the SMTP login really failed
    assert "connection" in everything.lower()  # and the source really refused
    assert any(request.path.startswith("/hooks/ops") for request in http_receiver.requests)  # signed, sent
    leaks = {secret: everything.count(secret) for secret in SECRETS if secret in everything}
    assert leaks == {}, _context(everything, leaks)


def _context(everything: str, leaks: dict[str, int]) -> str:
    lines = [line for line in everything.splitlines() if any(secret in line for secret in leaks)]
    return "\n".join(lines[:20])


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("smtp-pw-Q7x2Lr9", "***"),  # a bare token is hidden whole (it was shown as it is)
        ("UseDevelopmentStorage=true", "UseDevelopmentStorage=true"),
        (
            "endpoint=https://acs.example.test/;accesskey=abc",
            "endpoint=https://acs.example.test/;accesskey=***",
        ),
        ("postgresql://u:pw@db/x", "postgresql://u:***@db/x"),
    ],
)
def test_settings_display_hides_secret_parts_and_bare_tokens(value: str, shown: str) -> None:
    assert mask_secret(value) == shown


def test_a_password_or_signing_key_is_hidden_whole_whatever_it_looks_like(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Notifications__Smtp__Password", "abcKEYdef=ghi")
    monkeypatch.setenv("Notifications__WebhookSecret", "postgresql://u:p@h/d")

    shown = effective_values(Settings.load())

    assert shown["Notifications__Smtp__Password"] == "***"
    assert shown["Notifications__WebhookSecret"] == "***"


def test_http_channels_log_no_url_secret_even_at_debug(
    http_receiver: HttpReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    policy = TargetPolicy(rules=TargetRules(allow_http_loopback=True))
    with caplog.at_level(logging.DEBUG):
        SlackSender(timeout_s=5, policy=policy).send(
            make_notice(), http_receiver.url(f"/services/T0/{WEBHOOK_TOKEN}")
        )
        WebhookSender(secret=WEBHOOK_SECRET, timeout_s=5, policy=policy).send(
            make_notice(), http_receiver.url(f"/hooks?token={WEBHOOK_TOKEN}")
        )

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert '"POST *** HTTP/1.1" 200' in logged  # urllib3's request line, its target hidden
    assert WEBHOOK_TOKEN not in logged
    assert WEBHOOK_SECRET not in logged
    assert len(http_receiver.requests) == 2

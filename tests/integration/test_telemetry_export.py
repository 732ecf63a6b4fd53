"""`telemetry.configure` end to end: with a connection string whose ingestion endpoint is a local HTTP server
posing as Application Insights, the service's metrics, custom events and logs arrive there as the Azure
Monitor exporter sends them (`POST /v2.1/track`); and it configures nothing without the setting, when the
Functions worker exports telemetry itself, when OpenTelemetry was set up already, or a second time.

Each case runs in its own Python process: `configure_azure_monitor` installs process-wide providers and
instrumentations that no test could take back.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IKEY = "00000000-0000-0000-0000-000000000000"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
TOKEN = "entra-token-for-ingestion"

RUN = """
import logging, sys
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from shared import telemetry
from shared.settings import Settings

if "--sdk-first" in sys.argv:
    from opentelemetry.sdk.metrics import MeterProvider
    metrics.set_meter_provider(MeterProvider())
reached_root = []
root = logging.getLogger()
root.addHandler(logging.Handler())
root.handlers[-1].emit = lambda record: reached_root.append(record.name)  # the worker's forwarding handler
settings = Settings.load()
decisions = [telemetry.configure(settings).name, telemetry.configure(settings).name]
telemetry.record_execution(kpi="Deposits", outcome="succeeded", duration_ms=12.5)
telemetry.record_alert_transition(
    transition="opened", severity="critical", alert_id=7, kpi="Deposits", metric_key="card"
)
with telemetry.log_context(execution_id="e-1", kpi_id=3):
    logging.getLogger("mgrid.executor").warning("the source answered slowly")
providers = [metrics.get_meter_provider(), trace.get_tracer_provider(), get_logger_provider()]
for provider in providers:
    getattr(provider, "force_flush", lambda: None)()
for provider in providers:
    getattr(provider, "shutdown", lambda: None)()
from_mgrid = sum(name.startswith("mgrid") for name in reached_root)
root_count = [f"root:{from_mgrid}"] if "--root" in sys.argv else []
print(" ".join(decisions), type(metrics.get_meter_provider()).__module__, *root_count)
"""


class Ingestion(ThreadingHTTPServer):
    """Accepts what an Application Insights ingestion endpoint accepts, and keeps every telemetry item."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.paths: list[str] = []
        self.items: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.token_requests: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()

    def of_type(self, base_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return [item["data"]["baseData"] for item in self.items if item["data"]["baseType"] == base_type]


class _Handler(BaseHTTPRequestHandler):
    server: Ingestion

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        items = json.loads(body)
        with self.server.lock:
            self.server.paths.append(self.path)
            self.server.items += items
            self.server.authorizations.append(self.headers.get("Authorization"))
        answer = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        """An App Service managed identity endpoint (`IDENTITY_ENDPOINT`): one token for anything asked."""
        with self.server.lock:
            self.server.token_requests.append((self.path, self.headers.get("X-IDENTITY-HEADER")))
        expires = str(int(time.time()) + 3600)
        answer = json.dumps({"access_token": TOKEN, "expires_on": expires, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    server = Ingestion()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for a day, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def secure_ingestion(tmp_path: Path) -> Iterator[tuple[Ingestion, Path]]:
    """The ingestion endpoint over TLS (a self-signed certificate for 127.0.0.1): azure-core sends a bearer
    token to https URLs only. Yields the server and the certificate, for REQUESTS_CA_BUNDLE."""
    cert, key = _self_signed_certificate(tmp_path)
    server = Ingestion()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, cert
    server.shutdown()
    server.server_close()
    thread.join()


def run(tmp_path: Path, *args: str, **env: str) -> str:
    """Run the scenario in a fresh interpreter with only `env` set (plus what Python needs)."""
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),  # the exporter's offline storage goes there
        # Resource detection would probe the Azure VM metadata endpoint; statsbeat reports to Microsoft.
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def connection_string(server: Ingestion) -> str:
    port = server.server_address[1]
    return f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:{port}/"


def test_configured_telemetry_reaches_the_ingestion_endpoint(tmp_path: Path, ingestion: Ingestion) -> None:
    out = run(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(ingestion))

    assert out == "CONFIGURED ALREADY_CONFIGURED opentelemetry.sdk.metrics._internal"
    assert set(ingestion.paths) == {"/v2.1/track"}
    assert {item["iKey"] for item in ingestion.items} == {IKEY}
    events = ingestion.of_type("EventData")
    assert [(e["name"], e["properties"]["alert_id"], e["properties"]["kpi"]) for e in events] == [
        ("AlertOpened", "7", "Deposits")
    ]
    metrics = {
        (m["metrics"][0]["name"], m["properties"].get("outcome")): m["metrics"][0]
        for m in ingestion.of_type("MetricData")
    }
    assert metrics["mgrid.kpi.executions", "succeeded"]["value"] == 1
    assert metrics["mgrid.kpi.execution.duration", "succeeded"]["value"] == 12.5
    messages = {m["message"]: m["properties"] for m in ingestion.of_type("MessageData")}
    assert messages["the source answered slowly"]["execution_id"] == "e-1"
    assert messages["the source answered slowly"]["kpi_id"] == "3"


@pytest.mark.parametrize(
    ("args", "env", "decision"),
    [
        pytest.param((), {}, "NO_CONNECTION_STRING", id="no connection string"),
        pytest.param(
            (),
            {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"},
            "WORKER_TELEMETRY",
            id="the worker exports to Application Insights",
        ),
        pytest.param(
            (), {"PYTHON_ENABLE_OPENTELEMETRY": "1"}, "WORKER_TELEMETRY", id="the worker's OpenTelemetry mode"
        ),
        pytest.param(("--sdk-first",), {}, "ALREADY_CONFIGURED", id="an SDK provider is installed already"),
    ],
)
def test_configure_leaves_export_alone_when_it_should(
    tmp_path: Path, ingestion: Ingestion, args: tuple[str, ...], env: dict[str, str], decision: str
) -> None:
    if decision != "NO_CONNECTION_STRING":
        env = {**env, "APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string(ingestion)}

    decisions, provider_module = run(tmp_path, *args, **env).rsplit(" ", 1)

    assert decisions == f"{decision} {decision}"
    if not args:
        assert provider_module == "opentelemetry.metrics._internal"  # still the API's proxy: nothing set up
    assert ingestion.items == []


def test_a_refused_connection_string_leaves_export_off_and_is_not_tried_again(
    tmp_path: Path, ingestion: Ingestion
) -> None:
    port = ingestion.server_address[1]

    out = run(tmp_path, APPLICATIONINSIGHTS_CONNECTION_STRING=f"IngestionEndpoint=http://127.0.0.1:{port}/")

    assert out == "INVALID INVALID opentelemetry.metrics._internal"
    assert ingestion.items == []


def test_with_local_auth_disabled_the_identity_named_by_the_authentication_string_signs_ingestion(
    tmp_path: Path, secure_ingestion: tuple[Ingestion, Path]
) -> None:
    ingestion, cert = secure_ingestion
    port = ingestion.server_address[1]

    out = run(
        tmp_path,
        "--root",
        APPLICATIONINSIGHTS_CONNECTION_STRING=f"InstrumentationKey={IKEY};IngestionEndpoint=https://127.0.0.1:{port}/",
        APPLICATIONINSIGHTS_AUTHENTICATION_STRING=f"ClientId={CLIENT_ID};Authorization=AAD",
        # How App Service and Functions expose the managed identity endpoint to azure-identity.
        IDENTITY_ENDPOINT=f"https://127.0.0.1:{port}/msi/token",
        IDENTITY_HEADER="identity-header",
        REQUESTS_CA_BUNDLE=str(cert),
    )

    assert out.startswith("CONFIGURED ")
    assert ingestion.items
    assert set(ingestion.authorizations) == {f"Bearer {TOKEN}"}
    (path, header), *_ = ingestion.token_requests
    assert header == "identity-header"
    assert f"client_id={CLIENT_ID}" in path
    assert "monitor.azure.com" in path
    # One path per record: the exporter sent the `mgrid` log; the root logger (the worker's route to the
    # Functions host, which would send it again) never saw it.
    messages = [m["message"] for m in ingestion.of_type("MessageData")]
    assert messages.count("the source answered slowly") == 1
    assert out.endswith(" root:0")


def test_without_the_authentication_string_ingestion_is_not_signed(
    tmp_path: Path, ingestion: Ingestion
) -> None:
    out = run(tmp_path, "--root", APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(ingestion))

    assert out.startswith("CONFIGURED ")
    assert set(ingestion.authorizations) == {None}
    assert ingestion.token_requests == []
    assert out.endswith(" root:0")

"""Real receivers for notification tests: an SMTP server (aiosmtpd) and an HTTP server that record what they
receive, with programmable failures, and a throwaway certificate authority for their TLS variants.

Context managers (usable anywhere) and pytest fixtures built on them:

- `make_certificate(directory)` / fixture `tls_certificate` (session): a CA and a server certificate for
  127.0.0.1 and localhost. `client_context()` trusts it; `ca_file` is the path for `requests`/azure-core.
- `smtp_capture(security="none" | "starttls" | "tls", certificate=..., username=..., password=...)` /
  fixture `smtp_server` (plain, no login): every accepted message is in `.mails` as a `ReceivedMail`
  (envelope sender and recipients, the parsed `EmailMessage`, the login and whether TLS was on).
  `.refuse(address)` refuses a recipient; `.fail_next(n)` answers the next n messages with a 4xx.
  `.smtp_settings()` and `.environment()` point the application at the server.
- `http_capture(certificate=None)` / fixture `http_receiver`: every request is in `.requests` as a
  `ReceivedRequest`; `.reply_with(Reply(...), times=n)` programs the answers (a status, a body, a delay).
- `silent_port()`: a port that accepts connections and never says a word (for timeouts).

Import the fixtures into a conftest.py: `from tests.receivers import http_receiver, smtp_server, ...`.
"""

from __future__ import annotations

import datetime as dt
import email
import http.server
import ipaddress
import json
import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.settings.notifications import SmtpSettings

LOCALHOST = "127.0.0.1"
Security = Literal["none", "starttls", "tls"]

# ---------------------------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certificate:
    """A test CA (`ca_file`) and a server certificate it signed for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificate(directory: Path) -> Certificate:
    """Write a fresh CA and server certificate (EC P-256, valid for a day) into `directory`."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MonitoringGrid test CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOCALHOST))]
    cert = (
        _builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_name, key.public_key(), now
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certificate = Certificate(
        ca_file=directory / "ca.pem", cert_file=directory / "server.pem", key_file=directory / "server.key"
    )
    certificate.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certificate.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certificate.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certificate


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# ------------------------------------------------------------------------------------------------------ SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage  #: parsed with `email.policy.default`
    login: str | None  #: the user the session logged in as
    tls: bool  #: whether the session was encrypted (STARTTLS or implicit TLS)


class SmtpCapture:
    """A running SMTP server and what it received. Create it with `smtp_capture`."""

    def __init__(
        self,
        *,
        security: Security,
        certificate: Certificate | None,
        username: str | None,
        password: str | None,
    ) -> None:
        self.host = LOCALHOST
        self.port = 0
        self.security = security
        self.certificate = certificate
        self.username = username
        self.password = password
        self._lock = threading.Lock()
        self._mails: list[ReceivedMail] = []
        self._refusals: dict[str, str] = {}
        self._failures: deque[str] = deque()

    @property
    def mails(self) -> list[ReceivedMail]:
        """Every accepted message, in order of arrival."""
        with self._lock:
            return list(self._mails)

    def refuse(self, address: str, *, code: int = 550, text: str = "5.1.1 Mailbox unavailable") -> None:
        """Answer RCPT TO:<address> with `code text` from now on."""
        with self._lock:
            self._refusals[address.lower()] = f"{code} {text}"

    def fail_next(self, count: int, *, code: int = 451, text: str = "4.3.0 Try again later") -> None:
        """Answer the end of DATA of the next `count` messages with `code text` (not recording them)."""
        with self._lock:
            self._failures.extend([f"{code} {text}"] * count)

    def smtp_settings(self, **overrides: Any) -> SmtpSettings:
        """Settings that send through this server (trust its CA with `certificate.client_context()`)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username,
            "password": self.password,
            "from_address": "monitoringgrid@example.test",
            "timeout_seconds": 5,
        }
        return SmtpSettings(**(values | overrides))

    def environment(self) -> dict[str, str]:
        """The app settings that point the application at this server (for `monkeypatch.setenv`)."""
        values = {
            "Notifications__Smtp__Host": self.host,
            "Notifications__Smtp__Port": str(self.port),
            "Notifications__Smtp__Security": self.security,
            "Notifications__Smtp__From": "monitoringgrid@example.test",
            "Notifications__Smtp__TimeoutSeconds": "5",
        }
        if self.username is not None:
            values["Notifications__Smtp__Username"] = self.username
            values["Notifications__Smtp__Password"] = self.password or ""
        return values

    # aiosmtpd handler hooks (run on the server's thread)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            refusal = self._refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
        parsed = email.message_from_bytes(envelope.original_content or b"", policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        encrypted = server.transport is not None and server.transport.get_extra_info("ssl_object") is not None
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=parsed,
            login=login,
            tls=encrypted,
        )
        with self._lock:
            self._mails.append(mail)
        return "250 2.0.0 OK: queued"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and self.username is not None:
            expected = (self.username.encode(), (self.password or "").encode())
            if (auth_data.login, auth_data.password) == expected:
                return AuthResult(success=True, auth_data=auth_data.login)
        return AuthResult(success=False, handled=False)


class _BoundController(Controller):
    """Serves on a socket bound beforehand to a free port, so no port number is guessed."""

    def __init__(self, handler: Any, *, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        super().__init__(handler, hostname=LOCALHOST, port=sock.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


@contextmanager
def smtp_capture(
    *,
    security: Security = "none",
    certificate: Certificate | None = None,
    username: str | None = None,
    password: str | None = None,
    auth_mechanisms: Sequence[str] = ("LOGIN", "PLAIN"),
) -> Iterator[SmtpCapture]:
    """Run an SMTP server on 127.0.0.1 for the block. `starttls` requires STARTTLS before MAIL; `tls` is
    implicit TLS; both need `certificate`. With `username`, MAIL is refused until the client logs in (over
    TLS only, unless `security` is none) with AUTH LOGIN or PLAIN (`auth_mechanisms` limits the offer)."""
    if security != "none" and certificate is None:
        raise ValueError(f"security {security!r} needs a certificate")
    capture = SmtpCapture(security=security, certificate=certificate, username=username, password=password)
    options: dict[str, Any] = {
        "server_hostname": "mail.example.test",
        "authenticator": capture._authenticate,
        # aiosmtpd counts only STARTTLS as TLS; with implicit TLS the whole session is encrypted anyway.
        "auth_require_tls": security == "starttls",
        "auth_exclude_mechanism": sorted({"LOGIN", "PLAIN"} - {m.upper() for m in auth_mechanisms}),
    }
    if security == "starttls" and certificate is not None:
        options |= {"tls_context": certificate.server_context(), "require_starttls": True}
    if security == "tls" and certificate is not None:
        options["ssl_context"] = certificate.server_context()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOCALHOST, 0))
    controller = _BoundController(capture, sock=sock, **options)
    capture.port = controller.port
    try:
        controller.start()
    except BaseException:
        sock.close()
        raise
    try:
        yield capture
    finally:
        controller.stop()
        sock.close()


@contextmanager
def silent_port() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections (the kernel completes them) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# ------------------------------------------------------------------------------------------------------ HTTP


@dataclass(frozen=True)
class Reply:
    """What the HTTP receiver answers: a status, a body and headers, after `delay_s` seconds."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def json(cls, payload: Any, *, status: int = 200) -> Reply:
        return cls(
            status=status, body=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the HTTP receiver got; `headers` look up names case-insensitively."""

    method: str
    path: str  #: path and query string, as sent
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """A running HTTP server and what it received. Create it with `http_capture`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._condition = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._replies: deque[Reply] = deque()
        self._default = Reply()
        self.stopping = threading.Event()

    @staticmethod
    def environment() -> dict[str, str]:
        """The app setting that lets the application post to this loopback receiver over plain http."""
        return {"Notifications__AllowHttpLoopback": "true"}

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` (which may carry a query string) on this receiver."""
        return self.base_url + (path if path.startswith("/") else f"/{path}")

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received, in order of arrival."""
        with self._condition:
            return list(self._requests)

    def reply_with(self, reply: Reply, *, times: int | None = None) -> None:
        """Answer the next `times` requests with `reply` (queued after earlier ones); with `times` None,
        answer every request with it once the queue is empty. Until told otherwise: 200 with no body."""
        with self._condition:
            if times is None:
                self._default = reply
            else:
                self._replies.extend([reply] * times)

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests have arrived; fail the test after `timeout_s`."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._requests) >= count, timeout_s):
                pytest.fail(f"HTTP receiver got {len(self._requests)} requests, expected {count}")
            return list(self._requests)

    def _record(self, request: ReceivedRequest) -> Reply:
        with self._condition:
            self._requests.append(request)
            self._condition.notify_all()
            return self._replies.popleft() if self._replies else self._default


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = 10
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = ReceivedRequest(method=self.command, path=self.path, headers=self.headers, body=body)
        reply = self.server.receiver._record(request)
        self.close_connection = True
        if reply.delay_s and self.server.receiver.stopping.wait(reply.delay_s):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins the handler threads
    block_on_close = True

    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__((LOCALHOST, 0), _Handler)
        self.context = context
        scheme = "https" if context else "http"
        self.receiver = HttpReceiver(f"{scheme}://{LOCALHOST}:{self.server_address[1]}")

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.context is None:
            return sock, address
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timed out) or failed the TLS handshake: nothing to answer


@contextmanager
def http_capture(*, certificate: Certificate | None = None) -> Iterator[HttpReceiver]:
    """Run an HTTP server (HTTPS with `certificate`) on 127.0.0.1 for the block."""
    server = _Server(certificate.server_context() if certificate else None)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.receiver.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()


# -------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A test CA and a server certificate for 127.0.0.1, shared by the session."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server() -> Iterator[SmtpCapture]:
    """A plain SMTP server (no TLS, no login) recording every message."""
    with smtp_capture() as server:
        yield server


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """An HTTP server recording every request, answering 200 unless programmed otherwise."""
    with http_capture() as receiver:
        yield receiver


__all__ = [
    "Certificate",
    "HttpReceiver",
    "ReceivedMail",
    "ReceivedRequest",
    "Reply",
    "SmtpCapture",
    "http_capture",
    "http_receiver",
    "make_certificate",
    "silent_port",
    "smtp_capture",
    "smtp_server",
    "tls_certificate",
]

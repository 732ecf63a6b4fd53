"""Email against a real SMTP server (aiosmtpd): recipients, content, escaping, TLS, login, failures."""

from __future__ import annotations

import socket
import ssl
from email.message import EmailMessage
from typing import Any

import pytest

from shared.notify import email as email_module
from shared.notify.base import DeliveryError
from shared.notify.email import EmailSender
from tests.notify.notices import HOSTILE, make_notice
from tests.receivers import Certificate, Security, SmtpCapture, silent_port, smtp_capture


def _parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): str(part.get_content()).replace("\r\n", "\n")
        for part in message.iter_parts()
    }


def _error(sender: EmailSender, address: str = "ops@example.test") -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        sender.send(make_notice(), address)
    return caught.value


def test_two_recipients_get_two_messages_each_addressed_to_itself_alone(smtp_server: SmtpCapture) -> None:
    sender = EmailSender(smtp_server.smtp_settings())

    sender.send(make_notice(), "ops@example.test")
    sender.send(make_notice(), "oncall@example.test")

    first, second = smtp_server.mails
    assert (first.mail_from, first.rcpt_tos) == ("monitoringgrid@example.test", ("ops@example.test",))
    assert (second.mail_from, second.rcpt_tos) == ("monitoringgrid@example.test", ("oncall@example.test",))
    assert first.message.get_all("To") == ["ops@example.test"]
    assert second.message.get_all("To") == ["oncall@example.test"]
    assert first.message["Message-ID"] != second.message["Message-ID"]


def test_message_has_plain_text_and_html_alternatives_with_the_rendered_notice(
    smtp_server: SmtpCapture,
) -> None:
    EmailSender(smtp_server.smtp_settings()).send(make_notice(), "ops@example.test")

    message = smtp_server.mails[0].message
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Deposits total is 40.2% below its baseline"
    assert message["X-MonitoringGrid-Event"] == "42"
    assert message["Message-ID"].endswith("@example.test>")
    assert message["Date"] is not None
    parts = _parts(message)
    assert list(parts) == ["text/plain", "text/html"]
    plain, page = parts["text/plain"], parts["text/html"]
    assert "Deposits total is 1,234.5 against a baseline of 2,065.0.\nOwner: Payments team" in plain
    assert "Current value: 1,234.5" in plain
    assert "Severity: critical" in plain
    assert "Time: 2026-01-05 10:15 UTC" in plain
    assert "Current value</th><td>1,234.5</td>" in page
    assert "Deposits total is 1,234.5 against a baseline of 2,065.0.<br>\nOwner: Payments team" in page


def test_html_part_escapes_every_hostile_value(smtp_server: SmtpCapture) -> None:
    notice = make_notice(
        subject=HOSTILE, body=f"{HOSTILE}\nsecond line", indicator=HOSTILE, fields={"CurrentValue": HOSTILE}
    )

    EmailSender(smtp_server.smtp_settings()).send(notice, "ops@example.test")

    page = _parts(smtp_server.mails[0].message)["text/html"]
    assert "<script>" not in page
    assert "<!channel>" not in page
    assert (
        page.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp;") == 5
    )  # title, h2, 2 rows, body
    assert "&quot;q&quot;" in page


def test_line_breaks_in_the_subject_cannot_inject_headers(smtp_server: SmtpCapture) -> None:
    notice = make_notice(subject="Deposits low\r\nBcc: victim@evil.test\nX-Injected: yes")

    EmailSender(smtp_server.smtp_settings()).send(notice, "ops@example.test")

    mail = smtp_server.mails[0]
    assert mail.rcpt_tos == ("ops@example.test",)
    assert mail.message["Bcc"] is None
    assert mail.message["X-Injected"] is None
    assert mail.message["Subject"] == "Deposits low Bcc: victim@evil.test X-Injected: yes"


@pytest.mark.parametrize("address", ["ops@example.test, evil@example.test", "Ops <ops@example.test>", "ops"])
def test_an_address_that_is_not_one_plain_address_fails_permanently(
    smtp_server: SmtpCapture, address: str
) -> None:
    error = _error(EmailSender(smtp_server.smtp_settings()), address)

    assert error.permanent
    assert "not a single email address" in error.reason
    assert smtp_server.mails == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_encrypted_session_with_login_delivers(tls_certificate: Certificate, security: Security) -> None:
    with smtp_capture(
        security=security, certificate=tls_certificate, username="alice", password="s3cret"
    ) as server:
        sender = EmailSender(server.smtp_settings(), ssl_context=tls_certificate.client_context())

        sender.send(make_notice(), "ops@example.test")

        (mail,) = server.mails
        assert mail.tls
        assert mail.login == "alice"
        assert mail.rcpt_tos == ("ops@example.test",)


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_login_works_with_either_auth_mechanism(tls_certificate: Certificate, mechanism: str) -> None:
    with smtp_capture(
        security="starttls",
        certificate=tls_certificate,
        username="alice",
        password="s3cret",
        auth_mechanisms=[mechanism],
    ) as server:
        EmailSender(server.smtp_settings(), ssl_context=tls_certificate.client_context()).send(
            make_notice(), "ops@example.test"
        )

        assert [mail.login for mail in server.mails] == ["alice"]


def test_a_plain_session_logs_in_when_a_username_is_set() -> None:
    with smtp_capture(username="alice", password="s3cret") as server:
        EmailSender(server.smtp_settings()).send(make_notice(), "ops@example.test")

        assert [(mail.login, mail.tls) for mail in server.mails] == [("alice", False)]


def test_a_wrong_password_fails_permanently(tls_certificate: Certificate) -> None:
    with smtp_capture(
        security="starttls", certificate=tls_certificate, username="alice", password="s3cret"
    ) as server:
        settings = server.smtp_settings(password="wrong")
        error = _error(EmailSender(settings, ssl_context=tls_certificate.client_context()))

        assert error.permanent
        assert "535" in error.reason
        assert "wrong" not in str(error)
        assert server.mails == []


def test_starttls_is_required_when_configured(smtp_server: SmtpCapture) -> None:
    error = _error(EmailSender(smtp_server.smtp_settings(security="starttls")))

    assert error.permanent
    assert "does not offer STARTTLS" in error.reason
    assert smtp_server.mails == []


def test_a_certificate_the_system_does_not_trust_fails_transiently(tls_certificate: Certificate) -> None:
    with smtp_capture(security="tls", certificate=tls_certificate) as server:
        error = _error(EmailSender(server.smtp_settings()))

        assert not error.permanent
        assert "TLS failed" in error.reason
        assert server.mails == []


def test_a_refused_recipient_fails_permanently(smtp_server: SmtpCapture) -> None:
    smtp_server.refuse("gone@example.test")

    error = _error(EmailSender(smtp_server.smtp_settings()), "gone@example.test")

    assert error.permanent
    assert "refused the recipient: 550 5.1.1 Mailbox unavailable" in error.reason
    assert smtp_server.mails == []


def test_a_recipient_refused_with_4xx_fails_transiently(smtp_server: SmtpCapture) -> None:
    smtp_server.refuse("busy@example.test", code=450, text="4.2.1 Mailbox busy")

    error = _error(EmailSender(smtp_server.smtp_settings()), "busy@example.test")

    assert not error.permanent
    assert "450" in error.reason


def test_a_4xx_reply_fails_transiently_and_the_next_attempt_delivers(smtp_server: SmtpCapture) -> None:
    smtp_server.fail_next(1)
    sender = EmailSender(smtp_server.smtp_settings())

    error = _error(sender)
    sender.send(make_notice(), "ops@example.test")

    assert not error.permanent
    assert "451 4.3.0 Try again later" in error.reason
    assert [mail.rcpt_tos for mail in smtp_server.mails] == [("ops@example.test",)]


def test_a_5xx_reply_to_the_message_fails_permanently(smtp_server: SmtpCapture) -> None:
    smtp_server.fail_next(1, code=554, text="5.6.0 Message rejected")

    error = _error(EmailSender(smtp_server.smtp_settings()))

    assert error.permanent
    assert "554 5.6.0 Message rejected" in error.reason


def test_a_refused_connection_fails_transiently(smtp_server: SmtpCapture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    error = _error(EmailSender(smtp_server.smtp_settings(port=closed_port)))

    assert not error.permanent
    assert f"SMTP server 127.0.0.1:{closed_port}: cannot connect" in error.reason


def test_a_server_that_never_answers_times_out_transiently(smtp_server: SmtpCapture) -> None:
    with silent_port() as port:
        error = _error(EmailSender(smtp_server.smtp_settings(port=port, timeout_seconds=1)))

    assert not error.permanent
    assert "did not answer within 1 s" in error.reason


@pytest.mark.parametrize(("security", "made"), [("none", 0), ("starttls", 0), ("tls", 1)])
def test_failed_deliveries_share_one_tls_context_and_plain_smtp_makes_none(
    smtp_server: SmtpCapture, monkeypatch: pytest.MonkeyPatch, security: Security, made: int
) -> None:
    """A context per message costs native memory `tracemalloc` cannot see: while the mail server was down,
    every retry made one, and a host grew by tens of MiB."""
    contexts: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        contexts.append(create(*args, **kwargs))
        return contexts[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    _forget_the_shared_context()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    sender = EmailSender(smtp_server.smtp_settings(port=closed_port, security=security))

    for _ in range(20):
        assert not _error(sender).permanent

    _forget_the_shared_context()  # not the counting one for the other tests
    assert len(contexts) == made


def _forget_the_shared_context() -> None:
    shared = getattr(email_module, "system_trust", None)
    if shared is not None:
        shared.cache_clear()

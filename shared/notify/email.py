"""Email over SMTP: one message per recipient, with a plain-text and an HTML part.

`smtp_deliver` is the SMTP conversation, shared with the email-to-SMS gateway: transport security `none`,
`starttls` (required: a server that does not offer STARTTLS is not used in clear) or `tls` (implicit), a
login when a username is set, and every failure classified. A refused recipient or a 5xx reply is permanent;
a 4xx reply, a refused or dropped connection and a timeout are transient.
"""

from __future__ import annotations

import functools
import html
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from shared.domain.notification import Channel
from shared.notify import facts, links, one_line
from shared.notify.base import DeliveryError, Notice
from shared.settings.notifications import SmtpSettings

EVENT_HEADER = "X-MonitoringGrid-Event"
_COLORS = {"critical": "#b42318", "warning": "#b54708", "resolved": "#067647"}


class EmailSender:
    """Sends each notice to one email address, alone in To."""

    channel: Channel = Channel.EMAIL

    def __init__(self, smtp: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._smtp = smtp
        self._ssl_context = ssl_context

    def send(self, notice: Notice, address: str) -> None:
        recipient = single_address(address, channel=self.channel)
        message = compose(notice, sender=self._smtp.from_address, recipient=recipient)
        smtp_deliver(self._smtp, message, recipient, channel=self.channel, ssl_context=self._ssl_context)


def single_address(address: str, *, channel: Channel) -> str:
    """`address` when it is one plain email address (no display name, list or line break); otherwise a
    permanent `DeliveryError`."""
    candidate = address.strip()
    _, parsed = parseaddr(candidate)
    local, _, domain = parsed.rpartition("@")
    if parsed != candidate or not local or not domain or any(c in candidate for c in ",; \t\r\n<>"):
        raise DeliveryError(
            channel, f"not a single email address: {one_line(address)[:80]!r}", permanent=True
        )
    return candidate


def envelope(notice: Notice, *, sender: str, recipient: str, subject: str) -> EmailMessage:
    """A message with its headers set and no content yet: From, To (the one recipient), a one-line Subject,
    Date, Message-ID and the event id."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "monitoringgrid.local")
    message["Auto-Submitted"] = "auto-generated"
    message[EVENT_HEADER] = str(notice.event_id)
    return message


def compose(notice: Notice, *, sender: str, recipient: str) -> EmailMessage:
    """The email of `notice` for one recipient: multipart/alternative, plain text then HTML."""
    message = envelope(notice, sender=sender, recipient=recipient, subject=notice.subject)
    message.set_content(plain_text(notice))
    message.add_alternative(html_text(notice), subtype="html")
    return message


def plain_text(notice: Notice) -> str:
    """The subject, the body, then one `Label: value` line per fact."""
    lines = [one_line(notice.subject), "", notice.body.strip(), ""]
    lines += [f"{label}: {one_line(value)}" for label, value in facts(notice)]
    lines += [f"{label}: {url}" for label, url in links(notice)]
    lines += ["", f"-- MonitoringGrid alert {notice.alert_id}, event {notice.event_id}"]
    return "\n".join(lines) + "\n"


def html_text(notice: Notice) -> str:
    """A small HTML page: the subject as a heading, a table of the facts and the body; every value escaped."""
    color = _COLORS.get(notice.event_type, _COLORS.get(notice.severity, "#1f2328"))
    subject = html.escape(one_line(notice.subject))
    rows = "\n".join(
        f'<tr><th style="text-align:left;padding:2px 16px 2px 0">{html.escape(label)}</th>'
        f"<td>{html.escape(value)}</td></tr>"
        for label, value in facts(notice)
    )
    body = "<br>\n".join(html.escape(line) for line in notice.body.strip().splitlines())
    actions = " · ".join(
        f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>' for label, url in links(notice)
    )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{subject}</title></head>\n"
        '<body style="font-family:Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328">\n'
        f'<h2 style="color:{color};margin:0 0 12px">{subject}</h2>\n'
        f'<table style="border-collapse:collapse;margin-bottom:12px">\n{rows}\n</table>\n'
        f"<p>{body}</p>\n"
        + (f"<p>{actions}</p>\n" if actions else "")
        + f'<p style="color:#656d76;font-size:12px">MonitoringGrid alert {notice.alert_id}, '
        f"event {notice.event_id}</p>\n</body></html>\n"
    )


def smtp_deliver(
    smtp: SmtpSettings,
    message: EmailMessage,
    recipient: str,
    *,
    channel: Channel,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Send `message` to `recipient` alone through the configured server, or raise `DeliveryError`."""
    if smtp.host is None:
        raise DeliveryError(channel, "Notifications__Smtp__Host is not set", permanent=True)
    where = f"SMTP server {smtp.host}:{smtp.port}"
    try:
        with _open(smtp, smtp.host, ssl_context, where, channel) as client:
            if smtp.username:
                client.login(smtp.username, smtp.password or "")
            client.send_message(message, from_addr=smtp.from_address, to_addrs=[recipient])
    except (smtplib.SMTPException, OSError) as error:
        raise _classify(error, where=where, channel=channel, timeout_s=smtp.timeout_seconds) from error


@functools.cache
def system_trust() -> ssl.SSLContext:
    """The client TLS context on the system trust store, made once per process and shared by every
    conversation (a context is safe to share between threads). Making one per message costs a few
    milliseconds of CPU and native memory that `tracemalloc` does not see; while the server was down and
    every delivery retried, the contexts made in parallel by the worker threads grew a host by 35-50 MiB."""
    return ssl.create_default_context()


def _open(
    smtp: SmtpSettings, host: str, context: ssl.SSLContext | None, where: str, channel: Channel
) -> smtplib.SMTP:
    if smtp.security == "tls":
        context = context or system_trust()
        return _SmtpTls(host, smtp.port, timeout=smtp.timeout_seconds, context=context)
    client = _Smtp(host, smtp.port, timeout=smtp.timeout_seconds)
    if smtp.security == "starttls":
        try:
            client.ehlo()
            if not client.has_extn("starttls"):
                reason = f"{where} does not offer STARTTLS (Notifications__Smtp__Security is starttls)"
                raise DeliveryError(channel, reason, permanent=True)
            client.starttls(context=context or system_trust())
            client.ehlo()
        except BaseException:
            client.close()
            raise
    return client


def _classify(error: Exception, *, where: str, channel: Channel, timeout_s: int) -> DeliveryError:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (550, b""))
        reason = f"{where} refused the recipient: {_reply(code, reply)}"
        return DeliveryError(channel, reason, permanent=not 400 <= code < 500)
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        return DeliveryError(
            channel, f"{where} answered {_reply(code, error.smtp_error)}", permanent=500 <= code < 600
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return DeliveryError(channel, f"{where}: {error}", permanent=True)
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return DeliveryError(channel, f"{where} did not answer within {timeout_s} s")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return DeliveryError(channel, f"{where} closed the connection: {error}")
    if isinstance(error, ssl.SSLError):
        return DeliveryError(channel, f"{where}: TLS failed: {error.reason or error}")
    if isinstance(error, OSError):
        return DeliveryError(channel, f"{where}: cannot connect: {error.strerror or error}")
    return DeliveryError(channel, f"{where}: {type(error).__name__}: {error}")


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {one_line(text)}".strip()


class _Smtp(smtplib.SMTP):
    """Closes its socket when the greeting fails; `smtplib` leaves it open when connecting from __init__."""

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        try:
            return super().connect(host, port, source_address)
        except BaseException:
            self.close()
            raise


class _SmtpTls(_Smtp, smtplib.SMTP_SSL):
    """Implicit TLS with the same care for a failed greeting."""

"""SMS: the rendered subject as one text of at most 160 characters, through Azure Communication Services
(`AcsSmsSender`) or an email-to-SMS gateway (`GatewaySmsSender`, a plain-text email to `<digits>@<gateway>`).

A phone number keeps its digits, country code included (`+44 7700 900123` is `447700900123`); one with fewer
than 8 digits cannot be a full number and fails permanently.
"""

from __future__ import annotations

import ssl
from typing import Any

from azure.communication.sms import SmsClient, SmsSendResult
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline.transport import RequestsTransport

from shared.domain.notification import Channel
from shared.notify import one_line
from shared.notify.base import DeliveryError, Notice
from shared.notify.email import envelope, smtp_deliver
from shared.settings.notifications import AcsSettings, SmtpSettings

SMS_LENGTH = 160
MIN_DIGITS = 8
#: The SDK's type comments are misaligned (they type `cls` and `self` as `str`): the client is used untyped.
_SmsClient: Any = SmsClient
#: The subject of gateway emails; gateways show it before the text, if at all.
GATEWAY_SUBJECT = "Alert"


def sms_text(notice: Notice) -> str:
    """The notice's subject on one line, cut to 160 characters with "..." when longer."""
    text = one_line(notice.subject)
    return text if len(text) <= SMS_LENGTH else text[: SMS_LENGTH - 3].rstrip() + "..."


def phone_digits(address: str) -> str:
    """The digits of a phone number, country code included; a permanent `DeliveryError` when fewer than 8."""
    digits = "".join(character for character in address if character.isascii() and character.isdigit())
    if len(digits) < MIN_DIGITS:
        reason = f"not a phone number (fewer than {MIN_DIGITS} digits): {one_line(address)[:40]!r}"
        raise DeliveryError(Channel.SMS, reason, permanent=True)
    return digits


class GatewaySmsSender:
    """Sends the SMS text as a plain-text email to `<digits>@<gateway>` through the SMTP server."""

    channel: Channel = Channel.SMS

    def __init__(
        self, smtp: SmtpSettings, gateway: str, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._smtp = smtp
        self._gateway = gateway.strip().lstrip("@")
        self._ssl_context = ssl_context

    def send(self, notice: Notice, address: str) -> None:
        recipient = f"{phone_digits(address)}@{self._gateway}"
        message = envelope(
            notice, sender=self._smtp.from_address, recipient=recipient, subject=GATEWAY_SUBJECT
        )
        message.set_content(sms_text(notice))
        smtp_deliver(self._smtp, message, recipient, channel=self.channel, ssl_context=self._ssl_context)


class AcsSmsSender:
    """Sends the SMS text through Azure Communication Services, one request per message and no SDK retry
    (the caller retries transient failures). `connection_verify` is the TLS trust: True for the system
    store, or the path of a CA bundle."""

    channel: Channel = Channel.SMS

    def __init__(
        self, acs: AcsSettings, *, timeout_s: float = 10, connection_verify: bool | str = True
    ) -> None:
        self._acs = acs
        self._timeout_s = timeout_s
        self._verify = connection_verify

    def send(self, notice: Notice, address: str) -> None:
        if self._acs.connection_string is None or self._acs.from_number is None:
            reason = "Notifications__Acs__ConnectionString and Notifications__Acs__From must be set"
            raise DeliveryError(self.channel, reason, permanent=True)
        number = f"+{phone_digits(address)}"
        try:
            results = self._send(self._acs.connection_string, self._acs.from_number, number, sms_text(notice))
        except HttpResponseError as error:
            raise _http_failure(error) from error
        except AzureError as error:
            raise DeliveryError(self.channel, f"ACS request failed: {type(error).__name__}") from error
        for result in results:
            _check(result)

    def _send(self, connection_string: str, from_number: str, to: str, text: str) -> list[SmsSendResult]:
        transport = RequestsTransport(
            connection_timeout=self._timeout_s, read_timeout=self._timeout_s, connection_verify=self._verify
        )
        with transport:
            try:
                client = _SmsClient.from_connection_string(
                    connection_string, transport=transport, retry_total=0
                )
            except ValueError:
                reason = "Notifications__Acs__ConnectionString is not endpoint=https://...;accesskey=..."
                raise DeliveryError(self.channel, reason, permanent=True) from None
            return list(client.send(from_=from_number, to=[to], message=text))


def _transient(status: int | None) -> bool:
    return status is None or status in (408, 429) or status >= 500


def _http_failure(error: HttpResponseError) -> DeliveryError:
    status = error.status_code
    detail = one_line(error.response.text())[:200] if error.response is not None else ""
    reason = f"ACS answered {status} {error.reason or ''}".strip() + (f": {detail}" if detail else "")
    return DeliveryError(Channel.SMS, reason, permanent=not _transient(status))


def _check(result: SmsSendResult) -> None:
    if result.successful:
        return
    status = result.http_status_code
    reason = f"ACS did not send to {result.to}: {status} {one_line(result.error_message or '')}".strip()
    raise DeliveryError(Channel.SMS, reason, permanent=not _transient(status))

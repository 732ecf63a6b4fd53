"""SMS: the 160-character text, the email-to-SMS gateway against a real SMTP server, and Azure Communication
Services against a local HTTPS server posing as its endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

import pytest

from shared.notify.base import DeliveryError
from shared.notify.sms import AcsSmsSender, GatewaySmsSender, sms_text
from shared.settings.notifications import AcsSettings
from tests.notify.notices import make_notice
from tests.receivers import Certificate, HttpReceiver, Reply, SmtpCapture, http_capture

ACCESS_KEY = base64.b64encode(b"test access key of the fake ACS resource").decode()
FROM_NUMBER = "+18005550100"


def test_sms_text_is_the_subject_when_it_fits() -> None:
    assert sms_text(make_notice(subject="Deposits\r\nlow  now")) == "Deposits low now"


def test_sms_text_cuts_a_long_subject_to_160_characters_with_an_ellipsis() -> None:
    text = sms_text(make_notice(subject="x" * 158 + " tail of the subject"))

    assert len(text) == 160
    assert text == "x" * 157 + "..."


def test_sms_text_keeps_a_subject_of_exactly_160_characters() -> None:
    assert sms_text(make_notice(subject="y" * 160)) == "y" * 160


def test_gateway_sms_is_a_plain_text_email_to_the_digits_at_the_gateway(smtp_server: SmtpCapture) -> None:
    notice = make_notice(subject="Deposits total is 40.2% below its baseline " * 5)
    sender = GatewaySmsSender(smtp_server.smtp_settings(), "sms.example.test")

    sender.send(notice, "+44 7700-900 123")

    (mail,) = smtp_server.mails
    assert mail.rcpt_tos == ("447700900123@sms.example.test",)
    assert mail.message["To"] == "447700900123@sms.example.test"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message["X-MonitoringGrid-Event"] == "42"
    body = str(mail.message.get_content()).rstrip("\r\n")
    assert body == sms_text(notice)
    assert len(body) == 160
    assert body.endswith("...")


@pytest.mark.parametrize("number", ["12345", "+1 (555) 01", "", "call me"])
def test_a_number_with_fewer_than_eight_digits_fails_permanently(
    smtp_server: SmtpCapture, number: str
) -> None:
    sender = GatewaySmsSender(smtp_server.smtp_settings(), "sms.example.test")

    with pytest.raises(DeliveryError) as caught:
        sender.send(make_notice(), number)

    assert caught.value.permanent
    assert "fewer than 8 digits" in caught.value.reason
    assert smtp_server.mails == []


def test_gateway_failures_are_classified_like_email(smtp_server: SmtpCapture) -> None:
    smtp_server.refuse("447700900123@sms.example.test")
    sender = GatewaySmsSender(smtp_server.smtp_settings(), "sms.example.test")

    with pytest.raises(DeliveryError) as caught:
        sender.send(make_notice(), "+447700900123")

    assert caught.value.permanent
    assert caught.value.channel == "sms"


# Azure Communication Services cannot be reached from here: a local HTTPS server stands in for the ACS
# endpoint. It checks the request the real SDK sends (path, JSON, HMAC signature) and answers like ACS.


@pytest.fixture
def acs(tls_certificate: Certificate) -> Iterator[HttpReceiver]:
    """A local HTTPS server posing as the ACS resource (Azure is unreachable from the tests)."""
    with http_capture(certificate=tls_certificate) as receiver:
        yield receiver


def _sender(acs: HttpReceiver, certificate: Certificate) -> AcsSmsSender:
    settings = AcsSettings(
        ConnectionString=f"endpoint={acs.url('/')};accesskey={ACCESS_KEY}", From=FROM_NUMBER
    )
    return AcsSmsSender(settings, timeout_s=5, connection_verify=str(certificate.ca_file))


def _result(to: str, **changes: Any) -> dict[str, Any]:
    return {
        "to": to,
        "messageId": "Outgoing_20260105_abc",
        "httpStatusCode": 202,
        "successful": True,
    } | changes


def test_acs_sms_sends_the_text_from_the_configured_number_with_a_valid_hmac_signature(
    acs: HttpReceiver, tls_certificate: Certificate
) -> None:
    """The stand-in ACS endpoint verifies the request as ACS would (Azure is unreachable here)."""
    acs.reply_with(Reply.json({"value": [_result("+447700900123")]}, status=202))
    notice = make_notice()

    _sender(acs, tls_certificate).send(notice, "+44 7700 900123")

    (request,) = acs.requests
    assert request.method == "POST"
    assert request.path.startswith("/sms?api-version=")
    payload = request.json()
    assert payload["from"] == FROM_NUMBER
    assert [recipient["to"] for recipient in payload["smsRecipients"]] == ["+447700900123"]
    assert payload["message"] == sms_text(notice)
    content_hash = base64.b64encode(hashlib.sha256(request.body).digest()).decode()
    assert request.headers["x-ms-content-sha256"] == content_hash
    host = acs.base_url.removeprefix("https://")
    signed = f"POST\n{request.path}\n{request.headers['x-ms-date']};{host};{content_hash}"
    signature = base64.b64encode(
        hmac.new(base64.b64decode(ACCESS_KEY), signed.encode(), hashlib.sha256).digest()
    ).decode()
    assert request.headers["Authorization"] == (
        f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
    )


@pytest.mark.parametrize(
    ("status", "permanent"), [(400, True), (403, True), (429, False), (500, False), (503, False)]
)
def test_an_acs_result_that_is_not_successful_raises_a_classified_error(
    acs: HttpReceiver, tls_certificate: Certificate, status: int, permanent: bool
) -> None:
    """The stand-in ACS endpoint answers 202 with a failed result, as ACS does per recipient."""
    failed = _result(
        "+447700900123", httpStatusCode=status, successful=False, errorMessage="Invalid To number."
    )
    failed.pop("messageId")
    acs.reply_with(Reply.json({"value": [failed]}, status=202))

    with pytest.raises(DeliveryError) as caught:
        _sender(acs, tls_certificate).send(make_notice(), "+447700900123")

    assert caught.value.permanent is permanent
    assert f"{status} Invalid To number." in caught.value.reason


@pytest.mark.parametrize(("status", "permanent"), [(401, True), (404, True), (429, False), (503, False)])
def test_an_acs_error_response_raises_a_classified_error_after_one_request(
    acs: HttpReceiver, tls_certificate: Certificate, status: int, permanent: bool
) -> None:
    """The stand-in ACS endpoint refuses the request (Azure is unreachable here)."""
    acs.reply_with(Reply.json({"error": {"code": "Failed", "message": "nope"}}, status=status))

    with pytest.raises(DeliveryError) as caught:
        _sender(acs, tls_certificate).send(make_notice(), "+447700900123")

    assert caught.value.permanent is permanent
    assert f"ACS answered {status}" in caught.value.reason
    assert len(acs.requests) == 1


def test_an_unreachable_acs_endpoint_fails_transiently(tls_certificate: Certificate) -> None:
    with http_capture(certificate=tls_certificate) as gone:
        sender = _sender(gone, tls_certificate)

    with pytest.raises(DeliveryError) as caught:
        sender.send(make_notice(), "+447700900123")

    assert not caught.value.permanent
    assert caught.value.reason == "ACS request failed: ServiceRequestError"


def test_an_invalid_connection_string_fails_permanently_without_showing_it() -> None:
    settings = AcsSettings(ConnectionString="accesskey=c2VjcmV0", From=FROM_NUMBER)

    with pytest.raises(DeliveryError) as caught:
        AcsSmsSender(settings).send(make_notice(), "+447700900123")

    assert caught.value.permanent
    assert "c2VjcmV0" not in str(caught.value)

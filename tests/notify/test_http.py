"""HTTP delivery against a real local receiver: status classification, timeouts, redirects, and URLs whose
secrets never reach an error message."""

from __future__ import annotations

import socket

import pytest

from shared.domain.notification import Channel
from shared.notify.base import DeliveryError
from shared.notify.http import post_json, public_url
from tests.notify.notices import LOOPBACK
from tests.receivers import HttpReceiver, Reply

BODY = b'{"event_id":42}'


def _post(url: str, *, timeout_s: float = 5, show_path: bool = True) -> None:
    post_json(url, BODY, channel=Channel.WEBHOOK, timeout_s=timeout_s, show_path=show_path, policy=LOOPBACK)


def _error(url: str, *, timeout_s: float = 5, show_path: bool = True) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        _post(url, timeout_s=timeout_s, show_path=show_path)
    return caught.value


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_a_2xx_answer_is_success(http_receiver: HttpReceiver, status: int) -> None:
    http_receiver.reply_with(Reply(status=status))

    _post(http_receiver.url("/hook"))

    (request,) = http_receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/hook", BODY)
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (410, True),
        (408, False),
        (429, False),
        (500, False),
        (502, False),
        (503, False),
    ],
)
def test_an_error_answer_is_classified_by_its_status(
    http_receiver: HttpReceiver, status: int, permanent: bool
) -> None:
    http_receiver.reply_with(Reply(status=status, body=b"channel_not_found"))

    error = _error(http_receiver.url("/hook"))

    assert error.permanent is permanent
    assert error.reason == f"{http_receiver.url('/hook')} answered {status}: channel_not_found"


def test_a_429_names_its_retry_after(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=429, headers={"Retry-After": "30"}))

    error = _error(http_receiver.url("/hook"))

    assert not error.permanent
    assert "(Retry-After: 30)" in error.reason


def test_a_failure_then_success_delivers_on_the_second_attempt(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=500), times=1)

    first = _error(http_receiver.url("/hook"))
    _post(http_receiver.url("/hook"))

    assert not first.permanent
    assert len(http_receiver.requests) == 2


def test_the_error_quotes_at_most_200_characters_of_the_answer(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=400, body=b"a" * 5000))

    error = _error(http_receiver.url("/hook"))

    assert error.reason.endswith(": " + "a" * 200)


def test_a_redirect_is_not_followed(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=302, headers={"Location": http_receiver.url("/elsewhere")}))

    error = _error(http_receiver.url("/hook"))

    assert error.permanent
    assert "302 (redirects are not followed)" in error.reason
    assert [request.path for request in http_receiver.requests] == ["/hook"]


def test_a_receiver_slower_than_the_timeout_fails_transiently(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=200, delay_s=5))

    error = _error(http_receiver.url("/slow"), timeout_s=0.5)

    assert not error.permanent
    assert error.reason == f"{http_receiver.url('/slow')} did not answer within 0.5 s"


def test_a_refused_connection_fails_transiently() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    error = _error(f"http://127.0.0.1:{port}/hook?token=SECRET")

    assert not error.permanent
    assert error.reason == f"http://127.0.0.1:{port}/hook: connection failed: Connection refused"


@pytest.mark.parametrize("url", ["ftp://example.test/hook", "hooks.example.test/path", "", "http:///nohost"])
def test_a_url_that_is_not_http_fails_permanently(url: str) -> None:
    error = _error(url)

    assert error.permanent


def test_secrets_in_the_url_never_reach_an_error_message(http_receiver: HttpReceiver) -> None:
    secret_url = http_receiver.url("/workflows/SECRET-PATH/invoke?sig=SECRET-SIG").replace(
        "http://", "http://user:SECRET-PASSWORD@"
    )
    failures = []
    for reply in (Reply(status=404), Reply(status=503), Reply(status=200, delay_s=5)):
        http_receiver.reply_with(reply, times=1)
        failures.append(_error(secret_url, timeout_s=0.5, show_path=False))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://u:SECRET-PASSWORD@127.0.0.1:{probe.getsockname()[1]}/SECRET-PATH?sig=SECRET-SIG"
    failures.append(_error(closed, show_path=False))

    for failure in failures:
        assert "SECRET" not in str(failure)
        # nor does a logged traceback: the requests exception, which quotes the URL, is not chained
        assert failure.__cause__ is None
        assert failure.__context__ is None or failure.__suppress_context__
        assert str(failure).startswith("webhook: http://127.0.0.1:")


@pytest.mark.parametrize(
    ("url", "show_path", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/XyZ", False, "https://hooks.slack.com"),
        ("https://example.test/hook?token=abc#frag", True, "https://example.test/hook"),
        ("https://user:pw@example.test:8443/a/b?x=1", True, "https://example.test:8443/a/b"),
        ("http://[::1]:8080/hook", True, "http://[::1]:8080/hook"),
        ("not a url", True, "<invalid URL>"),
        ("http://example.test:99999/", True, "<invalid URL>"),
    ],
)
def test_public_url_keeps_only_what_is_not_secret(url: str, show_path: bool, shown: str) -> None:
    assert public_url(url, show_path=show_path) == shown

"""Webhook, Teams and Slack targets: https only, no private, loopback, link-local or metadata address after
DNS resolution, the connection pinned to the address that was checked, and no redirect followed.

No test here sends a byte to anything but a loopback receiver: host names resolve through an injected
resolver, and every refusal is shown to happen before a connection (the receiver it would have reached
records nothing)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from shared.definitions import parse_definitions
from shared.domain.notification import Channel
from shared.domain.targets import TargetRules, address_problem, url_problem
from shared.errors import DefinitionsError
from shared.notify.base import DeliveryError
from shared.notify.http import post_json
from shared.notify.slack import SlackSender
from shared.notify.targets import TargetPolicy
from shared.notify.teams import TeamsSender
from shared.notify.webhook import WebhookSender
from tests.notify.notices import make_notice
from tests.receivers import Certificate, HttpReceiver, Reply, http_capture

STRICT = TargetRules()
LOOPBACK = TargetRules(allow_http_loopback=True)
PRIVATE = TargetRules(allow_private=True)
FORBIDDEN = [
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "169.254.10.10",  # link-local
    "fe80::1",
    "fd12:3456::1",  # unique local
    "::ffff:10.0.0.1",  # IPv4-mapped
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "224.0.0.1",
]
METADATA = [
    "169.254.169.254",
    "168.63.129.16",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
]


class Resolver:
    """Answers each look-up with the next of `answers` (the last one repeats) and counts the look-ups."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def _post(url: str, rules: TargetRules, resolver: Resolver | None = None) -> None:
    policy = TargetPolicy(rules=rules, resolver=resolver or Resolver(["203.0.113.1"]))
    post_json(url, b"{}", channel=Channel.WEBHOOK, timeout_s=5, policy=policy)


def _refusal(url: str, rules: TargetRules, resolver: Resolver | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        _post(url, rules, resolver)
    assert caught.value.permanent
    assert "refused" in caught.value.reason
    return caught.value


@pytest.mark.parametrize("address", FORBIDDEN + METADATA + ["127.0.0.1", "::1"])
def test_a_non_public_address_is_refused_by_default(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), STRICT)


@pytest.mark.parametrize("address", METADATA)
def test_a_metadata_address_is_refused_whatever_the_settings(address: str) -> None:
    both = TargetRules(allow_http_loopback=True, allow_private=True)
    assert "metadata" in address_problem(ipaddress.ip_address(address), both)


@pytest.mark.parametrize("address", ["10.0.0.1", "fd12:3456::1", "169.254.10.10", "127.0.0.1"])
def test_allow_private_targets_allows_private_and_loopback_addresses(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address), PRIVATE) == ""


def test_a_public_address_is_allowed() -> None:
    assert address_problem(ipaddress.ip_address("8.8.8.8"), STRICT) == ""
    assert address_problem(ipaddress.ip_address("2606:4700::1111"), STRICT) == ""
    assert address_problem(ipaddress.ip_address("203.0.113.1"), STRICT)  # documentation range: not global


@pytest.mark.parametrize(
    ("url", "rules", "problem"),
    [
        ("http://hooks.example.com/x", STRICT, "must be an https URL"),
        ("http://hooks.example.com/x", PRIVATE, "must be an https URL"),
        ("http://127.0.0.1:8080/x", STRICT, "must be an https URL"),
        ("https://10.1.2.3/x", STRICT, "private"),
        ("https://[fd00:ec2::254]/x", PRIVATE, "metadata"),
        ("https://169.254.169.254/latest", LOOPBACK, "metadata"),
        ("ftp://hooks.example.com/x", STRICT, "must be an https URL"),
    ],
)
def test_url_problem_judges_scheme_and_literal_addresses_without_dns(
    url: str, rules: TargetRules, problem: str
) -> None:
    assert problem in url_problem(url, rules)


@pytest.mark.parametrize(
    ("url", "rules"),
    [
        ("https://hooks.example.com/x", STRICT),
        ("https://no-such-host.invalid/x", STRICT),  # no DNS at import
        ("http://127.0.0.1:8080/x", LOOPBACK),
        ("http://localhost:8080/x", LOOPBACK),
        ("https://10.1.2.3/x", PRIVATE),
    ],
)
def test_url_problem_accepts_what_the_rules_allow(url: str, rules: TargetRules) -> None:
    assert url_problem(url, rules) == ""


def test_plain_http_to_the_local_receiver_needs_allow_http_loopback(http_receiver: HttpReceiver) -> None:
    error = _refusal(http_receiver.url("/hook"), STRICT)

    assert "Notifications__AllowHttpLoopback" in error.reason
    assert http_receiver.requests == []
    _post(http_receiver.url("/hook"), LOOPBACK)
    assert len(http_receiver.requests) == 1


@pytest.mark.parametrize("address", FORBIDDEN + METADATA)
def test_a_host_name_resolving_to_a_forbidden_address_is_refused_before_connecting(address: str) -> None:
    resolver = Resolver([address])

    error = _refusal("https://hooks.example.com/x?token=SECRET", STRICT, resolver)

    assert resolver.calls == ["hooks.example.com"]
    assert "SECRET" not in error.reason


def test_one_forbidden_address_among_the_answers_refuses_the_host(http_receiver: HttpReceiver) -> None:
    port = http_receiver.url().rsplit(":", 1)[1].split("/")[0]
    resolver = Resolver(["127.0.0.1", "10.0.0.7"])

    error = _refusal(f"http://hooks.example.com:{port}/x", LOOPBACK, resolver)

    assert "10.0.0.7" in error.reason
    assert http_receiver.requests == []  # the loopback receiver it would have reached got nothing


def test_plain_http_to_a_host_name_with_a_private_address_is_refused() -> None:
    error = _refusal("http://hooks.internal/x", PRIVATE, Resolver(["10.0.0.7"]))
    assert "must be an https URL" in error.reason


def test_the_connection_goes_to_the_checked_address_even_if_dns_changes(http_receiver: HttpReceiver) -> None:
    port = http_receiver.url().rsplit(":", 1)[1].split("/")[0]
    rebinding = Resolver(["127.0.0.1"], ["169.254.169.254"])

    _post(f"http://rebind.example.com:{port}/hook", LOOPBACK, rebinding)

    assert rebinding.calls == ["rebind.example.com"]  # resolved once: the check's answer is the one used
    (request,) = http_receiver.requests
    assert request.headers["Host"] == f"rebind.example.com:{port}"


def test_https_is_pinned_and_still_verifies_the_certificate_of_the_host_name(
    tls_certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_certificate.ca_file))
    with http_capture(certificate=tls_certificate) as receiver:
        port = receiver.url().rsplit(":", 1)[1].split("/")[0]
        _post(f"https://localhost:{port}/hook", LOOPBACK, Resolver(["127.0.0.1"]))
        with pytest.raises(DeliveryError):  # the certificate does not name this host: TLS fails
            _post(f"https://wrong-name.example.com:{port}/hook", LOOPBACK, Resolver(["127.0.0.1"]))

        assert [request.headers["Host"] for request in receiver.requests] == [f"localhost:{port}"]


def test_a_redirect_to_a_metadata_address_is_not_followed(http_receiver: HttpReceiver) -> None:
    http_receiver.reply_with(Reply(status=307, headers={"Location": "http://169.254.169.254/latest/"}))

    with pytest.raises(DeliveryError) as caught:
        _post(http_receiver.url("/hook"), LOOPBACK)

    assert caught.value.permanent
    assert "307 (redirects are not followed)" in caught.value.reason
    assert len(http_receiver.requests) == 1


def test_a_host_name_that_does_not_resolve_fails_transiently() -> None:
    def nothing(host: str, port: int) -> Sequence[str]:
        raise OSError("no such host")

    with pytest.raises(DeliveryError) as caught:
        post_json(
            "https://gone.example.com/x",
            b"{}",
            channel=Channel.WEBHOOK,
            timeout_s=5,
            policy=TargetPolicy(resolver=nothing),
        )
    assert not caught.value.permanent
    assert "does not resolve" in caught.value.reason


@pytest.mark.parametrize(
    "sender",
    [
        TeamsSender(timeout_s=5),
        SlackSender(timeout_s=5),
        WebhookSender(secret="s", timeout_s=5),
    ],
)
def test_every_http_channel_refuses_a_loopback_target_by_default(
    sender: TeamsSender | SlackSender | WebhookSender, http_receiver: HttpReceiver
) -> None:
    with pytest.raises(DeliveryError) as caught:
        sender.send(make_notice(), http_receiver.url("/hook"))

    assert caught.value.permanent
    assert http_receiver.requests == []


def test_definitions_import_names_each_unsafe_webhook_with_its_entry_and_field() -> None:
    document = {
        "contacts": [
            {"name": "Ops", "webhook_url": "http://hooks.example.com/x"},
            {"name": "Chat", "slack_webhook": "https://169.254.169.254/latest"},
            {"name": "Team", "teams_webhook": "https://10.0.0.8/hook"},
            {"name": "Fine", "webhook_url": "https://hooks.example.com/x"},
        ]
    }
    with pytest.raises(DefinitionsError) as caught:
        parse_definitions(document, sources=[], existing_contacts=[])

    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("contacts[0] (Ops).webhook_url: must be an https URL")
    assert problems[1].startswith("contacts[1] (Chat).slack_webhook: 169.254.169.254 is a cloud metadata")
    assert problems[2].startswith("contacts[2] (Team).teams_webhook: 10.0.0.8 is a private")


def test_definitions_import_accepts_a_loopback_receiver_when_the_settings_allow_it() -> None:
    document = {"contacts": [{"name": "Ops", "webhook_url": "http://127.0.0.1:8080/x"}]}

    parsed = parse_definitions(document, sources=[], existing_contacts=[], targets=LOOPBACK)

    assert parsed.contacts[0].webhook_url == "http://127.0.0.1:8080/x"

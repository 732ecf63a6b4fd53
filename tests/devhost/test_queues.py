"""The storage client of devhost against a real Azurite: one request per poll, environment read once."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from devhost.queues import QueueListener, Storage
from devhost.settings import QueueOptions

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def storage(azurite: str) -> Iterator[Storage]:
    storage = Storage(azurite)
    yield storage
    storage.close()


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def record_requests(storage: Storage) -> list[tuple[str, str]]:
    """(method, path) of every request `storage` makes from now on."""
    made: list[tuple[str, str]] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        made.append((str(response.request.method), str(response.request.path_url).partition("?")[0]))

    storage.session.hooks["response"].append(hook)
    return made


def test_a_poll_of_a_queue_holding_less_than_a_batch_is_one_get_messages_request(storage: Storage) -> None:
    name = f"t{uuid.uuid4().hex[:10]}-poll"
    storage.ensure(name)
    storage.send(name, [base64.b64encode(f"m{n}".encode()).decode() for n in range(3)])
    listener = QueueListener(
        "poll", storage, name, QueueOptions(batch_size=8), lambda message: True, lease=timedelta(seconds=30)
    )
    made = record_requests(storage)

    received = listener.receive()

    assert sorted(base64.b64decode(message.content) for message in received) == [b"m0", b"m1", b"m2"]
    assert made == [("GET", f"/devstoreaccount1/{name}/messages")]
    assert listener.receive() == []
    assert len(made) == 2


def test_the_storage_session_keeps_the_environment_proxy_without_looking_it_up_per_request(
    azurite: str, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    no_proxy_variables.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    storage = Storage(azurite)
    try:
        assert storage.session.trust_env is False
        assert storage.session.proxies["http"] == "http://proxy.invalid:3128"
    finally:
        storage.close()


def test_the_storage_session_bypasses_the_proxy_for_an_endpoint_in_no_proxy(
    azurite: str, no_proxy_variables: pytest.MonkeyPatch
) -> None:
    no_proxy_variables.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    no_proxy_variables.setenv("NO_PROXY", "127.0.0.1")
    storage = Storage(azurite)
    try:
        assert "http" not in storage.session.proxies
        name = f"t{uuid.uuid4().hex[:10]}-direct"
        storage.ensure(name)  # reaches Azurite directly: the proxy does not exist
        storage.send(name, ["eA=="])
        assert [message.content for message in storage.queue(name).peek_messages()] == ["eA=="]
    finally:
        storage.close()

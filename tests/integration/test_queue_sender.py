"""Sending to storage queues the way the Functions host reads them, against a real Azurite."""

from __future__ import annotations

import base64

from azure.storage.queue import QueueClient, QueueMessage

from shared.queues import StorageQueueSender
from shared.settings import Settings
from tests.waiting import wait_until


def test_messages_are_sent_base64_encoded_and_invisible_for_the_delay(azurite: str) -> None:
    client = QueueClient.from_connection_string(azurite, "sender-test")
    client.create_queue()
    sender = StorageQueueSender(Settings.load(AzureWebJobsStorage=azurite))
    sender.send("sender-test", ['{"execution_id": "x"}'])
    sender.send("sender-test", ['{"later": true}'], delay_s=2)
    (visible,) = list(client.receive_messages(max_messages=32))
    assert base64.b64decode(visible.content) == b'{"execution_id": "x"}'  # what the host decodes
    client.delete_message(visible)
    assert list(client.receive_messages(max_messages=32)) == []  # the delayed one is not visible yet
    received: list[QueueMessage] = []

    def arrived() -> bool:
        received.extend(client.receive_messages(max_messages=32))
        return bool(received)

    wait_until(arrived, timeout_s=10, interval_s=0.05)
    assert [base64.b64decode(m.content) for m in received] == [b'{"later": true}']
    client.delete_queue()

"""Sending to storage queues the way the Functions host reads them, against a real Azurite."""

from __future__ import annotations

import base64
import time

from azure.storage.queue import QueueClient

from shared.queues import StorageQueueSender
from shared.settings import Settings


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
    deadline = time.monotonic() + 10
    received = []
    while not received and time.monotonic() < deadline:
        received = list(client.receive_messages(max_messages=32))
    assert [base64.b64decode(m.content) for m in received] == [b'{"later": true}']
    client.delete_queue()

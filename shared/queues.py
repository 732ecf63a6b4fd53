"""Sending messages to the host's storage queues from code (the output bindings cannot delay a message).

The host reads messages as base64 (host.json `messageEncoding`), so messages are sent base64-encoded too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.errors import PermanentError
from shared.settings import Settings


class QueueSender(Protocol):
    def send(self, queue: str, messages: Sequence[str], *, delay_s: int = 0) -> None:
        """Send `messages` to `queue`, each invisible for `delay_s` seconds."""
        ...


class StorageQueueSender:
    """Azure Storage queues (Azurite locally), reached like the host reaches `AzureWebJobsStorage`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, queue: str, messages: Sequence[str], *, delay_s: int = 0) -> None:
        client = self._client(queue)
        try:
            for message in messages:
                client.send_message(message, visibility_timeout=delay_s or None)
        finally:
            client.close()

    def _client(self, queue: str) -> QueueClientLike:
        from azure.storage.queue import (  # imported only when a message must be delayed
            QueueClient,
            TextBase64DecodePolicy,
            TextBase64EncodePolicy,
        )

        encode, decode = TextBase64EncodePolicy(), TextBase64DecodePolicy()
        settings = self._settings
        if settings.azure_webjobs_storage:
            client: QueueClientLike = QueueClient.from_connection_string(
                settings.azure_webjobs_storage,
                queue,
                message_encode_policy=encode,
                message_decode_policy=decode,
            )
            return client
        if settings.azure_webjobs_storage_queue_service_uri:
            from azure.identity import ManagedIdentityCredential

            credential = ManagedIdentityCredential(client_id=settings.azure_webjobs_storage_client_id)
            return QueueClient(
                settings.azure_webjobs_storage_queue_service_uri,
                queue,
                credential=credential,
                message_encode_policy=encode,
                message_decode_policy=decode,
            )
        raise PermanentError(
            "no host storage configured: set AzureWebJobsStorage or AzureWebJobsStorage__queueServiceUri"
        )


class QueueClientLike(Protocol):
    def send_message(self, content: str, *, visibility_timeout: int | None = None) -> object: ...
    def close(self) -> None: ...

"""Storage-queue triggers with the host's semantics, and the sender behind queue output bindings.

Per function: receive up to `batchSize` messages whenever no more than `newBatchThreshold` are in flight (so
at most `batchSize + newBatchThreshold` invocations run at once), decode them per `messageEncoding`, delete
each after a successful invocation, make it visible again after `visibilityTimeout` after a failed one, and
move it to `<queue>-poison` once it has been dequeued `maxDequeueCount` times. An empty queue is polled with
an exponential back-off from 100 ms up to `maxPollingInterval`, reset when a message arrives. Each poll is
one GetMessages request, as the host makes it, whether or not the queue holds a full batch.

All the clients of one connection string share one HTTP session: its connections are kept alive and reused,
and the environment's proxy and CA settings are read once, when the session is made, instead of on every
request (requests' default, which at a few requests per invocation costs about a tenth of a host's CPU).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.core.pipeline.transport import RequestsTransport
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import LinearRetry, QueueClient, QueueMessage, QueueServiceClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from devhost.settings import QueueOptions

log = logging.getLogger("devhost")

MIN_POLLING_INTERVAL = timedelta(milliseconds=100)


class Backoff:
    """The delay before the next poll: none after a message, else doubling from 100 ms up to a ceiling."""

    def __init__(self, ceiling: timedelta, floor: timedelta = MIN_POLLING_INTERVAL) -> None:
        self._floor = floor.total_seconds()
        self._ceiling = max(ceiling.total_seconds(), self._floor)
        self._delay = 0.0

    def next_delay(self, *, found: bool) -> float:
        if found:
            self._delay = 0.0
        else:
            self._delay = min(self._ceiling, self._delay * 2 if self._delay else self._floor)
        return self._delay


class Storage:
    """The queues of one storage connection string (Azurite locally), created on demand.

    `connections` is how many HTTP connections `session` keeps open for reuse: enough for every request
    that may run at once (the invocations in flight completing their messages, and the polling loops).
    """

    def __init__(self, connection_string: str, *, connections: int = 10) -> None:
        self.session = requests.Session()
        # Retries are the SDK's policy below, not urllib3's.
        adapter = HTTPAdapter(
            pool_maxsize=connections, max_retries=Retry(total=False, redirect=False, raise_on_status=False)
        )
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, adapter)
        # Few, short retries: an unreachable Azurite fails a function's start instead of stalling it.
        self._service = QueueServiceClient.from_connection_string(
            connection_string,
            retry_policy=LinearRetry(backoff=1, random_jitter_range=0, retry_total=2),
            transport=RequestsTransport(session=self.session, session_owner=True),
        )
        settle_environment(self.session, self._service.url)

    def queue(self, name: str) -> QueueClient:
        return self._service.get_queue_client(name)

    def ensure(self, name: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            self.queue(name).create_queue()

    def send(self, name: str, messages: list[str]) -> None:
        """Send `messages` as they are (already encoded), creating the queue if it does not exist."""
        client = self.queue(name)
        for message in messages:
            try:
                client.send_message(message)
            except ResourceNotFoundError:
                self.ensure(name)
                client.send_message(message)

    def close(self) -> None:
        self._service.close()


def settle_environment(session: requests.Session, url: str) -> None:
    """Fix on `session` the proxies (honouring NO_PROXY) and CA bundle the environment gives for `url`,
    then stop it from looking them up again on each request."""
    settled = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settled["proxies"])
    session.verify = settled["verify"]
    session.trust_env = False


def decode(content: Any, encoding: str) -> bytes:
    text = content if isinstance(content, str) else str(content or "")
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(
            f"the message is not valid base64 (host.json messageEncoding is base64): {error}"
        ) from None


def binding_message(message: QueueMessage, body: bytes) -> FunctionQueueMessage:
    return FunctionQueueMessage(  # type: ignore[no-untyped-call]  # the library leaves it unannotated
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        pop_receipt=message.pop_receipt,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
    )


Invoke = Callable[[FunctionQueueMessage], bool]
"""Runs the function for one message; True when it succeeded."""


class QueueListener:
    """Polls one queue for one function and runs it for each message, with the host's limits."""

    def __init__(
        self,
        name: str,
        storage: Storage,
        queue_name: str,
        options: QueueOptions,
        invoke: Invoke,
        *,
        lease: timedelta,
    ) -> None:
        self.name = name
        self.queue_name = queue_name
        self.poison_queue_name = f"{queue_name}-poison"
        self._storage = storage
        self._client = storage.queue(queue_name)
        self._options = options
        self._invoke = invoke
        self._lease = max(1, int(lease.total_seconds()))
        self._pool = ThreadPoolExecutor(max_workers=max(1, options.max_in_flight), thread_name_prefix=name)
        self._in_flight: dict[str, tuple[QueueMessage, Future[None]]] = {}
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"queue-{name}", daemon=True)

    def start(self) -> None:
        self._storage.ensure(self.queue_name)
        self._storage.ensure(self.poison_queue_name)
        self._thread.start()

    def stop_polling(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread.is_alive():
            self._thread.join()

    def drain(self, timeout: float) -> bool:
        """Wait for the invocations in flight; make the messages of any still running visible again.

        True when all finished within `timeout`.
        """
        with self._lock:
            finished = self._lock.wait_for(lambda: not self._in_flight, timeout)
            left = [message for message, _ in self._in_flight.values()]
        for message in left:
            log.warning("%s: message %s still running at shutdown; made visible again", self.name, message.id)
            self._release(message, 0)
        self._pool.shutdown(wait=False, cancel_futures=True)
        return finished

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def _loop(self) -> None:
        backoff = Backoff(self._options.max_polling_interval)
        threshold = self._options.new_batch_threshold
        while not self._stopping.is_set():
            with self._lock:
                self._lock.wait_for(lambda: len(self._in_flight) <= threshold or self._stopping.is_set())
            if self._stopping.is_set():
                return
            try:
                messages = self.receive()
            except Exception as error:
                log.warning("%s: cannot receive from %s: %s", self.name, self.queue_name, error)
                messages = []
            for message in messages:
                self._dispatch(message)
            self._stopping.wait(backoff.next_delay(found=bool(messages)))

    def receive(self) -> list[QueueMessage]:
        """Up to `batchSize` messages, leased for the function timeout, in one GetMessages request.

        Only the first page is read: the SDK's pager asks again whenever a page is short of its maximum,
        which on a queue holding less than a batch doubles the requests.
        """
        pages = self._client.receive_messages(
            messages_per_page=self._options.batch_size, visibility_timeout=self._lease
        ).by_page()
        return list(next(pages, []))

    def _dispatch(self, message: QueueMessage) -> None:
        if message.dequeue_count is not None and message.dequeue_count > self._options.max_dequeue_count:
            self._poison(message)
            return
        with self._lock:
            future = self._pool.submit(self._process, message)
            self._in_flight[message.id] = (message, future)

    def _process(self, message: QueueMessage) -> None:
        try:
            try:
                body = decode(message.content, self._options.message_encoding)
            except ValueError as error:
                log.error("%s: message %s cannot be bound: %s", self.name, message.id, error)
                succeeded = False
            else:
                succeeded = self._invoke(binding_message(message, body))
            if succeeded:
                self._delete(message)
            elif (message.dequeue_count or 0) >= self._options.max_dequeue_count:
                self._poison(message)
            else:
                self._release(message, int(self._options.visibility_timeout.total_seconds()))
        except Exception:
            log.exception("%s: completing message %s failed", self.name, message.id)
        finally:
            with self._lock:
                self._in_flight.pop(message.id, None)
                self._lock.notify_all()

    def _delete(self, message: QueueMessage) -> None:
        try:
            self._client.delete_message(message.id, message.pop_receipt)
        except ResourceNotFoundError:
            log.warning("%s: message %s was gone before it could be deleted", self.name, message.id)

    def _release(self, message: QueueMessage, visibility_timeout: int) -> None:
        try:
            self._client.update_message(
                message.id, message.pop_receipt, visibility_timeout=visibility_timeout
            )
        except ResourceNotFoundError:
            log.warning("%s: message %s was gone before it could be released", self.name, message.id)

    def _poison(self, message: QueueMessage) -> None:
        log.warning(
            "%s: message %s dequeued %s times (maxDequeueCount %d): moved to %s",
            self.name,
            message.id,
            message.dequeue_count,
            self._options.max_dequeue_count,
            self.poison_queue_name,
        )
        self._storage.send(self.poison_queue_name, [str(message.content)])
        self._delete(message)

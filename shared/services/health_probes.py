"""The health checks' probes of things outside the database: the host storage's queues and the ODBC drivers.

`storage_queue_counts` reads the approximate message counts of the work and poison queues from Azure Storage
(`AzureWebJobsStorage`, or its `__queueServiceUri` with the managed identity), once, without retries;
`installed_odbc_drivers` lists the drivers pyodbc sees. `shared.services.health` turns both into verdicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.messages import ALERT_EVENTS, KPI_EXECUTIONS
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.storage.queue import QueueServiceClient

QueueCounts = Callable[[], dict[str, int]]

WORK_QUEUES = (KPI_EXECUTIONS, ALERT_EVENTS)
POISON_QUEUES = tuple(f"{queue}-poison" for queue in WORK_QUEUES)


def installed_odbc_drivers() -> list[str]:
    """The ODBC drivers pyodbc sees; none when pyodbc cannot load (no libodbc on this host)."""
    try:
        import pyodbc
    except ImportError:
        return []
    return [str(driver) for driver in pyodbc.drivers()]


def storage_queue_counter(settings: Settings) -> QueueCounts | None:
    """Reads the queue counts from the host storage; None when no host storage is configured."""
    if not (settings.azure_webjobs_storage or settings.azure_webjobs_storage_queue_service_uri):
        return None
    timeout_s = settings.worker.health_checks.timeout_seconds
    return lambda: storage_queue_counts(settings, timeout_s=timeout_s)


def storage_queue_counts(settings: Settings, *, timeout_s: float) -> dict[str, int]:
    """Approximate message counts (visible and delayed) of the work and poison queues, reached the way the
    host reaches them; a queue that does not exist yet holds nothing. One attempt per request: the check
    reports the storage as it is now."""
    from azure.core.exceptions import ResourceNotFoundError

    service = _queue_service(settings, timeout_s)
    counts: dict[str, int] = {}
    try:
        for queue in (*WORK_QUEUES, *POISON_QUEUES):
            try:
                properties = service.get_queue_client(queue).get_queue_properties()
            except ResourceNotFoundError:
                counts[queue] = 0
                continue
            counts[queue] = int(properties.approximate_message_count or 0)
    finally:
        service.close()
    return counts


def _queue_service(settings: Settings, timeout_s: float) -> QueueServiceClient:
    from azure.storage.queue import QueueServiceClient

    options: dict[str, Any] = {"retry_total": 0, "connection_timeout": timeout_s, "read_timeout": timeout_s}
    if settings.azure_webjobs_storage:
        return QueueServiceClient.from_connection_string(settings.azure_webjobs_storage, **options)
    from azure.identity import ManagedIdentityCredential

    credential = ManagedIdentityCredential(client_id=settings.azure_webjobs_storage_client_id)
    return QueueServiceClient(
        str(settings.azure_webjobs_storage_queue_service_uri), credential=credential, **options
    )

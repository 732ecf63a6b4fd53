"""Process-wide services, built lazily on first use and shared by every invocation of a worker process.

Nothing here runs at import time. `reset()` disposes and forgets everything (tests, or a CLI command that
changed its environment).
"""

from __future__ import annotations

import functools
import os
import socket
import uuid

from sqlalchemy import Engine

from shared import logs, telemetry
from shared.connections import LazyAzureCredential
from shared.db.engine import create_monitoring_engine
from shared.domain.notification import Channel
from shared.notify.base import Sender
from shared.queues import QueueSender, StorageQueueSender
from shared.services.alerts.actions import AlertActions
from shared.services.alerts.escalation import EventDispatcher
from shared.services.alerts.events import AlertEventMessages
from shared.services.alerts.processor import AlertProcessor
from shared.services.alerts.silences import SilenceService
from shared.services.cleanup import Cleanup
from shared.services.execution import Executor
from shared.services.execution_messages import ExecutionMessages
from shared.services.health_monitor import HealthMonitor
from shared.services.maintenance import Maintenance
from shared.services.scheduling import Scheduler
from shared.settings import get_settings, reset_settings
from shared.sources import SourceRunner


@functools.cache
def monitoring_engine() -> Engine:
    """The engine of the monitoring database named by `ConnectionStrings__Monitoring`. Every function uses
    it first, so building it also sets up telemetry export and the app's log level for the process."""
    settings = get_settings()
    logs.apply_level(settings)  # first: setting telemetry up logs already
    telemetry.configure(settings)
    return create_monitoring_engine(settings.connection_strings.monitoring, credential=credential())


@functools.cache
def source_runner() -> SourceRunner:
    settings = get_settings()
    return SourceRunner(
        settings.connection_strings.sources,
        pool_size=settings.worker.kpi_monitoring.max_parallel_kpis,
        credential=credential(),
    )


@functools.cache
def credential() -> LazyAzureCredential:
    """The Entra ID credential for SQL Server token authentication: the managed identity of the settings."""
    return LazyAzureCredential(get_settings().azure_client_id)


@functools.cache
def executor() -> Executor:
    return Executor(monitoring_engine(), source_runner(), get_settings())


@functools.cache
def scheduler() -> Scheduler:
    return Scheduler(monitoring_engine(), get_settings())


@functools.cache
def queue_sender() -> QueueSender:
    return StorageQueueSender(get_settings())


@functools.cache
def execution_messages() -> ExecutionMessages:
    return ExecutionMessages(monitoring_engine(), executor(), get_settings(), queue_sender)


@functools.cache
def senders() -> dict[Channel, Sender]:
    """The notification channels the settings configure."""
    from shared.notify import build_senders  # channel libraries load on first delivery only

    return build_senders(get_settings())


@functools.cache
def event_dispatcher() -> EventDispatcher:
    return EventDispatcher(monitoring_engine(), get_settings(), senders)


@functools.cache
def alert_event_messages() -> AlertEventMessages:
    return AlertEventMessages(monitoring_engine(), event_dispatcher(), get_settings())


@functools.cache
def alert_processor() -> AlertProcessor:
    return AlertProcessor(monitoring_engine(), get_settings(), event_dispatcher())


@functools.cache
def alert_actions() -> AlertActions:
    return AlertActions(monitoring_engine())


@functools.cache
def silences() -> SilenceService:
    return SilenceService(monitoring_engine())


@functools.cache
def cleanup() -> Cleanup:
    return Cleanup(monitoring_engine(), get_settings())


@functools.cache
def maintenance() -> Maintenance:
    return Maintenance(monitoring_engine(), get_settings())


@functools.cache
def health_monitor() -> HealthMonitor:
    return HealthMonitor(monitoring_engine(), get_settings)


def owner(invocation_id: str | None = None) -> str:
    """A lease owner naming this host, process and invocation."""
    return f"{socket.gethostname()}:{os.getpid()}:{invocation_id or uuid.uuid4().hex[:12]}"


def reset() -> None:
    """Dispose the cached engines and forget every cached service and the settings."""
    if source_runner.cache_info().currsize:
        source_runner().dispose()
    if monitoring_engine.cache_info().currsize:
        monitoring_engine().dispose()
    cached_services = (
        credential,
        monitoring_engine,
        source_runner,
        executor,
        scheduler,
        queue_sender,
        execution_messages,
        senders,
        event_dispatcher,
        alert_event_messages,
        alert_processor,
        alert_actions,
        silences,
        cleanup,
        maintenance,
        health_monitor,
    )
    for cached in cached_services:
        cached.cache_clear()
    reset_settings()

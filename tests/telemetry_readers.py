"""The service's telemetry read back through the OpenTelemetry SDK's in-memory reader and exporter: fixtures
for the tests of instruments, custom events and log correlation ids."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from shared import telemetry

Attributes = frozenset[tuple[str, Any]]


class Metrics:
    """The metric points an in-memory reader collected, by instrument name and attributes."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader

    def points(self, name: str) -> dict[Attributes, Any]:
        data = self._reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        return {frozenset(p.attributes.items()): p for p in metric.data.data_points}
        return {}

    def value(self, name: str, **attributes: Any) -> Any:
        return self.points(name)[frozenset(attributes.items())].value


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    with telemetry.recording_to(provider):
        yield Metrics(reader)
    provider.shutdown()


@pytest.fixture
def logs() -> Iterator[InMemoryLogRecordExporter]:
    """The records of the `mgrid` loggers, exported as the Azure Monitor distro's logging handler does."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(logger_provider=provider)
    handler.addFilter(telemetry.ContextFilter())
    logger = logging.getLogger(telemetry.LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield exporter
    logger.removeHandler(handler)
    logger.setLevel(level)
    provider.shutdown()


def custom_events(exporter: InMemoryLogRecordExporter) -> list[dict[str, Any]]:
    found = [dict(log.log_record.attributes or {}) for log in exporter.get_finished_logs()]
    return [attributes for attributes in found if telemetry.CUSTOM_EVENT_ATTRIBUTE in attributes]

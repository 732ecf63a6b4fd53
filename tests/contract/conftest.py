"""Fixtures contract tests share: the executor pipeline against a real source database."""

from tests.contract.replay_source import source_runner, source_series  # noqa: F401  # fixtures, by name
from tests.contract.test_executor import pipeline, source_url  # noqa: F401  # fixtures, found by name
from tests.telemetry_readers import logs, metrics  # noqa: F401  # fixtures, found by name

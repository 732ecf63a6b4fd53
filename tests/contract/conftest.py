"""Fixtures contract tests share: the executor pipeline against a real source database."""

from tests.contract.test_executor import pipeline, source_url  # noqa: F401  # fixtures, found by name

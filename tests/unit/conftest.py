"""Fixtures the unit tests share. Unit tests are pure: no processes, no databases, no network, no Azurite;
a test that needs one belongs in tests/cli, tests/contract, tests/integration or tests/wiring."""

from __future__ import annotations

import platform
import socket
import sqlite3
import sqlite3.dbapi2
import subprocess
from typing import Any, NoReturn

import psycopg
import pytest

from tests.telemetry_readers import logs, metrics  # noqa: F401  # fixtures, found by name

# The processor's name is asked of `uname -p` once per process and cached; libraries that describe the
# platform (azure-identity's user agent) ask for it: ask first, before processes are refused.
platform.processor()


@pytest.fixture(autouse=True)
def pure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a process, opening a database or a connection fails the test that tries."""

    def refused(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError("a unit test starts no process and opens no database or connection")

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)
    monkeypatch.setattr(socket.socket, "connect", refused)
    monkeypatch.setattr(socket.socket, "bind", refused)
    monkeypatch.setattr(sqlite3, "connect", refused)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", refused)
    monkeypatch.setattr(psycopg.Connection, "connect", refused)

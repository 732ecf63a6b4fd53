"""`Worker__Logging__MinimumLevel` in the Functions host process: the functions of `function_app`, called as
the host calls them in a fresh worker (nothing built yet), log at the configured level from their first
invocation on, with no console setup of ours (the host owns the handlers)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared import logs, runtime
from shared.messages import execution_message
from tests.conftest import Database
from tests.wiring.bindings import indexed_functions
from tests.wiring.test_pipeline_triggers import Out, message


def timer(name: str) -> Callable[[], Any]:
    return lambda: indexed_functions()[name].get_user_function()(TimerRequest(past_due=False))


def get(name: str, route: str) -> Callable[[], Any]:
    request = func.HttpRequest(method="GET", url=f"http://localhost/api/{route}", body=b"")
    return lambda: indexed_functions()[name].get_user_function()(request)


INVOCATIONS = {
    "kpi_executor": lambda: indexed_functions()["kpi_executor"].get_user_function()(
        message(execution_message(uuid.uuid4())), Out()
    ),
    "alert_processor": lambda: indexed_functions()["alert_processor"].get_user_function()(
        TimerRequest(past_due=False), Out()
    ),
    "cleanup": timer("cleanup"),
    "health": get("health", "health"),
}


@pytest.fixture(autouse=True)
def fresh_worker_loggers() -> Iterator[None]:
    """The app's loggers as a new worker process has them (no level), restored afterwards."""
    levels = {name: logging.getLogger(name).level for name in logs.APP_LOGGERS}
    for name in logs.APP_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def app_records(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    """Messages of the app's loggers at `level` (alert custom events aside: they always pass)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("mgrid") and not record.name.startswith("mgrid.events")
        if record.levelno == level
    ]


@pytest.mark.parametrize("name", list(INVOCATIONS))
def test_a_function_logs_at_the_minimum_level_from_its_first_invocation(
    name: str, database: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ConnectionStrings__Monitoring", database.url)
    caplog.set_level(logging.DEBUG)  # the host's handler takes everything; the app's level decides

    INVOCATIONS[name]()  # the default, Information: the function says what it did
    assert app_records(caplog, logging.INFO), name

    for level_name, level in (("Warning", logging.WARNING), ("Debug", logging.DEBUG)):
        caplog.clear()
        monkeypatch.setenv("Worker__Logging__MinimumLevel", level_name)
        runtime.reset()  # a new worker process with this setting
        for logger in logs.APP_LOGGERS:
            logging.getLogger(logger).setLevel(logging.NOTSET)

        INVOCATIONS[name]()

        assert logging.getLogger("mgrid").level == level
        shown = {record.levelno for record in caplog.records if record.name.startswith("mgrid.")}
        if level == logging.WARNING:
            assert app_records(caplog, logging.INFO) == app_records(caplog, logging.DEBUG) == [], name
        else:
            assert {logging.DEBUG, logging.INFO} <= shown, name

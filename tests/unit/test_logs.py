"""Log level and format: JSON lines carrying the bound ids, the minimum level applied to the app's loggers
by the console setup (devhost, `mgrid`) and by the services' first use in the Functions host process."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator

import pytest

from shared import logs, runtime, telemetry
from shared.settings.model import Settings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logs.APP_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in levels.items():
        logging.getLogger(name).setLevel(previous)


def settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return Settings.load()


def test_json_lines_carry_time_level_logger_message_and_the_bound_ids() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("mgrid.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    execution_id = uuid.uuid4()
    try:
        with telemetry.log_context(invocation_id="inv-1", execution_id=execution_id):
            telemetry.bind_log_context(kpi_id=7, alert_id=42)
            logger.warning("deposits %s", "fell")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)

    inside, outside = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert inside.pop("timestamp").endswith("+00:00")
    assert inside == {
        "level": "WARNING",
        "logger": "mgrid.test.json",
        "message": "deposits fell",
        "invocation_id": "inv-1",
        "execution_id": str(execution_id),
        "kpi_id": 7,
        "alert_id": 42,
    }
    assert set(outside) == {"timestamp", "level", "logger", "message"}


def test_json_lines_include_the_exception() -> None:
    record = logging.LogRecord("mgrid.x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    document = json.loads(logs.JsonFormatter().format(record))
    assert "ValueError: boom" in document["exception"]


@pytest.mark.parametrize(
    ("name", "level"),
    [("Trace", logging.DEBUG), ("Debug", logging.DEBUG), ("Information", logging.INFO), ("Critical", 50)],
)
def test_the_console_follows_the_minimum_level_and_format(
    monkeypatch: pytest.MonkeyPatch, name: str, level: int
) -> None:
    stream = io.StringIO()
    chosen = settings(monkeypatch, Worker__Logging__MinimumLevel=name, Worker__Logging__Format="json")

    logs.configure_console(chosen, stream=stream)
    logging.getLogger("mgrid.test.level").debug("detail")
    logging.getLogger("mgrid.test.level").error("problem")
    logging.getLogger("some.library").debug("library chatter")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert logging.getLogger("mgrid").level == logging.getLogger("devhost").level == level
    expected = (["detail"] if level <= logging.DEBUG else []) + (
        ["problem"] if level <= logging.ERROR else []
    )
    assert [line["message"] for line in lines] == expected


def test_text_is_the_default_format(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    logs.configure_console(settings(monkeypatch), stream=stream)
    logging.getLogger("mgrid.test.text").info("plain")
    assert stream.getvalue().rstrip().endswith("INFO mgrid.test.text: plain")


def test_the_functions_host_process_gets_the_level_when_the_services_are_first_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("Worker__Logging__MinimumLevel", "Error")
    monkeypatch.setenv("ConnectionStrings__Monitoring", f"sqlite:///{tmp_path}/monitoring.db")
    runtime.reset()
    try:
        runtime.monitoring_engine()  # builds an engine; connects to nothing
        assert logging.getLogger("mgrid").level == logging.ERROR
    finally:
        runtime.reset()

"""The function app indexes every function with an empty environment, with the bindings the design names."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.wiring.bindings import annotation_problems, indexed_functions

REPO_ROOT = Path(__file__).resolve().parents[2]
LIST_FUNCTIONS = """
import json, function_app
functions = function_app.app.get_functions()
print(json.dumps({f.get_function_name(): json.loads(f.get_function_json()) for f in functions}))
"""


@pytest.fixture(scope="module")
def indexed() -> dict[str, Any]:
    """The function metadata the host would index, from a process with nothing but PATH set."""
    result = subprocess.run(
        [sys.executable, "-c", LIST_FUNCTIONS],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_app_with_an_empty_environment_indexes_every_function(indexed: dict[str, Any]) -> None:
    assert sorted(indexed) == [
        "alert_ack_link",
        "alert_escalation",
        "alert_events_poison",
        "alert_processor",
        "api",
        "cleanup",
        "dashboard",
        "health",
        "health_check",
        "health_details",
        "kpi_executions_poison",
        "kpi_executor",
        "kpi_scheduler",
        "maintenance",
        "metrics",
    ]


def test_health_is_an_anonymous_get_route_returning_http(indexed: dict[str, Any]) -> None:
    trigger, output = indexed["health"]["bindings"]
    assert trigger == {
        "direction": "IN",
        "type": "httpTrigger",
        "name": "req",
        "methods": ["GET"],
        "route": "health",
        "authLevel": "ANONYMOUS",
    }
    assert output == {"direction": "OUT", "type": "http", "name": "$return"}


def test_health_details_is_a_get_route_behind_a_function_key(indexed: dict[str, Any]) -> None:
    trigger, output = indexed["health_details"]["bindings"]
    assert trigger == {
        "direction": "IN",
        "type": "httpTrigger",
        "name": "req",
        "methods": ["GET"],
        "route": "health/details",
        "authLevel": "FUNCTION",
    }
    assert output == {"direction": "OUT", "type": "http", "name": "$return"}


def test_the_status_page_is_an_anonymous_get_route_under_dashboard(indexed: dict[str, Any]) -> None:
    trigger, output = indexed["dashboard"]["bindings"]
    assert trigger["route"] == "dashboard/{*rest}"
    assert (trigger["authLevel"], trigger["methods"]) == ("ANONYMOUS", ["GET", "HEAD"])
    assert output == {"direction": "OUT", "type": "http", "name": "$return"}


def test_every_binding_annotation_is_one_the_worker_accepts() -> None:
    problems = {name: annotation_problems(function) for name, function in indexed_functions().items()}
    assert problems == {name: [] for name in problems}


def test_the_annotation_check_rejects_a_pep585_list_on_a_queue_output() -> None:
    # The worker refuses `Out[list[str]]` for queue outputs; `Out[typing.List[str]]` is what it accepts.
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="in", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="out", connection="AzureWebJobsStorage")
    def bad(msg: func.QueueMessage, out: func.Out[list[str]]) -> None: ...

    @app.queue_trigger(arg_name="msg", queue_name="in", connection="AzureWebJobsStorage")
    @app.queue_output(arg_name="out", queue_name="out", connection="AzureWebJobsStorage")
    def good(msg: func.QueueMessage, out: func.Out[typing.List[str]]) -> None: ...  # noqa: UP006

    functions = {f.get_function_name(): f for f in app.get_functions()}
    assert annotation_problems(functions["bad"]) == [
        "out: annotation azure.functions._abc.Out[list[str]] rejected for queue"
    ]
    assert annotation_problems(functions["good"]) == []

"""Who may call: the `api` function needs the function key unless App Service Authentication is on
(`WEBSITE_AUTH_ENABLED`, set by the platform), when sign-in is the gate; the ack link is always anonymous."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AUTH_LEVELS = """
import json, function_app
levels = {}
for function in function_app.app.get_functions():
    for binding in json.loads(function.get_function_json())["bindings"]:
        if binding["type"] == "httpTrigger":
            levels[function.get_function_name()] = binding["authLevel"]
print(json.dumps(levels))
"""


def auth_levels(**environ: str) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", AUTH_LEVELS],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **environ},
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    ("environ", "api_level"),
    [
        ({}, "FUNCTION"),
        ({"WEBSITE_AUTH_ENABLED": "True"}, "ANONYMOUS"),
        ({"WEBSITE_AUTH_ENABLED": "False"}, "FUNCTION"),
    ],
)
def test_the_api_needs_the_key_unless_the_platform_signs_people_in(
    environ: dict[str, str], api_level: str
) -> None:
    # Every HTTP function of the app: only health, the page shell and the ack page are open to all.
    assert auth_levels(**environ) == {
        "health": "ANONYMOUS",
        "dashboard": "ANONYMOUS",
        "alert_ack_link": "ANONYMOUS",
        "health_details": "FUNCTION",
        "metrics": "FUNCTION",
        "api": api_level,
    }


def test_importing_the_app_does_not_load_fastapi() -> None:
    code = "import sys, function_app; print('fastapi' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.stdout.strip() == "False"  # timers, queues, health and metrics never pay its import

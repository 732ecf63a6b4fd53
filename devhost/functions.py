"""The app's functions as the host indexes them, and one invocation of one of them (with its logging)."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

log = logging.getLogger("devhost")

TIMER, QUEUE_TRIGGER, HTTP_TRIGGER, QUEUE_OUTPUT = "timerTrigger", "queueTrigger", "httpTrigger", "queue"


@dataclass(frozen=True)
class FunctionSpec:
    """One function: its name, trigger binding, other bindings (from get_function_json) and the code."""

    name: str
    trigger: Mapping[str, Any]
    outputs: tuple[Mapping[str, Any], ...]
    code: Callable[..., Any] = field(repr=False)

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def queue_outputs(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(binding for binding in self.outputs if binding.get("type") == QUEUE_OUTPUT)


def index(app: func.FunctionApp) -> list[FunctionSpec]:
    """The app's functions: `app.get_functions()`, called once, each read from its function.json."""
    specs = []
    for function in app.get_functions():
        document = json.loads(function.get_function_json())
        bindings = document["bindings"]
        (trigger,) = [b for b in bindings if b["direction"] == "IN" and str(b["type"]).endswith("Trigger")]
        outputs = tuple(b for b in bindings if b["direction"] == "OUT" and b["name"] != "$return")
        specs.append(
            FunctionSpec(
                function.get_function_name() or function.get_user_function().__name__,
                trigger,
                outputs,
                function.get_user_function(),
            )
        )
    return specs


class OutValue(func.Out[Any]):
    """The value of an output binding, as the worker hands it to the function."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def queue_messages(value: Any) -> list[str]:
    """The messages an output binding's value stands for, base64-encoded like the host sends them."""
    if value is None:
        return []
    items: Sequence[Any] = value if isinstance(value, list | tuple) else [value]
    encoded = []
    for item in items:
        raw = item if isinstance(item, bytes) else str(item).encode("utf-8")
        encoded.append(base64.b64encode(raw).decode("ascii"))
    return encoded


@dataclass(frozen=True)
class Outcome:
    invocation_id: str
    succeeded: bool
    result: Any = None
    error: BaseException | None = None


Sender = Callable[[str, list[str]], None]
"""Sends already-encoded messages to a queue (by its resolved name)."""


def invoke(
    spec: FunctionSpec,
    trigger_value: Any,
    *,
    reason: str,
    output_queues: Mapping[str, str],
    send: Sender | None,
) -> Outcome:
    """Run `spec` once: log it, call it, then send its queue outputs if it succeeded.

    `output_queues` maps each queue output binding's argument name to its resolved queue name.
    """
    invocation_id = str(uuid.uuid4())
    outs = {str(binding["name"]): OutValue() for binding in spec.outputs}
    log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, invocation_id)
    started = time.monotonic()
    try:
        result = spec.code(**{str(spec.trigger["name"]): trigger_value}, **outs)
        if inspect.iscoroutine(result):  # an `async def` function (the API's ASGI functions)
            result = asyncio.run(result)
        for name, queue in output_queues.items():
            messages = queue_messages(outs[name].get())
            if messages and send is not None:
                send(queue, messages)
    except Exception as error:
        duration_ms = (time.monotonic() - started) * 1000
        log.error(
            "Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms): %s: %s",
            spec.name,
            invocation_id,
            duration_ms,
            type(error).__name__,
            error,
            exc_info=error,
        )
        return Outcome(invocation_id, succeeded=False, error=error)
    duration_ms = (time.monotonic() - started) * 1000
    log.info(
        "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)", spec.name, invocation_id, duration_ms
    )
    return Outcome(invocation_id, succeeded=True, result=result)

"""The host: indexes an app once, starts a listener per function, stops them all gracefully."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.functions.timer import TimerRequest

from devhost.functions import HTTP_TRIGGER, QUEUE_TRIGGER, TIMER, FunctionSpec, index, invoke
from devhost.http import HttpServer, Route, Router
from devhost.queues import QueueListener, Storage
from devhost.settings import HostConfig, hierarchical_references, lookup, resolve
from devhost.timers import TimerRunner
from shared.domain.ncrontab import CronExpression, InvalidCronExpression

log = logging.getLogger("devhost")

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"


class FunctionError(Exception):
    """A function cannot be started (a missing setting, an invalid schedule, an unsupported trigger)."""


@dataclass
class _Bound:
    """A function with its bindings resolved against the settings."""

    spec: FunctionSpec
    output_queues: dict[str, str] = field(default_factory=dict)
    storage: Storage | None = None


class Host:
    """Runs the functions of `app` like the Functions host; `start()` then `stop()`.

    `environ` supplies app settings (default: the process environment); `port=0` picks a free port
    (see `http_port`); `http=False` serves no HTTP; `clock` is the timers' UTC clock.
    """

    def __init__(
        self,
        app: func.FunctionApp,
        config: HostConfig,
        *,
        environ: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 7071,
        http: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._app = app
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._address = (host, port)
        self._serve_http = http
        self._clock = clock
        self._storages: dict[str, Storage] = {}
        self.errors: dict[str, str] = {}
        self.started: list[str] = []
        self.timers: dict[str, TimerRunner] = {}
        self.queues: dict[str, QueueListener] = {}
        self._http: HttpServer | None = None
        self._bound: dict[str, _Bound] = {}
        self._connections = 10  #: HTTP connections kept per storage account, set from the app in start()

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("the HTTP server is not running")
        return self._http.port

    # -- start -----------------------------------------------------------------------------------------

    def start(self) -> None:
        routes: list[Route] = []
        specs = index(self._app)
        # Each queue function may have all its invocations completing their messages at once, and a poll.
        listeners = sum(spec.trigger_type == QUEUE_TRIGGER for spec in specs)
        self._connections = max(self._connections, listeners * (self.config.queues.max_in_flight + 1))
        for spec in specs:
            try:
                bound = self._bind(spec)
                if spec.trigger_type == TIMER:
                    self._add_timer(bound)
                elif spec.trigger_type == QUEUE_TRIGGER:
                    self._add_queue(bound)
                elif spec.trigger_type == HTTP_TRIGGER:
                    routes.append(self._route(spec))
                else:
                    raise FunctionError(f"the trigger type {spec.trigger_type} is not supported by devhost")
            except (FunctionError, LookupError, InvalidCronExpression, ValueError, AzureError) as error:
                message = f"The function '{spec.name}' is in error and was not started: {error}"
                log.error("%s", message)
                self.errors[spec.name] = message
                continue
            self._bound[spec.name] = bound
            self.started.append(spec.name)
        if self._serve_http:
            key = self._environ.get(FUNCTION_KEY_SETTING) or None
            router = Router(routes, self.config.route_prefix, key)
            self._http = HttpServer(*self._address, router, self._handle_http)
        for listener in self.queues.values():
            listener.start()
        for timer in self.timers.values():
            timer.start()
        if self._http is not None:
            self._http.start()
            for route in routes:
                methods = ",".join(sorted(route.methods))
                prefix = f"/{self.config.route_prefix}" if self.config.route_prefix else ""
                log.info(
                    "%s: [%s] http://%s:%d%s/%s",
                    route.function,
                    methods,
                    self._address[0],
                    self.http_port,
                    prefix,
                    route.template,
                )
        log.info("Host started: %d functions, %d in error", len(self.started), len(self.errors))

    def _storage(self, connection: str) -> Storage:
        connection_string = lookup(connection, self._environ)
        if not connection_string:
            raise FunctionError(f"the app setting '{connection}' (storage connection) is empty")
        if connection_string not in self._storages:
            self._storages[connection_string] = Storage(connection_string, connections=self._connections)
        return self._storages[connection_string]

    def _bind(self, spec: FunctionSpec) -> _Bound:
        bound = _Bound(spec)
        for binding in spec.queue_outputs:
            storage = self._storage(str(binding.get("connection") or "AzureWebJobsStorage"))
            queue = resolve(str(binding["queueName"]), self._environ).lower()
            if bound.storage is not None and bound.storage is not storage:
                raise FunctionError("devhost supports one storage connection for a function's queue outputs")
            bound.output_queues[str(binding["name"])] = queue
            storage.ensure(queue)  # the host creates an output queue on first use; devhost at start
            bound.storage = storage
        return bound

    def _send(self, bound: _Bound) -> Callable[[str, list[str]], None] | None:
        storage = bound.storage
        return None if storage is None else storage.send

    def _add_timer(self, bound: _Bound) -> None:
        spec = bound.spec
        schedule = str(spec.trigger["schedule"])
        for name in hierarchical_references(schedule):
            log.warning("timer %s binds %%%s%%: bind a flat app setting name in Azure", spec.name, name)
        cron = CronExpression.parse(resolve(schedule, self._environ))
        send = self._send(bound)

        def fire(past_due: bool) -> None:
            invoke(
                spec,
                TimerRequest(past_due=past_due),
                reason=f"Timer fired at {self._clock().isoformat()}",
                output_queues=bound.output_queues,
                send=send,
            )

        self.timers[spec.name] = TimerRunner(
            spec.name,
            cron,
            fire,
            run_on_startup=bool(spec.trigger.get("runOnStartup")),
            clock=self._clock,
        )

    def _add_queue(self, bound: _Bound) -> None:
        spec = bound.spec
        storage = self._storage(str(spec.trigger.get("connection") or "AzureWebJobsStorage"))
        queue = resolve(str(spec.trigger["queueName"]), self._environ).lower()
        send = self._send(bound)

        def run(message: FunctionQueueMessage) -> bool:
            outcome = invoke(
                spec,
                message,
                reason=f"New queue message detected on '{queue}'",
                output_queues=bound.output_queues,
                send=send,
            )
            return outcome.succeeded

        self.queues[spec.name] = QueueListener(
            spec.name, storage, queue, self.config.queues, run, lease=self.config.function_timeout
        )

    def _route(self, spec: FunctionSpec) -> Route:
        trigger = spec.trigger
        methods = trigger.get("methods")
        return Route.build(
            spec.name,
            str(trigger.get("route") or spec.name),
            [str(method) for method in methods] if methods else None,
            str(trigger.get("authLevel") or "FUNCTION"),
        )

    def _handle_http(self, name: str, request: func.HttpRequest) -> func.HttpResponse:
        bound = self._bound[name]
        outcome = invoke(
            bound.spec,
            request,
            reason=f"This function was programmatically called via the host APIs ({request.method})",
            output_queues=bound.output_queues,
            send=self._send(bound),
        )
        if not outcome.succeeded:
            return func.HttpResponse(status_code=500)
        return _response(outcome.result)

    # -- stop ------------------------------------------------------------------------------------------

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop polling and timers, wait up to `timeout` s for invocations in flight, stop serving HTTP.

        Messages still being processed after the wait are made visible again. True when all finished.
        """
        log.info("Host stopping: waiting up to %.0f s for invocations in flight", timeout)
        for listener in self.queues.values():
            listener.stop_polling()
        for timer in self.timers.values():
            timer.stop()
        deadline = time.monotonic() + timeout
        finished = True
        for listener in self.queues.values():
            finished &= listener.drain(max(0.0, deadline - time.monotonic()))
        for timer in self.timers.values():
            finished &= timer.join_run(max(0.0, deadline - time.monotonic()))
        if self._http is not None:
            self._http.stop()
        for storage in self._storages.values():
            storage.close()
        log.info("Host stopped%s", "" if finished else " (some invocations were still running)")
        return finished


def _response(result: Any) -> func.HttpResponse:
    if isinstance(result, func.HttpResponse):
        return result
    if result is None:
        return func.HttpResponse(status_code=204)
    return func.HttpResponse(str(result), status_code=200)

"""The host driven in-process against a real Azurite: queue triggers, outputs, poison, limits, HTTP, stop."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest
from azure.storage.queue import QueueClient

from devhost.host import Host
from devhost.settings import HostConfig, QueueOptions
from tests.waiting import wait_until

FAST = QueueOptions(
    batch_size=4,
    new_batch_threshold=2,
    max_dequeue_count=2,
    visibility_timeout=timedelta(0),
    max_polling_interval=timedelta(milliseconds=200),
)


@dataclass
class Calls:
    """What the test app's functions saw."""

    echoed: list[tuple[bytes, int | None]] = field(default_factory=list)
    failed: list[int | None] = field(default_factory=list)
    timers: list[bool] = field(default_factory=list)
    concurrent: int = 0
    max_concurrent: int = 0
    slow_done: int = 0
    permits: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_app(calls: Calls) -> func.FunctionApp:
    """A tiny app with every trigger kind devhost serves; queue names come from settings."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.function_name("tick")
    @app.timer_trigger(schedule="%Test:Schedule%", arg_name="timer", run_on_startup=False, use_monitor=False)
    def tick(timer: func.TimerRequest) -> None:
        calls.timers.append(timer.past_due)

    @app.function_name("echo")
    @app.queue_trigger(arg_name="msg", queue_name="%Test:In%", connection="Storage")
    @app.queue_output(arg_name="out", queue_name="%Test:Out%", connection="Storage")
    def echo(msg: func.QueueMessage, out: func.Out[str]) -> None:
        calls.echoed.append((msg.get_body(), msg.dequeue_count))
        body = msg.get_body().decode()
        out.set([f"{body}-1", f"{body}-2"] if body.startswith("many") else f"{body}!")  # type: ignore[arg-type]

    @app.function_name("fail")
    @app.queue_trigger(arg_name="msg", queue_name="%Test:Failing%", connection="Storage")
    @app.queue_output(arg_name="out", queue_name="%Test:Out%", connection="Storage")
    def fail(msg: func.QueueMessage, out: func.Out[str]) -> None:
        calls.failed.append(msg.dequeue_count)
        out.set("never sent")
        raise RuntimeError("boom")

    @app.function_name("slow")
    @app.queue_trigger(arg_name="msg", queue_name="%Test:Slow%", connection="Storage")
    def slow(msg: func.QueueMessage) -> None:
        with calls.lock:
            calls.concurrent += 1
            calls.max_concurrent = max(calls.max_concurrent, calls.concurrent)
        calls.started.set()
        calls.permits.acquire(timeout=20)
        with calls.lock:
            calls.concurrent -= 1
            calls.slow_done += 1

    @app.function_name("item")
    @app.route(route="items/{item_id}", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
    def item(req: func.HttpRequest) -> func.HttpResponse:
        payload = {
            "id": req.route_params["item_id"],
            "method": req.method,
            "q": req.params.get("q"),
            "body": req.get_body().decode(),
        }
        return func.HttpResponse(json.dumps(payload), mimetype="application/json", headers={"X-Item": "1"})

    @app.function_name("secret")
    @app.route(route="secret", methods=["GET"])
    def secret(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("hidden", status_code=200)

    return app


@dataclass
class Running:
    host: Host
    calls: Calls
    environ: dict[str, str]
    connection: str

    def queue(self, setting: str) -> QueueClient:
        return QueueClient.from_connection_string(self.connection, self.environ[f"Test__{setting}"])

    def send(self, setting: str, text: str) -> None:
        self.queue(setting).send_message(base64.b64encode(text.encode()).decode())

    def received(self, queue: QueueClient) -> list[bytes]:
        messages = list(queue.receive_messages(max_messages=32))
        for message in messages:
            queue.delete_message(message)
        return [base64.b64decode(message.content) for message in messages]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.host.http_port}{path}"


def settings(connection: str, **extra: str) -> dict[str, str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return {
        "Storage": connection,
        "Test__Schedule": "0 0 0 1 1 *",
        "Test__In": f"{prefix}-in",
        "Test__Out": f"{prefix}-out",
        "Test__Failing": f"{prefix}-failing",
        "Test__Slow": f"{prefix}-slow",
        **extra,
    }


@contextmanager
def running(
    connection: str,
    *,
    options: QueueOptions = FAST,
    clock: Callable[[], datetime] | None = None,
    **extra: str,
) -> Iterator[Running]:
    calls = Calls()
    environ = settings(connection, **extra)
    kwargs = {"clock": clock} if clock else {}
    host = Host(build_app(calls), HostConfig(queues=options), environ=environ, port=0, **kwargs)  # type: ignore[arg-type]
    host.start()
    try:
        yield Running(host, calls, environ, connection)
    finally:
        calls.permits.release(100)
        host.stop(10)


def test_a_message_runs_the_function_with_its_decoded_body_and_the_output_is_sent_base64(
    azurite: str,
) -> None:
    with running(azurite) as run:
        assert run.host.errors == {}
        run.send("In", "hello")
        run.send("In", "many")
        out = run.queue("Out")
        got: list[bytes] = []
        assert wait_until(
            lambda: bool(got.extend(run.received(out))) or len(got) == 3, timeout_s=20, interval_s=0.02
        )
        assert sorted(got) == [b"hello!", b"many-1", b"many-2"]
        assert sorted(run.calls.echoed) == [(b"hello", 1), (b"many", 1)]
        assert wait_until(
            lambda: run.queue("In").get_queue_properties().approximate_message_count == 0,
            timeout_s=20,
            interval_s=0.02,
        )


def test_a_failing_message_is_retried_then_moved_to_the_poison_queue_and_nothing_is_output(
    azurite: str,
) -> None:
    with running(azurite) as run:
        run.send("Failing", "bad")
        poison = QueueClient.from_connection_string(azurite, f"{run.environ['Test__Failing']}-poison")
        got: list[bytes] = []
        assert wait_until(
            lambda: bool(got.extend(run.received(poison))) or bool(got), timeout_s=20, interval_s=0.02
        )
        assert got == [b"bad"]  # the poison message is base64 like the original
        assert run.calls.failed == [1, 2]
        assert run.received(run.queue("Out")) == []
        assert run.queue("Failing").get_queue_properties().approximate_message_count == 0


def test_a_message_dequeued_too_often_already_goes_to_poison_without_an_invocation(azurite: str) -> None:
    name = f"t{uuid.uuid4().hex[:10]}-old"
    queue = QueueClient.from_connection_string(azurite, name)
    queue.create_queue()
    queue.send_message(base64.b64encode(b"old").decode())
    for _ in range(3):  # dequeue count 3 > maxDequeueCount 2, as after crashes mid-invocation
        (message,) = list(queue.receive_messages(max_messages=1))
        queue.update_message(message, visibility_timeout=0)
    with running(azurite, Test__In=name) as run:
        poison = QueueClient.from_connection_string(azurite, f"{name}-poison")
        got: list[bytes] = []
        assert wait_until(
            lambda: bool(got.extend(run.received(poison))) or bool(got), timeout_s=20, interval_s=0.02
        )
        assert got == [b"old"]
        assert run.calls.echoed == []


def test_a_message_that_is_not_base64_fails_to_bind_and_ends_in_poison(azurite: str) -> None:
    with running(azurite) as run:
        run.queue("In").send_message("not base64 at all!")
        poison = QueueClient.from_connection_string(azurite, f"{run.environ['Test__In']}-poison")
        assert wait_until(
            lambda: poison.get_queue_properties().approximate_message_count == 1,
            timeout_s=20,
            interval_s=0.02,
        )
        assert run.calls.echoed == []


def test_no_more_than_batch_size_plus_new_batch_threshold_run_at_once(azurite: str) -> None:
    options = QueueOptions(
        batch_size=2, new_batch_threshold=1, max_polling_interval=timedelta(milliseconds=200)
    )
    with running(azurite, options=options) as run:
        for number in range(8):
            run.send("Slow", f"m{number}")
        assert wait_until(lambda: run.calls.concurrent == 2, timeout_s=20, interval_s=0.02)  # one batch
        time.sleep(0.5)  # polls go on meanwhile; with 2 > newBatchThreshold in flight none may fetch more
        assert run.calls.max_concurrent == 2
        run.calls.permits.release()  # one finishes: 1 in flight, so the next batch of 2 is fetched
        assert wait_until(
            lambda: run.calls.concurrent == 3 and run.calls.slow_done == 1, timeout_s=20, interval_s=0.02
        )
        assert run.host.queues["slow"].in_flight == 3
        run.calls.permits.release(100)
        assert wait_until(lambda: run.calls.slow_done == 8, timeout_s=20, interval_s=0.02)
        assert run.calls.max_concurrent == 3


def test_stop_lets_an_invocation_in_flight_finish_and_completes_its_message(azurite: str) -> None:
    with running(azurite) as run:
        run.send("Slow", "long")
        assert wait_until(run.calls.started.is_set, timeout_s=20, interval_s=0.02)
        result: list[bool] = []
        stopper = threading.Thread(target=lambda: result.append(run.host.stop(20)))
        stopper.start()
        assert wait_until(
            lambda: not run.host.queues["slow"]._thread.is_alive(), timeout_s=20, interval_s=0.02
        )  # polling stopped first
        assert result == []  # still waiting for the invocation
        run.calls.permits.release()
        stopper.join(20)
        assert result == [True]
        assert run.calls.slow_done == 1
        assert run.queue("Slow").get_queue_properties().approximate_message_count == 0


def test_stop_after_its_bounded_wait_makes_a_running_message_visible_again(azurite: str) -> None:
    with running(azurite) as run:
        run.send("Slow", "stuck")
        assert wait_until(run.calls.started.is_set, timeout_s=20, interval_s=0.02)
        assert run.host.stop(0.3) is False
        messages = list(run.queue("Slow").receive_messages(max_messages=1))
        assert [base64.b64decode(m.content) for m in messages] == [b"stuck"]


def test_a_timer_runs_on_its_schedule_from_a_setting_with_past_due(azurite: str) -> None:
    now = [datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)]
    with running(azurite, clock=lambda: now[0], Test__Schedule="0 * * * * *") as run:
        assert wait_until(lambda: run.host.timers["tick"].schedule is not None, timeout_s=20, interval_s=0.02)
        now[0] = datetime(2026, 1, 5, 12, 1, 0, 200000, tzinfo=UTC)
        assert wait_until(lambda: run.calls.timers == [False], timeout_s=20, interval_s=0.02)
        now[0] = datetime(2026, 1, 5, 12, 2, 5, tzinfo=UTC)
        assert wait_until(lambda: run.calls.timers == [False, True], timeout_s=20, interval_s=0.02)


def test_a_missing_setting_stops_only_the_function_that_needs_it(azurite: str) -> None:
    calls = Calls()
    environ = settings(azurite)
    del environ["Test__Schedule"], environ["Test__Failing"]
    host = Host(build_app(calls), HostConfig(queues=FAST), environ=environ, port=0)
    host.start()
    try:
        assert set(host.errors) == {"tick", "fail"}
        assert "'Test:Schedule'" in host.errors["tick"]
        assert "Test__Schedule" in host.errors["tick"]
        assert "'Test:Failing'" in host.errors["fail"]
        assert sorted(host.started) == ["echo", "item", "secret", "slow"]
        assert "tick" not in host.timers
        assert "fail" not in host.queues
    finally:
        host.stop(5)


def request(
    url: str, *, method: str = "GET", data: bytes | None = None, headers: dict[str, str] | None = None
):  # type: ignore[no-untyped-def]
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_http_routes_pass_route_params_query_and_body_and_answer_404_and_405(azurite: str) -> None:
    with running(azurite) as run:
        status, headers, body = request(run.url("/api/items/42?q=x"))
        assert status == 200
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Item"] == "1"
        assert json.loads(body) == {"id": "42", "method": "GET", "q": "x", "body": ""}
        status, _, body = request(run.url("/api/items/7"), method="POST", data=b"payload")
        assert (status, json.loads(body)["body"]) == (200, "payload")
        assert request(run.url("/api/items/7"), method="DELETE")[0] == 405
        assert request(run.url("/api/nothing"))[0] == 404
        assert request(run.url("/items/42"))[0] == 404  # outside the route prefix
        assert request(run.url("/api/secret"))[0] == 200  # keys are not checked by default


def test_http_function_keys_are_checked_when_configured(azurite: str) -> None:
    with running(azurite, DEVHOST_FUNCTION_KEY="s3cret") as run:
        assert request(run.url("/api/secret"))[0] == 401
        assert request(run.url("/api/secret?code=wrong"))[0] == 401
        assert request(run.url("/api/secret?code=s3cret"))[:3:2] == (200, b"hidden")
        assert request(run.url("/api/secret"), headers={"x-functions-key": "s3cret"})[0] == 200
        assert request(run.url("/api/items/1"))[0] == 200  # anonymous stays open


def test_invocations_are_logged_with_id_duration_and_outcome(
    azurite: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="devhost")
    with running(azurite) as run:
        run.send("Failing", "bad")
        assert wait_until(lambda: len(run.calls.failed) == 2, timeout_s=20, interval_s=0.02)
        assert request(run.url("/api/items/1"))[0] == 200
    text = caplog.text
    assert "Executed 'Functions.item' (Succeeded, Id=" in text
    assert "Executed 'Functions.fail' (Failed, Id=" in text
    assert "RuntimeError: boom" in text
    assert "Duration=" in text

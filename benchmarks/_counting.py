"""Counting what one execution sends to its databases, per phase, without depending on how the executor is
structured inside (it changes; the benchmark must not).

- Statements: `before_cursor_execute` listeners on the monitoring and the source engine (an executemany
  counts once). Each statement's phase follows from what it touches: the source engine is `source`;
  a SELECT on `historical_data` is `baseline`; `source_slots` is `slot acquire` before the source query
  and `slot release` after it; anything else is `claim` before the source query and `record` after it;
  BEGIN / COMMIT / SAVEPOINT statements (SQLite issues its own) are `transaction control`.
- Round trips (PostgreSQL): a loopback proxy in front of the server parses the frontend protocol and
  counts the client's turns, each by what it carries: a statement (counted in the phase of the statement
  being executed), or the driver's own BEGIN, COMMIT, ROLLBACK, pre-ping (`SELECT 1` on checkout),
  prepare (Parse without Execute) or DEALLOCATE.
- Wall time per phase: each statement's phase gets the time since the previous statement (or source run)
  ended, so statement building, checkout, pre-ping and BEGIN fall into the phase that needed them; the
  source run is timed by wrapping `SourceRunner.run`; the time from the last statement before the source
  run to its start, and after the last statement (COMMIT, return), is `commits, returns, glue`.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from shared.domain.kpi import Kpi
from shared.domain.observation import Observation
from shared.sources import SourceRunner

PHASES = ("claim", "slot acquire", "source", "baseline", "record", "slot release", "transaction control")
BARE_PHASES = ("source", "insert", "transaction control")
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "pre-ping", "prepare", "DEALLOCATE", "connect", "other")
GLUE = "commits, returns, glue"  #: wall time outside statements and the source run
_TRANSACTION_WORDS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
_STARTUP_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest


class Phases:
    """The phase of the statement being executed, and per (database, row) the statements, round trips
    and wall time counted so far. Single-threaded use."""

    def __init__(self, proxies: dict[str, TurnProxy] | None = None, *, bare: bool = False) -> None:
        self.statements: Counter[tuple[str, str]] = Counter()
        self.turns: Counter[tuple[str, str]] = Counter()
        self.seconds: dict[str, float] = defaultdict(float)
        self._bare = bare
        self._phase = "other"
        self._after_source = False
        self._mark = time.perf_counter()
        self._databases = set(proxies or {})
        for name, proxy in (proxies or {}).items():
            proxy.on_turn = functools.partial(self._turn, name)

    def reset(self) -> None:
        self.statements.clear()
        self.turns.clear()
        self.seconds.clear()

    def new_execution(self) -> None:
        self._after_source = False
        self._mark = time.perf_counter()

    def end_execution(self) -> None:
        self._lap(GLUE)

    def source_started(self) -> None:
        self._lap(GLUE)
        self._phase, self._after_source = "source", True

    def source_finished(self) -> None:
        self._lap("source")

    def listen(self, engine: Engine, database: str) -> Callable[[], None]:
        """Count `engine`'s statements as `database`'s; returns the function that stops counting."""

        def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
            self._phase = self._classify(database, statement)
            self.statements[(database, self._phase)] += 1

        def after(*_args: Any) -> None:
            self._lap(self._phase)

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

        def stop() -> None:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)

        return stop

    def per_execution(self, executions: int) -> dict[str, dict[str, tuple[float, float | None]]]:
        """{database: {row: (statements, round trips or None without a proxy)}} averaged."""
        table: dict[str, dict[str, tuple[float, float | None]]] = {}
        for database, row in sorted({*self.statements, *self.turns}):
            turns = self.turns[(database, row)] / executions if database in self._databases else None
            table.setdefault(database, {})[row] = (self.statements[(database, row)] / executions, turns)
        return table

    def _classify(self, database: str, statement: str) -> str:
        text = statement.lstrip().upper()
        if text.startswith(_TRANSACTION_WORDS):
            return "transaction control"
        if database == "source":
            return "source"
        if self._bare:
            return "insert"
        if "SOURCE_SLOTS" in text:
            return "slot release" if self._after_source else "slot acquire"
        if text.startswith("SELECT") and "HISTORICAL_DATA" in text:
            return "baseline"
        return "record" if self._after_source else "claim"

    def _turn(self, database: str, category: str) -> None:
        self.turns[(database, self._phase if category == "statement" else category)] += 1

    def _lap(self, row: str) -> None:
        now = time.perf_counter()
        self.seconds[row] += now - self._mark
        self._mark = now


class PhasedRunner(SourceRunner):
    """The production runner, telling `phases` when the source query starts and ends."""

    phases: Phases | None = None

    def run(self, kpi: Kpi, **kwargs: Any) -> list[Observation]:
        if self.phases is not None:
            self.phases.source_started()
        try:
            return super().run(kpi, **kwargs)
        finally:
            if self.phases is not None:
                self.phases.source_finished()


class TurnProxy:
    """A TCP proxy on 127.0.0.1 to a PostgreSQL server that reports each client turn (round trip) to
    `on_turn` with its category. For counting runs only: it adds latency. Connect with sslmode=disable."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.on_turn: Callable[[str], None] = lambda _category: None
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, url: str) -> str:
        """`url` pointed at this proxy, in clear text so that the protocol can be read."""
        parsed = make_url(url).set(host="127.0.0.1", port=self.port)
        parsed = parsed.update_query_dict({"sslmode": "disable", "gssencmode": "disable"})
        return parsed.render_as_string(hide_password=False)

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = _Frontend()
            threading.Thread(target=self._pump, args=(client, upstream, stream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, stream, False), daemon=True).start()

    def _pump(
        self, source: socket.socket, target: socket.socket, stream: _Frontend, from_client: bool
    ) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if from_client:
                    stream.feed(data)  # parsed before it is forwarded: before the server can answer
                elif stream.pending:
                    self.on_turn(stream.close_turn())
                target.sendall(data)
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Frontend:
    """The client side of one PostgreSQL connection: its messages, grouped into turns."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._started = False
        self._prepared: dict[bytes, str] = {}
        self._turn: list[tuple[bytes, bytes]] = []

    @property
    def pending(self) -> bool:
        return bool(self._turn)

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if not self._started:
                if len(self._buffer) < 8:
                    return
                (length, code) = struct.unpack("!II", self._buffer[:8])
                if len(self._buffer) < length:
                    return
                self._started = code not in _STARTUP_REQUESTS
                self._turn.append((b"startup", b""))
            else:
                if len(self._buffer) < 5:
                    return
                length = struct.unpack("!I", self._buffer[1:5])[0]
                if len(self._buffer) < 1 + length:
                    return
                self._turn.append((bytes(self._buffer[:1]), bytes(self._buffer[5 : 1 + length])))
                length += 1
            del self._buffer[:length]

    def close_turn(self) -> str:
        messages, self._turn = self._turn, []
        kinds = {kind for kind, _ in messages}
        if b"startup" in kinds:
            return "connect"
        unnamed, bound = "", []
        for kind, payload in messages:
            if kind == b"Q":
                return _category(payload.split(b"\0", 1)[0].decode(errors="replace"))
            if kind == b"P":
                name, query = payload.split(b"\0")[:2]
                if name:
                    self._prepared[name] = query.decode(errors="replace")
                else:
                    unnamed = query.decode(errors="replace")
            elif kind == b"B":
                name = payload.split(b"\0")[1]
                bound.append(self._prepared.get(name, "") if name else unnamed)
        if b"E" in kinds:
            # A pipeline carries several statements in one turn (BEGIN, a statement, COMMIT): it is the
            # statement's turn when it carries one.
            categories = [_category(text) for text in bound] or [""]
            return "statement" if "statement" in categories else categories[0]
        if b"P" in kinds:
            return "prepare"
        if b"C" in kinds:
            return "DEALLOCATE"  # a protocol-level Close of a prepared statement
        return "other"


def _category(sql: str) -> str:
    text = sql.strip().rstrip(";").strip().upper()
    if text == "BEGIN" or text.startswith(("BEGIN ", "START TRANSACTION")):
        return "BEGIN"
    if text in ("COMMIT", "ROLLBACK"):
        return text
    if text.startswith("DEALLOCATE"):
        return "DEALLOCATE"
    if text in ("", "SELECT 1"):
        return "pre-ping"
    return "statement"

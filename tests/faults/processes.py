"""Real processes a fault test can kill and bring back on the same port: Azurite's queue service (in memory,
so a restart comes back empty) and the demo's SMTP mailbox (`python -m demo.mailbox`, one `.eml` per
message)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import IO

from tests.azurite import connection_string
from tests.e2e.harness import ROOT, free_port
from tests.waiting import wait_until


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class _Restartable:
    """A child process on a fixed port: `start`, `kill` (SIGKILL, nothing flushed), `start` again."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.starts += 1
        self._output = (self.workdir / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env={**os.environ},
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        up = wait_until(lambda: _listening(self.port) or self.process.poll() is not None, timeout_s=30)
        if not up or self.process.poll() is not None:
            raise RuntimeError(f"{self.name} did not listen on {self.port}")

    def kill(self) -> None:
        """SIGKILL, then wait until the port refuses connections."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        if self._output is not None:
            self._output.close()
        assert wait_until(lambda: not _listening(self.port), timeout_s=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._output is not None:
            self._output.close()


class Azurite(_Restartable):
    """Azurite's queue service with in-memory persistence: every restart starts with no queue at all."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "azurite")
        self.connection_string = connection_string(self.port)

    def command(self) -> list[str]:
        executable = ROOT / "node_modules" / ".bin" / "azurite-queue"
        if not executable.exists():
            raise RuntimeError(f"{executable} is missing: run `npm ci` (make test does)")
        return [
            str(executable),
            *("--queuePort", str(self.port), "--queueHost", "127.0.0.1"),
            *("--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--silent"),
        ]


class Mailbox(_Restartable):
    """The demo mailbox as its own process, keeping each message it accepts as a `.eml` file."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "mailbox")
        self.directory = workdir / "mail"

    def command(self) -> list[str]:
        return [
            sys.executable,
            *("-m", "demo.mailbox", "--port", str(self.port), "--dir", str(self.directory)),
        ]

    def environment(self) -> dict[str, str]:
        """App settings that send email through this mailbox."""
        return {
            "Notifications__Smtp__Host": "127.0.0.1",
            "Notifications__Smtp__Port": str(self.port),
            "Notifications__Smtp__Security": "none",
            "Notifications__Smtp__From": "monitoringgrid@example.test",
            "Notifications__Smtp__TimeoutSeconds": "5",
        }

    def messages(self) -> list[EmailMessage]:
        """Every message accepted so far (in every run of the mailbox)."""
        if not self.directory.exists():
            return []
        parser = BytesParser(policy=policy.default)
        found = []
        for path in sorted(self.directory.glob("*.eml")):
            message = parser.parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            found.append(message)
        return found

    def deliveries(self) -> list[tuple[int, str]]:
        """(event id, recipient) of every accepted message, repeats included."""
        return [
            (int(str(message["X-MonitoringGrid-Event"])), str(message["To"]).lower())
            for message in self.messages()
        ]


def elapsed_since(started: float) -> float:
    return round(time.monotonic() - started, 1)

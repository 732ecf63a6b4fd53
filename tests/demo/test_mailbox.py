"""The demo's mailbox: `python -m demo.mailbox` accepts mail over SMTP, saves each message as a .eml file and
prints one line per message."""

from __future__ import annotations

import os
import queue
import signal
import smtplib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Mailbox:
    """The mailbox as a child process, with its stdout read line by line."""

    def __init__(self, process: subprocess.Popen[str], port: int, errors: Path) -> None:
        self.process = process
        self.port = port
        self.errors = errors
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def next_line(self, timeout_s: float = 15.0) -> str:
        try:
            return self._lines.get(timeout=timeout_s)
        except queue.Empty:
            pytest.fail(
                f"the mailbox printed nothing within {timeout_s} s; stderr: {self.errors.read_text()}"
            )

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        self._reader.join(timeout=15)
        return code


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[_Mailbox]:
    port = _free_port()
    command = [sys.executable, "-m", "demo.mailbox", "--port", str(port), "--dir", str(tmp_path / "mailbox")]
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    errors = tmp_path / "stderr.txt"
    with (
        errors.open("w") as stderr,
        subprocess.Popen(
            command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=stderr, text=True
        ) as process,
    ):
        running = _Mailbox(process, port, errors)
        try:
            yield running
        finally:
            if process.poll() is None:
                running.stop()


def test_the_mailbox_saves_each_message_as_an_eml_file_and_prints_a_line(
    mailbox: _Mailbox, tmp_path: Path
) -> None:
    assert mailbox.next_line().startswith(f"mailbox on 127.0.0.1:{mailbox.port}")
    message = EmailMessage()
    message["From"] = "monitoringgrid@example.test"
    message["To"] = "ops@example.test"
    message["Subject"] = "Deposits total is 40.2% below its baseline"
    message.set_content("Deposits total is 1,234.5.")

    with smtplib.SMTP("127.0.0.1", mailbox.port, timeout=10) as client:
        client.send_message(message)
    line = mailbox.next_line()

    (saved,) = (tmp_path / "mailbox").glob("*.eml")
    assert line == f"mail to ops@example.test: Deposits total is 40.2% below its baseline ({saved.name})"
    received = message_from_bytes(saved.read_bytes(), policy=policy.default)
    assert isinstance(received, EmailMessage)
    assert received["Subject"] == "Deposits total is 40.2% below its baseline"
    assert str(received.get_content()).strip() == "Deposits total is 1,234.5."
    assert mailbox.stop() == 0

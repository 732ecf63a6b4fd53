"""`python -m demo.mailbox [--host 127.0.0.1] [--port 1025] [--dir .data/mailbox]`: the demo's local mail.

An SMTP server (no TLS, no login) that keeps every message it receives as a `.eml` file in the directory and
prints one line per message (recipients and subject). Point the app at it with
`Notifications__Smtp__Host=127.0.0.1`, `Notifications__Smtp__Port=1025` and
`Notifications__Smtp__Security=none`. It runs until interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from types import FrameType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_DIR = ".data/mailbox"


class Mailbox:
    """An aiosmtpd handler that saves each message as `<UTC time>-<n>.eml` in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self._lock:
            path = self.directory / f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{next(self._numbers):04d}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(path)
        headers = BytesParser(policy=policy.default).parsebytes(content, headersonly=True)
        subject = " ".join(str(headers.get("Subject", "")).split())
        sys.stdout.write(f"mail to {', '.join(envelope.rcpt_tos)}: {subject} ({path.name})\n")
        sys.stdout.flush()
        return "250 OK: saved"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted; 1 when the port cannot be bound."""
    arguments = _parser().parse_args(argv)
    directory = Path(arguments.dir)
    directory.mkdir(parents=True, exist_ok=True)
    controller = Controller(
        Mailbox(directory), hostname=arguments.host, port=arguments.port, server_hostname="mailbox.local"
    )
    try:
        controller.start()
    except OSError as error:
        sys.stderr.write(f"mailbox cannot listen on {arguments.host}:{arguments.port}: {error}\n")
        return 1
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write(f"mailbox on {arguments.host}:{arguments.port}, saving messages to {directory}\n")
    sys.stdout.flush()
    try:
        stopped.wait()
    finally:
        controller.stop()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo.mailbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=1025, help="SMTP port (default 1025)")
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"folder of the .eml files ({DEFAULT_DIR})")
    return parser


if __name__ == "__main__":
    sys.exit(main())

"""Real devhost processes for end-to-end tests: start, wait for, stop or kill them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Devhost:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    output: IO[bytes]

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 45) -> int:
        """Send `sig` and wait for the process; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self.output.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_devhost(env: dict[str, str], workdir: Path, port: int | None = None) -> Devhost:
    """A `python -m devhost` process with exactly `env` (plus PATH), answering /api/health (on `port`, else a
    free one)."""
    port = port or free_port()
    settings = workdir / f"settings-{port}.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": {}}))
    log = workdir / f"devhost-{port}.log"
    output = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--port", str(port), "--settings-file", str(settings)],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    host = Devhost(process=process, port=port, log=log, output=output)
    if not wait_until(lambda: _answers(port) or process.poll() is not None, timeout_s=60) or process.poll():
        host.stop(signal.SIGKILL)
        raise RuntimeError(f"devhost did not start:\n{log.read_text()[-3000:]}")
    return host


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
            return True
    except OSError as error:
        return getattr(error, "code", None) == 503  # Unhealthy still means it is up

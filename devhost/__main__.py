"""`python -m devhost [--port 7071] [--host 127.0.0.1] [--settings-file local.settings.json]`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devhost.diagnostics import MemoryTracer
from devhost.host import Host
from devhost.settings import HostConfig, load_settings_file
from shared.errors import SettingsError
from shared.logs import configure_console
from shared.settings import get_settings

log = logging.getLogger("devhost")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071)")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    parser.add_argument(
        "--settings-file",
        type=Path,
        default=None,
        help="local settings (default local.settings.json, else local.settings.json.example)",
    )
    parser.add_argument("--app", default="function_app", help="module holding `app` (default function_app)")
    parser.add_argument("--host-json", type=Path, default=Path("host.json"), help="default host.json")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to wait at shutdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tracer = MemoryTracer.from_environment(os.environ)
    if tracer is not None:
        tracer.start()  # first: the imports below are part of the baseline, not of the growth
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        path = load_settings_file(args.settings_file)
    except SettingsError as error:
        log.error("%s", error)
        return 2
    _configure_logging()
    logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK logs every request at INFO
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the health check reads the schema revision
    log.info("settings: %s", path or "environment only (no local.settings.json)")
    config = HostConfig.from_json(json.loads(args.host_json.read_text(encoding="utf-8")))
    sys.path.insert(0, os.getcwd())
    app = importlib.import_module(args.app).app
    host = Host(app, config, host=args.host, port=args.port)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    host.start()
    while not stopping.wait(1.0):
        pass
    host.stop(args.drain_timeout)
    if tracer is not None:
        tracer.stop()
    return 0


def _configure_logging() -> None:
    """The console in the format and at the level of `Worker__Logging__*`, as the app's loggers run in the
    Functions host. Invalid settings keep the defaults: the health check reports them."""
    try:
        settings = get_settings()
    except SettingsError:
        return
    configure_console(settings)


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    # Threads of invocations that outlived the drain timeout must not hold the process open.
    os._exit(code)

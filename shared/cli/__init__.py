"""`mgrid`: the operator's command line (also `python -m shared.cli`).

Every command takes `--json` and then prints one JSON document on stdout; errors go to stderr with a non-zero
exit code (2 for invalid settings, definitions or usage, each problem on its own line; 1 for everything
else). A `local.settings.json` in the working directory (or `--settings-file`) supplies settings the
environment does not set, as Core Tools does. Each command group lives in its own module and registers
itself here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from shared import local_settings, runtime
from shared.cli import alerts, kpi, operations, silences
from shared.cli.common import Command
from shared.errors import DefinitionsError, MonitoringGridError, SettingsError
from shared.settings import get_settings

#: The command groups, in the order `mgrid --help` lists them.
GROUPS = (operations, kpi, alerts, silences)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args = _parser().parse_args(argv)
    try:
        _load_local_settings(args.settings_file)
        logging.basicConfig(level=_log_level(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
        command: Command = args.command
        return command(args)
    except (SettingsError, DefinitionsError) as error:
        print(f"mgrid: {error}", file=sys.stderr)
        return 2
    except (MonitoringGridError, SQLAlchemyError) as error:
        print(f"mgrid: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        runtime.reset()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgrid", description="MonitoringGrid operator commands.")
    parser.add_argument(
        "--settings-file", type=Path, help="local settings JSON (default: ./local.settings.json)"
    )
    groups = parser.add_subparsers(dest="group", required=True)
    for group in GROUPS:
        group.register(groups)
    return parser


def _load_local_settings(path: Path | None) -> None:
    candidate = path or Path("local.settings.json")
    if path is not None or candidate.is_file():
        local_settings.apply(local_settings.read_values(candidate))


def _log_level() -> int:
    names = {"Trace": "DEBUG", "Debug": "DEBUG", "Information": "INFO"}
    level = get_settings().worker.logging.minimum_level
    return logging.getLevelNamesMapping()[names.get(level, level.upper())]

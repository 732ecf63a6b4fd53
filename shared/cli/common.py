"""What every `mgrid` command shares: `--json`, printing, and text tables."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from shared.settings import get_settings, mask_secret

Command = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    Groups: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # argparse's subparsers action is generic only to type checkers
    Groups = argparse._SubParsersAction


def with_json(parser: argparse.ArgumentParser, command: Command) -> None:
    """Give `parser` the `--json` flag every command accepts, and bind it to `command`."""
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(command=command)


def emit(args: argparse.Namespace, document: Any, text: str) -> None:
    """Print `document` as JSON under `--json`, else `text`."""
    print(json.dumps(document, default=str) if args.json else text)


def table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as aligned text columns under a header of their keys."""
    cells = [list(rows[0])] + [
        ["-" if value is None else str(value) for value in row.values()] for row in rows
    ]
    widths = [max(len(line[column]) for line in cells) for column in range(len(cells[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def outcomes(summary: dict[str, Any]) -> str:
    """`2 sent, 1 failed`: the non-zero delivery outcomes of a dispatch summary."""
    return ", ".join(
        f"{summary[key]} {key}"
        for key in ("sent", "retrying", "failed", "skipped", "dropped")
        if summary.get(key)
    )


def monitoring_url() -> str:
    """The monitoring database's URL with its password masked."""
    return mask_secret(get_settings().connection_strings.monitoring)

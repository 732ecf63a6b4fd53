"""The `mgrid` parser: every command, the new ones (silences, notify test, deletions, prune) included,
accepts `--json` (DESIGN section 9)."""

from __future__ import annotations

import argparse

from shared.cli import _parser


def leaves(parser: argparse.ArgumentParser, path: str = "mgrid") -> dict[str, argparse.ArgumentParser]:
    """Every command's own parser, by the words that name it."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        return {path: parser}
    found: dict[str, argparse.ArgumentParser] = {}
    for name, child in groups[0].choices.items():
        found |= leaves(child, f"{path} {name}")
    return found


def test_every_command_accepts_json() -> None:
    commands = leaves(_parser())

    assert {"mgrid silences add", "mgrid notify test", "mgrid kpi delete", "mgrid contacts delete"} <= set(
        commands
    )
    assert [
        name
        for name, parser in commands.items()
        if not any("--json" in action.option_strings for action in parser._actions)
    ] == []

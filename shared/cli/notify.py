"""`mgrid notify test CONTACT`: a test notice through the contact's real channels."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from shared import runtime
from shared.cli.common import Groups, with_json
from shared.domain.notification import Channel
from shared.services.alerts.notify_test import send_test_notice
from shared.settings import get_settings


def register(groups: Groups) -> None:
    notify = groups.add_parser("notify", help="notification channels").add_subparsers(required=True)
    test = notify.add_parser(
        "test", help="send a test notice through a contact's channels; print each channel's outcome as JSON"
    )
    test.add_argument("contact", help="the contact's name")
    test.add_argument("--channel", choices=[channel.value for channel in Channel], help="only this channel")
    with_json(test, _test)


def _test(args: argparse.Namespace) -> int:
    """Always prints JSON; `--json` is accepted and changes nothing. Exit 1 when a channel failed."""
    report = send_test_notice(
        runtime.monitoring_engine(),
        get_settings(),
        runtime.senders(),
        args.contact,
        channel=Channel(args.channel) if args.channel else None,
        now=datetime.now(UTC),
    )
    print(json.dumps(report.to_dict()))
    return 1 if report.failed else 0

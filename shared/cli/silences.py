"""`mgrid silences ...`: maintenance windows that hold alert notices and escalation (see docs/silences.md)."""

from __future__ import annotations

import argparse
import itertools
import sys
from datetime import UTC, datetime

from shared import runtime
from shared.cli.common import Command, Groups, emit, table, with_json
from shared.domain.silence import Silence
from shared.services.alerts.silences import InvalidSilence, SilenceRequest, SilenceService, as_json


def register(groups: Groups) -> None:
    silences = groups.add_parser("silences", help="silences (maintenance windows)").add_subparsers(
        required=True
    )
    add = silences.add_parser(
        "add",
        help="silence alerts of KPIs (by indicator and/or owner) for a while or every week",
        description="Several --kpi / --owner values create one silence each (--kpi with --owner: both must "
        "match). Prints the silence (a list when several were created).",
    )
    add.add_argument("--kpi", action="append", default=[], metavar="INDICATOR", help="a KPI's indicator")
    add.add_argument("--owner", action="append", default=[], metavar="OWNER", help="every KPI of an owner")
    add.add_argument("--key", metavar="GLOB", help="only metric keys matching this glob (e.g. 'EU-*')")
    add.add_argument("--until", metavar="ISO", help="until this time (ISO 8601 with a zone)")
    add.add_argument("--for", dest="duration", metavar="DURATION", help="for this long: 2h, 90m, 1d, 1h30m")
    add.add_argument("--weekly", metavar="DAYS", help="every week on these days: mon,tue,...")
    add.add_argument(
        "--between", metavar="HH:MM-HH:MM", help="weekly: this local time range (may cross midnight)"
    )
    add.add_argument("--timezone", metavar="ZONE", help="weekly: the IANA time zone, e.g. Europe/London")
    add.add_argument("--by", required=True, help="who adds it (kept with the silence)")
    add.add_argument("--reason", required=True, help="why (kept with the silence)")
    with_json(add, _guarded(_add))
    listing = silences.add_parser("list", help="current and future silences")
    listing.add_argument("--all", action="store_true", help="expired and past silences too")
    with_json(listing, _list)
    expire = silences.add_parser("expire", help="end a silence now")
    expire.add_argument("silence_id", type=int, metavar="ID")
    expire.add_argument("--by", required=True, help="who ends it (kept with the silence)")
    with_json(expire, _guarded(_expire))


def _guarded(command: Command) -> Command:
    """Invalid input exits 2 with the flag named."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except InvalidSilence as error:
            print(f"mgrid: --{error.field}: {error.problem}", file=sys.stderr)
            return 2

    return run


def _add(args: argparse.Namespace) -> int:
    matchers = list(itertools.product(args.kpi or [None], args.owner or [None]))
    requests = [
        SilenceRequest(
            kpi=kpi,
            owner=owner,
            key=args.key,
            until=args.until,
            duration=args.duration,
            weekly=args.weekly,
            between=args.between,
            timezone=args.timezone,
            by=args.by,
            reason=args.reason,
        )
        for kpi, owner in matchers
    ]
    added = _service().add_all(requests)
    now = datetime.now(UTC)
    documents = [as_json(silence, now=now) for silence in added]
    text = "\n".join(_line(silence, now) for silence in added)
    emit(args, documents[0] if len(documents) == 1 else documents, text)
    return 0


def _list(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    found = _service().list_silences(everything=args.all)
    documents = [as_json(silence, now=now) for silence in found]
    rows = [
        {
            "id": silence.id,
            "kpi": silence.kpi,
            "owner": silence.owner,
            "key": silence.key_glob,
            "window": silence.describe_window(),
            "by": silence.created_by,
            "active": _activity(silence, now),
            "reason": silence.reason,
        }
        for silence in found
    ]
    emit(args, documents, table(rows) if rows else "no silences")
    return 0


def _expire(args: argparse.Namespace) -> int:
    silence = _service().expire(args.silence_id, by=args.by)
    emit(
        args,
        as_json(silence, now=datetime.now(UTC)),
        f"silence {silence.id}: expired by {silence.expired_by}",
    )
    return 0


def _activity(silence: Silence, now: datetime) -> str:
    if silence.active(now):
        return "yes"
    return "expired" if silence.expired_at is not None else "no"


def _line(silence: Silence, now: datetime) -> str:
    target = " and ".join(
        part
        for part in (
            f"KPI {silence.kpi}" if silence.kpi else "",
            f"owner {silence.owner}" if silence.owner else "",
        )
        if part
    )
    key = f" keys {silence.key_glob}" if silence.key_glob else ""
    state = "active" if silence.active(now) else "not active yet"
    return f"silence {silence.id}: {target}{key}, {silence.describe_window()} ({state})"


def _service() -> SilenceService:
    return runtime.silences()
